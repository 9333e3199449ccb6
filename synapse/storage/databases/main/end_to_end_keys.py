"""End-to-end encryption keys: device identity keys, one-time and fallback keys,
cross-signing keys and the signatures uploaded for them.

The keys are stored as the JSON the client uploaded; the handler checks them. One-time
keys are handed out by deleting their row in the claiming transaction, so no key is
ever given to two claimants (a concurrent claim of the same row fails to delete it, or
on PostgreSQL fails to serialize and is run again).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attr

from synapse.api.errors import Codes, StoreError
from synapse.storage.databases.main._events_sql import batch_iter, encode_json, in_list
from synapse.types import JsonDict
from synapse.util.caches.lrucache import LruCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

# ``(algorithm, key_id, key JSON)`` of one uploaded one-time or fallback key.
KeyUpload = tuple[str, str, JsonDict]

CROSS_SIGNING_KEY_TYPES = ("master", "self_signing", "user_signing")


@attr.s(slots=True, frozen=True, auto_attribs=True)
class DeviceKeys:
    """A device with uploaded identity keys, and its display name."""

    display_name: str | None
    keys: JsonDict


@attr.s(slots=True, frozen=True, auto_attribs=True)
class KeyCounts:
    """What ``/sync`` tells a device about its own keys."""

    # Unclaimed one-time keys by algorithm.
    one_time_keys: Mapping[str, int]
    # Algorithms of fallback keys not yet handed out.
    unused_fallback_key_types: tuple[str, ...]


@attr.s(slots=True, frozen=True, auto_attribs=True)
class Signature:
    """``user_id``'s key ``key_id`` signed ``target_user_id``'s ``target_key``."""

    user_id: str
    key_id: str
    target_user_id: str
    target_key: str
    signature: str


class EndToEndKeyStore:
    """The ``e2e_*`` key tables."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._counts_cache: LruCache[tuple[str, str], KeyCounts] = LruCache(10_000)

    # --- device keys, one-time and fallback keys ---------------------------------------
    async def upload_keys(
        self,
        user_id: str,
        device_id: str,
        time_now_ms: int,
        device_keys: JsonDict | None,
        one_time_keys: Collection[KeyUpload],
        fallback_keys: Collection[KeyUpload],
    ) -> bool:
        """Store what one ``POST /keys/upload`` sent, all or nothing; whether the
        device's identity keys changed.

        A one-time key that exists with other content is refused (400
        ``M_INVALID_PARAM``) and nothing is written. A fallback key replaces the
        device's key of its algorithm and is unused again, unless it is the same key.
        """
        return await self.db_pool.runInteraction(
            "upload_e2e_keys",
            self._upload_keys_txn,
            user_id,
            device_id,
            time_now_ms,
            device_keys,
            one_time_keys,
            fallback_keys,
        )

    def _upload_keys_txn(
        self,
        txn: LoggingTransaction,
        user_id: str,
        device_id: str,
        time_now_ms: int,
        device_keys: JsonDict | None,
        one_time_keys: Collection[KeyUpload],
        fallback_keys: Collection[KeyUpload],
    ) -> bool:
        changed = False
        if device_keys is not None:
            new_json = encode_json(device_keys)
            txn.execute(
                "SELECT key_json FROM e2e_device_keys_json WHERE user_id = ? AND device_id = ?",
                (user_id, device_id),
            )
            row = txn.fetchone()
            if row is None or json.loads(row[0]) != device_keys:
                changed = True
                self.db_pool.simple_upsert_txn(
                    txn,
                    "e2e_device_keys_json",
                    {"user_id": user_id, "device_id": device_id},
                    {"ts_added_ms": time_now_ms, "key_json": new_json},
                )

        if one_time_keys:
            existing: dict[tuple[str, str], Any] = {}
            for chunk in batch_iter(one_time_keys):
                clause, args = in_list("key_id", [k[1] for k in chunk])
                txn.execute(
                    "SELECT algorithm, key_id, key_json FROM e2e_one_time_keys_json"
                    f" WHERE user_id = ? AND device_id = ? AND {clause}",
                    [user_id, device_id, *args],
                )
                for algorithm, key_id, key_json in txn.fetchall():
                    existing[(algorithm, key_id)] = json.loads(key_json)
            new_rows = []
            for algorithm, key_id, key in one_time_keys:
                old = existing.get((algorithm, key_id))
                if old is None:
                    new_rows.append(
                        (user_id, device_id, algorithm, key_id, time_now_ms, encode_json(key))
                    )
                elif old != key:
                    raise StoreError(
                        400,
                        f"One-time key {algorithm}:{key_id} already exists with other content",
                        Codes.INVALID_PARAM,
                    )
            self.db_pool.simple_insert_many_txn(
                txn,
                "e2e_one_time_keys_json",
                ("user_id", "device_id", "algorithm", "key_id", "ts_added_ms", "key_json"),
                new_rows,
            )

        for algorithm, key_id, key in fallback_keys:
            txn.execute(
                "SELECT key_id, key_json FROM e2e_fallback_keys_json"
                " WHERE user_id = ? AND device_id = ? AND algorithm = ?",
                (user_id, device_id, algorithm),
            )
            row = txn.fetchone()
            if row is not None and row[0] == key_id and json.loads(row[1]) == key:
                continue
            self.db_pool.simple_upsert_txn(
                txn,
                "e2e_fallback_keys_json",
                {"user_id": user_id, "device_id": device_id, "algorithm": algorithm},
                {"key_id": key_id, "key_json": encode_json(key), "used": False},
            )

        if one_time_keys or fallback_keys:
            txn.call_after(self._counts_cache.invalidate, (user_id, device_id))
        return changed

    async def get_device_keys(
        self, query: Iterable[tuple[str, str | None]]
    ) -> dict[str, dict[str, DeviceKeys]]:
        """The identity keys of devices that uploaded some: ``(user, device)`` pairs,
        device None for all of the user's devices. User -> device -> keys."""
        query = list(query)
        if not query:
            return {}
        return await self.db_pool.runInteraction(
            "get_e2e_device_keys", self._get_device_keys_txn, query
        )

    def _get_device_keys_txn(
        self, txn: LoggingTransaction, query: list[tuple[str, str | None]]
    ) -> dict[str, dict[str, DeviceKeys]]:
        whole_users = {u for u, d in query if d is None}
        devices = [(u, d) for u, d in query if d is not None and u not in whole_users]
        out: dict[str, dict[str, DeviceKeys]] = {}
        sql = (
            "SELECT k.user_id, k.device_id, d.display_name, k.key_json"
            " FROM e2e_device_keys_json AS k"
            " INNER JOIN devices AS d ON d.user_id = k.user_id AND d.device_id = k.device_id"
        )
        for chunk in batch_iter(sorted(whole_users)):
            clause, args = in_list("k.user_id", chunk)
            txn.execute(f"{sql} WHERE {clause}", args)
            for user_id, device_id, name, key_json in txn.fetchall():
                out.setdefault(user_id, {})[device_id] = DeviceKeys(name, json.loads(key_json))
        for pairs in batch_iter(devices, 200):
            where = " OR ".join("(k.user_id = ? AND k.device_id = ?)" for _ in pairs)
            txn.execute(f"{sql} WHERE {where}", [v for pair in pairs for v in pair])
            for user_id, device_id, name, key_json in txn.fetchall():
                out.setdefault(user_id, {})[device_id] = DeviceKeys(name, json.loads(key_json))
        return out

    async def get_key_counts(self, user_id: str, device_id: str) -> KeyCounts:
        """The device's unclaimed one-time keys by algorithm and its unused fallback key
        algorithms (cached; read on every ``/sync``)."""
        key = (user_id, device_id)
        cached = self._counts_cache.get(key)
        if cached is None:
            cached = await self.db_pool.runInteraction(
                "get_e2e_key_counts", self._get_key_counts_txn, user_id, device_id
            )
            self._counts_cache.set(key, cached)
        return cached

    @staticmethod
    def _get_key_counts_txn(txn: LoggingTransaction, user_id: str, device_id: str) -> KeyCounts:
        txn.execute(
            "SELECT algorithm, COUNT(*) FROM e2e_one_time_keys_json"
            " WHERE user_id = ? AND device_id = ? GROUP BY algorithm",
            (user_id, device_id),
        )
        counts = {algorithm: int(n) for algorithm, n in txn.fetchall()}
        txn.execute(
            "SELECT algorithm FROM e2e_fallback_keys_json"
            " WHERE user_id = ? AND device_id = ? AND used = ? ORDER BY algorithm",
            (user_id, device_id, False),
        )
        return KeyCounts(counts, tuple(r[0] for r in txn.fetchall()))

    async def claim_keys(
        self, query: Iterable[tuple[str, str, str]]
    ) -> dict[str, dict[str, dict[str, JsonDict]]]:
        """Hand out one key per ``(user, device, algorithm)``: the oldest one-time key,
        else the fallback key (then marked used). User -> device -> ``alg:id`` -> key."""
        query = list(dict.fromkeys(query))
        if not query:
            return {}
        return await self.db_pool.runInteraction("claim_e2e_keys", self._claim_keys_txn, query)

    def _claim_keys_txn(
        self, txn: LoggingTransaction, query: list[tuple[str, str, str]]
    ) -> dict[str, dict[str, dict[str, JsonDict]]]:
        out: dict[str, dict[str, dict[str, JsonDict]]] = {}
        touched: set[tuple[str, str]] = set()
        for user_id, device_id, algorithm in query:
            claimed = self._claim_one_time_key_txn(txn, user_id, device_id, algorithm)
            if claimed is None:
                claimed = self._claim_fallback_key_txn(txn, user_id, device_id, algorithm)
            if claimed is None:
                continue
            key_id, key_json = claimed
            out.setdefault(user_id, {}).setdefault(device_id, {})[f"{algorithm}:{key_id}"] = (
                json.loads(key_json)
            )
            touched.add((user_id, device_id))
        for key in touched:
            txn.call_after(self._counts_cache.invalidate, key)
        return out

    @staticmethod
    def _claim_one_time_key_txn(
        txn: LoggingTransaction, user_id: str, device_id: str, algorithm: str
    ) -> tuple[str, str] | None:
        txn.execute(
            "SELECT key_id, key_json FROM e2e_one_time_keys_json"
            " WHERE user_id = ? AND device_id = ? AND algorithm = ?"
            " ORDER BY ts_added_ms, key_id LIMIT 5",
            (user_id, device_id, algorithm),
        )
        for key_id, key_json in txn.fetchall():
            txn.execute(
                "DELETE FROM e2e_one_time_keys_json"
                " WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?",
                (user_id, device_id, algorithm, key_id),
            )
            # Zero rows: another claim took this key first; try the next one.
            if txn.rowcount == 1:
                return key_id, key_json
        return None

    @staticmethod
    def _claim_fallback_key_txn(
        txn: LoggingTransaction, user_id: str, device_id: str, algorithm: str
    ) -> tuple[str, str] | None:
        txn.execute(
            "SELECT key_id, key_json, used FROM e2e_fallback_keys_json"
            " WHERE user_id = ? AND device_id = ? AND algorithm = ?",
            (user_id, device_id, algorithm),
        )
        row = txn.fetchone()
        if row is None:
            return None
        if not row[2]:
            txn.execute(
                "UPDATE e2e_fallback_keys_json SET used = ?"
                " WHERE user_id = ? AND device_id = ? AND algorithm = ?",
                (True, user_id, device_id, algorithm),
            )
        return row[0], row[1]

    async def delete_keys_for_devices(self, user_id: str, device_ids: Collection[str]) -> None:
        """Forget every key of the devices (they were deleted), and the signatures of them."""
        if not device_ids:
            return

        def _txn(txn: LoggingTransaction) -> None:
            for device_id in device_ids:
                for table in (
                    "e2e_device_keys_json",
                    "e2e_one_time_keys_json",
                    "e2e_fallback_keys_json",
                ):
                    txn.execute(
                        f"DELETE FROM {table} WHERE user_id = ? AND device_id = ?",
                        (user_id, device_id),
                    )
                txn.execute(
                    "DELETE FROM e2e_cross_signing_signatures"
                    " WHERE target_user_id = ? AND target_key = ?",
                    (user_id, device_id),
                )
                txn.call_after(self._counts_cache.invalidate, (user_id, device_id))

        await self.db_pool.runInteraction("delete_e2e_keys_for_devices", _txn)

    # --- cross-signing -------------------------------------------------------------------
    async def get_cross_signing_keys(
        self, user_ids: Collection[str], key_types: Collection[str] = CROSS_SIGNING_KEY_TYPES
    ) -> dict[str, dict[str, JsonDict]]:
        """The users' current cross-signing keys: user -> key type -> key JSON."""
        if not user_ids or not key_types:
            return {}

        def _txn(txn: LoggingTransaction) -> dict[str, dict[str, JsonDict]]:
            out: dict[str, dict[str, JsonDict]] = {}
            type_clause, type_args = in_list("keytype", list(key_types))
            for chunk in batch_iter(sorted(user_ids)):
                clause, args = in_list("user_id", chunk)
                txn.execute(
                    "SELECT user_id, keytype, key_json FROM e2e_cross_signing_keys"
                    f" WHERE {clause} AND {type_clause}",
                    [*args, *type_args],
                )
                for user_id, keytype, key_json in txn.fetchall():
                    out.setdefault(user_id, {})[keytype] = json.loads(key_json)
            return out

        return await self.db_pool.runInteraction("get_e2e_cross_signing_keys", _txn)

    async def set_cross_signing_keys(self, user_id: str, keys: Mapping[str, JsonDict]) -> None:
        """Replace the user's keys of the given types (key type -> key JSON, each with
        one ``ed25519:<public key>``)."""

        def _txn(txn: LoggingTransaction) -> None:
            for keytype, key in keys.items():
                (public_key,) = (k.split(":", 1)[1] for k in key["keys"])
                self.db_pool.simple_upsert_txn(
                    txn,
                    "e2e_cross_signing_keys",
                    {"user_id": user_id, "keytype": keytype},
                    {"public_key": public_key, "key_json": encode_json(key)},
                )

        await self.db_pool.runInteraction("set_e2e_cross_signing_keys", _txn)

    async def store_signatures(self, signatures: Collection[Signature]) -> None:
        """Add (or replace) signatures of device and master keys."""
        if not signatures:
            return

        def _txn(txn: LoggingTransaction) -> None:
            for s in signatures:
                self.db_pool.simple_upsert_txn(
                    txn,
                    "e2e_cross_signing_signatures",
                    {
                        "target_user_id": s.target_user_id,
                        "target_key": s.target_key,
                        "user_id": s.user_id,
                        "key_id": s.key_id,
                    },
                    {"signature": s.signature},
                )

        await self.db_pool.runInteraction("store_e2e_cross_signing_signatures", _txn)

    async def get_signatures(
        self, targets: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], list[Signature]]:
        """The uploaded signatures of ``(target user, device ID or master key)`` pairs."""
        if not targets:
            return {}

        def _txn(txn: LoggingTransaction) -> dict[tuple[str, str], list[Signature]]:
            out: dict[tuple[str, str], list[Signature]] = {}
            for chunk in batch_iter(sorted(targets), 200):
                where = " OR ".join("(target_user_id = ? AND target_key = ?)" for _ in chunk)
                txn.execute(
                    "SELECT user_id, key_id, target_user_id, target_key, signature"
                    f" FROM e2e_cross_signing_signatures WHERE {where}",
                    [v for pair in chunk for v in pair],
                )
                for row in txn.fetchall():
                    sig = Signature(*row)
                    out.setdefault((sig.target_user_id, sig.target_key), []).append(sig)
            return out

        return await self.db_pool.runInteraction("get_e2e_cross_signing_signatures", _txn)
