"""Send-to-device messages (the to-device stream): the inbox of each local device, the
outbox of each remote server, and the transaction IDs already handled.

A message stays in a device's inbox until a ``/sync`` of that device acknowledges it
(sends a ``since`` token past it). Because delivered rows are deleted, the stream's
position at start-up is read through the ``to_device_stream_position`` view: the
sequence's last value on PostgreSQL, on SQLite a row of ``stream_positions`` that
every write moves on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from synapse.storage.databases.main._events_sql import encode_json
from synapse.storage.util.id_generators import AbstractStreamIdGenerator, StreamIdGenerator
from synapse.types import JsonDict
from synapse.util.caches.lrucache import LruCache
from synapse.util.caches.stream_change_cache import StreamChangeCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

_STREAM_NAME = "to_device"
_INSTANCE_NAME = "master"

# user -> device -> message (``{"type", "sender", "content"}``).
LocalMessages = Mapping[str, Mapping[str, JsonDict]]
# destination -> the content of the ``m.direct_to_device`` EDU to send it.
RemoteMessages = Mapping[str, JsonDict]


class DeviceInboxStore:
    """``device_inbox``, ``device_federation_outbox`` and ``device_inbox_txns``."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._id_gen = StreamIdGenerator(
            None, database, "to_device_stream_position", "stream_id", "device_inbox_sequence"
        )
        # Users with new messages, by stream position.
        self._inbox_change_cache = StreamChangeCache(
            "device_inbox_users", self._id_gen.get_current_token(), max_size=50_000
        )
        # (user, device) -> the position up to which its inbox was last cleared.
        self._cleared_up_to: LruCache[tuple[str, str], int] = LruCache(50_000)

    @property
    def stream_id_generator(self) -> AbstractStreamIdGenerator:
        return self._id_gen

    def get_to_device_stream_id(self) -> int:
        """The position up to which every to-device message is persisted."""
        return self._id_gen.get_current_token()

    # --- writes ----------------------------------------------------------------------
    async def add_messages(
        self,
        sender_user_id: str,
        sender_device_id: str,
        txn_id: str | None,
        local_messages: LocalMessages,
        remote_messages: RemoteMessages,
        time_now_ms: int,
    ) -> int | None:
        """Queue the messages for local devices and remote servers in one transaction;
        their stream position, or None when ``txn_id`` was already used by the device
        (nothing is queued again)."""

        def _txn(txn: LoggingTransaction) -> int | None:
            if txn_id is not None:
                inserted = self.db_pool.simple_insert_txn(
                    txn,
                    "device_inbox_txns",
                    {
                        "user_id": sender_user_id,
                        "device_id": sender_device_id,
                        "txn_id": txn_id,
                        "inserted_ts": time_now_ms,
                    },
                    or_ignore=True,
                )
                if not inserted:
                    return None
            stream_id = self._id_gen.get_next_txn(txn)
            self.db_pool.simple_insert_many_txn(
                txn,
                "device_inbox",
                ("user_id", "device_id", "stream_id", "message_json"),
                [
                    (user_id, device_id, stream_id, encode_json(message))
                    for user_id, devices in local_messages.items()
                    for device_id, message in devices.items()
                ],
            )
            self.db_pool.simple_insert_many_txn(
                txn,
                "device_federation_outbox",
                ("destination", "stream_id", "queued_ts", "messages_json"),
                [
                    (destination, stream_id, time_now_ms, encode_json(messages))
                    for destination, messages in remote_messages.items()
                ],
            )
            if not txn.database_engine.supports_sequences:
                txn.execute(
                    "INSERT INTO stream_positions (stream_name, instance_name, stream_id)"
                    " VALUES (?, ?, ?) ON CONFLICT (stream_name, instance_name) DO UPDATE"
                    " SET stream_id = CASE WHEN EXCLUDED.stream_id > stream_positions.stream_id"
                    " THEN EXCLUDED.stream_id ELSE stream_positions.stream_id END",
                    (_STREAM_NAME, _INSTANCE_NAME, stream_id),
                )
            for user_id in local_messages:
                txn.call_after(self._inbox_change_cache.entity_has_changed, user_id, stream_id)
            return stream_id

        return await self.db_pool.runInteraction("add_to_device_messages", _txn)

    async def delete_messages_for_device(self, user_id: str, device_id: str, up_to: int) -> int:
        """Delete the device's messages at or before ``up_to`` (acknowledged); how many.

        Skipped without a query when nothing can have arrived since the last clearing.
        """
        key = (user_id, device_id)
        cleared = self._cleared_up_to.get(key)
        if cleared is not None and (
            up_to <= cleared or not self._inbox_change_cache.has_entity_changed(user_id, cleared)
        ):
            return 0

        def _txn(txn: LoggingTransaction) -> int:
            txn.execute(
                "DELETE FROM device_inbox WHERE user_id = ? AND device_id = ? AND stream_id <= ?",
                (user_id, device_id, up_to),
            )
            return txn.rowcount

        deleted = await self.db_pool.runInteraction("delete_to_device_messages", _txn)
        self._cleared_up_to.set(key, max(up_to, cleared or 0))
        return deleted

    async def delete_all_messages_for_devices(self, user_id: str, device_ids: list[str]) -> None:
        """Drop the inboxes of deleted devices."""

        def _txn(txn: LoggingTransaction) -> None:
            for device_id in device_ids:
                txn.execute(
                    "DELETE FROM device_inbox WHERE user_id = ? AND device_id = ?",
                    (user_id, device_id),
                )

        await self.db_pool.runInteraction("delete_device_inboxes", _txn)
        for device_id in device_ids:
            self._cleared_up_to.invalidate((user_id, device_id))

    async def delete_old_txn_ids(self, before_ts: int) -> None:
        """Forget transaction IDs recorded before ``before_ts``."""

        def _txn(txn: LoggingTransaction) -> None:
            txn.execute("DELETE FROM device_inbox_txns WHERE inserted_ts < ?", (before_ts,))

        await self.db_pool.run_autocommit("delete_old_to_device_txn_ids", _txn)

    # --- reads -----------------------------------------------------------------------
    async def get_messages_for_device(
        self, user_id: str, device_id: str, from_id: int, to_id: int, limit: int
    ) -> tuple[list[JsonDict], int]:
        """The device's messages in ``(from_id, to_id]``, oldest first, at most
        ``limit``; and the position they go up to (``to_id`` unless cut short)."""
        if from_id >= to_id or not self._inbox_change_cache.has_entity_changed(user_id, from_id):
            return [], to_id

        def _txn(txn: LoggingTransaction) -> tuple[list[JsonDict], int]:
            txn.execute(
                "SELECT stream_id, message_json FROM device_inbox"
                " WHERE user_id = ? AND device_id = ? AND stream_id > ? AND stream_id <= ?"
                " ORDER BY stream_id LIMIT ?",
                (user_id, device_id, from_id, to_id, limit),
            )
            rows = txn.fetchall()
            messages = [json.loads(r[1]) for r in rows]
            if len(rows) < limit:
                return messages, to_id
            # Cut short: the next sync goes on after the last one sent (a device gets
            # one message per position).
            return messages, int(rows[-1][0])

        return await self.db_pool.runInteraction("get_to_device_messages", _txn)

    # --- for the federation sender -----------------------------------------------------
    async def get_messages_for_destination(
        self, destination: str, from_id: int, to_id: int, limit: int
    ) -> list[tuple[int, JsonDict]]:
        """Queued ``(stream position, {user: {device: message}})`` for a server."""
        rows = await self.db_pool.execute(
            "get_to_device_messages_for_destination",
            "SELECT stream_id, messages_json FROM device_federation_outbox"
            " WHERE destination = ? AND stream_id > ? AND stream_id <= ?"
            " ORDER BY stream_id LIMIT ?",
            destination,
            from_id,
            to_id,
            limit,
        )
        return [(int(r[0]), json.loads(r[1])) for r in rows]

    async def delete_messages_for_destination(self, destination: str, up_to: int) -> None:
        """Drop what was sent to a server, up to ``up_to``."""

        def _txn(txn: LoggingTransaction) -> None:
            txn.execute(
                "DELETE FROM device_federation_outbox WHERE destination = ? AND stream_id <= ?",
                (destination, up_to),
            )

        await self.db_pool.run_autocommit("delete_to_device_messages_for_destination", _txn)
