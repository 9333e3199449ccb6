"""Other servers' signing keys (``server_keys_json``): what the keyring and the notary cache."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

import attr

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

_COLUMNS = ("server_name", "key_id", "from_server", "ts_added_ms", "ts_valid_until_ms", "key_json")


@attr.s(slots=True, frozen=True, auto_attribs=True)
class ServerKeyJson:
    """One key ID of a stored key response."""

    server_name: str
    key_id: str
    from_server: str
    ts_added_ms: int
    ts_valid_until_ms: int
    # The whole response as canonical JSON, signatures included.
    key_json: str


class KeyStore:
    """The ``server_keys_json`` table: one row per (server, key ID, server it came from)."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database

    async def store_server_keys_response(
        self,
        server_name: str,
        from_server: str,
        ts_added_ms: int,
        key_json: str,
        valid_until_by_key_id: Mapping[str, int],
    ) -> None:
        """Store a verified key response for each of its key IDs (replacing older ones
        from the same source)."""
        if not valid_until_by_key_id:
            return
        await self.db_pool.runInteraction(
            "store_server_keys_response",
            self._store_server_keys_response_txn,
            server_name,
            from_server,
            ts_added_ms,
            key_json,
            valid_until_by_key_id,
        )

    def _store_server_keys_response_txn(
        self,
        txn: LoggingTransaction,
        server_name: str,
        from_server: str,
        ts_added_ms: int,
        key_json: str,
        valid_until_by_key_id: Mapping[str, int],
    ) -> None:
        rows = [
            (server_name, key_id, from_server, ts_added_ms, valid_until, key_json)
            for key_id, valid_until in sorted(valid_until_by_key_id.items())
        ]
        txn.executemany(
            f"INSERT INTO server_keys_json ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (server_name, key_id, from_server) DO UPDATE SET"
            " ts_added_ms = EXCLUDED.ts_added_ms,"
            " ts_valid_until_ms = EXCLUDED.ts_valid_until_ms,"
            " key_json = EXCLUDED.key_json",
            rows,
        )

    async def get_server_keys_json(
        self,
        server_name: str,
        key_ids: Collection[str] | None = None,
        from_server: str | None = None,
    ) -> list[ServerKeyJson]:
        """The stored rows of ``server_name`` (only ``key_ids`` and ``from_server`` if given)."""
        result = await self.get_server_keys_json_for_servers(
            {server_name: key_ids}, from_server=from_server
        )
        return result.get(server_name, [])

    async def get_server_keys_json_for_servers(
        self,
        key_ids_by_server: Mapping[str, Collection[str] | None],
        from_server: str | None = None,
    ) -> dict[str, list[ServerKeyJson]]:
        """The stored rows of several servers at once (None: every key ID of that server)."""
        if not key_ids_by_server:
            return {}
        return await self.db_pool.runInteraction(
            "get_server_keys_json_for_servers",
            self._get_server_keys_json_txn,
            key_ids_by_server,
            from_server,
        )

    def _get_server_keys_json_txn(
        self,
        txn: LoggingTransaction,
        key_ids_by_server: Mapping[str, Collection[str] | None],
        from_server: str | None,
    ) -> dict[str, list[ServerKeyJson]]:
        result: dict[str, list[ServerKeyJson]] = {}
        for server_name, key_ids in key_ids_by_server.items():
            keyvalues: dict[str, str] = {"server_name": server_name}
            if from_server is not None:
                keyvalues["from_server"] = from_server
            if key_ids is None:
                rows = self.db_pool.simple_select_list_txn(
                    txn, "server_keys_json", keyvalues, _COLUMNS
                )
            elif not key_ids:
                rows = []
            else:
                rows = self.db_pool.simple_select_many_txn(
                    txn, "server_keys_json", "key_id", list(key_ids), keyvalues, _COLUMNS
                )
            result[server_name] = [
                ServerKeyJson(
                    server_name=row[0],
                    key_id=row[1],
                    from_server=row[2],
                    ts_added_ms=int(row[3]),
                    ts_valid_until_ms=int(row[4]),
                    key_json=row[5],
                )
                for row in rows
            ]
        return result
