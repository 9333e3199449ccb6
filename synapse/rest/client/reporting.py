"""``POST /rooms/{roomId}/report/{eventId}``, ``/rooms/{roomId}/report``, ``/users/{userId}/report``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.http.servlet import RestServlet, parse_and_validate_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

# ``score`` was removed from the spec in v1.18; older clients still send it.
REPORT_EVENT_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "score": {"type": "integer", "minimum": -100, "maximum": 0},
    },
}
REPORT_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"reason": {"type": "string"}},
    "required": ["reason"],
}


class ReportEventRestServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]*)/report/(?P<event_id>[^/]*)$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_reports_handler()

    async def on_POST(self, request: Request, room_id: str, event_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, REPORT_EVENT_SCHEMA)
        await self.handler.report_event(requester, room_id, event_id, body)
        return 200, {}


class ReportRoomRestServlet(RestServlet):
    PATTERNS = client_patterns(
        "/rooms/(?P<room_id>[^/]*)/report$", releases=("v3",), unstable=False
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_reports_handler()

    async def on_POST(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, REPORT_SCHEMA)
        await self.handler.report_room(requester, room_id, body["reason"])
        return 200, {}


class ReportUserRestServlet(RestServlet):
    PATTERNS = client_patterns(
        "/users/(?P<user_id>[^/]*)/report$", releases=("v3",), unstable=False
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_reports_handler()

    async def on_POST(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, REPORT_SCHEMA)
        await self.handler.report_user(requester, user_id, body["reason"])
        return 200, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    ReportEventRestServlet(hs).register(http_server)
    ReportRoomRestServlet(hs).register(http_server)
    ReportUserRestServlet(hs).register(http_server)
