"""Every client endpoint answers bad input with a 4xx JSON error, never a 500.

The routes come from ``ClientRestResource`` itself, so each new servlet is covered as
soon as it is registered: its path is filled in with sample (and with malformed)
values, and it is sent garbage bodies, JSON of the wrong shape, keys of the wrong
type, and bad query parameters, by an authenticated user.
"""

from __future__ import annotations

import re
from typing import Any

try:  # Python 3.11+
    import re._parser as sre_parse  # type: ignore[import-not-found]
    from re._constants import (  # type: ignore[import-not-found]
        ANY,
        AT,
        BRANCH,
        IN,
        LITERAL,
        MAX_REPEAT,
        MIN_REPEAT,
        NOT_LITERAL,
        SUBPATTERN,
    )
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore[no-redef]
    from sre_constants import (  # type: ignore[no-redef]
        ANY,
        AT,
        BRANCH,
        IN,
        LITERAL,
        MAX_REPEAT,
        MIN_REPEAT,
        NOT_LITERAL,
        SUBPATTERN,
    )

from urllib.parse import quote

from twisted.web.resource import Resource

from synapse.http.server import JsonResource
from synapse.rest import ClientRestResource
from tests.server import FakeChannel
from tests.unittest import HomeserverTestCase

# Sample values for path arguments, by group name (anything else gets "x").
SAMPLE_PATH_VALUES = {
    "user_id": "@alice:test",
    "target_user_id": "@bob:test",
    "room_id": "!room:test",
    "room_identifier": "!room:test",
    "room_id_or_alias": "!room:test",
    "room_alias": "#alias:test",
    "event_id": "$event",
    "event_type": "m.room.message",
    "state_key": "",
    "txn_id": "txn1",
    "device_id": "DEVICE",
    "membership_action": "join",
    "account_data_type": "org.example.data",
    "filter_id": "0",
    "tag": "m.favourite",
    "receipt_type": "m.read",
    "relation_type": "m.reference",
    "parent_id": "$event",
    "medium": "email",
    "key": "displayname",
    "kind": "override",
    "rule_id": "my_rule",
}

# Malformed path values every endpoint must refuse politely.
BAD_PATH_VALUES = ["", "not an id", "@", "!", "%FF%FE", "a" * 300, "@alice", "!room", "\u0000"]

# Keys that endpoints commonly read, each with a value of the wrong type.
WRONG_TYPES: dict[str, Any] = {
    key: value
    for key, value in [
        ("type", 1),
        ("auth", "x"),
        ("session", 1),
        ("username", 1),
        ("password", 1),
        ("new_password", 1),
        ("logout_devices", "x"),
        ("identifier", "x"),
        ("user", 1),
        ("device_id", 1),
        ("devices", "x"),
        ("initial_device_display_name", 1),
        ("inhibit_login", "x"),
        ("refresh_token", 1),
        ("display_name", 1),
        ("displayname", 1),
        ("avatar_url", []),
        ("erase", "x"),
        ("id_server", 1),
        ("visibility", 1),
        ("preset", 1),
        ("name", 1),
        ("topic", {}),
        ("invite", "x"),
        ("invite_3pid", "x"),
        ("initial_state", {}),
        ("room_version", 1),
        ("room_alias_name", 1),
        ("creation_content", []),
        ("power_level_content_override", "x"),
        ("is_direct", "x"),
        ("body", 1),
        ("msgtype", 1),
        ("membership", 1),
        ("reason", 1),
        ("user_id", 5),
        ("room_id", {}),
        ("server_name", 1),
        ("limit", "x"),
        ("since", 1),
        ("filter", "x"),
        ("include_all_networks", "x"),
        ("third_party_instance_id", 1),
    ]
}

BAD_BODIES: list[bytes | dict[str, Any] | list[Any]] = [
    b"",
    b"{",
    b"\xff",
    b"null",
    [],
    [1, 2],
    "just a string",  # type: ignore[list-item]
    {},
    {"": None},
    WRONG_TYPES,
    {key: None for key in WRONG_TYPES},
    {key: {"nested": [1, {"x": None}]} for key in WRONG_TYPES},
    # NUL is valid JSON but cannot be stored in a PostgreSQL text column.
    {key: "nul\u0000" for key in WRONG_TYPES},
    # Big strings, but a body still under the listener's limit.
    {key: "x" * 60000 for key in ("displayname", "body", "name")},
]

BAD_QUERIES = [
    "?limit=abc",
    "?limit=-5",
    "?limit=99999999999999999999999",
    "?from=%FF&to=%FE&dir=q",
    "?dir=sideways",
    "?since=&server=&filter=%7B",
    "?access_token=",
]


def _group_sources(pattern: str) -> dict[str, str]:
    """The regex source of each named group of ``pattern``."""
    sources = {}
    for match in re.finditer(r"\(\?P<(\w+)>", pattern):
        depth, i = 1, match.end()
        while depth and i < len(pattern):
            if pattern[i] == "\\":
                i += 2
                continue
            depth += {"(": 1, ")": -1}.get(pattern[i], 0)
            i += 1
        sources[match.group(1)] = pattern[match.end() : i - 1]
    return sources


def _fill(pattern: re.Pattern[str], values: dict[str, str], default: str) -> str:
    """A path matching ``pattern``: named groups get ``values`` (percent-encoded), or
    ``default``, where the group's regex allows it; else a value of the regex's own."""

    def render(items: Any) -> str:
        out = []
        for op, arg in items:
            if op == LITERAL:
                out.append(chr(arg))
            elif op == NOT_LITERAL or op == ANY:
                out.append("x")
            elif op == IN:
                out.append("x")
            elif op == AT:
                continue
            elif op == BRANCH:
                out.append(render(arg[1][0]))
            elif op == SUBPATTERN:
                group, _add, _del, sub = arg
                name = group_names.get(group)
                value = quote(values.get(name, default), safe="") if name is not None else None
                if name is not None and value is not None and re.fullmatch(sources[name], value):
                    out.append(value)
                else:
                    out.append(render(sub))
            elif op in (MAX_REPEAT, MIN_REPEAT):
                low, _high, sub = arg
                out.append(render(sub) * max(low, 0))
            else:
                raise ValueError(f"Cannot render regex op {op} in {pattern.pattern}")
        return "".join(out)

    group_names = {index: name for name, index in pattern.groupindex.items()}
    sources = _group_sources(pattern.pattern)
    return render(sre_parse.parse(pattern.pattern))


_VERSION_PREFIX_RE = re.compile(r"^\^/_matrix/client/(?:unstable|r0|v3|api/v1)/")


def _routes(resource: JsonResource) -> list[tuple[str, re.Pattern[str]]]:
    """Every (method, pattern) served, once per servlet: the same path under the
    unstable, r0 and legacy prefixes goes to the same handler, so v3 stands for them."""
    chosen: dict[tuple[str, str], re.Pattern[str]] = {}
    for pattern, methods in resource._routes.items():
        key_path = _VERSION_PREFIX_RE.sub("", pattern.pattern)
        for method in methods:
            key = (method, key_path)
            if key not in chosen or "/v3/" in pattern.pattern:
                chosen[key] = pattern
    return [(method, pattern) for (method, _path), pattern in chosen.items()]


class BadInputTestCase(HomeserverTestCase):
    admin = False

    def create_resource_dict(self) -> dict[str, Resource]:
        self.client_resource: JsonResource = ClientRestResource(self.hs)
        return {"/_matrix/client": self.client_resource}

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.register_user("bob", "password")
        self.users = 0
        self.samples = dict(SAMPLE_PATH_VALUES)
        self.token = self._new_user()
        self.failures: list[str] = []

    def _new_user(self) -> str:
        """A fresh user, in a room of its own with one message, so that handlers get past
        their membership checks to the input they are being sent."""
        self.users += 1
        user_id = self.register_user(f"alice{self.users}", "password", admin=self.admin)
        token = self.create_access_token(user_id)
        self.samples["user_id"] = user_id
        channel = self.make_request("POST", "/_matrix/client/v3/createRoom", {}, access_token=token)
        if channel.code == 200:
            room_id = channel.json_body["room_id"]
            self.samples.update(room_id=room_id, room_identifier=room_id, room_id_or_alias=room_id)
            channel = self.make_request(
                "PUT",
                f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/t0",
                {"msgtype": "m.text", "body": "hello"},
                access_token=token,
            )
            if channel.code == 200:
                event_id = channel.json_body["event_id"]
                self.samples.update(event_id=event_id, parent_id=event_id)
        return token

    def _ensure_token(self) -> None:
        """Endpoints like /logout and /account/deactivate end the session: start another."""
        auth = self.hs.get_auth()
        try:
            self.get_success_or_raise(auth.get_user_by_access_token(self.token))
        except Exception:
            self.token = self._new_user()

    def path(self, pattern: re.Pattern[str]) -> str:
        """A path for ``pattern`` with the current user's room, event and user IDs."""
        self._ensure_token()
        return _fill(pattern, self.samples, "x")

    def check(self, method: str, path: str, content: Any = b"") -> None:
        self._ensure_token()
        channel: FakeChannel = self.make_request(method, path, content, access_token=self.token)
        where = f"{method} {path[:120]} body={str(content)[:80]!r}"
        if channel.code >= 500:
            self.failures.append(f"{where}: {channel.code} {channel.result['body'][:200]!r}")
            return
        if method != "HEAD" and channel.code >= 400:
            body = channel.json_body
            # The first step of user-interactive auth is a 401 with flows and no errcode.
            ui_auth = channel.code == 401 and isinstance(body, dict) and "flows" in body
            if not ui_auth and (
                not isinstance(body, dict) or not isinstance(body.get("errcode"), str)
            ):
                self.failures.append(f"{where}: {channel.code} without an errcode: {body!r}")

    def assert_no_failures(self) -> None:
        if self.failures:
            self.fail(f"{len(self.failures)} bad answers:\n" + "\n".join(self.failures))

    def test_routes_are_found(self) -> None:
        routes = _routes(self.client_resource)
        self.assertGreater(len(routes), 2)
        for _method, pattern in routes:
            path = _fill(pattern, SAMPLE_PATH_VALUES, "x")
            self.assertTrue(pattern.match(path), f"{path} does not match {pattern.pattern}")

    def test_bad_bodies(self) -> None:
        for method, pattern in _routes(self.client_resource):
            if method not in ("POST", "PUT"):
                continue
            for body in BAD_BODIES:
                self.check(method, self.path(pattern), body)
        self.assert_no_failures()

    def test_bad_path_values(self) -> None:
        for method, pattern in _routes(self.client_resource):
            if not pattern.groupindex:
                continue
            for bad in BAD_PATH_VALUES:
                path = _fill(pattern, {}, bad)
                self.check(method, path, {} if method in ("POST", "PUT") else b"")
        self.assert_no_failures()

    def test_bad_query_parameters(self) -> None:
        for method, pattern in _routes(self.client_resource):
            for query in BAD_QUERIES:
                self.check(
                    method, self.path(pattern) + query, {} if method in ("POST", "PUT") else b""
                )
        self.assert_no_failures()


class AdminBadInputTestCase(BadInputTestCase):
    """The same sweep over the admin API, as a server admin."""

    admin = True

    def create_resource_dict(self) -> dict[str, Resource]:
        from synapse.rest.admin import AdminRestResource

        self.client_resource = AdminRestResource(self.hs)
        return {"/_synapse/admin": self.client_resource}

    def test_routes_are_found(self) -> None:
        for _method, pattern in _routes(self.client_resource):
            path = _fill(pattern, SAMPLE_PATH_VALUES, "x")
            self.assertTrue(pattern.match(path), f"{path} does not match {pattern.pattern}")
