"""``GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]`` and
``GET /rooms/{roomId}/threads``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import RestServlet, parse_boolean, parse_integer, parse_string
from synapse.rest.client._base import client_patterns
from synapse.rest.client.room import check_room_id
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

DEFAULT_LIMIT = 5
MAX_LIMIT = 100


def _parse_limit(request: Request) -> int:
    """``limit``: a positive integer (400 M_INVALID_PARAM otherwise), capped."""
    limit = parse_integer(request, "limit", default=DEFAULT_LIMIT)
    if limit < 1:
        raise SynapseError(400, "limit must be greater than zero", Codes.INVALID_PARAM)
    return min(limit, MAX_LIMIT)


class RelationPaginationServlet(RestServlet):
    PATTERNS = client_patterns(
        "/rooms/(?P<room_id>[^/]*)/relations/(?P<parent_id>[^/]*)"
        "(?:/(?P<relation_type>[^/]*)(?:/(?P<event_type>[^/]*))?)?$",
        releases=("v1",),
        unstable=True,
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_relations_handler()

    async def on_GET(
        self,
        request: Request,
        room_id: str,
        parent_id: str,
        relation_type: str | None = None,
        event_type: str | None = None,
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        body = await self.handler.get_relations(
            requester,
            room_id,
            parent_id,
            relation_type=relation_type,
            event_type=event_type,
            from_token=parse_string(request, "from"),
            to_token=parse_string(request, "to"),
            direction=parse_string(request, "dir", default="b", allowed_values=("b", "f")),
            limit=_parse_limit(request),
            recurse=parse_boolean(request, "recurse"),
        )
        return 200, body


class ThreadsServlet(RestServlet):
    PATTERNS = client_patterns(
        "/rooms/(?P<room_id>[^/]*)/threads$", releases=("v1",), unstable=True
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_relations_handler()

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        body = await self.handler.get_threads(
            requester,
            room_id,
            include=parse_string(
                request, "include", default="all", allowed_values=("all", "participated")
            ),
            from_token=parse_string(request, "from"),
            limit=_parse_limit(request),
        )
        return 200, body


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    RelationPaginationServlet(hs).register(http_server)
    ThreadsServlet(hs).register(http_server)
