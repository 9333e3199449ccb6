"""``POST /user/{userId}/filter`` and ``GET /user/{userId}/filter/{filterId}``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.errors import AuthError
from synapse.http.servlet import RestServlet, parse_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict, Requester

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer


def _check_own_user(requester: Requester, user_id: str, action: str) -> None:
    """Filters belong to their user: 403 M_FORBIDDEN for anyone else's."""
    if requester.user.to_string() != user_id:
        raise AuthError(403, f"Cannot {action} filters for other users")


class GetFilterRestServlet(RestServlet):
    PATTERNS = client_patterns("/user/(?P<user_id>[^/]*)/filter/(?P<filter_id>[^/]*)$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.filtering = hs.get_filtering()

    async def on_GET(self, request: Request, user_id: str, filter_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        _check_own_user(requester, user_id, "get")
        collection = await self.filtering.get_user_filter(user_id, filter_id)
        return 200, collection.get_filter_json()


class CreateFilterRestServlet(RestServlet):
    PATTERNS = client_patterns("/user/(?P<user_id>[^/]*)/filter$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.filtering = hs.get_filtering()

    async def on_POST(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        _check_own_user(requester, user_id, "create")
        content = parse_json_object_from_request(request)
        filter_id = await self.filtering.add_user_filter(user_id, content)
        return 200, {"filter_id": filter_id}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    GetFilterRestServlet(hs).register(http_server)
    CreateFilterRestServlet(hs).register(http_server)
