"""The event graph: prev/auth edges, forward and backward extremities, depths, auth chains."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from synapse.storage.databases.main._events_sql import batch_iter, in_list
from synapse.util.caches.lrucache import LruCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

_AUTH_CHAIN_SQL = """
WITH RECURSIVE chain(event_id) AS (
    SELECT auth_id FROM event_auth WHERE {clause}
    UNION
    SELECT a.auth_id FROM event_auth AS a INNER JOIN chain AS c ON a.event_id = c.event_id
)
SELECT event_id FROM chain
"""


class EventFederationStore:
    """Reads of the event DAG; the writes happen in the persist transaction."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._forward_extremities_cache: LruCache[str, frozenset[str]] = LruCache(10_000)
        self._extremities_generation = 0

    # --- extremities ---------------------------------------------------------------
    async def get_forward_extremities(self, room_id: str) -> frozenset[str]:
        """The room's forward extremities: the events new local events point at."""
        cached = self._forward_extremities_cache.get(room_id)
        if cached is None:
            generation = self._extremities_generation
            rows = await self.db_pool.simple_select_onecol(
                "event_forward_extremities",
                {"room_id": room_id},
                "event_id",
                desc="get_forward_extremities",
            )
            cached = frozenset(rows)
            # A write that committed while we read may have made the rows stale.
            if generation == self._extremities_generation:
                self._forward_extremities_cache.set(room_id, cached)
        return cached

    async def get_backward_extremities(self, room_id: str) -> list[tuple[str, int]]:
        """Events we know of but do not hold, with the depth of the events citing them
        (where backfill should start), deepest first."""
        rows = await self.db_pool.execute(
            "get_backward_extremities",
            "SELECT b.event_id, MAX(e.topological_ordering) FROM event_backward_extremities AS b"
            " INNER JOIN event_edges AS g ON g.prev_event_id = b.event_id"
            " INNER JOIN events AS e ON e.event_id = g.event_id"
            " WHERE b.room_id = ? GROUP BY b.event_id ORDER BY 2 DESC",
            room_id,
        )
        return [(r[0], int(r[1])) for r in rows]

    def update_forward_extremities_txn(
        self,
        txn: LoggingTransaction,
        room_id: str,
        to_delete: Collection[str],
        to_insert: Collection[str],
        new_extremities: Collection[str] | None = None,
    ) -> None:
        """Update a room's forward extremities; ``new_extremities``, the complete set after
        the update if known, primes the cache rather than dropping it."""
        if to_delete:
            txn.execute_batch(
                "DELETE FROM event_forward_extremities WHERE room_id = ? AND event_id = ?",
                [(room_id, e) for e in to_delete],
            )
        if to_insert:
            txn.execute_batch(
                "INSERT INTO event_forward_extremities (event_id, room_id) VALUES (?, ?)",
                [(e, room_id) for e in to_insert],
            )
        txn.call_after(self._extremities_written, room_id, new_extremities)

    def _extremities_written(self, room_id: str, new_extremities: Collection[str] | None) -> None:
        self._extremities_generation += 1
        if new_extremities is None:
            self._forward_extremities_cache.invalidate(room_id)
        else:
            self._forward_extremities_cache.set(room_id, frozenset(new_extremities))

    async def get_events_referenced_as_prev(self, event_ids: Collection[str]) -> set[str]:
        """Those of ``event_ids`` that a stored (non-outlier) event cites as a prev event."""
        if not event_ids:
            return set()
        return await self.db_pool.runInteraction(
            "get_events_referenced_as_prev", self._get_events_referenced_as_prev_txn, event_ids
        )

    @staticmethod
    def _get_events_referenced_as_prev_txn(
        txn: LoggingTransaction, event_ids: Collection[str]
    ) -> set[str]:
        out: set[str] = set()
        for chunk in batch_iter(event_ids):
            clause, args = in_list("g.prev_event_id", chunk)
            txn.execute(
                "SELECT DISTINCT g.prev_event_id FROM event_edges AS g"
                " INNER JOIN events AS e ON e.event_id = g.event_id"
                f" WHERE {clause} AND e.outlier = 0",
                args,
            )
            out.update(r[0] for r in txn.fetchall())
        return out

    # --- depth and prev events ---------------------------------------------------------
    async def get_max_depth_of(self, event_ids: Collection[str]) -> tuple[str | None, int]:
        """The deepest of ``event_ids`` we hold and its depth (``(None, 0)`` if none)."""
        if not event_ids:
            return None, 0
        rows = await self.db_pool.runInteraction(
            "get_max_depth_of", self._get_depths_txn, event_ids
        )
        if not rows:
            return None, 0
        event_id, depth = max(rows.items(), key=lambda kv: kv[1])
        return event_id, depth

    async def get_depths(self, event_ids: Collection[str]) -> dict[str, int]:
        return await self.db_pool.runInteraction("get_depths", self._get_depths_txn, event_ids)

    @staticmethod
    def _get_depths_txn(txn: LoggingTransaction, event_ids: Collection[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in batch_iter(event_ids):
            clause, args = in_list("event_id", chunk)
            txn.execute(f"SELECT event_id, topological_ordering FROM events WHERE {clause}", args)
            out.update((e, int(d)) for e, d in txn.fetchall())
        return out

    async def get_prev_events_for_room(self, room_id: str, limit: int = 10) -> list[str]:
        """The prev events for a new local event: the deepest ``limit`` forward extremities."""
        extremities = await self.get_forward_extremities(room_id)
        if len(extremities) <= limit:
            return sorted(extremities)
        depths = await self.get_depths(extremities)
        return sorted(extremities, key=lambda e: (-depths.get(e, 0), e))[:limit]

    async def get_latest_event_ids_in_room(self, room_id: str) -> frozenset[str]:
        return await self.get_forward_extremities(room_id)

    # --- auth chains -----------------------------------------------------------------
    async def get_auth_chain_ids(
        self, event_ids: Collection[str], include_given: bool = False
    ) -> set[str]:
        """The auth chain of ``event_ids`` walked in SQL (the index is faster where loaded)."""
        if not event_ids:
            return set()
        result = await self.db_pool.runInteraction(
            "get_auth_chain_ids", self._get_auth_chain_ids_txn, event_ids
        )
        if include_given:
            result.update(event_ids)
        return result

    @staticmethod
    def _get_auth_chain_ids_txn(txn: LoggingTransaction, event_ids: Collection[str]) -> set[str]:
        result: set[str] = set()
        for chunk in batch_iter(event_ids):
            clause, args = in_list("event_id", chunk)
            txn.execute(_AUTH_CHAIN_SQL.format(clause=clause), args)
            result.update(r[0] for r in txn.fetchall())
        return result

    async def get_room_auth_graph(
        self, room_id: str
    ) -> list[tuple[str, str, str | None, list[str]]]:
        """Every state event of a room with its ``(event_id, type, state_key,
        auth_event_ids)``, in one query: what an auth chain index of the room is built
        from (auth chains hold only state events)."""
        return await self.db_pool.runInteraction(
            "get_room_auth_graph", self._get_room_auth_graph_txn, room_id
        )

    @staticmethod
    def _get_room_auth_graph_txn(
        txn: LoggingTransaction, room_id: str
    ) -> list[tuple[str, str, str | None, list[str]]]:
        txn.execute(
            "SELECT e.event_id, e.type, e.state_key, a.auth_id FROM events AS e"
            " LEFT JOIN event_auth AS a ON a.event_id = e.event_id"
            " WHERE e.room_id = ? AND e.state_key IS NOT NULL",
            (room_id,),
        )
        nodes: dict[str, tuple[str, str, list[str]]] = {}
        for event_id, typ, state_key, auth_id in txn.fetchall():
            node = nodes.get(event_id)
            if node is None:
                node = nodes[event_id] = (typ, state_key, [])
            if auth_id is not None:
                node[2].append(auth_id)
        return [(e, t, k, auth) for e, (t, k, auth) in nodes.items()]
