"""Read receipts (``receipts``): the latest receipt per room, type, user and thread.

Every change takes the next position of the receipts stream; ``/sync`` reads the
receipts of its rooms between two positions, and a ``StreamChangeCache`` of rooms
answers "did any receipt change in this room since N" from memory.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

import attr

from synapse.storage.databases.main._events_sql import batch_iter, encode_json, in_list
from synapse.storage.util.id_generators import AbstractStreamIdGenerator, StreamIdGenerator
from synapse.types import JsonDict
from synapse.util.caches.stream_change_cache import StreamChangeCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

# The stored thread ID of an unthreaded receipt.
UNTHREADED = ""


@attr.s(slots=True, frozen=True, auto_attribs=True)
class ReceiptInfo:
    """One user's receipt of one type (and thread) in a room."""

    room_id: str
    receipt_type: str
    user_id: str
    event_id: str
    # None: unthreaded; else "main" or a thread root's event ID.
    thread_id: str | None
    data: JsonDict
    stream_id: int


def receipts_to_content(receipts: Iterable[ReceiptInfo]) -> JsonDict:
    """The ``content`` of an ``m.receipt`` event: event ID -> type -> user -> data."""
    content: JsonDict = {}
    for r in receipts:
        data = dict(r.data)
        if r.thread_id is not None:
            data["thread_id"] = r.thread_id
        content.setdefault(r.event_id, {}).setdefault(r.receipt_type, {})[r.user_id] = data
    return content


class ReceiptsStore:
    """The ``receipts`` table and the receipts stream."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._id_gen = StreamIdGenerator(
            None, database, "receipts", "stream_id", "receipts_sequence"
        )
        self._room_change_cache = StreamChangeCache(
            "receipts_rooms", self._id_gen.get_current_token()
        )

    # --- positions -----------------------------------------------------------------
    @property
    def stream_id_generator(self) -> AbstractStreamIdGenerator:
        return self._id_gen

    def get_max_receipt_stream_id(self) -> int:
        """The position up to which every receipt change is persisted."""
        return self._id_gen.get_current_token()

    def get_rooms_with_receipt_changes(self, room_ids: Collection[str], from_key: int) -> set[str]:
        """The rooms among ``room_ids`` whose receipts may have changed after ``from_key``."""
        return self._room_change_cache.get_entities_changed(room_ids, from_key)

    # --- writes ----------------------------------------------------------------------
    async def insert_receipt(
        self,
        room_id: str,
        receipt_type: str,
        user_id: str,
        event_id: str,
        thread_id: str | None,
        data: JsonDict,
        event_stream_ordering: int | None,
    ) -> int | None:
        """Set the user's receipt; its stream position, or None when the receipt was
        left alone because it already points at a later event (or at this one)."""
        return await self.db_pool.runInteraction(
            "insert_receipt",
            self._insert_receipt_txn,
            room_id,
            receipt_type,
            user_id,
            event_id,
            UNTHREADED if thread_id is None else thread_id,
            data,
            event_stream_ordering,
        )

    def _insert_receipt_txn(
        self,
        txn: LoggingTransaction,
        room_id: str,
        receipt_type: str,
        user_id: str,
        event_id: str,
        thread_id: str,
        data: JsonDict,
        event_stream_ordering: int | None,
    ) -> int | None:
        key = {
            "room_id": room_id,
            "receipt_type": receipt_type,
            "user_id": user_id,
            "thread_id": thread_id,
        }
        existing = self.db_pool.simple_select_one_txn(
            txn, "receipts", key, ("event_id", "event_stream_ordering"), allow_none=True
        )
        if existing is not None:
            old_event_id, old_ordering = existing
            if old_event_id == event_id:
                return None
            if (
                old_ordering is not None
                and event_stream_ordering is not None
                and int(old_ordering) >= event_stream_ordering
            ):
                return None
        stream_id = self._id_gen.get_next_txn(txn)
        self.db_pool.simple_upsert_txn(
            txn,
            "receipts",
            key,
            {
                "event_id": event_id,
                "event_stream_ordering": event_stream_ordering,
                "data": encode_json(data),
                "stream_id": stream_id,
            },
        )
        txn.call_after(self._room_change_cache.entity_has_changed, room_id, stream_id)
        return stream_id

    # --- reads -----------------------------------------------------------------------
    async def get_linearized_receipts_for_rooms(
        self, room_ids: Collection[str], to_key: int, from_key: int | None = None
    ) -> dict[str, list[ReceiptInfo]]:
        """The receipts of each room that changed in ``(from_key, to_key]`` (every
        receipt up to ``to_key`` if ``from_key`` is None); rooms without any are left out.

        Rooms whose receipts surely did not change are answered without a query.
        """
        if from_key is not None:
            if from_key >= to_key:
                return {}
            room_ids = self.get_rooms_with_receipt_changes(room_ids, from_key)
        if not room_ids:
            return {}
        return await self.db_pool.runInteraction(
            "get_linearized_receipts_for_rooms",
            self._get_receipts_for_rooms_txn,
            sorted(room_ids),
            to_key,
            from_key,
        )

    @staticmethod
    def _get_receipts_for_rooms_txn(
        txn: LoggingTransaction, room_ids: list[str], to_key: int, from_key: int | None
    ) -> dict[str, list[ReceiptInfo]]:
        out: dict[str, list[ReceiptInfo]] = {}
        for chunk in batch_iter(room_ids):
            clause, args = in_list("room_id", chunk)
            sql = (
                "SELECT room_id, receipt_type, user_id, event_id, thread_id, data, stream_id"
                f" FROM receipts WHERE {clause} AND stream_id <= ?"
            )
            args.append(to_key)
            if from_key is not None:
                sql += " AND stream_id > ?"
                args.append(from_key)
            txn.execute(sql + " ORDER BY stream_id", args)
            for row in txn.fetchall():
                out.setdefault(row[0], []).append(_row_to_receipt(row))
        return out

    async def get_receipt(
        self, room_id: str, receipt_type: str, user_id: str, thread_id: str | None = None
    ) -> ReceiptInfo | None:
        """The user's receipt of one type and thread (None: unthreaded) in a room."""
        row = await self.db_pool.simple_select_one(
            "receipts",
            {
                "room_id": room_id,
                "receipt_type": receipt_type,
                "user_id": user_id,
                "thread_id": UNTHREADED if thread_id is None else thread_id,
            },
            ("room_id", "receipt_type", "user_id", "event_id", "thread_id", "data", "stream_id"),
            allow_none=True,
            desc="get_receipt",
        )
        return None if row is None else _row_to_receipt(row)

    async def get_receipts_for_user(
        self, user_id: str, receipt_types: Collection[str]
    ) -> list[ReceiptInfo]:
        """Every receipt of the user of the given types, in any room and thread (for
        unread counts: which event each room is read up to)."""
        if not receipt_types:
            return []
        return await self.db_pool.runInteraction(
            "get_receipts_for_user", self._get_receipts_for_user_txn, user_id, list(receipt_types)
        )

    @staticmethod
    def _get_receipts_for_user_txn(
        txn: LoggingTransaction, user_id: str, receipt_types: list[str]
    ) -> list[ReceiptInfo]:
        clause, args = in_list("receipt_type", receipt_types)
        txn.execute(
            "SELECT room_id, receipt_type, user_id, event_id, thread_id, data, stream_id"
            f" FROM receipts WHERE user_id = ? AND {clause}",
            [user_id, *args],
        )
        return [_row_to_receipt(r) for r in txn.fetchall()]

    @staticmethod
    def get_read_positions_txn(
        txn: LoggingTransaction, user_id: str, room_ids: Collection[str], receipt_types: list[str]
    ) -> dict[str, dict[str | None, int]]:
        """For unread counts: how far the user has read in each room, by thread (None:
        unthreaded), as the stream ordering of the latest event any of ``receipt_types``
        points at. Receipts of events unknown here are left out."""
        out: dict[str, dict[str | None, int]] = {}
        types_clause, type_args = in_list("receipt_type", receipt_types)
        for chunk in batch_iter(room_ids):
            rooms_clause, room_args = in_list("room_id", chunk)
            txn.execute(
                "SELECT room_id, thread_id, MAX(event_stream_ordering) FROM receipts"
                f" WHERE user_id = ? AND {types_clause} AND {rooms_clause}"
                " AND event_stream_ordering IS NOT NULL GROUP BY room_id, thread_id",
                [user_id, *type_args, *room_args],
            )
            for room_id, thread_id, ordering in txn.fetchall():
                thread = None if thread_id == UNTHREADED else thread_id
                out.setdefault(room_id, {})[thread] = int(ordering)
        return out


def _row_to_receipt(row: tuple) -> ReceiptInfo:  # type: ignore[type-arg]
    room_id, receipt_type, user_id, event_id, thread_id, data, stream_id = row
    return ReceiptInfo(
        room_id=room_id,
        receipt_type=receipt_type,
        user_id=user_id,
        event_id=event_id,
        thread_id=None if thread_id == UNTHREADED else thread_id,
        data=json.loads(data),
        stream_id=int(stream_id),
    )
