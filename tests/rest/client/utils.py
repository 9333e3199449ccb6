"""``RestHelper``: create rooms, change memberships and send events over the client API.

    self.helper = RestHelper(self)
    room_id = self.helper.create_room_as(self.user_id, tok=self.token)
    self.helper.send(room_id, "hello", tok=self.token)

The test case must serve ``room``, ``membership`` (and for aliases ``directory``)
servlets. Each call asserts the HTTP status it expects (``expect_code``) and returns
the JSON body.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from synapse.types import JsonDict

if TYPE_CHECKING:
    from tests.server import FakeChannel
    from tests.unittest import HomeserverTestCase

_txn_ids = itertools.count()


def _q(value: str) -> str:
    return quote(value, safe="")


class RestHelper:
    """Client API calls of a test case, with the checks every test would repeat."""

    def __init__(self, test_case: HomeserverTestCase) -> None:
        self.test_case = test_case

    def request(
        self,
        method: str,
        path: str,
        content: Any = None,
        tok: str | None = None,
        expect_code: int = 200,
    ) -> FakeChannel:
        channel = self.test_case.make_request(
            method, path, content if content is not None else b"", access_token=tok
        )
        self.test_case.assertEqual(
            channel.code,
            expect_code,
            f"{method} {path}: {channel.code} {channel.result.get('body')!r}",
        )
        return channel

    def create_room_as(
        self,
        room_creator: str | None = None,
        is_public: bool | None = None,
        room_version: str | None = None,
        tok: str | None = None,
        expect_code: int = 200,
        extra_content: JsonDict | None = None,
    ) -> str:
        """Create a room (public_chat if ``is_public``, else private_chat); its ID."""
        content: JsonDict = dict(extra_content or {})
        if is_public is not None:
            content.setdefault("visibility", "public" if is_public else "private")
            content.setdefault("preset", "public_chat" if is_public else "private_chat")
        if room_version is not None:
            content["room_version"] = room_version
        channel = self.request("POST", "createRoom", content, tok, expect_code)
        return channel.json_body.get("room_id", "")

    def join(
        self,
        room: str,
        user: str | None = None,
        tok: str | None = None,
        expect_code: int = 200,
        expect_errcode: str | None = None,
    ) -> JsonDict:
        """Join by room ID or alias (``/join/{roomIdOrAlias}``)."""
        channel = self.request("POST", f"join/{_q(room)}", {}, tok, expect_code)
        if expect_errcode is not None:
            self.test_case.assertEqual(channel.json_body.get("errcode"), expect_errcode)
        return channel.json_body

    def _target_action(
        self,
        action: str,
        room: str,
        target: str,
        tok: str | None,
        expect_code: int,
        reason: str | None = None,
    ) -> JsonDict:
        body: JsonDict = {"user_id": target}
        if reason is not None:
            body["reason"] = reason
        channel = self.request("POST", f"rooms/{_q(room)}/{action}", body, tok, expect_code)
        return channel.json_body

    def invite(
        self,
        room: str,
        src: str | None = None,
        targ: str = "",
        tok: str | None = None,
        expect_code: int = 200,
    ) -> JsonDict:
        return self._target_action("invite", room, targ, tok, expect_code)

    def kick(
        self, room: str, targ: str, tok: str | None = None, expect_code: int = 200
    ) -> JsonDict:
        return self._target_action("kick", room, targ, tok, expect_code)

    def ban(self, room: str, targ: str, tok: str | None = None, expect_code: int = 200) -> JsonDict:
        return self._target_action("ban", room, targ, tok, expect_code)

    def unban(
        self, room: str, targ: str, tok: str | None = None, expect_code: int = 200
    ) -> JsonDict:
        return self._target_action("unban", room, targ, tok, expect_code)

    def leave(
        self, room: str, user: str | None = None, tok: str | None = None, expect_code: int = 200
    ) -> JsonDict:
        channel = self.request("POST", f"rooms/{_q(room)}/leave", {}, tok, expect_code)
        return channel.json_body

    def forget(self, room: str, tok: str | None = None, expect_code: int = 200) -> JsonDict:
        channel = self.request("POST", f"rooms/{_q(room)}/forget", {}, tok, expect_code)
        return channel.json_body

    def knock(
        self, room: str, tok: str | None = None, reason: str | None = None, expect_code: int = 200
    ) -> JsonDict:
        body: JsonDict = {"reason": reason} if reason is not None else {}
        channel = self.request("POST", f"knock/{_q(room)}", body, tok, expect_code)
        return channel.json_body

    def send(
        self,
        room_id: str,
        body: str | None = None,
        txn_id: str | None = None,
        tok: str | None = None,
        expect_code: int = 200,
    ) -> JsonDict:
        """Send an ``m.text`` message; the response (``event_id``)."""
        content = {"msgtype": "m.text", "body": body if body is not None else "body text"}
        return self.send_event(room_id, "m.room.message", content, txn_id, tok, expect_code)

    def send_event(
        self,
        room_id: str,
        type: str,
        content: Any = None,
        txn_id: str | None = None,
        tok: str | None = None,
        expect_code: int = 200,
    ) -> JsonDict:
        if txn_id is None:
            txn_id = f"helper-{next(_txn_ids)}"
        path = f"rooms/{_q(room_id)}/send/{_q(type)}/{_q(txn_id)}"
        channel = self.request(
            "PUT", path, content if content is not None else {}, tok, expect_code
        )
        return channel.json_body

    def send_state(
        self,
        room_id: str,
        event_type: str,
        body: Any,
        tok: str | None = None,
        expect_code: int = 200,
        state_key: str = "",
    ) -> JsonDict:
        path = f"rooms/{_q(room_id)}/state/{_q(event_type)}/{_q(state_key)}"
        return self.request("PUT", path, body, tok, expect_code).json_body

    def get_state(
        self,
        room_id: str,
        event_type: str,
        tok: str | None = None,
        expect_code: int = 200,
        state_key: str = "",
    ) -> JsonDict:
        path = f"rooms/{_q(room_id)}/state/{_q(event_type)}/{_q(state_key)}"
        return self.request("GET", path, None, tok, expect_code).json_body

    def redact(
        self,
        room_id: str,
        event_id: str,
        tok: str | None = None,
        reason: str | None = None,
        expect_code: int = 200,
    ) -> JsonDict:
        body: JsonDict = {"reason": reason} if reason is not None else {}
        path = f"rooms/{_q(room_id)}/redact/{_q(event_id)}/helper-{next(_txn_ids)}"
        return self.request("PUT", path, body, tok, expect_code).json_body
