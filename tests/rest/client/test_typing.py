"""``PUT /rooms/{roomId}/typing/{userId}`` and typing in ``/sync``."""

from __future__ import annotations

from typing import Any

from synapse.api.errors import Codes
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.sync_test_base import SyncTestCase, q

TYPING_API = ("client-server/typing.yaml", "/rooms/{roomId}/typing/{userId}", "put")


class TypingTestCase(SyncTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room, tok=self.other_tok)
        self.since = self.sync(self.other_tok)["next_batch"]

    def typing_events(self, body: JsonDict) -> list[JsonDict]:
        room = body["rooms"]["join"].get(self.room)
        if room is None:
            return []
        return [e for e in room["ephemeral"]["events"] if e["type"] == "m.typing"]

    def test_typing_shows_in_sync_and_times_out(self) -> None:
        channel = self.typing(self.room, self.user, self.tok, True, 10000)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *TYPING_API)
        body = self.sync(self.other_tok, since=self.since)
        self.assertEqual(
            self.typing_events(body), [{"type": "m.typing", "content": {"user_ids": [self.user]}}]
        )
        # Renewing changes nothing that clients see.
        self.typing(self.room, self.user, self.tok, True, 10000)
        body2 = self.sync(self.other_tok, since=body["next_batch"])
        self.assertEqual(self.typing_events(body2), [])
        # The timeout passes on the homeserver's clock.
        self.reactor.advance(11)
        body3 = self.sync(self.other_tok, since=body["next_batch"])
        self.assertEqual(
            self.typing_events(body3), [{"type": "m.typing", "content": {"user_ids": []}}]
        )

    def test_renewal_moves_the_timeout(self) -> None:
        self.typing(self.room, self.user, self.tok, True, 10000)
        self.reactor.advance(8)
        self.typing(self.room, self.user, self.tok, True, 10000)
        self.reactor.advance(8)
        self.assertEqual(self.hs.get_typing_handler().get_typing_users(self.room), [self.user])
        self.reactor.advance(3)
        self.assertEqual(self.hs.get_typing_handler().get_typing_users(self.room), [])

    def test_stop_typing(self) -> None:
        self.typing(self.room, self.user, self.tok, True, 30000)
        self.typing(self.room, self.other, self.other_tok, True, 30000)
        body = self.sync(self.tok)
        users = self.typing_events(body)[0]["content"]["user_ids"]
        self.assertEqual(sorted(users), sorted([self.user, self.other]))
        channel = self.typing(self.room, self.user, self.tok, False)
        self.assertEqual(channel.code, 200, channel.json_body)
        body2 = self.sync(self.tok, since=body["next_batch"])
        self.assertEqual(self.typing_events(body2)[0]["content"]["user_ids"], [self.other])

    def test_initial_sync_shows_current_typists_only(self) -> None:
        self.typing(self.room, self.other, self.other_tok, True, 1000)
        self.reactor.advance(2)
        self.assertEqual(self.typing_events(self.sync(self.tok)), [])

    def test_long_poll_is_woken(self) -> None:
        channel = self.sync_request(self.other_tok, since=self.since, timeout=30000)
        self.pump(0)
        self.assertFalse(channel.is_finished())
        self.typing(self.room, self.user, self.tok, True, 5000)
        self.pump(0)
        self.assertTrue(channel.is_finished())
        self.assertEqual(
            self.typing_events(self.sync_body(channel))[0]["content"]["user_ids"], [self.user]
        )

    def test_ephemeral_filter(self) -> None:
        self.typing(self.room, self.user, self.tok, True, 5000)
        body = self.sync(
            self.other_tok,
            since=self.since,
            filter={"room": {"ephemeral": {"not_types": ["m.typing"]}}},
        )
        self.assertEqual(self.typing_events(body), [])

    def test_errors(self) -> None:
        channel = self.typing(self.room, self.other, self.tok, True, 1000)
        self.assert_error(channel, 403, Codes.FORBIDDEN)
        room2 = self.helper.create_room_as(self.other, tok=self.other_tok)
        channel = self.typing(room2, self.user, self.tok, True, 1000)
        self.assert_error(channel, 403, Codes.FORBIDDEN)
        path = f"rooms/{q(self.room)}/typing/{q(self.user)}"
        for content, errcode in (
            ({}, Codes.MISSING_PARAM),
            ({"typing": "yes"}, Codes.BAD_JSON),
            ({"typing": True, "timeout": "soon"}, Codes.BAD_JSON),
            ({"typing": True, "timeout": -5}, Codes.BAD_JSON),
            ([], Codes.BAD_JSON),
            (b"not json", Codes.NOT_JSON),
        ):
            channel = self.make_request("PUT", path, content, access_token=self.tok)
            self.assert_error(channel, 400, errcode)
        channel = self.make_request(
            "PUT", f"rooms/notaroom/typing/{q(self.user)}", {"typing": True}, access_token=self.tok
        )
        self.assert_error(channel, 400, Codes.INVALID_PARAM)
        channel = self.make_request("PUT", path, {"typing": True})
        self.assert_error(channel, 401, Codes.MISSING_TOKEN)
        self.assertEqual(self.hs.get_typing_handler().get_typing_users(self.room), [])

    def test_no_timeout_uses_a_default(self) -> None:
        channel = self.typing(self.room, self.user, self.tok, True)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.reactor.advance(29)
        self.assertEqual(self.hs.get_typing_handler().get_typing_users(self.room), [self.user])
        self.reactor.advance(2)
        self.assertEqual(self.hs.get_typing_handler().get_typing_users(self.room), [])
