"""History visibility: what a user sees of a room's events for each setting, over
invites, joins, leaves and rejoins, through ``/messages``, ``/event`` and ``/context``."""

from __future__ import annotations

from typing import Any

from synapse.api.errors import Codes
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.events import EventBase, make_event_from_dict
from synapse.types import JsonDict
from synapse.visibility import filter_events_for_client
from tests.rest.client.history_test_base import HistoryTestCase, q

ALL_MESSAGES = ["before_invite", "while_invited", "while_joined", "after_leave"]


class VisibilityTestCase(HistoryTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.carol = self.register_user("carol", "pass")
        self.carol_tok = self.login("carol", "pass")

    def make_room(self, visibility: str) -> tuple[str, dict[str, str]]:
        """alice's room: a message before bob is invited, while invited, while joined and
        after he left; the event IDs by body."""
        room = self.helper.create_room_as(self.user, tok=self.tok)
        self.helper.send_state(
            room, "m.room.history_visibility", {"history_visibility": visibility}, tok=self.tok
        )
        ids: dict[str, str] = {}
        ids["before_invite"] = self.helper.send(room, "before_invite", tok=self.tok)["event_id"]
        self.helper.invite(room, targ=self.other, tok=self.tok)
        ids["while_invited"] = self.helper.send(room, "while_invited", tok=self.tok)["event_id"]
        self.helper.join(room, tok=self.other_tok)
        ids["while_joined"] = self.helper.send(room, "while_joined", tok=self.tok)["event_id"]
        self.helper.leave(room, tok=self.other_tok)
        ids["after_leave"] = self.helper.send(room, "after_leave", tok=self.tok)["event_id"]
        return room, ids

    def bodies(self, room: str, tok: str) -> list[str]:
        """The message bodies ``/messages`` shows, oldest first."""
        body = self.ok(self.messages(room, tok, limit=100))
        return [
            e["content"]["body"] for e in reversed(body["chunk"]) if e["type"] == "m.room.message"
        ]

    def visible_by_event(self, room: str, ids: dict[str, str], tok: str) -> list[str]:
        out = []
        for name, event_id in ids.items():
            channel = self.get(f"rooms/{q(room)}/event/{q(event_id)}", tok)
            if channel.code == 200:
                out.append(name)
            else:
                self.assertEqual(channel.code, 404, channel.json_body)
                self.assertEqual(channel.json_body["errcode"], Codes.NOT_FOUND)
        return out

    # --- each setting -------------------------------------------------------------------
    def test_joined(self) -> None:
        room, ids = self.make_room("joined")
        self.assertEqual(self.bodies(room, self.other_tok), ["while_joined"])
        self.assertEqual(self.visible_by_event(room, ids, self.other_tok), ["while_joined"])
        self.assertEqual(self.bodies(room, self.tok), ALL_MESSAGES)

    def test_invited(self) -> None:
        room, ids = self.make_room("invited")
        expected = ["while_invited", "while_joined"]
        self.assertEqual(self.bodies(room, self.other_tok), expected)
        self.assertEqual(self.visible_by_event(room, ids, self.other_tok), expected)

    def test_shared(self) -> None:
        room, ids = self.make_room("shared")
        expected = ["before_invite", "while_invited", "while_joined"]
        self.assertEqual(self.bodies(room, self.other_tok), expected)
        self.assertEqual(self.visible_by_event(room, ids, self.other_tok), expected)

    def test_world_readable(self) -> None:
        room, ids = self.make_room("world_readable")
        # /messages of a former member stops where they left ...
        self.assertEqual(
            self.bodies(room, self.other_tok), ["before_invite", "while_invited", "while_joined"]
        )
        # ... but world-readable events can be read one by one, by anyone.
        self.assertEqual(self.visible_by_event(room, ids, self.other_tok), ALL_MESSAGES)
        self.assertEqual(self.bodies(room, self.carol_tok), ALL_MESSAGES)
        self.assertEqual(self.visible_by_event(room, ids, self.carol_tok), ALL_MESSAGES)

    def test_unknown_value_counts_as_shared(self) -> None:
        room, ids = self.make_room("org.example.secret")
        self.assertEqual(
            self.bodies(room, self.other_tok), ["before_invite", "while_invited", "while_joined"]
        )

    def test_non_members(self) -> None:
        for visibility in ("joined", "invited", "shared"):
            room, ids = self.make_room(visibility)
            channel = self.messages(room, self.carol_tok)
            self.assertEqual(channel.code, 403, channel.json_body)
            self.assertEqual(channel.json_body["errcode"], Codes.FORBIDDEN)
            self.assertEqual(self.visible_by_event(room, ids, self.carol_tok), [])
            channel = self.get(f"rooms/{q(room)}/context/{q(ids['while_joined'])}", self.carol_tok)
            self.assertEqual(channel.code, 403, channel.json_body)

    # --- changes over time ----------------------------------------------------------------
    def test_rejoining_under_shared_shows_the_gap(self) -> None:
        room, ids = self.make_room("shared")
        self.helper.invite(room, targ=self.other, tok=self.tok)
        self.helper.join(room, tok=self.other_tok)
        self.assertEqual(self.bodies(room, self.other_tok), ALL_MESSAGES)

    def test_rejoining_under_joined_does_not(self) -> None:
        room, ids = self.make_room("joined")
        self.helper.invite(room, targ=self.other, tok=self.tok)
        self.helper.join(room, tok=self.other_tok)
        ids["rejoined"] = self.helper.send(room, "rejoined", tok=self.tok)["event_id"]
        self.assertEqual(self.bodies(room, self.other_tok), ["while_joined", "rejoined"])

    def test_setting_applies_at_each_event(self) -> None:
        """Events keep the visibility they were sent under."""
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        hv = "m.room.history_visibility"
        self.helper.send_state(room, hv, {"history_visibility": "joined"}, tok=self.tok)
        self.helper.send(room, "secret", tok=self.tok)
        self.helper.send_state(room, hv, {"history_visibility": "shared"}, tok=self.tok)
        self.helper.send(room, "open", tok=self.tok)
        self.helper.send_state(room, hv, {"history_visibility": "joined"}, tok=self.tok)
        self.helper.send(room, "secret again", tok=self.tok)
        self.helper.join(room, tok=self.other_tok)
        self.helper.send(room, "hello bob", tok=self.tok)
        self.assertEqual(self.bodies(room, self.other_tok), ["open", "hello bob"])

    def test_history_visibility_events_before_or_after(self) -> None:
        """A user sees a history visibility change if the setting before or after it
        lets them: here the change from shared to joined, but not the later ones."""
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        hv = "m.room.history_visibility"
        to_joined = self.helper.send_state(room, hv, {"history_visibility": "joined"}, tok=self.tok)
        to_invited = self.helper.send_state(
            room, hv, {"history_visibility": "invited"}, tok=self.tok
        )
        self.helper.join(room, tok=self.other_tok)
        body = self.ok(self.messages(room, self.other_tok, limit=100))
        seen = {e["event_id"] for e in body["chunk"]}
        self.assertIn(to_joined["event_id"], seen)
        self.assertNotIn(to_invited["event_id"], seen)

    def test_own_membership_events(self) -> None:
        """Under ``joined``, a user sees their own join and leave events."""
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.send_state(
            room, "m.room.history_visibility", {"history_visibility": "joined"}, tok=self.tok
        )
        self.helper.join(room, tok=self.other_tok)
        self.helper.leave(room, tok=self.other_tok)
        body = self.ok(self.messages(room, self.other_tok, limit=100))
        own = [
            e["content"]["membership"]
            for e in body["chunk"]
            if e["type"] == "m.room.member" and e["state_key"] == self.other
        ]
        self.assertEqual(own, ["leave", "join"])
        # The leave event shows the membership after it.
        self.assertEqual(body["chunk"][0]["unsigned"]["membership"], "leave")

    def test_unsigned_membership(self) -> None:
        room, ids = self.make_room("shared")
        event = self.ok(
            self.get(f"rooms/{q(room)}/event/{q(ids['before_invite'])}", self.other_tok)
        )
        self.assertEqual(event["unsigned"]["membership"], "leave")
        event = self.ok(
            self.get(f"rooms/{q(room)}/event/{q(ids['while_invited'])}", self.other_tok)
        )
        self.assertEqual(event["unsigned"]["membership"], "invite")
        event = self.ok(self.get(f"rooms/{q(room)}/event/{q(ids['while_joined'])}", self.other_tok))
        self.assertEqual(event["unsigned"]["membership"], "join")
        event = self.ok(self.get(f"rooms/{q(room)}/event/{q(ids['after_leave'])}", self.tok))
        self.assertEqual(event["unsigned"]["membership"], "join")

    def test_filter_without_copies(self) -> None:
        room, ids = self.make_room("joined")
        stores = self.hs.get_datastores().main
        events = self.get_success(stores.events.get_events_as_list(ids.values()))
        visible = self.get_success(
            filter_events_for_client(stores, self.other, events, add_membership=False)
        )
        self.assertEqual([e.event_id for e in visible], [ids["while_joined"]])
        self.assertIs(visible[0], events[2])
        self.assertEqual(self.get_success(filter_events_for_client(stores, self.other, [])), [])


class IgnoredUsersTestCase(HistoryTestCase):
    def ignore(self, user_id: str, ignored: list[str]) -> None:
        self.get_success(
            self.hs.get_account_data_handler().add_account_data_for_user(
                user_id, "m.ignored_user_list", {"ignored_users": {u: {} for u in ignored}}
            )
        )

    def test_ignored_users_messages_are_left_out(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room, tok=self.other_tok)
        from_bob = self.helper.send(room, "from bob", tok=self.other_tok)["event_id"]
        self.helper.send(room, "from alice", tok=self.tok)
        self.ignore(self.user, [self.other])

        chunk = self.ok(self.messages(room, self.tok, limit=20))["chunk"]
        bodies = [e["content"].get("body") for e in chunk if e["type"] == "m.room.message"]
        self.assertEqual(bodies, ["from alice"])
        # State events of ignored users are still shown.
        self.assertIn(
            (self.other, "join"),
            [
                (e["state_key"], e["content"]["membership"])
                for e in chunk
                if e["type"] == "m.room.member"
            ],
        )
        channel = self.get(f"rooms/{q(room)}/event/{q(from_bob)}", self.tok)
        self.assertEqual(channel.code, 404)
        # bob still sees his own messages; ignoring is per user.
        chunk = self.ok(self.messages(room, self.other_tok, limit=20))["chunk"]
        self.assertIn("from bob", [e["content"].get("body") for e in chunk])

        self.ignore(self.user, [])
        self.assertEqual(self.get(f"rooms/{q(room)}/event/{q(from_bob)}", self.tok).code, 200)


class EventsWithoutStateTestCase(HistoryTestCase):
    def test_only_own_membership_without_state(self) -> None:
        """Events with no state group (outliers, such as an invite over federation):
        the user sees their own membership event and nothing else."""

        def event(event_type: str, state_key: str | None, content: JsonDict) -> EventBase:
            d: JsonDict = {
                "type": event_type,
                "sender": "@remote:elsewhere",
                "room_id": "!remote:elsewhere",
                "content": content,
                "origin_server_ts": len(event_type),
                "depth": 1,
                "prev_events": [],
                "auth_events": [],
                "hashes": {"sha256": "x"},
            }
            if state_key is not None:
                d["state_key"] = state_key
            return make_event_from_dict(d, KNOWN_ROOM_VERSIONS["10"])

        invite = event("m.room.member", self.other, {"membership": "invite"})
        message = event("m.room.message", None, {"body": "hi"})
        other_invite = event("m.room.member", self.user, {"membership": "invite"})
        stores = self.hs.get_datastores().main
        visible = self.get_success(
            filter_events_for_client(stores, self.other, [invite, message, other_invite])
        )
        self.assertEqual([e.event_id for e in visible], [invite.event_id])
        self.assertEqual(visible[0].unsigned["membership"], "invite")
        # The cached original is left alone.
        self.assertNotIn("membership", invite.unsigned)
