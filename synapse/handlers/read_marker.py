"""Fully read markers: the ``m.fully_read`` room account data, moved only forwards."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.constants import ReceiptTypes
from synapse.util.linearizer import Linearizer

if TYPE_CHECKING:
    from synapse.server import HomeServer


class ReadMarkerHandler:
    """``hs.get_read_marker_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        stores = hs.get_datastores().main
        self._events = stores.events
        self._account_data_store = stores.account_data
        self._account_data = hs.get_account_data_handler()
        self._receipts = hs.get_receipts_handler()
        self._linearizer = Linearizer("read_marker")

    async def received_client_read_marker(self, room_id: str, user_id: str, event_id: str) -> None:
        """Move the user's fully read marker in the room to ``event_id`` (which must be
        in the room, and the user a member), unless it already points at a later event."""
        await self._receipts.check_user_in_room(user_id, room_id)
        event = await self._receipts.check_event_in_room(room_id, event_id)
        async with self._linearizer.queue((room_id, user_id)):
            existing = await self._account_data_store.get_account_data_for_room_and_type(
                user_id, room_id, ReceiptTypes.FULLY_READ
            )
            old_id = existing.get("event_id") if existing is not None else None
            if isinstance(old_id, str):
                if old_id == event_id:
                    return
                old = await self._events.get_event(old_id, allow_none=True)
                old_ordering = old.internal_metadata.stream_ordering if old is not None else None
                new_ordering = event.internal_metadata.stream_ordering
                if old_ordering is not None and new_ordering is not None:
                    if old_ordering > new_ordering:
                        return
            await self._account_data.add_account_data_to_room(
                user_id, room_id, ReceiptTypes.FULLY_READ, {"event_id": event_id}
            )
