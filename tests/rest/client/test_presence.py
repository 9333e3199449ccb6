"""``GET/PUT /presence/{userId}/status`` and the presence section of ``/sync``."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from synapse.api.errors import Codes
from synapse.rest.client import presence
from synapse.types import JsonDict
from tests.matrix_spec import SPEC_ROOT, assert_response_matches_spec, resolve_refs
from tests.rest.client.sync_test_base import SyncTestCase, q
from tests.server import FakeChannel
from tests.unittest import override_config

PRESENCE_API = ("client-server/presence.yaml", "/presence/{userId}/status")


def assert_presence_event(event: JsonDict) -> None:
    """``event`` is an ``m.presence`` event as the spec's event schema describes it."""
    schema = resolve_refs(
        {"$ref": "m.presence.yaml"}, SPEC_ROOT / "data" / "event-schemas" / "schema" / "_"
    )
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(event)]
    assert not errors, f"{event}: {errors}"


class PresenceTestCase(SyncTestCase):
    """alice and bob share a room; carol shares none with them."""

    servlets = [*SyncTestCase.servlets, presence.register_servlets]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room = self.helper.create_room_as(self.user, tok=self.tok)
        self.helper.invite(self.room, self.user, self.other, tok=self.tok)
        self.helper.join(self.room, tok=self.other_tok)
        self.carol = self.register_user("carol", "pass")
        self.carol_tok = self.login("carol", "pass")

    # --- helpers -----------------------------------------------------------------------
    def put_presence(self, user_id: str, tok: str | None, body: Any) -> FakeChannel:
        return self.make_request("PUT", f"presence/{q(user_id)}/status", body, access_token=tok)

    def get_presence(self, user_id: str, tok: str | None) -> FakeChannel:
        return self.make_request("GET", f"presence/{q(user_id)}/status", access_token=tok)

    def set_presence(self, user_id: str, tok: str, state: str, msg: str | None = None) -> None:
        body: JsonDict = {"presence": state}
        if msg is not None:
            body["status_msg"] = msg
        channel = self.put_presence(user_id, tok, body)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *PRESENCE_API, "put")

    def presence_of(self, user_id: str, tok: str) -> JsonDict:
        channel = self.get_presence(user_id, tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *PRESENCE_API, "get")
        return channel.json_body

    def presence_events(self, body: JsonDict) -> dict[str, JsonDict]:
        """The presence contents of a sync, by user (checked against the event schema)."""
        out: dict[str, JsonDict] = {}
        for event in body["presence"]["events"]:
            assert_presence_event(event)
            self.assertNotIn(event["sender"], out, "one event per user")
            out[event["sender"]] = event["content"]
        return out

    def stored_presence_rows(self) -> int:
        rows = self.get_success(
            self.stores.db_pool.execute("count", "SELECT COUNT(*) FROM presence_stream")
        )
        return int(rows[0][0])


class PresenceApiTestCase(PresenceTestCase):
    def test_set_and_get_own_presence(self) -> None:
        self.set_presence(self.user, self.tok, "online", "at lunch")
        body = self.presence_of(self.user, self.tok)
        self.assertEqual(body["presence"], "online")
        self.assertEqual(body["status_msg"], "at lunch")
        self.assertIs(body["currently_active"], True)
        self.assertEqual(body["last_active_ago"], 0)
        self.reactor.advance(2)
        self.assertEqual(self.presence_of(self.user, self.tok)["last_active_ago"], 2000)

    def test_status_message_cleared_when_left_out(self) -> None:
        self.set_presence(self.user, self.tok, "unavailable", "away")
        self.assertEqual(self.presence_of(self.user, self.tok)["status_msg"], "away")
        self.set_presence(self.user, self.tok, "unavailable")
        body = self.presence_of(self.user, self.tok)
        self.assertEqual(body["presence"], "unavailable")
        self.assertNotIn("status_msg", body)
        self.assertNotIn("currently_active", body)

    def test_presence_of_someone_sharing_a_room(self) -> None:
        # Never seen: offline, and nothing else.
        self.assertEqual(self.presence_of(self.other, self.tok), {"presence": "offline"})
        self.set_presence(self.other, self.other_tok, "unavailable", "busy busy")
        body = self.presence_of(self.other, self.tok)
        self.assertEqual(body["presence"], "unavailable")
        self.assertEqual(body["status_msg"], "busy busy")

    def test_presence_of_a_stranger_is_forbidden(self) -> None:
        self.set_presence(self.carol, self.carol_tok, "online")
        channel = self.get_presence(self.carol, self.tok)
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], Codes.FORBIDDEN)
        assert_response_matches_spec(channel.json_body, *PRESENCE_API, "get", 403)
        # Once they share a room, it is allowed.
        room = self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        self.helper.join(room, tok=self.tok)
        self.assertEqual(self.presence_of(self.carol, self.tok)["presence"], "online")
        # And not any more once they do not.
        self.helper.leave(room, self.user, tok=self.tok)
        self.assertEqual(self.get_presence(self.carol, self.tok).code, 403)

    def test_presence_of_unknown_users(self) -> None:
        channel = self.get_presence("@nobody:test", self.tok)
        self.assertEqual(channel.code, 404, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], Codes.NOT_FOUND)
        assert_response_matches_spec(channel.json_body, *PRESENCE_API, "get", 404)
        # A remote user sharing no room.
        channel = self.get_presence("@someone:elsewhere.example", self.tok)
        self.assertEqual(channel.code, 403, channel.json_body)
        for bad in ("nobody", "@", "@nobody", "!room:test"):
            channel = self.get_presence(bad, self.tok)
            self.assertEqual(channel.code, 400, (bad, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], Codes.INVALID_PARAM)

    def test_needs_a_token(self) -> None:
        channel = self.get_presence(self.user, None)
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], Codes.MISSING_TOKEN)
        channel = self.put_presence(self.user, None, {"presence": "online"})
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], Codes.MISSING_TOKEN)

    def test_cannot_set_someone_elses_presence(self) -> None:
        channel = self.put_presence(self.other, self.tok, {"presence": "online"})
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], Codes.FORBIDDEN)
        self.assertEqual(self.presence_of(self.other, self.tok), {"presence": "offline"})
        self.assertEqual(self.stored_presence_rows(), 0)

    def test_bad_bodies_write_nothing(self) -> None:
        cases: list[tuple[Any, int, str]] = [
            ({}, 400, Codes.MISSING_PARAM),
            ({"status_msg": "hi"}, 400, Codes.MISSING_PARAM),
            ({"presence": "busy"}, 400, Codes.BAD_JSON),
            ({"presence": 1}, 400, Codes.BAD_JSON),
            ({"presence": None}, 400, Codes.BAD_JSON),
            ({"presence": "online", "status_msg": 5}, 400, Codes.BAD_JSON),
            ({"presence": "online", "status_msg": None}, 400, Codes.BAD_JSON),
            ({"presence": "online", "status_msg": "a\u0000b"}, 400, Codes.INVALID_PARAM),
            (["online"], 400, Codes.BAD_JSON),
            (b"{not json", 400, Codes.NOT_JSON),
        ]
        for body, code, errcode in cases:
            channel = self.put_presence(self.user, self.tok, body)
            self.assertEqual(channel.code, code, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], errcode, body)
        bad_ids = ("alice", "@", "@alice")
        for bad in bad_ids:
            channel = self.put_presence(bad, self.tok, {"presence": "online"})
            self.assertEqual(channel.code, 400, (bad, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], Codes.INVALID_PARAM)
        self.assertEqual(self.stored_presence_rows(), 0)
        self.assertEqual(self.presence_of(self.user, self.tok), {"presence": "offline"})

    @override_config({"rc_presence": {"per_user": {"per_second": 0.1, "burst_count": 1}}})
    def test_rate_limited(self) -> None:
        self.set_presence(self.user, self.tok, "online", "first")
        channel = self.put_presence(self.user, self.tok, {"presence": "online", "status_msg": "x"})
        self.assertEqual(channel.code, 429, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], Codes.LIMIT_EXCEEDED)
        self.assertGreater(channel.json_body["retry_after_ms"], 0)
        assert_response_matches_spec(channel.json_body, *PRESENCE_API, "put", 429)
        self.assertEqual(self.presence_of(self.user, self.tok)["status_msg"], "first")
        # Others are not held back by alice's bucket.
        self.set_presence(self.other, self.other_tok, "online")
        self.reactor.advance(11)
        self.set_presence(self.user, self.tok, "online", "later")

    @override_config({"presence": {"enabled": False}})
    def test_disabled(self) -> None:
        self.set_presence(self.user, self.tok, "online", "ignored")
        self.assertEqual(self.presence_of(self.user, self.tok), {"presence": "offline"})
        # Even for strangers: there is nothing to hide.
        self.assertEqual(self.presence_of(self.carol, self.tok), {"presence": "offline"})
        # Bad input is still refused, and others' presence cannot be set.
        self.assertEqual(self.put_presence(self.user, self.tok, {"presence": "x"}).code, 400)
        self.assertEqual(self.put_presence(self.other, self.tok, {"presence": "online"}).code, 403)
        self.set_presence(self.other, self.other_tok, "online")
        body = self.sync(self.tok)
        self.assertEqual(body["presence"], {"events": []})
        self.helper.send(self.room, "hello", tok=self.other_tok)
        self.assertEqual(self.sync(self.tok)["presence"], {"events": []})
        self.assertEqual(self.stored_presence_rows(), 0)


class PresenceSyncTestCase(PresenceTestCase):
    def test_initial_sync_shows_users_sharing_a_room_and_oneself(self) -> None:
        self.set_presence(self.other, self.other_tok, "unavailable", "reading")
        self.set_presence(self.carol, self.carol_tok, "online")
        events = self.presence_events(self.sync(self.tok))
        # alice is online because she syncs; carol shares no room with her.
        self.assertEqual(set(events), {self.user, self.other})
        self.assertEqual(events[self.user]["presence"], "online")
        self.assertIs(events[self.user]["currently_active"], True)
        self.assertEqual(
            events[self.other],
            {"presence": "unavailable", "status_msg": "reading"},
        )

    def test_initial_sync_leaves_out_offline_users(self) -> None:
        self.set_presence(self.other, self.other_tok, "offline", "gone fishing")
        events = self.presence_events(self.sync(self.tok))
        self.assertEqual(set(events), {self.user})

    @override_config({"presence": {"include_offline_users_on_sync": True}})
    def test_initial_sync_may_include_offline_users(self) -> None:
        self.set_presence(self.other, self.other_tok, "offline", "gone fishing")
        events = self.presence_events(self.sync(self.tok))
        self.assertEqual(events[self.other], {"presence": "offline", "status_msg": "gone fishing"})

    def test_incremental_sync_shows_changes_once(self) -> None:
        since = self.sync(self.tok)["next_batch"]
        self.set_presence(self.other, self.other_tok, "online", "here")
        body = self.sync(self.tok, since=since)
        events = self.presence_events(body)
        self.assertEqual(set(events), {self.other})
        self.assertEqual(events[self.other]["status_msg"], "here")
        self.assertEqual(self.presence_events(self.sync(self.tok, since=body["next_batch"])), {})
        # Going offline is sent too.
        self.set_presence(self.other, self.other_tok, "offline")
        events = self.presence_events(self.sync(self.tok, since=body["next_batch"]))
        self.assertEqual(events[self.other], {"presence": "offline", "last_active_ago": 0})

    def test_strangers_changes_are_not_sent_and_do_not_wake(self) -> None:
        since = self.sync(self.tok)["next_batch"]
        channel = self.sync_request(self.tok, since=since, timeout=10000)
        self.pump(0)
        self.set_presence(self.carol, self.carol_tok, "online", "hi")
        self.pump(0)
        self.assertFalse(channel.is_finished())
        # bob shares a room: his change answers the long-poll at once.
        self.set_presence(self.other, self.other_tok, "unavailable")
        self.pump(0)
        self.assertTrue(channel.is_finished())
        events = self.presence_events(self.sync_body(channel))
        self.assertEqual(set(events), {self.other})

    def test_own_presence_wakes_own_sync(self) -> None:
        since = self.sync(self.tok)["next_batch"]
        channel = self.sync_request(self.tok, since=since, timeout=10000)
        self.pump(0)
        self.assertFalse(channel.is_finished())
        self.set_presence(self.user, self.tok, "online", "typing away")
        self.pump(0)
        self.assertTrue(channel.is_finished())
        events = self.presence_events(self.sync_body(channel))
        self.assertEqual(events[self.user]["status_msg"], "typing away")

    def test_users_newly_sharing_a_room_are_sent(self) -> None:
        self.set_presence(self.carol, self.carol_tok, "online", "carol here")
        dave = self.register_user("dave", "pass")
        dave_tok = self.login("dave", "pass")
        self.set_presence(dave, dave_tok, "unavailable")
        since = self.sync(self.tok)["next_batch"]
        # carol joins alice's room.
        self.helper.invite(self.room, self.user, self.carol, tok=self.tok)
        self.helper.join(self.room, tok=self.carol_tok)
        body = self.sync(self.tok, since=since)
        self.assertEqual(self.presence_events(body)[self.carol]["status_msg"], "carol here")
        # alice joins dave's room.
        room = self.helper.create_room_as(dave, is_public=True, tok=dave_tok)
        self.helper.join(room, tok=self.tok)
        events = self.presence_events(self.sync(self.tok, since=body["next_batch"]))
        self.assertEqual(events[dave]["presence"], "unavailable")

    def test_after_leaving_the_shared_room_changes_are_not_sent(self) -> None:
        self.helper.leave(self.room, tok=self.other_tok)
        since = self.sync(self.tok)["next_batch"]
        channel = self.sync_request(self.tok, since=since, timeout=10000)
        self.pump(0)
        self.set_presence(self.other, self.other_tok, "online", "gone")
        self.pump(0)
        self.assertFalse(channel.is_finished())
        self.reactor.advance(11)
        self.assertEqual(self.presence_events(self.sync_body(channel)), {})
        self.assertEqual(set(self.presence_events(self.sync(self.tok))), {self.user})

    def test_an_idle_client_marks_the_user_unavailable_unless_another_is_online(self) -> None:
        self.set_presence(self.user, self.tok, "online")
        second_tok = self.login("alice", "pass")
        since = self.sync(self.tok)["next_batch"]
        # A long-poll of a client that is in use is in flight: the idle client changes nothing.
        channel = self.sync_request(self.tok, since=since, timeout=30000)
        self.pump(0)
        self.sync(second_tok, set_presence="unavailable")
        self.assertEqual(self.presence_of(self.user, self.other_tok)["presence"], "online")
        self.reactor.advance(31)
        self.assertTrue(channel.is_finished())
        # Alone, the idle client marks the user unavailable.
        self.sync(second_tok, set_presence="unavailable")
        self.assertEqual(self.presence_of(self.user, self.other_tok)["presence"], "unavailable")

    def test_presence_filter(self) -> None:
        self.set_presence(self.other, self.other_tok, "online")
        body = self.sync(self.tok, filter={"presence": {"not_senders": [self.other]}})
        self.assertEqual(set(self.presence_events(body)), {self.user})
        body = self.sync(self.tok, filter={"presence": {"senders": [self.other]}})
        self.assertEqual(set(self.presence_events(body)), {self.other})
        body = self.sync(self.tok, filter={"presence": {"not_types": ["m.presence"]}})
        self.assertEqual(body["presence"], {"events": []})
        body = self.sync(self.tok, filter={"presence": {"types": []}})
        self.assertNotIn("presence", body)

    def test_ignored_users_presence_is_not_sent(self) -> None:
        self.set_presence(self.other, self.other_tok, "online")
        channel = self.make_request(
            "PUT",
            f"user/{q(self.user)}/account_data/m.ignored_user_list",
            {"ignored_users": {self.other: {}}},
            access_token=self.tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(set(self.presence_events(self.sync(self.tok))), {self.user})

    def test_set_presence_parameter(self) -> None:
        # set_presence=offline: syncing does not bring the user online.
        self.sync(self.tok, set_presence="offline")
        self.assertEqual(self.presence_of(self.user, self.other_tok), {"presence": "offline"})
        # unavailable: an offline user is marked idle.
        self.sync(self.tok, set_presence="unavailable")
        body = self.presence_of(self.user, self.other_tok)
        self.assertEqual(body["presence"], "unavailable")
        self.assertNotIn("last_active_ago", body)
        # online (the default) does not override an unavailable user: activity does.
        self.sync(self.tok)
        self.assertEqual(self.presence_of(self.user, self.other_tok)["presence"], "unavailable")
        self.helper.send(self.room, "back", tok=self.tok)
        self.assertEqual(self.presence_of(self.user, self.other_tok)["presence"], "online")
        channel = self.get("sync", self.tok, set_presence="away")
        self.assertEqual(channel.code, 400)
        self.assertEqual(channel.json_body["errcode"], Codes.INVALID_PARAM)


class PresenceOverTimeTestCase(PresenceTestCase):
    def test_offline_after_syncing_stops(self) -> None:
        since = self.sync(self.other_tok)["next_batch"]
        self.sync(self.tok)
        self.assertEqual(self.presence_of(self.user, self.other_tok)["presence"], "online")
        self.reactor.advance(25)
        self.assertEqual(self.presence_of(self.user, self.other_tok)["presence"], "online")
        self.reactor.advance(11)
        self.assertEqual(self.presence_of(self.user, self.other_tok)["presence"], "offline")
        events = self.presence_events(self.sync(self.other_tok, since=since))
        self.assertEqual(events[self.user]["presence"], "offline")
        self.assertEqual(events[self.user]["last_active_ago"], 36000)

    def test_a_long_poll_in_flight_keeps_the_user_online(self) -> None:
        since = self.sync(self.tok)["next_batch"]
        channel = self.sync_request(self.tok, since=since, timeout=60000)
        self.reactor.advance(50)
        self.assertFalse(channel.is_finished())
        self.assertEqual(self.presence_of(self.user, self.other_tok)["presence"], "online")
        self.reactor.advance(11)
        self.assertTrue(channel.is_finished())
        self.reactor.advance(25)
        self.assertEqual(self.presence_of(self.user, self.other_tok)["presence"], "online")
        self.reactor.advance(11)
        self.assertEqual(self.presence_of(self.user, self.other_tok)["presence"], "offline")

    def test_idle_after_five_minutes_without_activity(self) -> None:
        bob_since = self.sync(self.other_tok)["next_batch"]
        since = self.sync(self.tok)["next_batch"]
        # alice keeps syncing but does nothing.
        for _ in range(14):
            self.reactor.advance(20)
            since = self.sync(self.tok, since=since)["next_batch"]
        self.assertEqual(self.presence_of(self.user, self.other_tok)["presence"], "online")
        for _ in range(2):
            self.reactor.advance(20)
            since = self.sync(self.tok, since=since)["next_batch"]
        body = self.presence_of(self.user, self.other_tok)
        self.assertEqual(body["presence"], "unavailable")
        self.assertGreater(body["last_active_ago"], 300000)
        events = self.presence_events(self.sync(self.other_tok, since=bob_since))
        self.assertEqual(events[self.user]["presence"], "unavailable")
        # Activity brings her back.
        self.helper.send(self.room, "I'm back", tok=self.tok)
        body = self.presence_of(self.user, self.other_tok)
        self.assertEqual(body["presence"], "online")
        self.assertIs(body["currently_active"], True)

    def test_currently_active_and_announced_activity(self) -> None:
        self.set_presence(self.user, self.tok, "online")
        since = self.sync(self.other_tok)["next_batch"]
        # Activity while currently active is not announced.
        self.reactor.advance(10)
        self.helper.send(self.room, "one", tok=self.tok)
        body = self.sync(self.other_tok, since=since)
        self.assertEqual(self.presence_events(body), {})
        since = body["next_batch"]
        # A minute without activity: no longer currently active, which is announced.
        keep_syncing = self.sync(self.tok)["next_batch"]
        self.reactor.advance(30)
        keep_syncing = self.sync(self.tok, since=keep_syncing)["next_batch"]
        self.reactor.advance(30)
        keep_syncing = self.sync(self.tok, since=keep_syncing)["next_batch"]
        self.reactor.advance(6)
        body = self.sync(self.other_tok, since=since)
        events = self.presence_events(body)
        self.assertEqual(events[self.user]["presence"], "online")
        self.assertIs(events[self.user]["currently_active"], False)
        # Activity (a receipt) makes them currently active again, which is announced.
        event_id = self.helper.send(self.room, "two", tok=self.other_tok)["event_id"]
        channel = self.receipt(self.room, "m.read", event_id, self.tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        events = self.presence_events(self.sync(self.other_tok, since=body["next_batch"]))
        self.assertIs(events[self.user]["currently_active"], True)
        self.assertEqual(events[self.user]["last_active_ago"], 0)

    @override_config({"presence": {"enabled": "untracked"}})
    def test_untracked(self) -> None:
        # Syncing and activity change nothing; what clients set is kept and sent.
        self.sync(self.tok)
        self.helper.send(self.room, "hi", tok=self.tok)
        self.assertEqual(self.presence_of(self.user, self.other_tok), {"presence": "offline"})
        self.set_presence(self.user, self.tok, "online", "set by hand")
        self.reactor.advance(3600)
        body = self.presence_of(self.user, self.other_tok)
        self.assertEqual(body["presence"], "online")
        events = self.presence_events(self.sync(self.other_tok))
        self.assertEqual(events[self.user]["status_msg"], "set by hand")
