"""Read receipts: ``m.read`` (seen by the room) and ``m.read.private`` (seen only by
the user who sent it), unthreaded or per thread.

A receipt moves the receipts stream and wakes the ``/sync`` requests it concerns: the
room's members for a public receipt, only its sender for a private one. Listeners
added with ``add_receipt_listener`` (the federation sender) hear about new public
receipts of local users; receipts from other servers come in through
``received_remote_receipt``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from synapse.api.constants import ReceiptTypes, RelationTypes
from synapse.api.errors import AuthError, Codes, NotFoundError, SynapseError
from synapse.events import EventBase
from synapse.events.utils import get_relation
from synapse.storage.databases.main.receipts import ReceiptInfo
from synapse.types import StreamKeyType
from synapse.util.identifiers import is_valid_event_id

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# The thread ID of the main timeline.
MAIN_TIMELINE = "main"
# How many relations to follow up from an event to find its thread (the spec's advice).
_MAX_THREAD_HOPS = 3

ReceiptListener = Callable[[ReceiptInfo], None]


class ReceiptsHandler:
    """``hs.get_receipts_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        stores = hs.get_datastores().main
        self._stores = stores
        self._store = stores.receipts
        self._notifier = hs.get_notifier()
        self._listeners: list[ReceiptListener] = []
        self._notifier.register_stream_position_source(
            StreamKeyType.RECEIPT, self._store.get_max_receipt_stream_id
        )

    def add_receipt_listener(self, listener: ReceiptListener) -> None:
        """Call ``listener(receipt)`` for each new public receipt of a local user."""
        self._listeners.append(listener)

    async def check_event_in_room(self, room_id: str, event_id: str) -> EventBase:
        """The event, which must be in the room (404 M_NOT_FOUND otherwise)."""
        event = await self._stores.events.get_event(event_id, allow_none=True)
        if event is None or event.room_id != room_id:
            raise NotFoundError(f"Event {event_id} not found in room {room_id}")
        return event

    async def check_user_in_room(self, user_id: str, room_id: str) -> None:
        """403 M_FORBIDDEN unless the user is joined to the room."""
        if room_id not in await self._stores.roommember.get_rooms_for_user(user_id):
            raise AuthError(403, f"User {user_id} not in room {room_id}")

    async def received_client_receipt(
        self,
        room_id: str,
        receipt_type: str,
        user_id: str,
        event_id: str,
        thread_id: str | None = None,
    ) -> None:
        """A local user's ``m.read`` or ``m.read.private`` receipt (``thread_id`` None:
        unthreaded). The user must be in the room, the event in the room and, for a
        threaded receipt, in that thread (400 M_INVALID_PARAM otherwise)."""
        if receipt_type not in (ReceiptTypes.READ, ReceiptTypes.READ_PRIVATE):
            raise SynapseError(400, f"Unknown receipt type {receipt_type!r}", Codes.INVALID_PARAM)
        if thread_id is not None:
            check_thread_id(thread_id)
        await self.check_user_in_room(user_id, room_id)
        event = await self.check_event_in_room(room_id, event_id)
        if thread_id is not None and await self.thread_of(event) != thread_id:
            raise SynapseError(
                400, f"Event {event_id} is not in thread {thread_id}", Codes.INVALID_PARAM
            )
        await self._insert(
            room_id,
            receipt_type,
            user_id,
            event_id,
            thread_id,
            self.clock.time_msec(),
            event.internal_metadata.stream_ordering,
        )

    async def received_remote_receipt(
        self,
        room_id: str,
        user_id: str,
        event_id: str,
        thread_id: str | None,
        ts: int,
    ) -> None:
        """A public read receipt from another server (an ``m.receipt`` EDU)."""
        event = await self._stores.events.get_event(event_id, allow_none=True)
        ordering = event.internal_metadata.stream_ordering if event is not None else None
        await self._insert(room_id, ReceiptTypes.READ, user_id, event_id, thread_id, ts, ordering)

    async def _insert(
        self,
        room_id: str,
        receipt_type: str,
        user_id: str,
        event_id: str,
        thread_id: str | None,
        ts: int,
        event_stream_ordering: int | None,
    ) -> None:
        data = {"ts": ts}
        stream_id = await self._store.insert_receipt(
            room_id, receipt_type, user_id, event_id, thread_id, data, event_stream_ordering
        )
        if stream_id is None:
            return
        if receipt_type == ReceiptTypes.READ_PRIVATE:
            self._notifier.on_new_event(StreamKeyType.RECEIPT, stream_id, users=[user_id])
            return
        self._notifier.on_new_event(StreamKeyType.RECEIPT, stream_id, rooms=[room_id])
        if self.hs.is_mine_id(user_id):
            receipt = ReceiptInfo(
                room_id, receipt_type, user_id, event_id, thread_id, data, stream_id
            )
            for listener in self._listeners:
                try:
                    listener(receipt)
                except Exception:
                    logger.exception("Receipt listener failed")

    async def thread_of(self, event: EventBase) -> str:
        """The thread an event is in (a thread root's ID), or ``main``.

        An ``m.thread`` relation names the thread; other relations are followed up to
        their parent, at most three hops (a reaction to a threaded reply is in the
        thread). Thread roots are in the main timeline.
        """
        current = event
        for _ in range(_MAX_THREAD_HOPS):
            relation = get_relation(current)
            if relation is None:
                return MAIN_TIMELINE
            rel_type, parent_id = relation
            if rel_type == RelationTypes.THREAD:
                return parent_id
            parent = await self._stores.events.get_event(parent_id, allow_none=True)
            if parent is None or parent.room_id != event.room_id:
                return MAIN_TIMELINE
            current = parent
        return MAIN_TIMELINE


def check_thread_id(thread_id: object) -> None:
    """400 M_INVALID_PARAM unless ``thread_id`` is ``main`` or an event ID."""
    if not isinstance(thread_id, str) or not thread_id:
        raise SynapseError(400, "thread_id field must be a non-empty string", Codes.INVALID_PARAM)
    if thread_id != MAIN_TIMELINE and not is_valid_event_id(thread_id):
        raise SynapseError(
            400, "thread_id must be 'main' or the event ID of a thread root", Codes.INVALID_PARAM
        )
