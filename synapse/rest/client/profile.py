"""``/profile/{userId}``, and its ``displayname`` and ``avatar_url`` fields."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.http.servlet import RestServlet, parse_and_validate_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict, UserID

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

DISPLAYNAME_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"displayname": {"type": "string"}},
    "required": ["displayname"],
}

AVATAR_URL_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"avatar_url": {"type": "string"}},
    "required": ["avatar_url"],
}


async def _maybe_require_auth(hs: HomeServer, request: Request) -> None:
    """With ``require_auth_for_profile_requests``, profiles are shown only to users."""
    if hs.config.server.require_auth_for_profile_requests:
        await hs.get_auth().get_user_by_req(request, allow_guest=True)


class ProfileRestServlet(RestServlet):
    PATTERNS = client_patterns("/profile/(?P<user_id>[^/]*)$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.profile_handler = hs.get_profile_handler()

    async def on_GET(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await _maybe_require_auth(self.hs, request)
        return 200, await self.profile_handler.get_profile(user_id)


class ProfileDisplaynameRestServlet(RestServlet):
    PATTERNS = client_patterns("/profile/(?P<user_id>[^/]*)/displayname$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.hs = hs
        self.profile_handler = hs.get_profile_handler()

    async def on_GET(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await _maybe_require_auth(self.hs, request)
        displayname = await self.profile_handler.get_displayname(UserID.from_string(user_id))
        return 200, {"displayname": displayname} if displayname is not None else {}

    async def on_PUT(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        target = UserID.from_string(user_id)
        body = parse_and_validate_json_object_from_request(request, DISPLAYNAME_SCHEMA)
        is_admin = requester.user != target and await self.auth.is_server_admin(requester)
        await self.profile_handler.set_displayname(
            target, requester, body["displayname"], by_admin=is_admin
        )
        return 200, {}


class ProfileAvatarURLRestServlet(RestServlet):
    PATTERNS = client_patterns("/profile/(?P<user_id>[^/]*)/avatar_url$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.hs = hs
        self.profile_handler = hs.get_profile_handler()

    async def on_GET(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await _maybe_require_auth(self.hs, request)
        avatar_url = await self.profile_handler.get_avatar_url(UserID.from_string(user_id))
        return 200, {"avatar_url": avatar_url} if avatar_url is not None else {}

    async def on_PUT(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        target = UserID.from_string(user_id)
        body = parse_and_validate_json_object_from_request(request, AVATAR_URL_SCHEMA)
        is_admin = requester.user != target and await self.auth.is_server_admin(requester)
        await self.profile_handler.set_avatar_url(
            target, requester, body["avatar_url"], by_admin=is_admin
        )
        return 200, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    ProfileRestServlet(hs).register(http_server)
    ProfileDisplaynameRestServlet(hs).register(http_server)
    ProfileAvatarURLRestServlet(hs).register(http_server)
