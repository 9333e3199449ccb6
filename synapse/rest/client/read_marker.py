"""``POST /rooms/{roomId}/read_markers``: the fully read marker and read receipts at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.constants import ReceiptTypes
from synapse.http.servlet import RestServlet, parse_and_validate_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.rest.client.receipts import check_room_and_event_ids
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

READ_MARKERS_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        ReceiptTypes.FULLY_READ: {"type": "string"},
        ReceiptTypes.READ: {"type": "string"},
        ReceiptTypes.READ_PRIVATE: {"type": "string"},
    },
}


class ReadMarkerRestServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]*)/read_markers$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.receipts_handler = hs.get_receipts_handler()
        self.read_marker_handler = hs.get_read_marker_handler()
        self.presence_handler = hs.get_presence_handler()

    async def on_POST(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, READ_MARKERS_SCHEMA)
        check_room_and_event_ids(room_id)
        for key in (ReceiptTypes.FULLY_READ, ReceiptTypes.READ, ReceiptTypes.READ_PRIVATE):
            if key in body:
                check_room_and_event_ids(room_id, body[key])
        user_id = requester.user.to_string()
        # Check everything before changing anything.
        await self.receipts_handler.check_user_in_room(user_id, room_id)
        for key in (ReceiptTypes.FULLY_READ, ReceiptTypes.READ, ReceiptTypes.READ_PRIVATE):
            if key in body:
                await self.receipts_handler.check_event_in_room(room_id, body[key])
        for receipt_type in (ReceiptTypes.READ, ReceiptTypes.READ_PRIVATE):
            event_id = body.get(receipt_type)
            if event_id is not None:
                await self.receipts_handler.received_client_receipt(
                    room_id, receipt_type, user_id, event_id
                )
        fully_read = body.get(ReceiptTypes.FULLY_READ)
        if fully_read is not None:
            await self.read_marker_handler.received_client_read_marker(room_id, user_id, fully_read)
        await self.presence_handler.bump_presence_active_time(user_id)
        return 200, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    ReadMarkerRestServlet(hs).register(http_server)
