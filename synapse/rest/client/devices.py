"""``/devices``, ``/devices/{deviceId}`` and ``/delete_devices``."""

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

DELETE_DEVICES_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "auth": {"type": "object"},
        "devices": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["devices"],
}

DELETE_DEVICE_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"auth": {"type": "object"}},
}

UPDATE_DEVICE_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"display_name": {"type": "string"}},
}


class DevicesRestServlet(RestServlet):
    PATTERNS = client_patterns("/devices$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.device_handler = hs.get_device_handler()

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        devices = await self.device_handler.get_devices_by_user(requester.user.to_string())
        return 200, {"devices": devices}


class DeleteDevicesRestServlet(RestServlet):
    """``POST /delete_devices``: delete several devices after re-authentication."""

    PATTERNS = client_patterns("/delete_devices$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.auth_handler = hs.get_auth_handler()
        self.device_handler = hs.get_device_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        body = parse_and_validate_json_object_from_request(request, DELETE_DEVICES_SCHEMA)
        requester = await self.auth.get_user_by_req(request)
        params, _ = await self.auth_handler.validate_user_via_ui_auth(
            requester, request, body, "remove device(s) from your account"
        )
        validate_json_object(params, DELETE_DEVICES_SCHEMA)
        await self.device_handler.delete_devices(requester.user.to_string(), params["devices"])
        return 200, {}


class DeviceRestServlet(RestServlet):
    PATTERNS = client_patterns("/devices/(?P<device_id>[^/]*)$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.auth_handler = hs.get_auth_handler()
        self.device_handler = hs.get_device_handler()

    async def on_GET(self, request: Request, device_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        device = await self.device_handler.get_device(requester.user.to_string(), device_id)
        return 200, device

    async def on_PUT(self, request: Request, device_id: str) -> tuple[int, JsonDict]:
        body = parse_and_validate_json_object_from_request(request, UPDATE_DEVICE_SCHEMA)
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        await self.device_handler.update_device(requester.user.to_string(), device_id, body)
        return 200, {}

    async def on_DELETE(self, request: Request, device_id: str) -> tuple[int, JsonDict]:
        body = parse_and_validate_json_object_from_request(
            request, DELETE_DEVICE_SCHEMA, allow_empty_body=True
        )
        requester = await self.auth.get_user_by_req(request)
        user_id = requester.user.to_string()
        if await self.hs_device_missing(user_id, device_id):
            raise SynapseError(404, "No device found", Codes.NOT_FOUND)
        await self.auth_handler.validate_user_via_ui_auth(
            requester, request, body, "remove a device from your account"
        )
        await self.device_handler.delete_device(user_id, device_id)
        return 200, {}

    async def hs_device_missing(self, user_id: str, device_id: str) -> bool:
        try:
            await self.device_handler.get_device(user_id, device_id)
        except SynapseError as e:
            if e.code == 404:
                return True
            raise
        return False


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    DevicesRestServlet(hs).register(http_server)
    DeleteDevicesRestServlet(hs).register(http_server)
    DeviceRestServlet(hs).register(http_server)
