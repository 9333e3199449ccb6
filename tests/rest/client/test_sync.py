"""``GET /sync`` over HTTP: initial and incremental syncs, long-polls, filters, lazy
loading, invites, leaves and knocks. Every response is checked against the spec."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from synapse.api.errors import Codes
from synapse.types import JsonDict, StreamToken
from tests.rest.client.sync_test_base import SyncTestCase, q
from tests.unittest import override_config

LIMIT_FILTER: JsonDict = {"room": {"timeline": {"limit": 3}}}


class InitialSyncTestCase(SyncTestCase):
    def test_initial_sync_of_a_new_room(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        sent = self.helper.send(room, "hello", tok=self.tok)["event_id"]
        body = self.sync(self.tok)
        StreamToken.from_string(body["next_batch"])
        joined = self.joined_room(body, room)
        events = joined["timeline"]["events"]
        self.assertEqual(events[-1]["event_id"], sent)
        self.assertEqual(events[0]["type"], "m.room.create")
        self.assertFalse(joined["timeline"]["limited"])
        # Everything is in the timeline, so the state before it is empty.
        self.assertEqual(joined["state"]["events"], [])
        for event in events:
            self.assertNotIn("room_id", event)
        # The user's membership at each event: none (leave) before joining.
        self.assertEqual(events[0]["unsigned"]["membership"], "leave")
        self.assertEqual(events[-1]["unsigned"]["membership"], "join")
        self.assertEqual(
            joined["summary"],
            {"m.joined_member_count": 1, "m.invited_member_count": 0, "m.heroes": []},
        )
        self.assertEqual(
            joined["unread_notifications"], {"notification_count": 0, "highlight_count": 0}
        )
        self.assertEqual(body["rooms"]["invite"], {})
        self.assertEqual(body["rooms"]["leave"], {})
        # Only the server's own account data (push rules).
        self.assertEqual(
            [e for e in body["account_data"]["events"] if e["type"] != "m.push_rules"], []
        )
        self.assertEqual(body["to_device"], {"events": []})
        self.assertEqual(body["device_lists"], {"changed": [], "left": []})

    def test_state_is_at_the_start_of_a_limited_timeline(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        self.helper.send_state(room, "m.room.topic", {"topic": "old"}, tok=self.tok)
        topic = self.helper.send_state(room, "m.room.topic", {"topic": "new"}, tok=self.tok)
        msgs = [self.helper.send(room, f"m{i}", tok=self.tok)["event_id"] for i in range(2)]
        body = self.sync(self.tok, filter=LIMIT_FILTER)
        joined = self.joined_room(body, room)
        self.assertTrue(joined["timeline"]["limited"])
        self.assertEqual(self.timeline_ids(body, room), [topic["event_id"], *msgs])
        state = {(e["type"], e["state_key"]): e for e in joined["state"]["events"]}
        # The topic changes in the timeline, so the state holds the one before it.
        self.assertEqual(state[("m.room.topic", "")]["content"], {"topic": "old"})
        self.assertIn(("m.room.create", ""), state)
        self.assertIn(("m.room.member", self.user), state)

    def test_transaction_id_only_for_the_sending_device(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        self.helper.send(room, "hi", txn_id="my-txn", tok=self.tok)
        body = self.sync(self.tok)
        last = body["rooms"]["join"][room]["timeline"]["events"][-1]
        self.assertEqual(last["unsigned"]["transaction_id"], "my-txn")
        other_device = self.login("alice", "pass")
        body = self.sync(other_device)
        last = body["rooms"]["join"][room]["timeline"]["events"][-1]
        self.assertNotIn("transaction_id", last["unsigned"])

    def test_summary_heroes_and_counts(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        self.helper.invite(room, targ=self.other, tok=self.tok)
        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        self.helper.invite(room, targ=carol, tok=self.tok)
        self.helper.join(room, tok=carol_tok)
        body = self.sync(self.tok)
        summary = self.joined_room(body, room)["summary"]
        self.assertEqual(summary["m.joined_member_count"], 2)
        self.assertEqual(summary["m.invited_member_count"], 1)
        self.assertEqual(summary["m.heroes"], [self.other, carol])
        # A named room needs no heroes.
        self.helper.send_state(room, "m.room.name", {"name": "Named"}, tok=self.tok)
        summary = self.joined_room(self.sync(self.tok), room)["summary"]
        self.assertNotIn("m.heroes", summary)

    def test_bundled_aggregations_in_the_timeline(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        original = self.helper.send(room, "typo", tok=self.tok)["event_id"]
        self.send_relation(
            room,
            original,
            "m.replace",
            self.tok,
            content={"body": "* fixed", "m.new_content": {"msgtype": "m.text", "body": "fixed"}},
        )
        body = self.sync(self.tok)
        events = {e["event_id"]: e for e in self.joined_room(body, room)["timeline"]["events"]}
        relations = events[original]["unsigned"]["m.relations"]
        self.assertEqual(relations["m.replace"]["content"]["body"], "* fixed")

    def test_no_rooms(self) -> None:
        body = self.sync(self.tok)
        self.assertEqual(body["rooms"]["join"], {})


class IncrementalSyncTestCase(SyncTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room, tok=self.other_tok)
        self.since = self.sync(self.tok)["next_batch"]

    def test_nothing_new(self) -> None:
        body = self.sync(self.tok, since=self.since)
        self.assertEqual(body["rooms"]["join"], {})
        self.assertEqual(body["next_batch"], self.since)

    def test_new_messages_only(self) -> None:
        sent = self.helper.send(self.room, "new", tok=self.other_tok)["event_id"]
        body = self.sync(self.tok, since=self.since)
        joined = self.joined_room(body, self.room)
        self.assertEqual(self.timeline_ids(body, self.room), [sent])
        self.assertFalse(joined["timeline"]["limited"])
        self.assertEqual(joined["state"]["events"], [])
        # prev_batch continues backwards with /messages.
        page = self.ok(
            self.messages(self.room, self.tok, **{"from": joined["timeline"]["prev_batch"]})
        )
        self.assertNotIn(sent, [e["event_id"] for e in page["chunk"]])
        again = self.sync(self.tok, since=body["next_batch"])
        self.assertEqual(again["rooms"]["join"], {})

    def test_limited_timeline_with_state_delta_and_prev_batch(self) -> None:
        gap = [self.helper.send(self.room, f"gap{i}", tok=self.tok)["event_id"] for i in range(3)]
        self.helper.send_state(self.room, "m.room.topic", {"topic": "in the gap"}, tok=self.tok)
        gap.append(self.helper.send(self.room, "gap3", tok=self.tok)["event_id"])
        recent = [self.helper.send(self.room, f"r{i}", tok=self.tok)["event_id"] for i in range(3)]
        body = self.sync(self.tok, since=self.since, filter=LIMIT_FILTER)
        joined = self.joined_room(body, self.room)
        self.assertTrue(joined["timeline"]["limited"])
        self.assertEqual(self.timeline_ids(body, self.room), recent)
        state = {(e["type"], e["state_key"]): e["content"] for e in joined["state"]["events"]}
        # Only what changed in the gap.
        self.assertEqual(state, {("m.room.topic", ""): {"topic": "in the gap"}})
        # The gap is filled by /messages from prev_batch back to since.
        page = self.ok(
            self.messages(
                self.room,
                self.tok,
                **{"from": joined["timeline"]["prev_batch"], "to": self.since, "limit": 20},
            )
        )
        bodies = [e["content"].get("body") for e in page["chunk"] if e["type"] == "m.room.message"]
        self.assertEqual(bodies, ["gap3", "gap2", "gap1", "gap0"])
        self.assertEqual(
            [e["event_id"] for e in page["chunk"] if e["type"] == "m.room.message"],
            list(reversed(gap)),
        )

    def test_member_changes_in_the_gap_are_sent(self) -> None:
        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        self.helper.join(self.room, tok=carol_tok)
        for i in range(4):
            self.helper.send(self.room, f"m{i}", tok=self.tok)
        body = self.sync(
            self.tok,
            since=self.since,
            filter={"room": {"timeline": {"limit": 2}, "state": {"lazy_load_members": True}}},
        )
        joined = self.joined_room(body, self.room)
        members = {
            e["state_key"] for e in joined["state"]["events"] if e["type"] == "m.room.member"
        }
        self.assertIn(carol, members)
        self.assertEqual(joined["summary"]["m.joined_member_count"], 3)

    def test_state_changes_carry_prev_content(self) -> None:
        self.helper.send_state(
            self.room,
            "m.room.member",
            {"membership": "join", "displayname": "Bobby"},
            tok=self.other_tok,
            state_key=self.other,
        )
        body = self.sync(self.tok, since=self.since)
        event = self.joined_room(body, self.room)["timeline"]["events"][-1]
        self.assertEqual(event["content"]["displayname"], "Bobby")
        self.assertEqual(event["unsigned"]["prev_content"]["membership"], "join")
        self.assertNotEqual(event["unsigned"]["prev_content"].get("displayname"), "Bobby")

    def test_full_state(self) -> None:
        self.helper.send(self.room, "x", tok=self.tok)
        body = self.sync(self.tok, since=self.since, full_state=True)
        joined = self.joined_room(body, self.room)
        types = {e["type"] for e in joined["state"]["events"]}
        self.assertIn("m.room.create", types)
        self.assertIn("m.room.power_levels", types)
        self.assertEqual(len(joined["timeline"]["events"]), 1)
        # Even with nothing new, full_state answers at once with every room.
        body = self.sync(self.tok, since=body["next_batch"], full_state=True, timeout=10000)
        self.assertIn(self.room, body["rooms"]["join"])

    def test_newly_joined_room_has_full_state(self) -> None:
        bob_since = self.sync(self.other_tok)["next_batch"]
        room2 = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.send_state(room2, "m.room.name", {"name": "Second"}, tok=self.tok)
        for i in range(5):
            self.helper.send(room2, f"before{i}", tok=self.tok)
        self.helper.join(room2, tok=self.other_tok)
        body = self.sync(self.other_tok, since=bob_since, filter=LIMIT_FILTER)
        joined = self.joined_room(body, room2)
        state = {(e["type"], e["state_key"]) for e in joined["state"]["events"]}
        self.assertIn(("m.room.create", ""), state)
        self.assertIn(("m.room.name", ""), state)
        self.assertEqual(joined["timeline"]["events"][-1]["state_key"], self.other)
        self.assertEqual(joined["summary"]["m.joined_member_count"], 2)

    def test_rooms_filter(self) -> None:
        room2 = self.helper.create_room_as(self.user, tok=self.tok)
        self.helper.send(self.room, "one", tok=self.tok)
        self.helper.send(room2, "two", tok=self.tok)
        body = self.sync(self.tok, since=self.since, filter={"room": {"rooms": [room2]}})
        self.assertEqual(list(body["rooms"]["join"]), [room2])
        body = self.sync(self.tok, since=self.since, filter={"room": {"not_rooms": [room2]}})
        self.assertEqual(list(body["rooms"]["join"]), [self.room])

    def test_timeline_types_filter_reads_further_back(self) -> None:
        wanted = self.helper.send_event(self.room, "org.example.wanted", {}, tok=self.tok)
        for i in range(8):
            self.helper.send(self.room, f"noise{i}", tok=self.tok)
        filter_json = {"room": {"timeline": {"limit": 2, "types": ["org.example.wanted"]}}}
        body = self.sync(self.tok, since=self.since, filter=filter_json)
        self.assertEqual(self.timeline_ids(body, self.room), [wanted["event_id"]])
        body = self.sync(
            self.tok,
            since=self.since,
            filter={"room": {"timeline": {"not_types": ["m.room.message"]}}},
        )
        self.assertEqual(self.timeline_ids(body, self.room), [wanted["event_id"]])

    def test_filter_by_id(self) -> None:
        channel = self.make_request(
            "POST", f"user/{q(self.user)}/filter", LIMIT_FILTER, access_token=self.tok
        )
        filter_id = self.ok(channel)["filter_id"]
        for i in range(5):
            self.helper.send(self.room, f"m{i}", tok=self.tok)
        body = self.sync(self.tok, since=self.since, filter=filter_id)
        self.assertEqual(len(self.timeline_ids(body, self.room)), 3)
        self.assertTrue(self.joined_room(body, self.room)["timeline"]["limited"])

    def test_event_fields_and_federation_format(self) -> None:
        # Not checked against the schema: ``event_fields`` leaves out required fields.
        self.helper.send(self.room, "x", tok=self.tok)
        channel = self.get(
            "sync",
            self.tok,
            since=self.since,
            filter={"event_fields": ["type", "content.body"]},
        )
        event = self.ok(channel)["rooms"]["join"][self.room]["timeline"]["events"][0]
        self.assertEqual(event, {"type": "m.room.message", "content": {"body": "x"}})
        channel = self.get(
            "sync", self.tok, since=self.since, filter={"event_format": "federation"}
        )
        event = self.ok(channel)["rooms"]["join"][self.room]["timeline"]["events"][0]
        self.assertIn("auth_events", event)

    def test_leave_in_incremental_sync_without_include_leave(self) -> None:
        bob_since = self.sync(self.other_tok)["next_batch"]
        self.helper.send(self.room, "before leaving", tok=self.tok)
        self.helper.leave(self.room, tok=self.other_tok)
        self.helper.send(self.room, "after leaving", tok=self.tok)
        body = self.sync(self.other_tok, since=bob_since)
        self.assertNotIn(self.room, body["rooms"]["join"])
        left = body["rooms"]["leave"][self.room]
        events = left["timeline"]["events"]
        self.assertEqual(events[-1]["state_key"], self.other)
        self.assertEqual(events[-1]["content"]["membership"], "leave")
        bodies = [e["content"].get("body") for e in events]
        self.assertIn("before leaving", bodies)
        self.assertNotIn("after leaving", bodies)
        # Not again in the next sync.
        body = self.sync(self.other_tok, since=body["next_batch"])
        self.assertEqual(body["rooms"]["leave"], {})

    def test_include_leave_in_initial_sync(self) -> None:
        self.helper.send(self.room, "last words", tok=self.other_tok)
        self.helper.leave(self.room, tok=self.other_tok)
        body = self.sync(self.other_tok)
        self.assertEqual(body["rooms"]["leave"], {})
        body = self.sync(self.other_tok, filter={"room": {"include_leave": True}})
        left = body["rooms"]["leave"][self.room]
        self.assertEqual(left["timeline"]["events"][-1]["content"]["membership"], "leave")
        # A forgotten room is not shown.
        self.helper.forget(self.room, tok=self.other_tok)
        body = self.sync(self.other_tok, filter={"room": {"include_leave": True}})
        self.assertEqual(body["rooms"]["leave"], {})

    def test_kicked_user_sees_the_kick(self) -> None:
        bob_since = self.sync(self.other_tok)["next_batch"]
        self.helper.kick(self.room, self.other, tok=self.tok)
        body = self.sync(self.other_tok, since=bob_since)
        last = body["rooms"]["leave"][self.room]["timeline"]["events"][-1]
        self.assertEqual(last["sender"], self.user)
        self.assertEqual(last["content"]["membership"], "leave")

    def test_bad_requests(self) -> None:
        for params, errcode in (
            ({"since": "not a token"}, Codes.INVALID_PARAM),
            ({"since": "x1_2"}, Codes.INVALID_PARAM),
            ({"timeout": "soon"}, Codes.INVALID_PARAM),
            ({"timeout": "-1"}, Codes.INVALID_PARAM),
            ({"full_state": "yes"}, Codes.INVALID_PARAM),
            ({"use_state_after": "1"}, Codes.INVALID_PARAM),
            ({"set_presence": "busy"}, Codes.INVALID_PARAM),
            ({"filter": "{not json"}, Codes.NOT_JSON),
            ({"filter": '{"room": []}'}, Codes.BAD_JSON),
            ({"filter": '{"room": {"timeline": {"limit": "ten"}}}'}, Codes.BAD_JSON),
            ({"filter": "12345"}, Codes.INVALID_PARAM),
        ):
            channel = self.get("sync", self.tok, **params)
            self.assert_error(channel, 400, errcode)
        channel = self.make_request("GET", "sync")
        self.assert_error(channel, 401, Codes.MISSING_TOKEN)
        channel = self.make_request("GET", "sync", access_token="nonsense")
        self.assert_error(channel, 401, Codes.UNKNOWN_TOKEN)

    def test_set_presence_is_accepted(self) -> None:
        for state in ("online", "offline", "unavailable"):
            self.sync(self.tok, since=self.since, set_presence=state)

    def test_presence_filtered_out(self) -> None:
        body = self.sync(self.tok, filter={"presence": {"types": []}})
        self.assertNotIn("presence", body)

    def test_use_state_after(self) -> None:
        self.helper.send_state(self.room, "m.room.topic", {"topic": "t1"}, tok=self.tok)
        for i in range(4):
            self.helper.send(self.room, f"m{i}", tok=self.tok)
        topic = self.helper.send_state(self.room, "m.room.topic", {"topic": "t2"}, tok=self.tok)
        body = self.sync(self.tok, since=self.since, filter=LIMIT_FILTER, use_state_after=True)
        joined = self.joined_room(body, self.room)
        self.assertNotIn("state", joined)
        after = {
            (e["type"], e["state_key"]): e["event_id"] for e in joined["state_after"]["events"]
        }
        self.assertEqual(after[("m.room.topic", "")], topic["event_id"])

    def test_use_state_after_in_an_initial_sync(self) -> None:
        body = self.sync(self.tok, filter=LIMIT_FILTER, use_state_after=True)
        joined = self.joined_room(body, self.room)
        self.assertNotIn("state", joined)
        after = {(e["type"], e["state_key"]) for e in joined["state_after"]["events"]}
        # The whole state at the end of the timeline, the timeline's own state included.
        self.assertIn(("m.room.create", ""), after)
        self.assertIn(("m.room.member", self.other), after)

    def test_timeline_limit_is_capped(self) -> None:
        for i in range(3):
            self.helper.send(self.room, f"m{i}", tok=self.tok)
        with patch("synapse.handlers.sync.MAX_TIMELINE_LIMIT", 2):
            body = self.sync(
                self.tok, since=self.since, filter={"room": {"timeline": {"limit": 50}}}
            )
        joined = self.joined_room(body, self.room)
        self.assertEqual(len(joined["timeline"]["events"]), 2)
        self.assertTrue(joined["timeline"]["limited"])

    def test_history_visibility_joined(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.send_state(
            room, "m.room.history_visibility", {"history_visibility": "joined"}, tok=self.tok
        )
        self.helper.send(room, "secret before bob", tok=self.tok)
        self.helper.join(room, tok=self.other_tok)
        self.helper.send(room, "after bob", tok=self.tok)
        body = self.sync(self.other_tok)
        bodies = [
            e["content"].get("body") for e in body["rooms"]["join"][room]["timeline"]["events"]
        ]
        self.assertIn("after bob", bodies)
        self.assertNotIn("secret before bob", bodies)

    def test_ignored_users(self) -> None:
        bob_since = self.sync(self.other_tok)["next_batch"]
        channel = self.make_request(
            "PUT",
            f"user/{q(self.other)}/account_data/m.ignored_user_list",
            {"ignored_users": {self.user: {}}},
            access_token=self.other_tok,
        )
        self.ok(channel)
        self.helper.send(self.room, "ignore me", tok=self.tok)
        room2 = self.helper.create_room_as(self.user, tok=self.tok)
        self.helper.invite(room2, targ=self.other, tok=self.tok)
        body = self.sync(self.other_tok, since=bob_since)
        timeline = body["rooms"]["join"].get(self.room, {}).get("timeline", {"events": []})
        self.assertNotIn("ignore me", [e["content"].get("body") for e in timeline["events"]])
        self.assertEqual(body["rooms"]["invite"], {})


class InviteKnockSyncTestCase(SyncTestCase):
    def test_invite_then_join(self) -> None:
        bob_since = self.sync(self.other_tok)["next_batch"]
        room = self.helper.create_room_as(
            self.user, tok=self.tok, extra_content={"name": "Invite only"}
        )
        self.helper.invite(room, targ=self.other, tok=self.tok)
        body = self.sync(self.other_tok, since=bob_since)
        invite_state = body["rooms"]["invite"][room]["invite_state"]["events"]
        by_type = {e["type"]: e for e in invite_state}
        self.assertIn("m.room.create", by_type)
        self.assertEqual(by_type["m.room.name"]["content"], {"name": "Invite only"})
        self.assertEqual(invite_state[-1]["content"]["membership"], "invite")
        self.assertEqual(invite_state[-1]["state_key"], self.other)
        for event in invite_state:
            self.assertEqual(set(event), {"type", "state_key", "content", "sender"})
        # An initial sync shows the invite too.
        self.assertIn(room, self.sync(self.other_tok)["rooms"]["invite"])
        # Joining moves the room to join, with the whole state.
        self.helper.join(room, tok=self.other_tok)
        body = self.sync(self.other_tok, since=body["next_batch"])
        self.assertEqual(body["rooms"]["invite"], {})
        joined = self.joined_room(body, room)
        events = joined["timeline"]["events"] + joined["state"]["events"]
        self.assertIn("m.room.create", {e["type"] for e in events})

    def test_rejected_invite_is_a_leave(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        self.helper.send(room, "private talk", tok=self.tok)
        self.helper.invite(room, targ=self.other, tok=self.tok)
        bob_since = self.sync(self.other_tok)["next_batch"]
        self.helper.leave(room, tok=self.other_tok)
        body = self.sync(self.other_tok, since=bob_since)
        left = body["rooms"]["leave"][room]
        self.assertEqual(len(left["timeline"]["events"]), 1)
        self.assertEqual(left["timeline"]["events"][0]["content"]["membership"], "leave")
        self.assertEqual(left["state"]["events"], [])

    def test_knock(self) -> None:
        room = self.helper.create_room_as(self.user, room_version="10", tok=self.tok)
        self.helper.send_state(room, "m.room.join_rules", {"join_rule": "knock"}, tok=self.tok)
        bob_since = self.sync(self.other_tok)["next_batch"]
        self.helper.knock(room, tok=self.other_tok, reason="let me in")
        body = self.sync(self.other_tok, since=bob_since)
        knock_state = body["rooms"]["knock"][room]["knock_state"]["events"]
        self.assertIn("m.room.create", {e["type"] for e in knock_state})
        self.assertEqual(knock_state[-1]["content"]["membership"], "knock")
        self.assertIn(room, self.sync(self.other_tok)["rooms"]["knock"])
        # The room's members see the knock in their timeline.
        alice = self.sync(self.tok)
        last = alice["rooms"]["join"][room]["timeline"]["events"][-1]
        self.assertEqual(last["content"]["membership"], "knock")


class LazyLoadingTestCase(SyncTestCase):
    LAZY: JsonDict = {"room": {"timeline": {"limit": 2}, "state": {"lazy_load_members": True}}}

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.carol = self.register_user("carol", "pass")
        self.carol_tok = self.login("carol", "pass")
        self.room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.send_state(self.room, "m.room.name", {"name": "Lazy"}, tok=self.tok)
        self.helper.join(self.room, tok=self.other_tok)
        self.helper.join(self.room, tok=self.carol_tok)

    def members(self, joined: JsonDict) -> set[str]:
        return {e["state_key"] for e in joined["state"]["events"] if e["type"] == "m.room.member"}

    def test_only_senders_and_self(self) -> None:
        for i in range(2):
            self.helper.send(self.room, f"bob{i}", tok=self.other_tok)
        body = self.sync(self.tok, filter=self.LAZY)
        joined = self.joined_room(body, self.room)
        self.assertEqual(self.members(joined), {self.other, self.user})
        non_members = {e["type"] for e in joined["state"]["events"]} - {"m.room.member"}
        self.assertIn("m.room.power_levels", non_members)
        # Without lazy loading every member is there.
        body = self.sync(self.tok, filter={"room": {"timeline": {"limit": 2}}})
        joined = self.joined_room(body, self.room)
        self.assertEqual(self.members(joined), {self.user, self.other, self.carol})

    def test_incremental_sends_new_senders_once(self) -> None:
        for i in range(2):
            self.helper.send(self.room, f"bob{i}", tok=self.other_tok)
        since = self.sync(self.tok, filter=self.LAZY)["next_batch"]
        self.helper.send(self.room, "carol speaks", tok=self.carol_tok)
        body = self.sync(self.tok, since=since, filter=self.LAZY)
        joined = self.joined_room(body, self.room)
        self.assertFalse(joined["timeline"]["limited"])
        self.assertEqual(self.members(joined), {self.carol})
        # Bob's member event was sent already: it is redundant now.
        self.helper.send(self.room, "bob again", tok=self.other_tok)
        body2 = self.sync(self.tok, since=body["next_batch"], filter=self.LAZY)
        self.assertEqual(self.members(self.joined_room(body2, self.room)), set())
        # Unless redundant members are asked for.
        redundant: JsonDict = {
            "room": {
                "timeline": {"limit": 2},
                "state": {"lazy_load_members": True, "include_redundant_members": True},
            }
        }
        body3 = self.sync(self.tok, since=body["next_batch"], filter=redundant)
        self.assertEqual(self.members(self.joined_room(body3, self.room)), {self.other})

    def test_other_devices_get_their_own_members(self) -> None:
        self.helper.send(self.room, "bob", tok=self.other_tok)
        self.sync(self.tok, filter=self.LAZY)
        second = self.login("alice", "pass")
        body = self.sync(second, filter=self.LAZY)
        self.assertIn(self.other, self.members(self.joined_room(body, self.room)))


class LongPollTestCase(SyncTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room, tok=self.other_tok)
        self.since = self.sync(self.tok)["next_batch"]

    def test_woken_by_another_users_message(self) -> None:
        channel = self.sync_request(self.tok, since=self.since, timeout=30000)
        self.reactor.advance(1)
        self.assertFalse(channel.is_finished())
        sent = self.helper.send(self.room, "wake up", tok=self.other_tok)["event_id"]
        self.pump(0)
        self.assertTrue(channel.is_finished())
        body = self.sync_body(channel)
        self.assertEqual(self.timeline_ids(body, self.room), [sent])

    def test_times_out_on_the_clock(self) -> None:
        channel = self.sync_request(self.tok, since=self.since, timeout=10000)
        self.reactor.advance(9)
        self.assertFalse(channel.is_finished())
        self.reactor.advance(2)
        self.assertTrue(channel.is_finished())
        body = self.sync_body(channel)
        self.assertEqual(body["rooms"]["join"], {})
        self.assertEqual(body["next_batch"], self.since)

    # Bob's sending makes him online, which would wake alice with his presence.
    @override_config({"presence": {"enabled": False}})
    def test_not_woken_by_rooms_of_others(self) -> None:
        elsewhere = self.helper.create_room_as(self.other, tok=self.other_tok)
        channel = self.sync_request(self.tok, since=self.since, timeout=10000)
        self.pump(0)
        self.helper.send(elsewhere, "not for alice", tok=self.other_tok)
        self.pump(0)
        self.assertFalse(channel.is_finished())
        self.reactor.advance(11)
        self.assertEqual(self.sync_body(channel)["rooms"]["join"], {})

    def test_woken_by_an_invite(self) -> None:
        room2 = self.helper.create_room_as(self.other, tok=self.other_tok)
        channel = self.sync_request(self.tok, since=self.since, timeout=30000)
        self.pump(0)
        self.assertFalse(channel.is_finished())
        self.helper.invite(room2, targ=self.user, tok=self.other_tok)
        self.pump(0)
        self.assertIn(room2, self.sync_body(channel)["rooms"]["invite"])

    def test_woken_after_joining(self) -> None:
        room2 = self.helper.create_room_as(self.other, is_public=True, tok=self.other_tok)
        self.helper.join(room2, tok=self.tok)
        since = self.sync(self.tok)["next_batch"]
        channel = self.sync_request(self.tok, since=since, timeout=30000)
        self.pump(0)
        self.helper.send(room2, "in the new room", tok=self.other_tok)
        self.pump(0)
        self.assertTrue(channel.is_finished())
        self.assertIn(room2, self.sync_body(channel)["rooms"]["join"])

    @override_config({"caches": {"sync_response_cache_duration": "2m"}})
    def test_retry_is_answered_from_the_cache(self) -> None:
        self.helper.send(self.room, "m", tok=self.other_tok)
        first = self.sync(self.tok, since=self.since)
        self.helper.send(self.room, "later", tok=self.other_tok)
        # The same request again gets the same answer (the client lost the first one).
        retry = self.sync(self.tok, since=self.since)
        self.assertEqual(retry, first)
        # For a while only.
        self.expire_response_cache()
        fresh = self.sync(self.tok, since=self.since)
        self.assertEqual(len(self.timeline_ids(fresh, self.room)), 2)

    @override_config({"caches": {"sync_response_cache_duration": 0}})
    def test_without_the_response_cache(self) -> None:
        self.helper.send(self.room, "m", tok=self.other_tok)
        first = self.sync(self.tok, since=self.since)
        self.helper.send(self.room, "later", tok=self.other_tok)
        retry = self.sync(self.tok, since=self.since)
        self.assertEqual(len(self.timeline_ids(retry, self.room)), 2)
        self.assertNotEqual(retry["next_batch"], first["next_batch"])

    def test_concurrent_identical_requests_share_one_answer(self) -> None:
        first = self.sync_request(self.tok, since=self.since, timeout=30000)
        second = self.sync_request(self.tok, since=self.since, timeout=30000)
        self.pump(0)
        self.helper.send(self.room, "both", tok=self.other_tok)
        self.pump(0)
        self.assertEqual(self.sync_body(first), self.sync_body(second))

    def test_client_going_away_does_not_break_the_other(self) -> None:
        first = self.sync_request(self.tok, since=self.since, timeout=30000)
        second = self.sync_request(self.tok, since=self.since, timeout=30000)
        self.pump(0)
        first.client_disconnect()
        self.pump(0)
        sent = self.helper.send(self.room, "still there", tok=self.other_tok)["event_id"]
        self.pump(0)
        self.assertEqual(self.timeline_ids(self.sync_body(second), self.room), [sent])
