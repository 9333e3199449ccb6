"""Account data (global and per room), room tags, and how ``/sync`` shows them."""

from __future__ import annotations

from typing import Any

from synapse.api.errors import Codes
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.sync_test_base import SyncTestCase, q
from tests.server import FakeChannel

ACCOUNT_DATA_FILE = "client-server/account-data.yaml"
GLOBAL_PATH = "/user/{userId}/account_data/{type}"
ROOM_PATH = "/user/{userId}/rooms/{roomId}/account_data/{type}"
TAGS_FILE = "client-server/tags.yaml"


class _AccountDataBase(SyncTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room = self.helper.create_room_as(self.user, tok=self.tok)
        self.since = self.sync(self.tok)["next_batch"]

    def put_global(
        self,
        account_data_type: str,
        content: object,
        tok: str | None = None,
        user: str | None = None,
    ) -> FakeChannel:
        return self.make_request(
            "PUT",
            f"user/{q(user or self.user)}/account_data/{q(account_data_type)}",
            content,
            access_token=tok or self.tok,
        )

    def get_global(
        self, account_data_type: str, tok: str | None = None, user: str | None = None
    ) -> FakeChannel:
        return self.make_request(
            "GET",
            f"user/{q(user or self.user)}/account_data/{q(account_data_type)}",
            access_token=tok or self.tok,
        )

    def put_room(
        self,
        account_data_type: str,
        content: object,
        room: str | None = None,
        tok: str | None = None,
        user: str | None = None,
    ) -> FakeChannel:
        return self.make_request(
            "PUT",
            f"user/{q(user or self.user)}/rooms/{q(room or self.room)}/account_data/{q(account_data_type)}",
            content,
            access_token=tok or self.tok,
        )

    def get_room(
        self,
        account_data_type: str,
        room: str | None = None,
        tok: str | None = None,
        user: str | None = None,
    ) -> FakeChannel:
        return self.make_request(
            "GET",
            f"user/{q(user or self.user)}/rooms/{q(room or self.room)}/account_data/{q(account_data_type)}",
            access_token=tok or self.tok,
        )

    def room_account_data(self, body: JsonDict) -> list[JsonDict]:
        room = body["rooms"]["join"].get(self.room)
        return [] if room is None else room["account_data"]["events"]


class GlobalAccountDataTestCase(_AccountDataBase):
    def test_put_get_and_sync(self) -> None:
        content = {"custom_key": "value", "nested": {"a": [1, 2]}}
        channel = self.put_global("org.example.config", content)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, ACCOUNT_DATA_FILE, GLOBAL_PATH, "put")
        channel = self.get_global("org.example.config")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, content)
        body = self.sync(self.tok, since=self.since)
        self.assertEqual(
            body["account_data"]["events"], [{"type": "org.example.config", "content": content}]
        )
        # Only the change: nothing the next time.
        body2 = self.sync(self.tok, since=body["next_batch"])
        self.assertEqual(body2["account_data"]["events"], [])
        # Replaced, not merged.
        self.put_global("org.example.config", {"other": True})
        self.assertEqual(self.get_global("org.example.config").json_body, {"other": True})
        initial = self.sync(self.tok)
        events = [e for e in initial["account_data"]["events"] if e["type"] != "m.push_rules"]
        self.assertEqual(events, [{"type": "org.example.config", "content": {"other": True}}])

    def test_long_poll_woken_for_the_user_only(self) -> None:
        other_since = self.sync(self.other_tok)["next_batch"]
        mine = self.sync_request(self.tok, since=self.since, timeout=30000)
        theirs = self.sync_request(self.other_tok, since=other_since, timeout=30000)
        self.pump(0)
        self.put_global("org.example.a", {"x": 1})
        self.pump(0)
        self.assertTrue(mine.is_finished())
        self.assertFalse(theirs.is_finished())
        self.assertEqual(self.sync_body(mine)["account_data"]["events"][0]["type"], "org.example.a")

    def test_account_data_filter(self) -> None:
        self.put_global("org.example.a", {})
        self.put_global("org.example.b", {})
        body = self.sync(
            self.tok, since=self.since, filter={"account_data": {"types": ["org.example.b"]}}
        )
        self.assertEqual([e["type"] for e in body["account_data"]["events"]], ["org.example.b"])

    def test_errors(self) -> None:
        channel = self.put_global("org.example", {}, user=self.other)
        self.assert_error(
            channel,
            403,
            Codes.FORBIDDEN,
            (
                ACCOUNT_DATA_FILE,
                GLOBAL_PATH,
                "put",
            ),
        )
        channel = self.get_global("org.example", user=self.other)
        self.assert_error(channel, 403, Codes.FORBIDDEN, (ACCOUNT_DATA_FILE, GLOBAL_PATH, "get"))
        channel = self.get_global("org.example.missing")
        self.assert_error(channel, 404, Codes.NOT_FOUND, (ACCOUNT_DATA_FILE, GLOBAL_PATH, "get"))
        for server_managed in ("m.fully_read", "m.push_rules"):
            channel = self.put_global(server_managed, {})
            self.assert_error(channel, 405, Codes.BAD_JSON, (ACCOUNT_DATA_FILE, GLOBAL_PATH, "put"))
        for content, errcode in (
            ([], Codes.BAD_JSON),
            (b'"text"', Codes.BAD_JSON),
            (b"{", Codes.NOT_JSON),
        ):
            channel = self.put_global("org.example", content)
            self.assert_error(channel, 400, errcode, (ACCOUNT_DATA_FILE, GLOBAL_PATH, "put"))
        channel = self.put_global("", {})
        self.assertEqual(channel.code, 400, channel.json_body)
        channel = self.make_request("GET", f"user/{q(self.user)}/account_data/x")
        self.assert_error(channel, 401, Codes.MISSING_TOKEN)
        self.assert_error(self.get_global("org.example"), 404, Codes.NOT_FOUND)


class RoomAccountDataTestCase(_AccountDataBase):
    def test_put_get_and_sync(self) -> None:
        channel = self.put_room("org.example.room", {"k": "v"})
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, ACCOUNT_DATA_FILE, ROOM_PATH, "put")
        self.assertEqual(self.get_room("org.example.room").json_body, {"k": "v"})
        # No fallback to global account data of the same type, nor the other way round.
        self.assert_error(self.get_global("org.example.room"), 404, Codes.NOT_FOUND)
        body = self.sync(self.tok, since=self.since)
        self.assertEqual(
            self.room_account_data(body), [{"type": "org.example.room", "content": {"k": "v"}}]
        )
        self.assertEqual(body["account_data"]["events"], [])
        self.assertEqual(
            self.room_account_data(self.sync(self.tok)),
            [{"type": "org.example.room", "content": {"k": "v"}}],
        )

    def test_room_account_data_filter(self) -> None:
        self.put_room("org.example.a", {})
        body = self.sync(
            self.tok,
            since=self.since,
            filter={"room": {"account_data": {"not_types": ["org.example.*"]}}},
        )
        self.assertEqual(self.room_account_data(body), [])

    def test_errors(self) -> None:
        api = (ACCOUNT_DATA_FILE, ROOM_PATH)
        self.assert_error(
            self.put_room("x", {}, user=self.other), 403, Codes.FORBIDDEN, (*api, "put")
        )
        self.assert_error(self.get_room("x", user=self.other), 403, Codes.FORBIDDEN, (*api, "get"))
        self.assert_error(self.get_room("org.example.missing"), 404, Codes.NOT_FOUND, (*api, "get"))
        self.assert_error(
            self.put_room("x", {}, room="@notaroom:test"), 400, Codes.INVALID_PARAM, (*api, "put")
        )
        self.assert_error(
            self.get_room("x", room="@notaroom:test"), 400, Codes.INVALID_PARAM, (*api, "get")
        )
        for server_managed in ("m.fully_read", "m.push_rules"):
            self.assert_error(self.put_room(server_managed, {}), 405, Codes.BAD_JSON, (*api, "put"))
        self.assert_error(self.put_room("x", [1]), 400, Codes.BAD_JSON, (*api, "put"))
        self.assert_error(self.put_room("x", b"nope"), 400, Codes.NOT_JSON, (*api, "put"))


class TagsTestCase(_AccountDataBase):
    def tags_path(
        self, tag: str | None = None, user: str | None = None, room: str | None = None
    ) -> str:
        path = f"user/{q(user or self.user)}/rooms/{q(room or self.room)}/tags"
        return path if tag is None else f"{path}/{q(tag)}"

    def get_tags(self) -> JsonDict:
        channel = self.make_request("GET", self.tags_path(), access_token=self.tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(
            channel.json_body, TAGS_FILE, "/user/{userId}/rooms/{roomId}/tags", "get"
        )
        return channel.json_body["tags"]

    def put_tag(self, tag: str, content: object, **kwargs: Any) -> FakeChannel:
        return self.make_request(
            "PUT", self.tags_path(tag, **kwargs), content, access_token=self.tok
        )

    def test_add_list_remove(self) -> None:
        self.assertEqual(self.get_tags(), {})
        channel = self.put_tag("m.favourite", {"order": 0.25})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self.put_tag("u.work", {}).code, 200)
        self.assertEqual(
            self.put_tag("u.extra", {"order": 1, "org.example.note": "kept"}).code, 200
        )
        self.assertEqual(
            self.get_tags(),
            {
                "m.favourite": {"order": 0.25},
                "u.work": {},
                "u.extra": {"order": 1, "org.example.note": "kept"},
            },
        )
        body = self.sync(self.tok, since=self.since)
        events = self.room_account_data(body)
        self.assertEqual(events[0]["type"], "m.tag")
        self.assertEqual(set(events[0]["content"]["tags"]), {"m.favourite", "u.work", "u.extra"})
        channel = self.make_request("DELETE", self.tags_path("u.work"), access_token=self.tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(set(self.get_tags()), {"m.favourite", "u.extra"})
        body2 = self.sync(self.tok, since=body["next_batch"])
        self.assertEqual(
            set(self.room_account_data(body2)[0]["content"]["tags"]), {"m.favourite", "u.extra"}
        )
        # Removing a tag the room does not have changes nothing.
        channel = self.make_request("DELETE", self.tags_path("u.none"), access_token=self.tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self.room_account_data(self.sync(self.tok, since=body2["next_batch"])), [])

    def test_errors(self) -> None:
        for content in (
            {"order": "first"},
            {"order": 1.5},
            {"order": -0.1},
            {"order": True},
            [0.5],
        ):
            self.assert_error(self.put_tag("u.x", content), 400, Codes.BAD_JSON)
        self.assert_error(self.put_tag("u.x", b"{"), 400, Codes.NOT_JSON)
        self.assert_error(self.put_tag("x" * 256, {}), 400, Codes.INVALID_PARAM)
        self.assert_error(self.put_tag("é" * 128, {}), 400, Codes.INVALID_PARAM)
        self.assertEqual(self.put_tag("x" * 255, {}).code, 200)
        self.assert_error(self.put_tag("u.x", {}, user=self.other), 403, Codes.FORBIDDEN)
        self.assert_error(self.put_tag("u.x", {}, room="not-a-room"), 400, Codes.INVALID_PARAM)
        channel = self.make_request("GET", self.tags_path(user=self.other), access_token=self.tok)
        self.assert_error(channel, 403, Codes.FORBIDDEN)
        channel = self.make_request(
            "DELETE", self.tags_path("u.x", user=self.other), access_token=self.tok
        )
        self.assert_error(channel, 403, Codes.FORBIDDEN)
        self.assertEqual(set(self.get_tags()), {"x" * 255})
