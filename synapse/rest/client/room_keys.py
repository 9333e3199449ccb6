"""Server-side key backups: ``/room_keys/version[/{version}]`` and
``/room_keys/keys[/{roomId}[/{sessionId}]]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    parse_string,
)
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_COUNT: JsonDict = {"type": "integer", "minimum": 0, "maximum": 2**53 - 1}

KEY_BACKUP_DATA_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "first_message_index": _COUNT,
        "forwarded_count": _COUNT,
        "is_verified": {"type": "boolean"},
        "session_data": {"type": "object"},
    },
    "required": ["first_message_index", "forwarded_count", "is_verified", "session_data"],
}

_SESSIONS_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"sessions": {"type": "object", "additionalProperties": KEY_BACKUP_DATA_SCHEMA}},
    "required": ["sessions"],
}

ALL_KEYS_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"rooms": {"type": "object", "additionalProperties": _SESSIONS_SCHEMA}},
    "required": ["rooms"],
}

CREATE_VERSION_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"algorithm": {"type": "string"}, "auth_data": {"type": "object"}},
    "required": ["algorithm", "auth_data"],
}

UPDATE_VERSION_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "algorithm": {"type": "string"},
        "auth_data": {"type": "object"},
        "version": {"type": "string"},
    },
    "required": ["algorithm", "auth_data"],
}


class RoomKeysServlet(RestServlet):
    """The keys of a backup version: all, one room's or one session's."""

    PATTERNS = client_patterns(
        "/room_keys/keys(/(?P<room_id>[^/]+))?(/(?P<session_id>[^/]+))?$", releases=("v3",)
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_e2e_room_keys_handler()

    async def on_PUT(
        self, request: Request, room_id: str | None, session_id: str | None
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        version = parse_string(request, "version", required=True)
        assert version is not None
        if session_id is not None:
            key = parse_and_validate_json_object_from_request(request, KEY_BACKUP_DATA_SCHEMA)
            rooms = {room_id or "": {session_id: key}}
        elif room_id is not None:
            body = parse_and_validate_json_object_from_request(request, _SESSIONS_SCHEMA)
            rooms = {room_id: body["sessions"]}
        else:
            body = parse_and_validate_json_object_from_request(request, ALL_KEYS_SCHEMA)
            rooms = {r: v["sessions"] for r, v in body["rooms"].items()}
        result = await self.handler.upload_room_keys(requester.user.to_string(), version, rooms)
        return 200, result

    async def on_GET(
        self, request: Request, room_id: str | None, session_id: str | None
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        version = parse_string(request, "version", required=True)
        assert version is not None
        result = await self.handler.get_room_keys(
            requester.user.to_string(), version, room_id, session_id
        )
        return 200, result

    async def on_DELETE(
        self, request: Request, room_id: str | None, session_id: str | None
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        version = parse_string(request, "version", required=True)
        assert version is not None
        result = await self.handler.delete_room_keys(
            requester.user.to_string(), version, room_id, session_id
        )
        return 200, result


class RoomKeysNewVersionServlet(RestServlet):
    """``POST`` a new backup version; ``GET`` the current one."""

    PATTERNS = client_patterns("/room_keys/version$", releases=("v3",))

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_e2e_room_keys_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, CREATE_VERSION_SCHEMA)
        version = await self.handler.create_version(requester.user.to_string(), body)
        return 200, {"version": version}

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        return 200, await self.handler.get_version_info(requester.user.to_string())

    async def on_DELETE(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        await self.handler.delete_version(requester.user.to_string(), None)
        return 200, {}


class RoomKeysVersionServlet(RestServlet):
    PATTERNS = client_patterns("/room_keys/version/(?P<version>[^/]*)$", releases=("v3",))

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_e2e_room_keys_handler()

    async def on_GET(self, request: Request, version: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        return 200, await self.handler.get_version_info(requester.user.to_string(), version)

    async def on_PUT(self, request: Request, version: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, UPDATE_VERSION_SCHEMA)
        await self.handler.update_version(requester.user.to_string(), version, body)
        return 200, {}

    async def on_DELETE(self, request: Request, version: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        await self.handler.delete_version(requester.user.to_string(), version)
        return 200, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    RoomKeysServlet(hs).register(http_server)
    RoomKeysNewVersionServlet(hs).register(http_server)
    RoomKeysVersionServlet(hs).register(http_server)
