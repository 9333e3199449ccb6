"""Request parsing helpers: each bad body or query parameter gets its errcode and 400."""

from __future__ import annotations

from typing import Any

from twisted.web.server import Request

from synapse.api.errors import Codes
from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    parse_boolean,
    parse_integer,
    parse_json_object_from_request,
    parse_string,
    parse_strings_from_args,
)
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict
from tests.server import FakeChannel
from tests.unittest import HomeserverTestCase

_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 10},
        "count": {"type": "integer", "minimum": 0},
        "options": {
            "type": "object",
            "properties": {"colour": {"enum": ["red", "blue"]}},
            "required": ["colour"],
        },
    },
    "required": ["name"],
}


class _EchoServlet(RestServlet):
    PATTERNS = client_patterns("/echo$", releases=("v3",))

    async def on_POST(self, request: Request) -> tuple[int, Any]:
        return 200, parse_json_object_from_request(request)

    async def on_PUT(self, request: Request) -> tuple[int, Any]:
        return 200, parse_and_validate_json_object_from_request(request, _SCHEMA)

    async def on_GET(self, request: Request) -> tuple[int, Any]:
        return 200, {
            "limit": parse_integer(request, "limit", default=10),
            "from": parse_string(request, "from", required=True),
            "dir": parse_string(request, "dir", default="f", allowed_values=["f", "b"]),
            "full": parse_boolean(request, "full", default=False),
            "types": parse_strings_from_args(request.args or {}, "type", default=[]),
        }


def _register(hs: Any, http_server: Any) -> None:
    _EchoServlet().register(http_server)


class ServletParsingTestCase(HomeserverTestCase):
    servlets = [_register]

    def assert_error(self, channel: FakeChannel, errcode: str, mentions: str | None = None) -> None:
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], errcode, channel.json_body)
        if mentions is not None:
            self.assertIn(mentions, channel.json_body["error"])

    def test_patterns_cover_unstable_and_release(self) -> None:
        for prefix in ("/_matrix/client/v3", "/_matrix/client/unstable"):
            channel = self.make_request("POST", f"{prefix}/echo", {"a": 1})
            self.assertEqual(channel.code, 200)
            self.assertEqual(channel.json_body, {"a": 1})
        channel = self.make_request("POST", "/_matrix/client/r0/echo", {"a": 1})
        self.assertEqual(channel.code, 404)

    def test_not_json(self) -> None:
        for body in (
            b"{not json",
            b"",
            b'{"a": NaN}',
            b'{"a": Infinity}',
            b"\xff\xfe{}",
            b'{"a": "\xc3"}',
        ):
            channel = self.make_request("POST", "echo", body)
            self.assert_error(channel, Codes.NOT_JSON)

    def test_json_edge_cases_accepted(self) -> None:
        body = b'{"emoji": "\\ud83d\\ude00", "big": 12345678901234567890, "f": 1.5e300, "nested": [[[]]]}'
        channel = self.make_request("POST", "echo", body)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["emoji"], "\U0001f600")
        self.assertEqual(channel.json_body["big"], 12345678901234567890)

    def test_json_that_is_not_an_object(self) -> None:
        for body in (b"[]", b"1", b'"text"', b"null"):
            channel = self.make_request("POST", "echo", body)
            self.assert_error(channel, Codes.BAD_JSON)

    def test_schema_missing_required(self) -> None:
        self.assert_error(
            self.make_request("PUT", "echo", {"count": 1}), Codes.MISSING_PARAM, "name"
        )
        channel = self.make_request("PUT", "echo", {"name": "a", "options": {}})
        self.assert_error(channel, Codes.MISSING_PARAM, "options.colour")

    def test_schema_wrong_type_or_value(self) -> None:
        self.assert_error(self.make_request("PUT", "echo", {"name": 5}), Codes.BAD_JSON, "name")
        self.assert_error(
            self.make_request("PUT", "echo", {"name": "a", "count": -1}), Codes.BAD_JSON, "count"
        )
        self.assert_error(
            self.make_request("PUT", "echo", {"name": "a", "count": "1"}), Codes.BAD_JSON, "count"
        )
        self.assert_error(
            self.make_request("PUT", "echo", {"name": "x" * 11}), Codes.BAD_JSON, "name"
        )
        channel = self.make_request("PUT", "echo", {"name": "a", "options": {"colour": "green"}})
        self.assert_error(channel, Codes.BAD_JSON, "options.colour")

    def test_schema_accepts_valid_body(self) -> None:
        body = {"name": "a", "count": 3, "options": {"colour": "red"}, "other": True}
        channel = self.make_request("PUT", "echo", body)
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.json_body, body)

    def test_query_parameters(self) -> None:
        channel = self.make_request("GET", "echo?from=s1&limit=5&dir=b&full=true&type=a&type=b")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(
            channel.json_body,
            {"limit": 5, "from": "s1", "dir": "b", "full": True, "types": ["a", "b"]},
        )
        channel = self.make_request("GET", "echo?from=%C3%A9")
        self.assertEqual(
            channel.json_body, {"limit": 10, "from": "é", "dir": "f", "full": False, "types": []}
        )

    def test_missing_required_query_parameter(self) -> None:
        self.assert_error(self.make_request("GET", "echo"), Codes.MISSING_PARAM, "from")

    def test_invalid_query_parameters(self) -> None:
        for query, name in (
            ("limit=ten", "limit"),
            ("limit=-1", "limit"),
            ("limit=1.5", "limit"),
            ("limit=99999999999999999999", "limit"),
            ("dir=x", "dir"),
            ("full=yes", "full"),
        ):
            channel = self.make_request("GET", f"echo?from=s&{query}")
            self.assert_error(channel, Codes.INVALID_PARAM, name)
        self.assert_error(self.make_request("GET", "echo?from=%FF"), Codes.INVALID_PARAM, "from")
        self.assert_error(self.make_request("GET", "echo?from=a%00"), Codes.INVALID_PARAM, "from")
