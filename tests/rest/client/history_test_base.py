"""A base for tests of reading room history: the history, relations and filter servlets
besides the room ones, and helpers to call them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from synapse.rest.client import filter as filter_servlets
from synapse.rest.client import relations, room_history
from synapse.types import JsonDict
from tests.rest.client.room_test_base import RoomTestCase
from tests.server import FakeChannel


def q(value: str) -> str:
    return quote(value, safe="")


class HistoryTestCase(RoomTestCase):
    servlets = [
        *RoomTestCase.servlets,
        room_history.register_servlets,
        relations.register_servlets,
        filter_servlets.register_servlets,
    ]

    def get(self, path: str, tok: str | None, **params: Any) -> FakeChannel:
        """``GET path?params``; dict/list values are sent as JSON, booleans as true/false."""
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
        return self.make_request("GET", f"{path}{query}", access_token=tok)

    def messages(self, room_id: str, tok: str | None, **params: Any) -> FakeChannel:
        params.setdefault("dir", "b")
        return self.get(f"rooms/{q(room_id)}/messages", tok, **params)

    def ok(self, channel: FakeChannel) -> JsonDict:
        self.assertEqual(channel.code, 200, channel.json_body)
        return channel.json_body

    def send_relation(
        self,
        room_id: str,
        parent_id: str,
        rel_type: str,
        tok: str,
        event_type: str = "m.room.message",
        content: JsonDict | None = None,
        key: str | None = None,
        expect_code: int = 200,
    ) -> JsonDict:
        """Send an event relating to ``parent_id``; the response body."""
        body: JsonDict = dict(content or {})
        if event_type == "m.room.message":
            body.setdefault("msgtype", "m.text")
            body.setdefault("body", f"{rel_type} of {parent_id}")
        relation: JsonDict = {"rel_type": rel_type, "event_id": parent_id}
        if key is not None:
            relation["key"] = key
        body["m.relates_to"] = relation
        return self.helper.send_event(room_id, event_type, body, tok=tok, expect_code=expect_code)
