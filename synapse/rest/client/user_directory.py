"""``POST /user_directory/search``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.handlers.user_directory import DEFAULT_LIMIT
from synapse.http.servlet import RestServlet, parse_and_validate_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

SEARCH_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "search_term": {"type": "string"},
        "limit": {"type": "integer", "minimum": 0},
    },
    "required": ["search_term"],
}


class UserDirectorySearchRestServlet(RestServlet):
    PATTERNS = client_patterns("/user_directory/search$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_user_directory_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=False)
        body = parse_and_validate_json_object_from_request(request, SEARCH_SCHEMA)
        return 200, await self.handler.search_users(
            requester, body["search_term"], body.get("limit", DEFAULT_LIMIT)
        )


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    UserDirectorySearchRestServlet(hs).register(http_server)
