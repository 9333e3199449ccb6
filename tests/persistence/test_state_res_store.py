"""The database-backed StateResolutionStore agrees with a walk of the auth DAG in SQL."""

from __future__ import annotations

from synapse.api.constants import EventTypes
from synapse.persistence.state_res_store import DatabaseStateResolutionStore
from tests.persistence._room import RoomMaker
from tests.storage._base import DatabaseTestCase

ALICE = "@alice:test"


class StateResStoreTestCase(DatabaseTestCase):
    def test_auth_chain_difference_matches_sql_walk(self) -> None:
        room = RoomMaker(self.hs, self.get_success)
        room.create()
        # Load the handler's index now, so that the events below are added to it batch by batch.
        incremental = self.hs.get_state_handler().state_res_store
        self.get_success(incremental.get_auth_chain_difference(room.room_id, [set(), set()]))
        loads: list[str] = []
        real_load = self.databases.main.event_federation.get_room_auth_graph

        async def counting_load(room_id: str) -> list[tuple[str, str, str | None, list[str]]]:
            loads.append(room_id)
            return await real_load(room_id)

        self.databases.main.event_federation.get_room_auth_graph = counting_load  # type: ignore[method-assign]
        users = [f"@u{i}:test" for i in range(6)]
        for user in users:
            room.join(user)
            room.message(user, "hi")
        base = room.last
        # Two branches: one changes power levels and kicks, the other has joins and leaves.
        room.send(
            EventTypes.PowerLevels, ALICE, {"users": {ALICE: 100, users[0]: 50}}, "", prev=base
        )
        room.send(EventTypes.Member, users[0], {"membership": "leave"}, users[1])
        branch_a = room.last
        room.send(EventTypes.Member, users[2], {"membership": "leave"}, users[2], prev=base)
        room.join("@late:test")
        branch_b = room.last

        stores = self.databases.main
        state_a = set(self.get_success(stores.state.get_state_ids_for_event(branch_a[0])).values())
        state_b = set(self.get_success(stores.state.get_state_ids_for_event(branch_b[0])).values())

        def walked(state: set[str]) -> set[str]:
            return self.get_success(stores.event_federation.get_auth_chain_ids(state))

        expected = (walked(state_a) | walked(state_b)) - (walked(state_a) & walked(state_b))
        self.assertTrue(expected)

        # The handler's store was extended batch by batch; a fresh one builds from the tables.
        self.get_success(incremental.get_auth_chain_difference(room.room_id, [state_a, state_b]))
        self.assertEqual(loads, [], "the loaded index should have been extended, not rebuilt")
        fresh = DatabaseStateResolutionStore(self.hs)
        for store in (incremental, fresh):
            diff = self.get_success(
                store.get_auth_chain_difference(room.room_id, [state_a, state_b])
            )
            self.assertEqual(diff, expected)
        # With an empty set, the difference is the union of the other's chain.
        diff = self.get_success(fresh.get_auth_chain_difference(room.room_id, [state_a, set()]))
        self.assertEqual(diff, walked(state_a))

    def test_get_events_leaves_out_rejected_unless_asked(self) -> None:
        room = RoomMaker(self.hs, self.get_success)
        room.create()
        bad = room.make(EventTypes.Topic, "@mallory:test", {"topic": "x"}, "")
        context = room.context_for(bad)
        context.mark_rejected("auth")
        self.get_success(self.hs.get_persistence_queue().persist_event(bad, context))
        store = DatabaseStateResolutionStore(self.hs)
        self.assertEqual(self.get_success(store.get_events([bad.event_id])), {})
        self.assertEqual(
            list(self.get_success(store.get_events([bad.event_id], allow_rejected=True))),
            [bad.event_id],
        )

    def test_index_built_during_a_fork_is_built_once(self) -> None:
        room = RoomMaker(self.hs, self.get_success)
        room.create()
        for i in range(4):
            room.join(f"@u{i}:test")
        loads: list[str] = []
        federation = self.databases.main.event_federation
        real_load = federation.get_room_auth_graph

        async def counting_load(room_id: str) -> list[tuple[str, str, str | None, list[str]]]:
            loads.append(room_id)
            return await real_load(room_id)

        federation.get_room_auth_graph = counting_load  # type: ignore[method-assign]
        base = room.last
        room.send(EventTypes.Topic, ALICE, {"topic": "a"}, "", prev=base)
        room.send(EventTypes.Member, "@u0:test", {"membership": "leave"}, "@u0:test", prev=base)
        # Every event from here on is persisted while the room is forked (two extremities),
        # so each one resolves state: the index is built once, then extended.
        for i in range(1, 4):
            room.send(EventTypes.Member, f"@u{i}:test", {"membership": "leave"}, f"@u{i}:test")
        self.assertEqual(loads, [room.room_id])
        members = self.get_success(self.databases.main.roommember.get_users_in_room(room.room_id))
        self.assertEqual(members, [ALICE])
