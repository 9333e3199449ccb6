"""``PUT /rooms/{roomId}/typing/{userId}``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.errors import Codes, SynapseError
from synapse.handlers.typing import DEFAULT_TYPING_TIMEOUT_MS
from synapse.http.servlet import RestServlet, parse_and_validate_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict
from synapse.util.identifiers import is_valid_room_id

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

TYPING_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "typing": {"type": "boolean"},
        "timeout": {"type": "integer", "minimum": 0},
    },
    "required": ["typing"],
}


class RoomTypingRestServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]*)/typing/(?P<user_id>[^/]*)$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_typing_handler()

    async def on_PUT(self, request: Request, room_id: str, user_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, TYPING_SCHEMA)
        if not is_valid_room_id(room_id):
            raise SynapseError(400, f"Invalid room ID {room_id!r}", Codes.INVALID_PARAM)
        await self.handler.set_typing_for_client(
            requester,
            user_id,
            room_id,
            body["typing"],
            body.get("timeout", DEFAULT_TYPING_TIMEOUT_MS),
        )
        return 200, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    RoomTypingRestServlet(hs).register(http_server)
