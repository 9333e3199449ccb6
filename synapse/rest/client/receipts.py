"""``POST /rooms/{roomId}/receipt/{receiptType}/{eventId}``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.constants import ReceiptTypes
from synapse.api.errors import Codes, SynapseError
from synapse.handlers.receipts import check_thread_id
from synapse.http.servlet import RestServlet, parse_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict
from synapse.util.identifiers import is_valid_event_id, is_valid_room_id

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_RECEIPT_TYPES = (ReceiptTypes.READ, ReceiptTypes.READ_PRIVATE, ReceiptTypes.FULLY_READ)


def check_room_and_event_ids(room_id: str, event_id: str | None = None) -> None:
    """400 M_INVALID_PARAM for a malformed room or event ID."""
    if not is_valid_room_id(room_id):
        raise SynapseError(400, f"Invalid room ID {room_id!r}", Codes.INVALID_PARAM)
    if event_id is not None and not is_valid_event_id(event_id):
        raise SynapseError(400, f"Invalid event ID {event_id!r}", Codes.INVALID_PARAM)


class ReceiptRestServlet(RestServlet):
    PATTERNS = client_patterns(
        "/rooms/(?P<room_id>[^/]*)/receipt/(?P<receipt_type>[^/]*)/(?P<event_id>[^/]*)$"
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.receipts_handler = hs.get_receipts_handler()
        self.read_marker_handler = hs.get_read_marker_handler()
        self.presence_handler = hs.get_presence_handler()

    async def on_POST(
        self, request: Request, room_id: str, receipt_type: str, event_id: str
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        # Some clients send no body at all; the receipt then has no thread.
        body = parse_json_object_from_request(request, allow_empty_body=True)
        if receipt_type not in _RECEIPT_TYPES:
            raise SynapseError(
                400, f"Receipt type must be one of {', '.join(_RECEIPT_TYPES)}", Codes.INVALID_PARAM
            )
        check_room_and_event_ids(room_id, event_id)
        thread_id = body.get("thread_id")
        if "thread_id" in body:
            if receipt_type == ReceiptTypes.FULLY_READ:
                raise SynapseError(
                    400, "thread_id is not allowed for m.fully_read", Codes.INVALID_PARAM
                )
            check_thread_id(thread_id)
        user_id = requester.user.to_string()
        if receipt_type == ReceiptTypes.FULLY_READ:
            await self.read_marker_handler.received_client_read_marker(room_id, user_id, event_id)
        else:
            await self.receipts_handler.received_client_receipt(
                room_id, receipt_type, user_id, event_id, thread_id
            )
        await self.presence_handler.bump_presence_active_time(user_id)
        return 200, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    ReceiptRestServlet(hs).register(http_server)
