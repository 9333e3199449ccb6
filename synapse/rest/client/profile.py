"""``/profile/{userId}`` and ``/profile/{userId}/{keyName}`` (GET, PUT, DELETE)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.handlers.profile import check_profile_key
from synapse.http.servlet import (
    RestServlet,
    assert_params_in_dict,
    parse_json_object_from_request,
    validate_json_object,
)
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict, UserID

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer


# The fields whose value must be a string; any JSON value is allowed for custom keys.
_STRING_FIELD_SCHEMAS: dict[str, JsonDict] = {
    key: {"type": "object", "properties": {key: {"type": "string"}}, "required": [key]}
    for key in ("displayname", "avatar_url", "m.tz")
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


class ProfileFieldRestServlet(RestServlet):
    """One field: ``displayname``, ``avatar_url``, ``m.tz`` or a custom key."""

    PATTERNS = client_patterns("/profile/(?P<user_id>[^/]*)/(?P<key>[^/]*)$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.auth = hs.get_auth()
        self.profile_handler = hs.get_profile_handler()

    async def on_GET(self, request: Request, user_id: str, key: str) -> tuple[int, JsonDict]:
        await _maybe_require_auth(self.hs, request)
        value = await self.profile_handler.get_profile_field(UserID.from_string(user_id), key)
        return 200, {key: value}

    async def on_PUT(self, request: Request, user_id: str, key: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        target = UserID.from_string(user_id)
        check_profile_key(key)
        body = parse_json_object_from_request(request)
        schema = _STRING_FIELD_SCHEMAS.get(key)
        if schema is not None:
            validate_json_object(body, schema)
        else:
            assert_params_in_dict(body, [key])
        is_admin = requester.user != target and await self.auth.is_server_admin(requester)
        await self.profile_handler.set_profile_field(
            target, requester, key, body[key], by_admin=is_admin
        )
        return 200, {}

    async def on_DELETE(self, request: Request, user_id: str, key: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        target = UserID.from_string(user_id)
        is_admin = requester.user != target and await self.auth.is_server_admin(requester)
        await self.profile_handler.delete_profile_field(target, requester, key, by_admin=is_admin)
        return 200, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    ProfileRestServlet(hs).register(http_server)
    ProfileFieldRestServlet(hs).register(http_server)
