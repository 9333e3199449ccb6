"""``POST /rooms/{roomId}/upgrade``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.http.servlet import RestServlet, parse_and_validate_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.rest.client.room import check_room_id
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

UPGRADE_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "new_version": {"type": "string"},
        "additional_creators": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["new_version"],
}


class RoomUpgradeRestServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]*)/upgrade$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self._handler = hs.get_room_upgrade_handler()

    async def on_POST(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        check_room_id(room_id)
        body = parse_and_validate_json_object_from_request(request, UPGRADE_SCHEMA)
        new_room_id = await self._handler.upgrade_room(
            requester, room_id, body["new_version"], body.get("additional_creators")
        )
        return 200, {"replacement_room": new_room_id}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    RoomUpgradeRestServlet(hs).register(http_server)
