"""``/login``: the supported login flows, and password login."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.constants import LoginType
from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import RestServlet, parse_and_validate_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_IDENTIFIER_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "user": {"type": "string"},
        "medium": {"type": "string"},
        "address": {"type": "string"},
        "country": {"type": "string"},
        "phone": {"type": "string"},
    },
    "required": ["type"],
}

LOGIN_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "identifier": _IDENTIFIER_SCHEMA,
        "user": {"type": "string"},
        "medium": {"type": "string"},
        "address": {"type": "string"},
        "password": {"type": "string"},
        "token": {"type": "string"},
        "device_id": {"type": "string"},
        "initial_device_display_name": {"type": "string"},
        "refresh_token": {"type": "boolean"},
    },
    "required": ["type"],
}


class LoginRestServlet(RestServlet):
    """``GET /login`` lists the flows; ``POST /login`` logs in with a password."""

    PATTERNS = client_patterns("/login$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self.auth_handler = hs.get_auth_handler()
        self.registration_handler = hs.get_registration_handler()

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        flows = [{"type": t} for t in self.auth_handler.get_supported_login_types()]
        return 200, {"flows": flows}

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        body = parse_and_validate_json_object_from_request(request, LOGIN_SCHEMA)
        await self.auth_handler.ratelimit_login_address(request.get_client_ip_if_available())
        if body["type"] != LoginType.PASSWORD:
            raise SynapseError(400, "Unknown login type", Codes.UNKNOWN)
        user_id = await self.auth_handler.validate_login(body, ratelimit=True)
        lifetime = self.hs.config.registration.session_lifetime
        device_id, access_token = await self.registration_handler.register_device(
            user_id,
            body.get("device_id"),
            body.get("initial_device_display_name"),
            valid_until_ms=self.clock.time_msec() + int(lifetime) if lifetime else None,
        )
        return 200, {
            "user_id": user_id,
            "access_token": access_token,
            "device_id": device_id,
            "home_server": self.hs.hostname,
        }


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    LoginRestServlet(hs).register(http_server)
