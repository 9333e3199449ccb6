"""Third-party identifiers (email, phone): none can be bound to accounts on this server.

The endpoints still answer as the spec says: the list is empty, verification tokens are
refused with 403 M_THREEPID_DENIED, and removing an identifier that is not there is no
error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    validate_json_object,
)
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

REQUEST_EMAIL_TOKEN_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "client_secret": {"type": "string"},
        "email": {"type": "string"},
        "send_attempt": {"type": "integer"},
        "next_link": {"type": "string"},
        "id_server": {"type": "string"},
        "id_access_token": {"type": "string"},
    },
    "required": ["client_secret", "email", "send_attempt"],
}

REQUEST_MSISDN_TOKEN_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "client_secret": {"type": "string"},
        "country": {"type": "string"},
        "phone_number": {"type": "string"},
        "send_attempt": {"type": "integer"},
        "next_link": {"type": "string"},
        "id_server": {"type": "string"},
        "id_access_token": {"type": "string"},
    },
    "required": ["client_secret", "country", "phone_number", "send_attempt"],
}

THREEPID_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "medium": {"type": "string"},
        "address": {"type": "string"},
        "id_server": {"type": "string"},
    },
    "required": ["medium", "address"],
}

THREEPID_SESSION_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "auth": {"type": "object"},
        "client_secret": {"type": "string"},
        "sid": {"type": "string"},
        "id_server": {"type": "string"},
        "id_access_token": {"type": "string"},
    },
    "required": ["client_secret", "sid"],
}


class RequestTokenRestServlet(RestServlet):
    """``POST /{register,account/password,account/3pid}/{email,msisdn}/requestToken``."""

    PATTERNS = client_patterns(
        "/(?:register|account/password|account/3pid)/(?P<medium>email|msisdn)/requestToken$"
    )

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs

    async def on_POST(self, request: Request, medium: str) -> tuple[int, JsonDict]:
        schema = REQUEST_EMAIL_TOKEN_SCHEMA if medium == "email" else REQUEST_MSISDN_TOKEN_SCHEMA
        parse_and_validate_json_object_from_request(request, schema)
        raise SynapseError(
            403, "Third-party identifiers are not supported on this server", Codes.THREEPID_DENIED
        )


class ThreepidRestServlet(RestServlet):
    """``GET /account/3pid``: the identifiers bound to the account (none)."""

    PATTERNS = client_patterns("/account/3pid$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await self.auth.get_user_by_req(request)
        return 200, {"threepids": []}


class ThreepidAddRestServlet(RestServlet):
    """``POST /account/3pid/add``: no verification session can exist, so none validates."""

    PATTERNS = client_patterns("/account/3pid/add$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.auth_handler = hs.get_auth_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        body = parse_and_validate_json_object_from_request(request, THREEPID_SESSION_SCHEMA)
        requester = await self.auth.get_user_by_req(request)
        params, _ = await self.auth_handler.validate_user_via_ui_auth(
            requester, request, body, "add a third-party identifier to your account"
        )
        validate_json_object(params, THREEPID_SESSION_SCHEMA)
        raise SynapseError(400, "No validated 3pid session found", Codes.THREEPID_AUTH_FAILED)


class ThreepidBindRestServlet(RestServlet):
    """``POST /account/3pid/bind``: no verification session can exist, so none validates."""

    PATTERNS = client_patterns("/account/3pid/bind$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        parse_and_validate_json_object_from_request(request, THREEPID_SESSION_SCHEMA)
        await self.auth.get_user_by_req(request)
        raise SynapseError(400, "No validated 3pid session found", Codes.THREEPID_AUTH_FAILED)


class ThreepidRemoveRestServlet(RestServlet):
    """``POST /account/3pid/delete`` and ``/unbind``: nothing to remove, no identity server told."""

    PATTERNS = client_patterns("/account/3pid/(?:delete|unbind)$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        parse_and_validate_json_object_from_request(request, THREEPID_SCHEMA)
        await self.auth.get_user_by_req(request)
        return 200, {"id_server_unbind_result": "no-support"}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    RequestTokenRestServlet(hs).register(http_server)
    ThreepidRestServlet(hs).register(http_server)
    ThreepidAddRestServlet(hs).register(http_server)
    ThreepidBindRestServlet(hs).register(http_server)
    ThreepidRemoveRestServlet(hs).register(http_server)
