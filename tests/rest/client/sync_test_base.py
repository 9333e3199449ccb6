"""A base for tests of ``/sync`` and the streams it serves: typing, receipts, read
markers, account data and tags, besides the room, history and filter servlets."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from synapse.rest.client import account_data, read_marker, receipts, sync, tags, typing
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.history_test_base import HistoryTestCase, q
from tests.server import FakeChannel


class SyncTestCase(HistoryTestCase):
    servlets = [
        *HistoryTestCase.servlets,
        sync.register_servlets,
        typing.register_servlets,
        receipts.register_servlets,
        read_marker.register_servlets,
        account_data.register_servlets,
        tags.register_servlets,
    ]

    def default_config(self) -> JsonDict:
        config = super().default_config()
        # Each request computed afresh, unless a test turns the response cache on.
        caches = dict(config.get("caches") or {})
        caches.setdefault("sync_response_cache_duration", 0)
        config["caches"] = caches
        return config

    def sync_request(self, tok: str | None, **params: Any) -> FakeChannel:
        """``GET /sync`` without waiting for the answer (for long-polls)."""
        args: dict[str, str] = {}
        for key, value in params.items():
            if value is None:
                continue
            if isinstance(value, bool):
                args[key] = "true" if value else "false"
            elif isinstance(value, (dict, list)):
                args[key] = json.dumps(value)
            else:
                args[key] = str(value)
        query = f"?{urlencode(args)}" if args else ""
        return self.make_request("GET", f"sync{query}", access_token=tok, await_result=False)

    def sync(self, tok: str | None, **params: Any) -> JsonDict:
        """``GET /sync``: the body, checked against the spec's schema."""
        return self.sync_body(self.get("sync", tok, **params))

    def sync_body(self, channel: FakeChannel) -> JsonDict:
        """The body of a finished ``/sync``, checked against the spec's schema."""
        self.assertTrue(channel.is_finished())
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, "client-server/sync.yaml", "/sync", "get")
        return channel.json_body

    def expire_response_cache(self) -> None:
        """Let the clock pass the time identical requests are answered from memory."""
        self.reactor.advance(self.hs.config.caches.sync_response_cache_duration / 1000 + 1)

    def joined_room(self, body: JsonDict, room_id: str) -> JsonDict:
        rooms = body["rooms"]["join"]
        self.assertIn(room_id, rooms, body)
        return rooms[room_id]

    def timeline_ids(self, body: JsonDict, room_id: str, section: str = "join") -> list[str]:
        return [e["event_id"] for e in body["rooms"][section][room_id]["timeline"]["events"]]

    def typing(
        self, room_id: str, user_id: str, tok: str, typing: bool, timeout: int | None = None
    ) -> FakeChannel:
        body: JsonDict = {"typing": typing}
        if timeout is not None:
            body["timeout"] = timeout
        return self.make_request(
            "PUT", f"rooms/{q(room_id)}/typing/{q(user_id)}", body, access_token=tok
        )

    def receipt(
        self,
        room_id: str,
        receipt_type: str,
        event_id: str,
        tok: str,
        body: JsonDict | None = None,
    ) -> FakeChannel:
        return self.make_request(
            "POST",
            f"rooms/{q(room_id)}/receipt/{q(receipt_type)}/{q(event_id)}",
            body if body is not None else {},
            access_token=tok,
        )
