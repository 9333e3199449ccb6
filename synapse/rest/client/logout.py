"""``/logout`` and ``/logout/all``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.http.servlet import RestServlet
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer


class LogoutRestServlet(RestServlet):
    """Ends the caller's session: its device and access token are deleted."""

    PATTERNS = client_patterns("/logout$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.auth_handler = hs.get_auth_handler()
        self.device_handler = hs.get_device_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(
            request, allow_guest=True, allow_expired=True, allow_locked=True
        )
        if requester.device_id is not None:
            await self.device_handler.delete_device(requester.user.to_string(), requester.device_id)
        else:
            await self.auth_handler.delete_access_token(
                self.auth.get_access_token_from_request(request)
            )
        return 200, {}


class LogoutAllRestServlet(RestServlet):
    """Ends every session of the caller: all their devices and tokens."""

    PATTERNS = client_patterns("/logout/all$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.auth_handler = hs.get_auth_handler()
        self.device_handler = hs.get_device_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(
            request, allow_guest=True, allow_expired=True, allow_locked=True
        )
        user_id = requester.user.to_string()
        await self.device_handler.delete_all_devices_for_user(user_id)
        await self.auth_handler.delete_access_tokens_for_user(user_id)
        return 200, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    LogoutRestServlet(hs).register(http_server)
    LogoutAllRestServlet(hs).register(http_server)
