"""The device list stream: which users' devices (or device or cross-signing keys)
changed, and at which position.

A ``StreamChangeCache`` of users answers "did any of these users change since N" from
memory for recent positions, so that a quiet ``/sync`` reads nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from synapse.storage.databases.main._events_sql import batch_iter, in_list
from synapse.storage.util.id_generators import AbstractStreamIdGenerator, StreamIdGenerator
from synapse.util.caches.stream_change_cache import StreamChangeCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction


class DeviceListStore:
    """The ``device_lists_stream`` table."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._id_gen = StreamIdGenerator(
            None, database, "device_lists_stream", "stream_id", "device_lists_sequence"
        )
        self._change_cache = StreamChangeCache(
            "device_list_users", self._id_gen.get_current_token(), max_size=50_000
        )

    @property
    def stream_id_generator(self) -> AbstractStreamIdGenerator:
        return self._id_gen

    def get_device_list_stream_id(self) -> int:
        """The position up to which every device list change is persisted."""
        return self._id_gen.get_current_token()

    async def add_device_list_change(self, user_id: str, device_ids: Collection[str | None]) -> int:
        """Record that the user's devices changed (``None``: their cross-signing keys);
        the change's stream position."""

        def _txn(txn: LoggingTransaction) -> int:
            stream_id = self._id_gen.get_next_txn(txn)
            self.db_pool.simple_insert_many_txn(
                txn,
                "device_lists_stream",
                ("stream_id", "user_id", "device_id"),
                [(stream_id, user_id, d) for d in (device_ids or [None])],
            )
            txn.call_after(self._change_cache.entity_has_changed, user_id, stream_id)
            return stream_id

        return await self.db_pool.runInteraction("add_device_list_change", _txn)

    async def get_users_whose_devices_changed(
        self, from_key: int, to_key: int, user_ids: Collection[str] | None = None
    ) -> set[str]:
        """The users (among ``user_ids``, or any) with a change in ``(from_key, to_key]``.

        Answered from memory when the cache reaches back to ``from_key`` and says none
        of them changed.
        """
        if from_key >= to_key:
            return set()
        if user_ids is None:
            maybe = self._change_cache.get_all_entities_changed(from_key)
            if maybe is not None and not maybe:
                return set()
        else:
            maybe = self._change_cache.get_entities_changed(user_ids, from_key)
            if not maybe:
                return set()

        def _txn(txn: LoggingTransaction) -> set[str]:
            sql = (
                "SELECT DISTINCT user_id FROM device_lists_stream"
                " WHERE stream_id > ? AND stream_id <= ?"
            )
            if maybe is None:
                txn.execute(sql, (from_key, to_key))
                return {r[0] for r in txn.fetchall()}
            out: set[str] = set()
            for chunk in batch_iter(sorted(maybe)):
                clause, args = in_list("user_id", chunk)
                txn.execute(f"{sql} AND {clause}", [from_key, to_key, *args])
                out.update(r[0] for r in txn.fetchall())
            return out

        return await self.db_pool.runInteraction("get_users_whose_devices_changed", _txn)
