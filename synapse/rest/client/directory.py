"""Room aliases and the published room directory: ``/directory/room/{roomAlias}``,
``/rooms/{roomId}/aliases``, ``/directory/list/room/{roomId}`` and ``/publicRooms``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    parse_integer,
    parse_string,
)
from synapse.rest.client._base import client_patterns
from synapse.rest.client.room import check_room_id
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

ALIAS_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"room_id": {"type": "string"}},
    "required": ["room_id"],
}

VISIBILITY_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"visibility": {"type": "string", "enum": ["public", "private"]}},
}

PUBLIC_ROOMS_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "limit": {"type": "integer", "minimum": 0},
        "since": {"type": "string"},
        "filter": {
            "type": "object",
            "properties": {
                "generic_search_term": {"type": "string"},
                "room_types": {"type": "array", "items": {"type": ["string", "null"]}},
            },
        },
        "include_all_networks": {"type": "boolean"},
        "third_party_instance_id": {"type": "string"},
    },
}


class ClientDirectoryServer(RestServlet):
    PATTERNS = client_patterns("/directory/room/(?P<room_alias>[^/]*)$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self._handler = hs.get_directory_handler()

    async def on_GET(self, request: Request, room_alias: str) -> tuple[int, JsonDict]:
        return 200, await self._handler.get_association(room_alias)

    async def on_PUT(self, request: Request, room_alias: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, ALIAS_SCHEMA)
        await self._handler.create_association(requester, room_alias, body["room_id"])
        return 200, {}

    async def on_DELETE(self, request: Request, room_alias: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        await self._handler.delete_association(requester, room_alias)
        return 200, {}


class RoomAliasListServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]*)/aliases$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self._handler = hs.get_directory_handler()

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        check_room_id(room_id)
        aliases = await self._handler.get_aliases_for_room(requester, room_id)
        return 200, {"aliases": aliases}


class ClientDirectoryListServer(RestServlet):
    PATTERNS = client_patterns("/directory/list/room/(?P<room_id>[^/]*)$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self._handler = hs.get_directory_handler()

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        check_room_id(room_id)
        return 200, {"visibility": await self._handler.get_visibility(room_id)}

    async def on_PUT(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        check_room_id(room_id)
        body = parse_and_validate_json_object_from_request(
            request, VISIBILITY_SCHEMA, allow_empty_body=True
        )
        await self._handler.set_visibility(requester, room_id, body.get("visibility", "public"))
        return 200, {}


class PublicRoomListRestServlet(RestServlet):
    PATTERNS = client_patterns("/publicRooms$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.auth = hs.get_auth()
        self._handler = hs.get_room_list_handler()

    def _check_server(self, server: str | None) -> None:
        if server is not None and not self.hs.is_mine_server_name(server):
            # Another server's directory comes over federation, which is not here yet.
            raise SynapseError(
                400, "Listing another server's rooms is not available", Codes.INVALID_PARAM
            )

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        if self.auth.has_access_token(request):
            await self.auth.get_user_by_req(request, allow_guest=True)
        server = parse_string(request, "server")
        self._check_server(server)
        limit = parse_integer(request, "limit")
        since = parse_string(request, "since")
        return 200, await self._handler.get_local_public_room_list(limit=limit, since_token=since)

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        await self.auth.get_user_by_req(request, allow_guest=True)
        server = parse_string(request, "server")
        self._check_server(server)
        body = parse_and_validate_json_object_from_request(request, PUBLIC_ROOMS_SCHEMA)
        search_filter = body.get("filter") or {}
        return 200, await self._handler.get_local_public_room_list(
            limit=body.get("limit"),
            since_token=body.get("since"),
            search_term=search_filter.get("generic_search_term"),
            room_types=search_filter.get("room_types"),
        )


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    ClientDirectoryServer(hs).register(http_server)
    RoomAliasListServlet(hs).register(http_server)
    ClientDirectoryListServer(hs).register(http_server)
    PublicRoomListRestServlet(hs).register(http_server)
