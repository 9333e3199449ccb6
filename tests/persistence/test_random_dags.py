"""Random forks and merges: what the queue maintains step by step (forward extremities,
current state, member lists) equals what a fresh computation from the stored events gives."""

from __future__ import annotations

import random

from synapse.api.constants import EventTypes, Membership
from synapse.persistence.context import StateHandler
from tests.persistence._room import RoomMaker
from tests.storage._base import DatabaseTestCase

ALICE = "@alice:test"
USERS = [f"@u{i}:test" for i in range(6)]


class RandomDagTestCase(DatabaseTestCase):
    def test_random_forks_and_merges(self) -> None:
        for seed in range(3):
            with self.subTest(seed=seed):
                self._run(random.Random(seed), f"r{seed}")

    def _run(self, rng: random.Random, name: str) -> None:
        room = RoomMaker(self.hs, self.get_success, name=name)
        room.create()
        for user in USERS[:3]:
            room.join(user)
        tips = list(room.last)
        for step in range(40):
            prev = rng.sample(tips, k=min(len(tips), rng.choice([1, 1, 2])))
            if rng.random() < 0.3 and len(tips) < 4:
                # Branch off an older event.
                prev = [rng.choice(list(room.events))]
            kind = rng.choice(["message", "join", "leave", "topic", "topic"])
            user = rng.choice(USERS)
            if kind == "message":
                event = room.make(EventTypes.Message, user, {"body": str(step)}, prev=prev)
            elif kind in ("join", "leave"):
                membership = Membership.JOIN if kind == "join" else Membership.LEAVE
                event = room.make(
                    EventTypes.Member, user, {"membership": membership}, user, prev=prev
                )
            else:
                event = room.make(EventTypes.Topic, ALICE, {"topic": str(step)}, "", prev=prev)
            room.persist(event)
            cited = {p for e in room.events.values() for p in e.prev_event_ids()}
            tips = [e for e in room.events if e not in cited]
            self._check(room, set(tips))

    def _check(self, room: RoomMaker, tips: set[str]) -> None:
        stores = self.databases.main
        room_id = room.room_id
        extremities = self.get_success(stores.event_federation.get_forward_extremities(room_id))
        self.assertEqual(set(extremities), tips)

        fresh = StateHandler(self.hs)
        groups = self.get_success(stores.state.get_state_group_for_events(list(tips)))
        expected = self.get_success(
            fresh.resolve_state_groups(room_id, room.room_version, set(groups.values()))
        )
        stores.state.invalidate_current_state(room_id)
        current = self.get_success(stores.state.get_current_state_ids(room_id))
        self.assertEqual(current, dict(expected))

        events = self.get_success(stores.events.get_events(current.values()))
        joined = sorted(
            k[1]
            for k, e in current.items()
            if k[0] == EventTypes.Member and events[e].content.get("membership") == Membership.JOIN
        )
        self.assertEqual(
            sorted(self.get_success(stores.roommember.get_users_in_room(room_id))), joined
        )
        for user in USERS:
            rooms = self.get_success(stores.roommember.get_rooms_for_user(user))
            self.assertEqual(room_id in rooms, user in joined)
