"""``GET /_matrix/client/v3/capabilities``: what the server lets this user do."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from twisted.web.server import Request

from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.http.servlet import RestServlet
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.server import HomeServer


class CapabilitiesRestServlet(RestServlet):
    PATTERNS = client_patterns("/capabilities$")

    def __init__(self, hs: HomeServer) -> None:
        super().__init__()
        self.hs = hs
        self.config = hs.config
        self.auth = hs.get_auth()

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await self.auth.get_user_by_req(request, allow_guest=True)
        server = self.config.server
        capabilities: JsonDict = {
            "m.room_versions": {
                "default": server.default_room_version.identifier,
                "available": {v.identifier: v.disposition for v in KNOWN_ROOM_VERSIONS.values()},
            },
            "m.change_password": {"enabled": bool(self.config.registration.password_enabled)},
            "m.set_displayname": {"enabled": bool(server.enable_set_displayname)},
            "m.set_avatar_url": {"enabled": bool(server.enable_set_avatar_url)},
            "m.3pid_changes": {"enabled": bool(server.enable_3pid_changes)},
            "m.get_login_token": {"enabled": False},
            "m.profile_fields": self._profile_fields(),
        }
        return HTTPStatus.OK, {"capabilities": capabilities}

    def _profile_fields(self) -> JsonDict:
        """Only the display name and avatar are supported profile fields (no custom ones)."""
        server = self.config.server
        allowed = [
            field
            for field, enabled in (
                ("displayname", server.enable_set_displayname),
                ("avatar_url", server.enable_set_avatar_url),
            )
            if enabled
        ]
        return {"enabled": bool(allowed), "allowed": allowed}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    CapabilitiesRestServlet(hs).register(http_server)
