"""The notary endpoints: ``GET /_matrix/key/v2/query/{serverName}`` and
``POST /_matrix/key/v2/query``.

Answers come from what this server stored of each server's key responses, fetched
afresh from the server when stale (see ``synapse.handlers.key_server``), each with this
server's signature added. The deprecated ``GET /query/{serverName}/{keyId}`` is served too.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from twisted.web.server import Request

from synapse.api.errors import Codes, SynapseError
from synapse.handlers.key_server import KeyQuery
from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    parse_integer,
)
from synapse.types import JsonDict, is_valid_server_name

if TYPE_CHECKING:
    from synapse.server import HomeServer

# The body of POST /query (the spec's keys_query.yaml).
QUERY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["server_keys"],
    "properties": {
        "server_keys": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"minimum_valid_until_ts": {"type": "integer"}},
                },
            },
        }
    },
}


def _check_server_name(server_name: str) -> None:
    if not is_valid_server_name(server_name):
        raise SynapseError(
            HTTPStatus.BAD_REQUEST, f"Invalid server name {server_name!r}", Codes.INVALID_PARAM
        )


class RemoteKeyQueryServlet(RestServlet):
    PATTERNS = [
        re.compile(r"^/_matrix/key/v2/query/(?P<server_name>[^/]+)(?:/(?P<key_id>[^/]*))?/?$")
    ]

    def __init__(self, hs: HomeServer) -> None:
        super().__init__()
        self._handler = hs.get_key_server_handler()

    async def on_GET(
        self, request: Request, server_name: str, key_id: str | None = None
    ) -> tuple[int, JsonDict]:
        _check_server_name(server_name)
        query = KeyQuery(
            key_ids=frozenset([key_id]) if key_id else frozenset(),
            minimum_valid_until_ts=parse_integer(request, "minimum_valid_until_ts"),
        )
        keys = await self._handler.query_keys({server_name: query})
        return HTTPStatus.OK, {"server_keys": keys}


class RemoteKeyBulkQueryServlet(RestServlet):
    PATTERNS = [re.compile(r"^/_matrix/key/v2/query/?$")]

    def __init__(self, hs: HomeServer) -> None:
        super().__init__()
        self._handler = hs.get_key_server_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        body = parse_and_validate_json_object_from_request(request, QUERY_SCHEMA)
        query: dict[str, KeyQuery] = {}
        for server_name, key_criteria in body["server_keys"].items():
            _check_server_name(server_name)
            times = [
                c["minimum_valid_until_ts"]
                for c in key_criteria.values()
                if c.get("minimum_valid_until_ts") is not None
            ]
            query[server_name] = KeyQuery(frozenset(key_criteria), max(times, default=None))
        keys = await self._handler.query_keys(query)
        return HTTPStatus.OK, {"server_keys": keys}
