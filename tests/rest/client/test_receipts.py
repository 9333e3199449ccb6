"""Receipts (``/receipt/{receiptType}/{eventId}``), read markers (``/read_markers``) and
how ``/sync`` shows them."""

from __future__ import annotations

from typing import Any

from synapse.api.errors import Codes
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.sync_test_base import SyncTestCase, q

RECEIPT_API = (
    "client-server/receipts.yaml",
    "/rooms/{roomId}/receipt/{receiptType}/{eventId}",
    "post",
)
# A well-formed event ID that no event has.
UNKNOWN_EVENT = "$" + "A" * 43
READ_MARKERS_API = ("client-server/read_markers.yaml", "/rooms/{roomId}/read_markers", "post")


class _ReceiptsBase(SyncTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room, tok=self.other_tok)
        self.event = self.helper.send(self.room, "read me", tok=self.other_tok)["event_id"]
        self.alice_since = self.sync(self.tok)["next_batch"]
        self.bob_since = self.sync(self.other_tok)["next_batch"]

    def receipt_content(self, body: JsonDict) -> JsonDict:
        """The ``m.receipt`` contents of the room in a sync, merged."""
        room = body["rooms"]["join"].get(self.room)
        merged: JsonDict = {}
        if room is None:
            return merged
        for event in room["ephemeral"]["events"]:
            if event["type"] == "m.receipt":
                for event_id, types in event["content"].items():
                    for receipt_type, users in types.items():
                        merged.setdefault(event_id, {}).setdefault(receipt_type, {}).update(users)
        return merged

    def ok_receipt(
        self, receipt_type: str, event_id: str, tok: str, body: JsonDict | None = None
    ) -> None:
        channel = self.receipt(self.room, receipt_type, event_id, tok, body)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *RECEIPT_API)


class ReceiptsTestCase(_ReceiptsBase):
    def test_public_receipt_seen_by_everyone(self) -> None:
        self.ok_receipt("m.read", self.event, self.tok)
        for tok, since in ((self.tok, self.alice_since), (self.other_tok, self.bob_since)):
            content = self.receipt_content(self.sync(tok, since=since))
            data = content[self.event]["m.read"][self.user]
            self.assertEqual(set(data), {"ts"})
            self.assertIsInstance(data["ts"], int)
        # An initial sync shows it too.
        content = self.receipt_content(self.sync(self.other_tok))
        self.assertIn(self.user, content[self.event]["m.read"])

    def test_a_newly_joined_room_comes_with_its_receipts(self) -> None:
        self.ok_receipt("m.read", self.event, self.tok)
        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        since = self.sync(carol_tok)["next_batch"]
        self.helper.join(self.room, tok=carol_tok)
        content = self.receipt_content(self.sync(carol_tok, since=since))
        self.assertIn(self.user, content[self.event]["m.read"])
        self.assertNotIn(carol, content[self.event]["m.read"])

    def test_private_receipt_only_for_its_owner(self) -> None:
        self.ok_receipt("m.read.private", self.event, self.tok)
        content = self.receipt_content(self.sync(self.tok, since=self.alice_since))
        self.assertIn(self.user, content[self.event]["m.read.private"])
        body = self.sync(self.other_tok, since=self.bob_since)
        self.assertEqual(self.receipt_content(body), {})
        self.assertEqual(self.receipt_content(self.sync(self.other_tok)), {})

    def test_private_receipt_does_not_wake_others(self) -> None:
        channel = self.sync_request(self.other_tok, since=self.bob_since, timeout=30000)
        self.pump(0)
        self.ok_receipt("m.read.private", self.event, self.tok)
        self.pump(0)
        self.assertFalse(channel.is_finished())
        self.ok_receipt("m.read", self.event, self.tok)
        self.pump(0)
        self.assertTrue(channel.is_finished())
        content = self.receipt_content(self.sync_body(channel))
        self.assertEqual(list(content[self.event]), ["m.read"])

    def test_threaded_receipts(self) -> None:
        root = self.event
        reply = self.send_relation(self.room, root, "m.thread", self.other_tok)["event_id"]
        reaction = self.helper.send_event(
            self.room,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": reply, "key": "+1"}},
            tok=self.other_tok,
        )["event_id"]
        self.ok_receipt("m.read", reply, self.tok, {"thread_id": root})
        self.ok_receipt("m.read", reaction, self.tok, {"thread_id": root})
        self.ok_receipt("m.read", root, self.tok, {"thread_id": "main"})
        self.ok_receipt("m.read", root, self.tok)
        content = self.receipt_content(self.sync(self.other_tok, since=self.bob_since))
        self.assertEqual(content[reaction]["m.read"][self.user]["thread_id"], root)
        # Unthreaded and "main" receipts are kept apart; both point at the root here.
        receipts = self.get_success(
            self.stores.receipts.get_receipts_for_user(self.user, ["m.read"])
        )
        threads = sorted((r.thread_id or "", r.event_id) for r in receipts)
        self.assertEqual(threads, sorted([("", root), ("main", root), (root, reaction)]))

    def test_bad_thread_ids(self) -> None:
        reply = self.send_relation(self.room, self.event, "m.thread", self.other_tok)["event_id"]
        cases: list[tuple[str, JsonDict]] = [
            (self.event, {"thread_id": ""}),
            (self.event, {"thread_id": 5}),
            (self.event, {"thread_id": None}),
            (self.event, {"thread_id": "not an event id"}),
            # The event is not in that thread.
            (reply, {"thread_id": "main"}),
            (self.event, {"thread_id": reply}),
        ]
        for event_id, body in cases:
            channel = self.receipt(self.room, "m.read", event_id, self.tok, body)
            self.assert_error(channel, 400, Codes.INVALID_PARAM, RECEIPT_API)
        channel = self.receipt(
            self.room, "m.fully_read", self.event, self.tok, {"thread_id": "main"}
        )
        self.assert_error(channel, 400, Codes.INVALID_PARAM, RECEIPT_API)

    def test_receipts_do_not_go_back(self) -> None:
        later = self.helper.send(self.room, "later", tok=self.other_tok)["event_id"]
        self.ok_receipt("m.read", later, self.tok)
        body = self.sync(self.other_tok, since=self.bob_since)
        self.ok_receipt("m.read", self.event, self.tok)
        again = self.sync(self.other_tok, since=body["next_batch"])
        self.assertEqual(self.receipt_content(again), {})
        receipt = self.get_success(self.stores.receipts.get_receipt(self.room, "m.read", self.user))
        assert receipt is not None
        self.assertEqual(receipt.event_id, later)

    def test_fully_read_receipt_is_room_account_data(self) -> None:
        self.ok_receipt("m.fully_read", self.event, self.tok)
        body = self.sync(self.tok, since=self.alice_since)
        account_data = body["rooms"]["join"][self.room]["account_data"]["events"]
        self.assertEqual(
            account_data, [{"type": "m.fully_read", "content": {"event_id": self.event}}]
        )
        self.assertEqual(self.receipt_content(body), {})

    def test_errors(self) -> None:
        channel = self.receipt(self.room, "m.unknown", self.event, self.tok)
        self.assert_error(channel, 400, Codes.INVALID_PARAM)
        channel = self.receipt(self.room, "m.read", "not-an-event", self.tok)
        self.assert_error(channel, 400, Codes.INVALID_PARAM)
        channel = self.receipt("not-a-room", "m.read", self.event, self.tok)
        self.assert_error(channel, 400, Codes.INVALID_PARAM)
        channel = self.receipt(self.room, "m.read", UNKNOWN_EVENT, self.tok)
        self.assert_error(channel, 404, Codes.NOT_FOUND)
        other_room = self.helper.create_room_as(self.user, tok=self.tok)
        elsewhere = self.helper.send(other_room, "elsewhere", tok=self.tok)["event_id"]
        channel = self.receipt(self.room, "m.read", elsewhere, self.tok)
        self.assert_error(channel, 404, Codes.NOT_FOUND)
        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        channel = self.receipt(self.room, "m.read", self.event, carol_tok)
        self.assert_error(channel, 403, Codes.FORBIDDEN)
        for content, errcode in ((b"nope", Codes.NOT_JSON), ([1], Codes.BAD_JSON)):
            channel = self.make_request(
                "POST",
                f"rooms/{q(self.room)}/receipt/m.read/{q(self.event)}",
                content,
                access_token=self.tok,
            )
            self.assert_error(channel, 400, errcode)
        channel = self.receipt(self.room, "m.read", self.event, "")
        self.assertEqual(channel.code, 401)
        self.assertEqual(
            self.get_success(self.stores.receipts.get_receipts_for_user(carol, ["m.read"])), []
        )

    def test_empty_body_is_unthreaded(self) -> None:
        channel = self.make_request(
            "POST",
            f"rooms/{q(self.room)}/receipt/m.read/{q(self.event)}",
            b"",
            access_token=self.tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)


class ReadMarkersTestCase(_ReceiptsBase):
    def read_markers(self, body: object, tok: str | None = None) -> Any:
        return self.make_request(
            "POST", f"rooms/{q(self.room)}/read_markers", body, access_token=tok or self.tok
        )

    def fully_read(self) -> Any:
        return self.get_success(
            self.stores.account_data.get_account_data_for_room_and_type(
                self.user, self.room, "m.fully_read"
            )
        )

    def test_all_three_at_once(self) -> None:
        channel = self.read_markers(
            {"m.fully_read": self.event, "m.read": self.event, "m.read.private": self.event}
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *READ_MARKERS_API)
        body = self.sync(self.tok, since=self.alice_since)
        room = body["rooms"]["join"][self.room]
        self.assertEqual(
            room["account_data"]["events"],
            [{"type": "m.fully_read", "content": {"event_id": self.event}}],
        )
        content = self.receipt_content(body)
        self.assertEqual(set(content[self.event]), {"m.read", "m.read.private"})
        other = self.receipt_content(self.sync(self.other_tok, since=self.bob_since))
        self.assertEqual(set(other[self.event]), {"m.read"})

    def test_marker_moves_forward_only(self) -> None:
        later = self.helper.send(self.room, "later", tok=self.other_tok)["event_id"]
        self.assertEqual(self.read_markers({"m.fully_read": later}).code, 200)
        self.assertEqual(self.read_markers({"m.fully_read": self.event}).code, 200)
        self.assertEqual(self.fully_read(), {"event_id": later})

    def test_empty_body_changes_nothing(self) -> None:
        self.assertEqual(self.read_markers({}).code, 200)
        self.assertIsNone(self.fully_read())

    def test_marker_cannot_be_set_as_account_data(self) -> None:
        channel = self.make_request(
            "PUT",
            f"user/{q(self.user)}/rooms/{q(self.room)}/account_data/m.fully_read",
            {"event_id": self.event},
            access_token=self.tok,
        )
        self.assert_error(channel, 405, Codes.BAD_JSON)

    def test_read_marker_errors_change_nothing(self) -> None:
        for body, code, errcode in (
            ({"m.fully_read": 5}, 400, Codes.BAD_JSON),
            ({"m.read": ["$x"]}, 400, Codes.BAD_JSON),
            ({"m.fully_read": "not an event"}, 400, Codes.INVALID_PARAM),
            ({"m.read": self.event, "m.fully_read": UNKNOWN_EVENT}, 404, Codes.NOT_FOUND),
            ([], 400, Codes.BAD_JSON),
            (b"{", 400, Codes.NOT_JSON),
        ):
            self.assert_error(self.read_markers(body), code, errcode)
        self.assertIsNone(self.fully_read())
        self.assertIsNone(
            self.get_success(self.stores.receipts.get_receipt(self.room, "m.read", self.user))
        )
        self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        self.assert_error(
            self.read_markers({"m.fully_read": self.event}, carol_tok), 403, Codes.FORBIDDEN
        )
        channel = self.make_request("POST", "rooms/bad/read_markers", {}, access_token=self.tok)
        self.assert_error(channel, 400, Codes.INVALID_PARAM)
