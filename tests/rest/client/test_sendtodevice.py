"""``PUT /sendToDevice/{eventType}/{txnId}`` and the ``to_device`` section of ``/sync``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from synapse.handlers.sync import MAX_TO_DEVICE_MESSAGES
from synapse.rest.client import devices, sendtodevice
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.sync_test_base import SyncTestCase
from tests.server import FakeChannel


class SendToDeviceTestCase(SyncTestCase):
    servlets = [*SyncTestCase.servlets, sendtodevice.register_servlets, devices.register_servlets]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.alice_tok = self.login("alice", "pass", device_id="A1")
        self.bob_tok1 = self.login("bob", "pass", device_id="B1")
        self.bob_tok2 = self.login("bob", "pass", device_id="B2")
        self.inbox = hs.get_datastores().main.device_inbox

    def send(
        self, messages: JsonDict, txn_id: str, tok: str | None = None, type: str = "m.test"
    ) -> FakeChannel:
        return self.make_request(
            "PUT",
            f"sendToDevice/{quote(type, safe='')}/{quote(txn_id, safe='')}",
            {"messages": messages},
            access_token=tok or self.alice_tok,
        )

    def inbox_rows(self) -> int:
        rows = self.get_success(
            self.inbox.db_pool.execute("count", "SELECT COUNT(*) FROM device_inbox")
        )
        return int(rows[0][0])

    def test_delivered_to_the_device_then_deleted_once_acknowledged(self) -> None:
        since = self.sync(self.bob_tok1)["next_batch"]
        channel = self.send({self.other: {"B1": {"n": 1}}}, "t1")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {})
        assert_response_matches_spec(
            channel.json_body,
            "client-server/to_device.yaml",
            "/sendToDevice/{eventType}/{txnId}",
            "put",
        )

        body = self.sync(self.bob_tok1, since=since)
        self.assertEqual(
            body["to_device"]["events"],
            [{"type": "m.test", "sender": self.user, "content": {"n": 1}}],
        )
        # Not for the other device.
        self.assertEqual(self.sync(self.bob_tok2)["to_device"]["events"], [])
        # The same since again (a lost response): sent again.
        again = self.sync(self.bob_tok1, since=since)
        self.assertEqual(len(again["to_device"]["events"]), 1)
        self.assertEqual(self.inbox_rows(), 1)
        # A later token acknowledges it: deleted, not sent again.
        later = self.sync(self.bob_tok1, since=body["next_batch"])
        self.assertEqual(later["to_device"]["events"], [])
        self.assertEqual(self.inbox_rows(), 0)

    def test_initial_sync_gets_pending_messages(self) -> None:
        self.send({self.other: {"B1": {"n": 1}}}, "t1")
        body = self.sync(self.bob_tok1)
        self.assertEqual([e["content"] for e in body["to_device"]["events"]], [{"n": 1}])

    def test_star_means_every_device_and_unknown_devices_are_skipped(self) -> None:
        channel = self.send({self.other: {"*": {"all": True}}, self.user: {"NOPE": {}}}, "t1")
        self.assertEqual(channel.code, 200, channel.json_body)
        for tok in (self.bob_tok1, self.bob_tok2):
            events = self.sync(tok)["to_device"]["events"]
            self.assertEqual([e["content"] for e in events], [{"all": True}])
        self.assertEqual(self.sync(self.alice_tok)["to_device"]["events"], [])
        # Bob's three devices (one from the base class's login).
        self.assertEqual(self.inbox_rows(), 3)

    def test_transaction_ids_make_it_idempotent_per_device(self) -> None:
        self.send({self.other: {"B1": {"n": 1}}}, "same")
        self.send({self.other: {"B1": {"n": 2}}}, "same")
        events = self.sync(self.bob_tok1)["to_device"]["events"]
        self.assertEqual([e["content"] for e in events], [{"n": 1}])
        # Another device of the sender may use the same transaction ID.
        other_device = self.login("alice", "pass", device_id="A2")
        self.send({self.other: {"B1": {"n": 3}}}, "same", tok=other_device)
        events = self.sync(self.bob_tok1)["to_device"]["events"]
        self.assertEqual([e["content"] for e in events], [{"n": 1}, {"n": 3}])

    def test_capped_per_sync_with_the_rest_next_time(self) -> None:
        since = self.sync(self.bob_tok1)["next_batch"]
        total = MAX_TO_DEVICE_MESSAGES + 20
        for i in range(total):
            self.send({self.other: {"B1": {"i": i}}}, f"t{i}")
        first = self.sync(self.bob_tok1, since=since)
        self.assertEqual(
            [e["content"]["i"] for e in first["to_device"]["events"]],
            list(range(MAX_TO_DEVICE_MESSAGES)),
        )
        second = self.sync(self.bob_tok1, since=first["next_batch"])
        self.assertEqual(
            [e["content"]["i"] for e in second["to_device"]["events"]],
            list(range(MAX_TO_DEVICE_MESSAGES, total)),
        )
        self.assertEqual(self.inbox_rows(), total - MAX_TO_DEVICE_MESSAGES)
        self.sync(self.bob_tok1, since=second["next_batch"])
        self.assertEqual(self.inbox_rows(), 0)

    def test_long_poll_woken_by_a_message(self) -> None:
        since = self.sync(self.bob_tok1)["next_batch"]
        channel = self.sync_request(self.bob_tok1, since=since, timeout=30000)
        self.reactor.advance(1)
        self.assertFalse(channel.is_finished())
        self.send({self.other: {"B1": {"wake": 1}}}, "t1")
        self.pump(0)
        self.assertTrue(channel.is_finished())
        body = self.sync_body(channel)
        self.assertEqual([e["content"] for e in body["to_device"]["events"]], [{"wake": 1}])

    def test_deleted_device_loses_its_messages(self) -> None:
        self.send({self.other: {"B1": {"n": 1}, "B2": {"n": 2}}}, "t1")
        self.assertEqual(self.inbox_rows(), 2)
        self.get_success(self.hs.get_device_handler().delete_device(self.other, "B1"))
        self.assertEqual(self.inbox_rows(), 1)

    def test_remote_users_are_queued_for_federation(self) -> None:
        queued: list[tuple[str, int]] = []
        self.hs.get_device_message_handler().add_remote_message_listener(
            lambda destination, stream_id: queued.append((destination, stream_id))
        )
        remote = "@carol:elsewhere.example"
        self.send({remote: {"C1": {"secret": 1}}, self.other: {"B1": {}}}, "t1")
        self.assertEqual([d for d, _ in queued], ["elsewhere.example"])
        outbox = self.get_success(
            self.inbox.get_messages_for_destination("elsewhere.example", 0, queued[0][1], 10)
        )
        self.assertEqual(len(outbox), 1)
        edu = outbox[0][1]
        self.assertEqual(edu["sender"], self.user)
        self.assertEqual(edu["type"], "m.test")
        self.assertEqual(edu["messages"], {remote: {"C1": {"secret": 1}}})
        self.get_success(
            self.inbox.delete_messages_for_destination("elsewhere.example", queued[0][1])
        )
        self.assertEqual(
            self.get_success(
                self.inbox.get_messages_for_destination("elsewhere.example", 0, queued[0][1], 10)
            ),
            [],
        )

    def test_bad_requests_send_nothing(self) -> None:
        cases: list[tuple[Any, str]] = [
            ({}, "M_MISSING_PARAM"),
            ({"messages": []}, "M_BAD_JSON"),
            ({"messages": {self.other: []}}, "M_BAD_JSON"),
            ({"messages": {self.other: {"B1": "text"}}}, "M_BAD_JSON"),
            ({"messages": {"bob": {"B1": {}}}}, "M_INVALID_PARAM"),
        ]
        for body, errcode in cases:
            channel = self.make_request(
                "PUT", "sendToDevice/m.test/x", body, access_token=self.alice_tok
            )
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], errcode, body)
        channel = self.make_request(
            "PUT", "sendToDevice/m.test/x", b"{", access_token=self.alice_tok
        )
        self.assertEqual(channel.json_body["errcode"], "M_NOT_JSON")
        channel = self.make_request("PUT", "sendToDevice/m.test/x", json.dumps({"messages": {}}))
        self.assertEqual(channel.code, 401)
        self.assertEqual(self.inbox_rows(), 0)
        # A failed request did not use up its transaction ID.
        self.send({self.other: {"B1": {"n": 1}}}, "x")
        self.assertEqual(self.inbox_rows(), 1)

    def test_old_transaction_ids_expire(self) -> None:
        self.send({self.other: {"B1": {"n": 1}}}, "old")
        self.reactor.advance(25 * 60 * 60)
        self.send({self.other: {"B1": {"n": 2}}}, "old")
        events = self.sync(self.bob_tok1)["to_device"]["events"]
        self.assertEqual([e["content"] for e in events], [{"n": 1}, {"n": 2}])
