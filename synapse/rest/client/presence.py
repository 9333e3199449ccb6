"""``GET/PUT /presence/{userId}/status``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.handlers.presence import PRESENCE_STATES
from synapse.http.servlet import RestServlet, parse_and_validate_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

SET_PRESENCE_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "presence": {"type": "string", "enum": list(PRESENCE_STATES)},
        "status_msg": {"type": "string"},
    },
    "required": ["presence"],
}


class PresenceStatusRestServlet(RestServlet):
    PATTERNS = client_patterns("/presence/(?P<user_id>[^/]*)/status$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_presence_handler()

    async def on_GET(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        return 200, await self.handler.get_presence_for_client(requester, user_id)

    async def on_PUT(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, SET_PRESENCE_SCHEMA)
        await self.handler.set_presence_for_client(
            requester, user_id, body["presence"], body.get("status_msg")
        )
        return 200, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    PresenceStatusRestServlet(hs).register(http_server)
