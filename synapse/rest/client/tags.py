"""Room tags: ``/user/{userId}/rooms/{roomId}/tags`` and ``.../tags/{tag}``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import RestServlet, parse_and_validate_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.rest.client.account_data import check_own_user, check_room_id
from synapse.types import JsonDict
from synapse.util.identifiers import byte_length

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

# The spec's limit on a tag's name.
MAX_TAG_LENGTH = 255

# The spec's Tag object: ``order`` is a number in [0, 1]; other keys are kept as given.
TAG_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"order": {"type": "number", "minimum": 0, "maximum": 1}},
}


def check_tag(tag: str) -> None:
    if not tag:
        raise SynapseError(400, "The tag must not be empty", Codes.INVALID_PARAM)
    if byte_length(tag) > MAX_TAG_LENGTH:
        raise SynapseError(
            400, f"The tag must not exceed {MAX_TAG_LENGTH} bytes", Codes.INVALID_PARAM
        )


class TagListServlet(RestServlet):
    PATTERNS = client_patterns("/user/(?P<user_id>[^/]*)/rooms/(?P<room_id>[^/]*)/tags$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.store = hs.get_datastores().main.account_data

    async def on_GET(self, request: Request, user_id: str, room_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        check_own_user(requester, user_id, "get")
        check_room_id(room_id)
        tags = await self.store.get_tags_for_room(user_id, room_id)
        return 200, {"tags": tags}


class TagServlet(RestServlet):
    PATTERNS = client_patterns(
        "/user/(?P<user_id>[^/]*)/rooms/(?P<room_id>[^/]*)/tags/(?P<tag>[^/]*)$"
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_account_data_handler()

    async def on_PUT(
        self, request: Request, user_id: str, room_id: str, tag: str
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        check_own_user(requester, user_id, "add")
        body = parse_and_validate_json_object_from_request(request, TAG_SCHEMA)
        check_room_id(room_id)
        check_tag(tag)
        await self.handler.add_tag_to_room(user_id, room_id, tag, body)
        return 200, {}

    async def on_DELETE(
        self, request: Request, user_id: str, room_id: str, tag: str
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        check_own_user(requester, user_id, "remove")
        check_room_id(room_id)
        check_tag(tag)
        await self.handler.remove_tag_from_room(user_id, room_id, tag)
        return 200, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    TagListServlet(hs).register(http_server)
    TagServlet(hs).register(http_server)
