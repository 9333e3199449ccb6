"""``PUT /sendToDevice/{eventType}/{txnId}``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import RestServlet, parse_and_validate_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

SEND_TO_DEVICE_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "messages": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": "object"},
            },
        }
    },
    "required": ["messages"],
}


class SendToDeviceRestServlet(RestServlet):
    PATTERNS = client_patterns("/sendToDevice/(?P<message_type>[^/]*)/(?P<txn_id>[^/]*)$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.device_message_handler = hs.get_device_message_handler()

    async def on_PUT(
        self, request: Request, message_type: str, txn_id: str
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        body = parse_and_validate_json_object_from_request(request, SEND_TO_DEVICE_SCHEMA)
        if not message_type:
            raise SynapseError(400, "Missing event type", Codes.INVALID_PARAM)
        if not txn_id:
            raise SynapseError(400, "Missing transaction ID", Codes.INVALID_PARAM)
        await self.device_message_handler.send_device_message(
            requester, message_type, body["messages"], txn_id
        )
        return 200, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    SendToDeviceRestServlet(hs).register(http_server)
