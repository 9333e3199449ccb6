"""Reading a room's history: ``/messages``, ``/context/{eventId}``, ``/event/{eventId}``
and ``/timestamp_to_event``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.handlers.pagination import DEFAULT_MESSAGES_LIMIT
from synapse.http.servlet import RestServlet, parse_integer, parse_string
from synapse.rest.client._base import client_patterns
from synapse.rest.client.room import check_room_id
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_DIRECTIONS = ("b", "f")


class RoomMessagesRestServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]*)/messages$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.filtering = hs.get_filtering()
        self.handler = hs.get_pagination_handler()

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        direction = parse_string(request, "dir", required=True, allowed_values=_DIRECTIONS)
        assert direction is not None
        from_token = parse_string(request, "from")
        to_token = parse_string(request, "to")
        limit = parse_integer(request, "limit", default=DEFAULT_MESSAGES_LIMIT)
        event_filter = self.filtering.parse_room_event_filter(parse_string(request, "filter"))
        body = await self.handler.get_messages(
            requester, room_id, from_token, to_token, direction, limit, event_filter
        )
        return 200, body


class RoomContextRestServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]*)/context/(?P<event_id>[^/]*)$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.filtering = hs.get_filtering()
        self.handler = hs.get_room_context_handler()

    async def on_GET(self, request: Request, room_id: str, event_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        limit = parse_integer(request, "limit", default=DEFAULT_MESSAGES_LIMIT)
        event_filter = self.filtering.parse_room_event_filter(parse_string(request, "filter"))
        body = await self.handler.get_event_context(
            requester, room_id, event_id, min(limit, 100), event_filter
        )
        return 200, body


class RoomEventRestServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]*)/event/(?P<event_id>[^/]*)$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_room_context_handler()

    async def on_GET(self, request: Request, room_id: str, event_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        return 200, await self.handler.get_event(requester, room_id, event_id)


class TimestampToEventRestServlet(RestServlet):
    PATTERNS = client_patterns(
        "/rooms/(?P<room_id>[^/]*)/timestamp_to_event$",
        releases=("v1",),
        unstable=True,
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_pagination_handler()

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        timestamp = parse_integer(request, "ts", required=True)
        direction = parse_string(request, "dir", required=True, allowed_values=_DIRECTIONS)
        assert timestamp is not None and direction is not None
        return 200, await self.handler.timestamp_to_event(requester, room_id, timestamp, direction)


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    RoomMessagesRestServlet(hs).register(http_server)
    RoomContextRestServlet(hs).register(http_server)
    RoomEventRestServlet(hs).register(http_server)
    TimestampToEventRestServlet(hs).register(http_server)
