"""User filters (``user_filters``): stored once per user and content, by a per-user ID."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from canonicaljson import encode_canonical_json

from synapse.util.caches.lrucache import LruCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

# Attempts at taking the next filter ID when concurrent uploads took it first.
_ADD_FILTER_ATTEMPTS = 5


class _FilterIdTaken(Exception):
    pass


class FilteringStore:
    """The ``user_filters`` table."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        # (user_id, filter_id) -> the filter's JSON; filters never change.
        self._cache: LruCache[tuple[str, str], Any] = LruCache(10_000)

    async def get_user_filter(self, user_id: str, filter_id: str) -> Any | None:
        """The JSON of the user's filter ``filter_id``, or None."""
        if not filter_id.isdigit() or len(filter_id) > 18:
            return None
        cached = self._cache.get((user_id, filter_id))
        if cached is not None:
            return cached
        text = await self.db_pool.simple_select_one_onecol(
            "user_filters",
            {"user_id": user_id, "filter_id": int(filter_id)},
            "filter_json",
            allow_none=True,
            desc="get_user_filter",
        )
        if text is None:
            return None
        value = json.loads(text)
        self._cache.set((user_id, filter_id), value)
        return value

    async def add_user_filter(self, user_id: str, filter_json: Any) -> str:
        """Store a filter and return its ID; a filter the user already has keeps its ID."""
        text = encode_canonical_json(filter_json).decode("utf-8")
        for _ in range(_ADD_FILTER_ATTEMPTS):
            try:
                filter_id = await self.db_pool.runInteraction(
                    "add_user_filter", self._add_user_filter_txn, user_id, text
                )
            except _FilterIdTaken:
                continue
            return str(filter_id)
        raise RuntimeError("Could not allocate a filter ID")

    @staticmethod
    def _add_user_filter_txn(txn: LoggingTransaction, user_id: str, text: str) -> int:
        txn.execute(
            "SELECT filter_id FROM user_filters WHERE user_id = ? AND filter_json = ?",
            (user_id, text),
        )
        row = txn.fetchone()
        if row is not None:
            return int(row[0])
        txn.execute(
            "SELECT COALESCE(MAX(filter_id), -1) + 1 FROM user_filters WHERE user_id = ?",
            (user_id,),
        )
        (filter_id,) = txn.fetchone() or (0,)
        txn.execute(
            "INSERT INTO user_filters (user_id, filter_id, filter_json) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, filter_id) DO NOTHING",
            (user_id, int(filter_id), text),
        )
        if txn.rowcount != 1:
            raise _FilterIdTaken()
        return int(filter_id)
