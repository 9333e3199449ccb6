"""Server-side key backups: each user's backup versions and the session keys in them.

Version numbers are per user and never reused (a deleted version keeps its row). Every
change of a version's keys bumps its ``etag``, so clients can tell that another device
changed the backup.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attr

from synapse.storage.databases.main._events_sql import encode_json
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction


@attr.s(slots=True, frozen=True, auto_attribs=True)
class BackupVersion:
    version: int
    algorithm: str
    auth_data: JsonDict
    etag: int


@attr.s(slots=True, frozen=True, auto_attribs=True)
class RoomKey:
    """One backed-up session key (``KeyBackupData``)."""

    first_message_index: int
    forwarded_count: int
    is_verified: bool
    session_data: JsonDict

    def to_json(self) -> JsonDict:
        return {
            "first_message_index": self.first_message_index,
            "forwarded_count": self.forwarded_count,
            "is_verified": self.is_verified,
            "session_data": self.session_data,
        }

    def is_better_than(self, other: RoomKey) -> bool:
        """Whether this key should replace ``other`` (the spec's order: verified first,
        then the lower first message index, then the lower forwarded count)."""
        if self.is_verified != other.is_verified:
            return self.is_verified
        if self.first_message_index != other.first_message_index:
            return self.first_message_index < other.first_message_index
        return self.forwarded_count < other.forwarded_count


# room -> session -> key
RoomKeys = Mapping[str, Mapping[str, RoomKey]]


class EndToEndRoomKeyStore:
    """``e2e_room_keys_versions`` and ``e2e_room_keys``."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs

    # --- versions ------------------------------------------------------------------------
    async def create_version(self, user_id: str, algorithm: str, auth_data: JsonDict) -> int:
        """A new backup version, which becomes the current one."""

        def _txn(txn: LoggingTransaction) -> int:
            txn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM e2e_room_keys_versions WHERE user_id = ?",
                (user_id,),
            )
            row = txn.fetchone()
            version = (int(row[0]) if row else 0) + 1
            self.db_pool.simple_insert_txn(
                txn,
                "e2e_room_keys_versions",
                {
                    "user_id": user_id,
                    "version": version,
                    "algorithm": algorithm,
                    "auth_data": encode_json(auth_data),
                    "etag": 0,
                    "deleted": 0,
                },
            )
            return version

        return await self.db_pool.runInteraction("create_e2e_room_keys_version", _txn)

    async def get_version(self, user_id: str, version: int | None = None) -> BackupVersion | None:
        """A version that is not deleted (None: the current one), or None."""
        return await self.db_pool.runInteraction(
            "get_e2e_room_keys_version", self._get_version_txn, user_id, version
        )

    @staticmethod
    def _get_version_txn(
        txn: LoggingTransaction, user_id: str, version: int | None
    ) -> BackupVersion | None:
        sql = (
            "SELECT version, algorithm, auth_data, etag FROM e2e_room_keys_versions"
            " WHERE user_id = ? AND deleted = 0"
        )
        if version is None:
            txn.execute(f"{sql} ORDER BY version DESC LIMIT 1", (user_id,))
        else:
            txn.execute(f"{sql} AND version = ?", (user_id, version))
        row = txn.fetchone()
        if row is None:
            return None
        return BackupVersion(int(row[0]), row[1], json.loads(row[2]), int(row[3]))

    async def update_version_auth_data(
        self, user_id: str, version: int, auth_data: JsonDict
    ) -> bool:
        """Replace a version's ``auth_data``; False if there is no such version."""
        updated = await self.db_pool.simple_update(
            "e2e_room_keys_versions",
            {"user_id": user_id, "version": version, "deleted": 0},
            {"auth_data": encode_json(auth_data)},
            desc="update_e2e_room_keys_version",
        )
        return updated > 0

    async def delete_version(self, user_id: str, version: int) -> bool:
        """Delete a version and its keys; False if there is no such version."""

        def _txn(txn: LoggingTransaction) -> bool:
            txn.execute(
                "UPDATE e2e_room_keys_versions SET deleted = 1"
                " WHERE user_id = ? AND version = ? AND deleted = 0",
                (user_id, version),
            )
            if txn.rowcount == 0:
                return False
            txn.execute(
                "DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ?", (user_id, version)
            )
            return True

        return await self.db_pool.runInteraction("delete_e2e_room_keys_version", _txn)

    # --- keys ------------------------------------------------------------------------------
    async def count_keys(self, user_id: str, version: int) -> int:
        rows = await self.db_pool.execute(
            "count_e2e_room_keys",
            "SELECT COUNT(*) FROM e2e_room_keys WHERE user_id = ? AND version = ?",
            user_id,
            version,
        )
        return int(rows[0][0])

    async def get_keys(
        self,
        user_id: str,
        version: int,
        room_id: str | None = None,
        session_id: str | None = None,
    ) -> dict[str, dict[str, RoomKey]]:
        """The version's keys (of one room, or one session): room -> session -> key."""
        sql = (
            "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified,"
            " session_data FROM e2e_room_keys WHERE user_id = ? AND version = ?"
        )
        args: list[object] = [user_id, version]
        if room_id is not None:
            sql += " AND room_id = ?"
            args.append(room_id)
            if session_id is not None:
                sql += " AND session_id = ?"
                args.append(session_id)
        rows = await self.db_pool.execute("get_e2e_room_keys", sql, *args)
        out: dict[str, dict[str, RoomKey]] = {}
        for room, session, index, forwarded, verified, data in rows:
            out.setdefault(room, {})[session] = RoomKey(
                int(index), int(forwarded), bool(verified), json.loads(data)
            )
        return out

    async def upload_keys(
        self, user_id: str, version: int, keys: RoomKeys
    ) -> tuple[int, int] | None:
        """Add the keys to a version, each replacing a stored key of its session only if
        it is better; ``(etag, count)`` afterwards, or None if ``version`` is no longer
        the current version (nothing is written)."""

        def _txn(txn: LoggingTransaction) -> tuple[int, int] | None:
            current = self._get_version_txn(txn, user_id, None)
            if current is None or current.version != version:
                return None
            changed = False
            for room_id, sessions in keys.items():
                for session_id, key in sessions.items():
                    txn.execute(
                        "SELECT first_message_index, forwarded_count, is_verified"
                        " FROM e2e_room_keys WHERE user_id = ? AND version = ?"
                        " AND room_id = ? AND session_id = ?",
                        (user_id, version, room_id, session_id),
                    )
                    row = txn.fetchone()
                    if row is not None:
                        old = RoomKey(int(row[0]), int(row[1]), bool(row[2]), {})
                        if not key.is_better_than(old):
                            continue
                    self.db_pool.simple_upsert_txn(
                        txn,
                        "e2e_room_keys",
                        {
                            "user_id": user_id,
                            "version": version,
                            "room_id": room_id,
                            "session_id": session_id,
                        },
                        {
                            "first_message_index": key.first_message_index,
                            "forwarded_count": key.forwarded_count,
                            "is_verified": key.is_verified,
                            "session_data": encode_json(key.session_data),
                        },
                    )
                    changed = True
            etag = (
                self._bump_etag_txn(txn, user_id, version, current.etag)
                if changed
                else current.etag
            )
            return etag, self._count_txn(txn, user_id, version)

        return await self.db_pool.runInteraction("upload_e2e_room_keys", _txn)

    async def delete_keys(
        self,
        user_id: str,
        version: int,
        room_id: str | None = None,
        session_id: str | None = None,
    ) -> tuple[int, int] | None:
        """Delete the version's keys (of one room, or one session); ``(etag, count)``
        afterwards, or None if there is no such version."""

        def _txn(txn: LoggingTransaction) -> tuple[int, int] | None:
            current = self._get_version_txn(txn, user_id, version)
            if current is None:
                return None
            sql = "DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ?"
            args: list[object] = [user_id, version]
            if room_id is not None:
                sql += " AND room_id = ?"
                args.append(room_id)
                if session_id is not None:
                    sql += " AND session_id = ?"
                    args.append(session_id)
            txn.execute(sql, args)
            etag = current.etag
            if txn.rowcount:
                etag = self._bump_etag_txn(txn, user_id, version, current.etag)
            return etag, self._count_txn(txn, user_id, version)

        return await self.db_pool.runInteraction("delete_e2e_room_keys", _txn)

    @staticmethod
    def _bump_etag_txn(txn: LoggingTransaction, user_id: str, version: int, etag: int) -> int:
        txn.execute(
            "UPDATE e2e_room_keys_versions SET etag = ? WHERE user_id = ? AND version = ?",
            (etag + 1, user_id, version),
        )
        return etag + 1

    @staticmethod
    def _count_txn(txn: LoggingTransaction, user_id: str, version: int) -> int:
        txn.execute(
            "SELECT COUNT(*) FROM e2e_room_keys WHERE user_id = ? AND version = ?",
            (user_id, version),
        )
        row = txn.fetchone()
        return int(row[0]) if row else 0
