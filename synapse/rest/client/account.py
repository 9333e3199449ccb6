"""``/account/whoami``, ``/account/password`` and ``/account/deactivate``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.errors import Codes, InteractiveAuthIncompleteError, SynapseError
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

PASSWORD_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "auth": {"type": "object"},
        "new_password": {"type": "string"},
        "logout_devices": {"type": "boolean"},
    },
}

DEACTIVATE_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "auth": {"type": "object"},
        "id_server": {"type": "string"},
        "erase": {"type": "boolean"},
    },
}


class WhoamiRestServlet(RestServlet):
    PATTERNS = client_patterns("/account/whoami$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        response: JsonDict = {
            "user_id": requester.user.to_string(),
            "is_guest": bool(requester.is_guest),
        }
        if requester.device_id is not None:
            response["device_id"] = requester.device_id
        return 200, response


class PasswordRestServlet(RestServlet):
    """Change the caller's password after they re-authenticate."""

    PATTERNS = client_patterns("/account/password$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.auth_handler = hs.get_auth_handler()
        self.set_password_handler = hs.get_set_password_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        body = parse_and_validate_json_object_from_request(request, PASSWORD_SCHEMA)
        requester = await self.auth.get_user_by_req(request)
        new_password = body.pop("new_password", None)
        if new_password is not None:
            self.auth_handler.validate_password_policy(new_password)
        # The new password is kept in the session only as a hash.
        try:
            params, session_id = await self.auth_handler.validate_user_via_ui_auth(
                requester, request, body, "modify your account password"
            )
        except InteractiveAuthIncompleteError as e:
            if new_password is not None:
                await self.auth_handler.set_session_data(
                    e.session_id, "password_hash", await self.auth_handler.hash(new_password)
                )
            raise
        validate_json_object(params, PASSWORD_SCHEMA)
        if new_password is not None:
            password_hash = await self.auth_handler.hash(new_password)
        else:
            password_hash = await self.auth_handler.get_session_data(session_id, "password_hash")
        if not password_hash:
            raise SynapseError(400, "Missing params: new_password", Codes.MISSING_PARAM)
        await self.set_password_handler.set_password(
            requester.user.to_string(),
            password_hash,
            logout_devices=params.get("logout_devices", True),
            requester=requester,
        )
        return 200, {}


class DeactivateAccountRestServlet(RestServlet):
    """Deactivate the caller's account after they re-authenticate."""

    PATTERNS = client_patterns("/account/deactivate$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.auth_handler = hs.get_auth_handler()
        self.deactivate_handler = hs.get_deactivate_account_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        body = parse_and_validate_json_object_from_request(request, DEACTIVATE_SCHEMA)
        requester = await self.auth.get_user_by_req(request)
        params, _ = await self.auth_handler.validate_user_via_ui_auth(
            requester, request, body, "deactivate your account"
        )
        validate_json_object(params, DEACTIVATE_SCHEMA)
        unbound = await self.deactivate_handler.deactivate_account(
            requester.user.to_string(), erase_data=params.get("erase", False)
        )
        return 200, {"id_server_unbind_result": "success" if unbound else "no-support"}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    WhoamiRestServlet(hs).register(http_server)
    PasswordRestServlet(hs).register(http_server)
    DeactivateAccountRestServlet(hs).register(http_server)
