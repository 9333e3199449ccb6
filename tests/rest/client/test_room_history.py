"""``/messages``, ``/context/{eventId}``, ``/event/{eventId}`` and ``/timestamp_to_event``."""

from __future__ import annotations

from typing import Any

from synapse.api.errors import Codes
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.history_test_base import HistoryTestCase, q
from tests.server import FakeChannel

MESSAGES_API = ("client-server/message_pagination.yaml", "/rooms/{roomId}/messages", "get")
CONTEXT_API = ("client-server/event_context.yaml", "/rooms/{roomId}/context/{eventId}", "get")
EVENT_API = ("client-server/rooms.yaml", "/rooms/{roomId}/event/{eventId}", "get")
TIMESTAMP_API = (
    "client-server/room_event_by_timestamp.yaml",
    "/rooms/{roomId}/timestamp_to_event",
    "get",
)
V1 = "/_matrix/client/v1"


class HistoryEndpointsTestCase(HistoryTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room, tok=self.other_tok)

    def send_messages(self, n: int, tok: str | None = None, prefix: str = "m") -> list[str]:
        return [
            self.helper.send(self.room, f"{prefix}{i}", tok=tok or self.tok)["event_id"]
            for i in range(n)
        ]

    def page(self, tok: str | None = None, **params: Any) -> JsonDict:
        body = self.ok(self.messages(self.room, tok or self.tok, **params))
        assert_response_matches_spec(body, *MESSAGES_API)
        return body

    def assert_error(
        self, channel: FakeChannel, code: int, errcode: str, api: tuple[str, str, str] | None = None
    ) -> None:
        super().assert_error(channel, code, errcode, api)

    @staticmethod
    def bodies(chunk: list[JsonDict]) -> list[str]:
        return [e["content"]["body"] for e in chunk if e["type"] == "m.room.message"]


class MessagesTestCase(HistoryEndpointsTestCase):
    def test_back_through_the_whole_room(self) -> None:
        ids = self.send_messages(7)
        seen: list[str] = []
        body = self.page(limit=3)
        pages = 0
        while True:
            pages += 1
            seen.extend(e["event_id"] for e in body["chunk"])
            if "end" not in body:
                break
            self.assertLessEqual(len(body["chunk"]), 3)
            body = self.page(limit=3, **{"from": body["end"]})
        self.assertGreater(pages, 3)
        # Newest first, each event once, down to the create event.
        self.assertEqual(seen[:7], list(reversed(ids)))
        self.assertEqual(len(seen), len(set(seen)))
        first = self.get_success(self.stores.events.get_event(seen[-1]))
        self.assertEqual(first.type, "m.room.create")

    def test_forwards_from_the_start(self) -> None:
        ids = self.send_messages(3)
        body = self.page(dir="f", limit=100)
        self.assertEqual(body["chunk"][0]["type"], "m.room.create")
        self.assertEqual([e["event_id"] for e in body["chunk"][-3:]], ids)
        self.assertNotIn("end", body)

        body = self.page(dir="f", limit=2)
        forward: list[str] = []
        while True:
            forward.extend(e["event_id"] for e in body["chunk"])
            if "end" not in body:
                break
            body = self.page(dir="f", limit=2, **{"from": body["end"]})
        self.assertEqual(forward[-3:], ids)

    def test_start_is_the_from_token(self) -> None:
        self.send_messages(3)
        body = self.page(limit=1)
        again = self.page(limit=1, **{"from": body["end"]})
        self.assertEqual(again["start"], body["end"])

    def test_back_then_forward_from_the_same_token(self) -> None:
        ids = self.send_messages(4)
        body = self.page(limit=2)
        self.assertEqual([e["event_id"] for e in body["chunk"]], [ids[3], ids[2]])
        older = self.page(limit=2, **{"from": body["end"]})
        self.assertEqual([e["event_id"] for e in older["chunk"]], [ids[1], ids[0]])
        self.assertEqual(older["start"], body["end"])
        newer = self.page(dir="f", limit=10, **{"from": older["end"]})
        self.assertEqual([e["event_id"] for e in newer["chunk"]], ids)
        newer = self.page(dir="f", limit=10, **{"from": body["end"]})
        self.assertEqual([e["event_id"] for e in newer["chunk"]], [ids[2], ids[3]])

    def test_to_token(self) -> None:
        ids = self.send_messages(5)
        first = self.page(limit=1)
        later = self.page(limit=2, **{"from": first["end"]})
        # Everything between the start and the end of the second page.
        body = self.page(limit=10, to=later["end"])
        self.assertEqual([e["event_id"] for e in body["chunk"]], list(reversed(ids[2:])))
        self.assertNotIn("end", body)
        body = self.page(dir="f", limit=10, **{"from": later["end"], "to": first["end"]})
        self.assertEqual([e["event_id"] for e in body["chunk"]], ids[2:4])

    def test_sync_style_tokens(self) -> None:
        ids = self.send_messages(3)
        max_stream = self.stores.stream.get_room_max_stream_ordering()
        token = f"s{max_stream}_0_0_0_0_0_0_0_0_0"
        body = self.page(limit=2, **{"from": token})
        self.assertEqual([e["event_id"] for e in body["chunk"]], [ids[2], ids[1]])
        self.assertEqual(body["start"], token)
        # A live position in the past.
        body = self.page(limit=1, **{"from": f"s{max_stream - 1}"})
        self.assertEqual([e["event_id"] for e in body["chunk"]], [ids[1]])

    def test_limit(self) -> None:
        self.send_messages(12)
        self.assertEqual(len(self.page()["chunk"]), 10)
        self.assertEqual(len(self.page(limit=0)["chunk"]), 0)
        body = self.page(limit=100000)
        self.assertNotIn("end", body)
        self.assertGreater(len(body["chunk"]), 12)

    def test_filter(self) -> None:
        self.helper.send(self.room, "from alice", tok=self.tok)
        self.helper.send(self.room, "from bob", tok=self.other_tok)
        self.helper.send_event(
            self.room,
            "m.room.message",
            {"msgtype": "m.image", "body": "pic", "url": "mxc://test/pic"},
            tok=self.tok,
        )
        self.helper.send_state(self.room, "m.room.topic", {"topic": "t"}, tok=self.tok)

        def bodies(filter_json: JsonDict) -> list[str]:
            chunk = self.page(limit=50, filter=filter_json)["chunk"]
            return [e["content"].get("body", e["type"]) for e in chunk]

        self.assertEqual(bodies({"types": ["m.room.message"]}), ["pic", "from bob", "from alice"])
        self.assertEqual(bodies({"types": ["m.room.t*"]}), ["m.room.topic"])
        self.assertEqual(bodies({"senders": [self.other]})[:1], ["from bob"])
        self.assertNotIn(
            "from bob", bodies({"not_senders": [self.other], "types": ["m.room.message"]})
        )
        self.assertEqual(bodies({"contains_url": True}), ["pic"])
        self.assertNotIn("pic", bodies({"contains_url": False}))
        self.assertEqual(bodies({"not_types": ["*"]}), [])
        self.assertEqual(bodies({"rooms": ["!elsewhere:test"]}), [])
        self.assertEqual(bodies({"not_rooms": [self.room], "types": ["m.room.message"]}), [])

    def test_lazy_loaded_members(self) -> None:
        self.helper.send(self.room, "from bob", tok=self.other_tok)
        body = self.page(limit=1, filter={"lazy_load_members": True})
        state = body["state"]
        self.assertEqual(
            [(e["type"], e["state_key"]) for e in state], [("m.room.member", self.other)]
        )
        # Without lazy loading there is no state.
        self.assertNotIn("state", self.page(limit=1))

        self.helper.send(self.room, "from alice", tok=self.tok)
        body = self.page(limit=5, filter={"lazy_load_members": True, "types": ["m.room.message"]})
        self.assertEqual(
            sorted(e["state_key"] for e in body["state"]), sorted([self.user, self.other])
        )

    def test_redacted_events(self) -> None:
        (event_id,) = self.send_messages(1)
        self.helper.redact(self.room, event_id, tok=self.tok, reason="oops")
        chunk = self.page(limit=5)["chunk"]
        redacted = next(e for e in chunk if e["event_id"] == event_id)
        self.assertEqual(redacted["content"], {})
        self.assertEqual(redacted["unsigned"]["redacted_because"]["content"], {"reason": "oops"})

    def test_former_member_sees_nothing_after_leaving(self) -> None:
        self.send_messages(2, prefix="before")
        self.helper.leave(self.room, tok=self.other_tok)
        self.send_messages(2, prefix="after")
        body = self.page(tok=self.other_tok, limit=50)
        bodies = self.bodies(body["chunk"])
        self.assertEqual(bodies, ["before1", "before0"])
        self.assertEqual(body["chunk"][0]["content"]["membership"], "leave")
        body = self.page(tok=self.other_tok, dir="f", limit=50)
        self.assertEqual(self.bodies(body["chunk"]), ["before0", "before1"])

    def test_whole_invisible_pages_are_skipped(self) -> None:
        """Under ``joined`` a new member paging back gets what they can see, not empty
        pages of what they cannot."""
        self.helper.send_state(
            self.room, "m.room.history_visibility", {"history_visibility": "joined"}, tok=self.tok
        )
        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        self.helper.join(self.room, tok=carol_tok)
        self.send_messages(3, prefix="old")
        self.helper.leave(self.room, tok=carol_tok)
        self.send_messages(6, prefix="hidden")
        self.helper.join(self.room, tok=carol_tok)
        body = self.page(tok=carol_tok, limit=3, filter={"types": ["m.room.message"]})
        # Two pages of hidden messages were read past.
        self.assertEqual(self.bodies(body["chunk"]), ["old2", "old1", "old0"])
        self.assertIn("end", body)
        self.assertTrue(carol)

    def test_bad_requests(self) -> None:
        path = f"rooms/{q(self.room)}/messages"
        cases: list[tuple[JsonDict, int, str]] = [
            ({}, 400, Codes.MISSING_PARAM),
            ({"dir": "x"}, 400, Codes.INVALID_PARAM),
            ({"dir": "b", "from": "garbage"}, 400, Codes.INVALID_PARAM),
            ({"dir": "b", "from": "t1"}, 400, Codes.INVALID_PARAM),
            ({"dir": "b", "from": "t99999999999999999999-1"}, 400, Codes.INVALID_PARAM),
            ({"dir": "f", "to": "s-99999999999999999999"}, 400, Codes.INVALID_PARAM),
            ({"dir": "b", "to": "x_y"}, 400, Codes.INVALID_PARAM),
            ({"dir": "b", "limit": "ten"}, 400, Codes.INVALID_PARAM),
            ({"dir": "b", "limit": "-1"}, 400, Codes.INVALID_PARAM),
            ({"dir": "b", "filter": "{nope"}, 400, Codes.NOT_JSON),
            ({"dir": "b", "filter": "[]"}, 400, Codes.BAD_JSON),
            ({"dir": "b", "filter": '{"types": "m.room.message"}'}, 400, Codes.BAD_JSON),
            ({"dir": "b", "filter": '{"lazy_load_members": "yes"}'}, 400, Codes.BAD_JSON),
            ({"dir": "b", "filter": '{"types": ["m.\\u0000"]}'}, 400, Codes.BAD_JSON),
        ]
        for params, code, errcode in cases:
            channel = self.get(path, self.tok, **params)
            self.assert_error(channel, code, errcode)

    def test_rooms_the_user_cannot_read(self) -> None:
        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        self.assert_error(self.messages(self.room, carol_tok), 403, Codes.FORBIDDEN)
        self.assert_error(self.messages("!unknown:test", carol_tok), 403, Codes.FORBIDDEN)
        self.assert_error(self.messages("not-a-room", carol_tok), 400, Codes.INVALID_PARAM)
        self.assert_error(self.messages(self.room, None), 401, Codes.MISSING_TOKEN)
        self.assertTrue(carol)

    def test_world_readable_room_for_non_members(self) -> None:
        self.helper.send_state(
            self.room,
            "m.room.history_visibility",
            {"history_visibility": "world_readable"},
            tok=self.tok,
        )
        self.send_messages(2)
        self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        body = self.page(tok=carol_tok, limit=2)
        self.assertEqual(self.bodies(body["chunk"]), ["m1", "m0"])
        self.assertEqual(body["chunk"][0]["unsigned"]["membership"], "leave")

    def test_transaction_id_only_for_the_sender(self) -> None:
        self.helper.send(self.room, "mine", txn_id="my-txn", tok=self.tok)
        mine = self.page(limit=1)["chunk"][0]
        self.assertEqual(mine["unsigned"]["transaction_id"], "my-txn")
        theirs = self.page(tok=self.other_tok, limit=1)["chunk"][0]
        self.assertNotIn("transaction_id", theirs["unsigned"])


class ContextTestCase(HistoryEndpointsTestCase):
    def context(self, event_id: str, tok: str | None = None, **params: Any) -> FakeChannel:
        return self.get(f"rooms/{q(self.room)}/context/{q(event_id)}", tok or self.tok, **params)

    def test_context(self) -> None:
        ids = self.send_messages(9)
        body = self.ok(self.context(ids[4], limit=4))
        assert_response_matches_spec(body, *CONTEXT_API)
        self.assertEqual(body["event"]["event_id"], ids[4])
        self.assertEqual([e["event_id"] for e in body["events_before"]], [ids[3], ids[2]])
        self.assertEqual([e["event_id"] for e in body["events_after"]], [ids[5], ids[6]])
        state_types = {e["type"] for e in body["state"]}
        self.assertTrue({"m.room.create", "m.room.member", "m.room.power_levels"} <= state_types)

        # The tokens carry on with /messages.
        before = self.page(limit=2, **{"from": body["start"]})
        self.assertEqual([e["event_id"] for e in before["chunk"]], [ids[1], ids[0]])
        after = self.page(dir="f", limit=2, **{"from": body["end"]})
        self.assertEqual([e["event_id"] for e in after["chunk"]], [ids[7], ids[8]])

    def test_default_limit_and_zero(self) -> None:
        ids = self.send_messages(12)
        body = self.ok(self.context(ids[6]))
        self.assertEqual(len(body["events_before"]), 5)
        self.assertEqual(len(body["events_after"]), 5)
        body = self.ok(self.context(ids[6], limit=0))
        self.assertEqual(body["events_before"], [])
        self.assertEqual(body["events_after"], [])
        self.assertEqual(body["event"]["event_id"], ids[6])
        assert_response_matches_spec(body, *CONTEXT_API)

    def test_at_the_ends(self) -> None:
        ids = self.send_messages(2)
        body = self.ok(self.context(ids[1], limit=6))
        self.assertEqual(body["events_after"], [])
        after = self.page(dir="f", **{"from": body["end"]})
        self.assertEqual(after["chunk"], [])

    def test_filter_and_lazy_loading(self) -> None:
        ids = self.send_messages(2)
        bob = self.helper.send(self.room, "bob", tok=self.other_tok)["event_id"]
        self.helper.send_state(self.room, "m.room.topic", {"topic": "x"}, tok=self.tok)
        last = self.send_messages(1, prefix="last")
        body = self.ok(
            self.context(bob, limit=4, filter={"types": ["m.room.message"], "senders": [self.user]})
        )
        self.assertEqual(body["event"]["event_id"], bob)
        self.assertEqual([e["event_id"] for e in body["events_before"]], [ids[1], ids[0]])
        self.assertEqual([e["event_id"] for e in body["events_after"]], last)
        # The filter applies to the state as well.
        self.assertEqual(body["state"], [])

        body = self.ok(self.context(bob, limit=2, filter={"lazy_load_members": True}))
        members = sorted(e["state_key"] for e in body["state"] if e["type"] == "m.room.member")
        self.assertEqual(members, sorted({self.user, self.other}))
        self.assertIn("m.room.create", {e["type"] for e in body["state"]})

    def test_errors(self) -> None:
        ids = self.send_messages(1)
        self.assert_error(self.context("$unknown"), 404, Codes.NOT_FOUND)
        other_room = self.helper.create_room_as(self.user, tok=self.tok)
        elsewhere = self.helper.send(other_room, "x", tok=self.tok)["event_id"]
        self.assert_error(self.context(elsewhere), 404, Codes.NOT_FOUND)
        self.assert_error(self.context(ids[0], limit="x"), 400, Codes.INVALID_PARAM)
        self.assert_error(self.context(ids[0], filter="{"), 400, Codes.NOT_JSON)
        self.assert_error(self.context(ids[0], filter='{"limit": "x"}'), 400, Codes.BAD_JSON)
        channel = self.get(f"rooms/bad/context/{q(ids[0])}", self.tok)
        self.assert_error(channel, 400, Codes.INVALID_PARAM)

    def test_invisible_event(self) -> None:
        self.helper.send_state(
            self.room, "m.room.history_visibility", {"history_visibility": "joined"}, tok=self.tok
        )
        self.helper.leave(self.room, tok=self.other_tok)
        (hidden,) = self.send_messages(1)
        self.helper.join(self.room, tok=self.other_tok)
        self.assert_error(self.context(hidden, tok=self.other_tok), 404, Codes.NOT_FOUND)


class EventTestCase(HistoryEndpointsTestCase):
    def event(self, event_id: str, tok: str | None = None, room: str | None = None) -> FakeChannel:
        return self.get(f"rooms/{q(room or self.room)}/event/{q(event_id)}", tok or self.tok)

    def test_event(self) -> None:
        (event_id,) = self.send_messages(1)
        body = self.ok(self.event(event_id))
        assert_response_matches_spec(body, *EVENT_API)
        self.assertEqual(body["content"]["body"], "m0")
        self.assertEqual(body["room_id"], self.room)

    def test_redacted(self) -> None:
        (event_id,) = self.send_messages(1)
        self.helper.redact(self.room, event_id, tok=self.other_tok, expect_code=403)
        self.helper.redact(self.room, event_id, tok=self.tok)
        body = self.ok(self.event(event_id, tok=self.other_tok))
        self.assertEqual(body["content"], {})
        self.assertIn("redacted_because", body["unsigned"])
        assert_response_matches_spec(body, *EVENT_API)

    def test_not_found(self) -> None:
        (event_id,) = self.send_messages(1)
        for channel in (
            self.event("$nope"),
            self.event(event_id, room="!other:test"),
        ):
            self.assert_error(channel, 404, Codes.NOT_FOUND, EVENT_API[:2] + ("get",))
        self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        self.assert_error(self.event(event_id, tok=carol_tok), 404, Codes.NOT_FOUND)
        self.assert_error(self.event(event_id, room="nope"), 400, Codes.INVALID_PARAM)


class TimestampToEventTestCase(HistoryEndpointsTestCase):
    def lookup(self, tok: str | None = None, room: str | None = None, **params: Any) -> FakeChannel:
        return self.get(
            f"{V1}/rooms/{q(room or self.room)}/timestamp_to_event", tok or self.tok, **params
        )

    def test_lookup(self) -> None:
        stamps: list[tuple[str, int]] = []
        for i in range(3):
            self.reactor.advance(10)
            event_id = self.helper.send(self.room, f"m{i}", tok=self.tok)["event_id"]
            event = self.get_success(self.stores.events.get_event(event_id))
            stamps.append((event_id, event.origin_server_ts))
        (first, t0), (second, t1), (third, t2) = stamps

        body = self.ok(self.lookup(ts=t1, dir="f"))
        assert_response_matches_spec(body, *TIMESTAMP_API)
        self.assertEqual(body, {"event_id": second, "origin_server_ts": t1})
        self.assertEqual(self.ok(self.lookup(ts=t1 - 1, dir="f"))["event_id"], second)
        self.assertEqual(self.ok(self.lookup(ts=t1 - 1, dir="b"))["event_id"], first)
        self.assertEqual(self.ok(self.lookup(ts=t2 + 5, dir="b"))["event_id"], third)

        channel = self.lookup(ts=t2 + 1, dir="f")
        self.assert_error(channel, 404, Codes.NOT_FOUND, (*TIMESTAMP_API[:2], "get"))
        channel = self.lookup(ts=0, dir="b")
        self.assert_error(channel, 404, Codes.NOT_FOUND)

    def test_bad_requests(self) -> None:
        self.assert_error(self.lookup(dir="f"), 400, Codes.MISSING_PARAM)
        self.assert_error(self.lookup(ts=1), 400, Codes.MISSING_PARAM)
        self.assert_error(self.lookup(ts="soon", dir="f"), 400, Codes.INVALID_PARAM)
        self.assert_error(self.lookup(ts=1, dir="up"), 400, Codes.INVALID_PARAM)
        self.assert_error(self.lookup(ts=1, dir="f", room="nope"), 400, Codes.INVALID_PARAM)
        self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        self.assert_error(self.lookup(tok=carol_tok, ts=1, dir="f"), 403, Codes.FORBIDDEN)
