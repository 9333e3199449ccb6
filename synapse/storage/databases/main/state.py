"""Room state: state groups stored as deltas, the state at each event, and current state.

A state group is an immutable snapshot of a room's state, stored either in full or as
a delta against a previous group (``state_group_edges``). A new group is a delta unless
its previous group is already ``MAX_STATE_DELTA_HOPS`` deltas away from a full snapshot,
so that reading a group never walks a long chain. Group contents are cached whole.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING

from synapse.api.constants import EventTypes
from synapse.api.errors import NotFoundError
from synapse.storage.databases.main._events_sql import batch_iter, in_list
from synapse.storage.state_filter import StateFilter
from synapse.types import StateKey, StateMap
from synapse.util.caches.lrucache import LruCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

MAX_STATE_DELTA_HOPS = 100

_GROUP_STATE_SQL = """
WITH RECURSIVE chain(state_group, hops) AS (
    SELECT CAST(? AS BIGINT), 0
    UNION ALL
    SELECT e.prev_state_group, c.hops + 1
    FROM state_group_edges AS e INNER JOIN chain AS c ON e.state_group = c.state_group
)
SELECT s.type, s.state_key, s.event_id
FROM state_groups_state AS s INNER JOIN chain AS c ON s.state_group = c.state_group
{where}
ORDER BY c.hops DESC
"""

_CHAIN_LENGTH_SQL = """
WITH RECURSIVE chain(state_group, hops) AS (
    SELECT CAST(? AS BIGINT), 0
    UNION ALL
    SELECT e.prev_state_group, c.hops + 1
    FROM state_group_edges AS e INNER JOIN chain AS c ON e.state_group = c.state_group
)
SELECT MAX(hops) FROM chain
"""


class StateStore:
    """State groups, ``event_to_state_groups`` and ``current_state_events``."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._group_state_cache: LruCache[int, Mapping[StateKey, str]] = LruCache(1000)
        # group -> the number of delta hops from it to a full snapshot.
        self._group_hops_cache: LruCache[int, int] = LruCache(100_000)
        self._event_group_cache: LruCache[str, int] = LruCache(100_000)
        self._current_state_cache: LruCache[str, Mapping[StateKey, str]] = LruCache(5000)

    # --- state groups --------------------------------------------------------------
    async def store_state_group(
        self,
        event_id: str,
        room_id: str,
        prev_group: int | None,
        delta_ids: StateMap[str] | None,
        current_state_ids: StateMap[str] | None,
    ) -> int:
        """Store a new state group and return its ID.

        With ``prev_group`` and ``delta_ids`` the group is stored as that delta, unless the
        chain behind ``prev_group`` is too long; then ``current_state_ids`` (the full
        state, computed here if not given) is stored as a snapshot.
        """
        if prev_group is None or delta_ids is None:
            if current_state_ids is None:
                raise ValueError("A state group without a prev group needs its full state")
            prev_group, delta_ids = None, None
        hops: int | None = None
        if prev_group is not None:
            hops = self._group_hops_cache.get(prev_group)
        if current_state_ids is None and prev_group is not None:
            cached = self._group_state_cache.get(prev_group)
            if cached is not None:
                current_state_ids = {**cached, **(delta_ids or {})}
        group, new_hops, full_state = await self.db_pool.runInteraction(
            "store_state_group",
            self._store_state_group_txn,
            event_id,
            room_id,
            prev_group,
            delta_ids,
            current_state_ids,
            hops,
        )
        self._group_hops_cache.set(group, new_hops)
        if full_state is not None:
            self._group_state_cache.set(group, full_state)
        return group

    def _store_state_group_txn(
        self,
        txn: LoggingTransaction,
        event_id: str,
        room_id: str,
        prev_group: int | None,
        delta_ids: StateMap[str] | None,
        current_state_ids: StateMap[str] | None,
        prev_hops: int | None,
    ) -> tuple[int, int, Mapping[StateKey, str] | None]:
        if self.db_pool.engine.supports_sequences:
            txn.execute("SELECT nextval('state_group_id_seq')")
        else:
            txn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM state_groups")
        row = txn.fetchone()
        assert row is not None
        group = int(row[0])
        txn.execute(
            "INSERT INTO state_groups (id, room_id, event_id) VALUES (?, ?, ?)",
            (group, room_id, event_id),
        )

        if prev_group is not None and delta_ids is not None:
            if prev_hops is None:
                txn.execute(_CHAIN_LENGTH_SQL, (prev_group,))
                r = txn.fetchone()
                prev_hops = int(r[0]) if r and r[0] is not None else 0
            if prev_hops + 1 < MAX_STATE_DELTA_HOPS:
                txn.execute(
                    "INSERT INTO state_group_edges (state_group, prev_state_group) VALUES (?, ?)",
                    (group, prev_group),
                )
                self._insert_group_rows_txn(txn, group, room_id, delta_ids)
                return group, prev_hops + 1, current_state_ids
            if current_state_ids is None:
                current_state_ids = {
                    **self._load_group_state_txn(txn, prev_group, None),
                    **delta_ids,
                }

        assert current_state_ids is not None
        self._insert_group_rows_txn(txn, group, room_id, current_state_ids)
        return group, 0, current_state_ids

    @staticmethod
    def _insert_group_rows_txn(
        txn: LoggingTransaction, group: int, room_id: str, state: StateMap[str]
    ) -> None:
        if not state:
            return
        txn.execute_batch(
            "INSERT INTO state_groups_state (state_group, room_id, type, state_key, event_id) VALUES (?, ?, ?, ?, ?)",
            [(group, room_id, typ, sk, ev) for (typ, sk), ev in state.items()],
        )

    def _load_group_state_txn(
        self, txn: LoggingTransaction, group: int, types: Collection[str] | None
    ) -> dict[StateKey, str]:
        where, args = "", [group]
        if types is not None:
            clause, type_args = in_list("s.type", list(types))
            where, args = f"WHERE {clause}", args + type_args
        txn.execute(_GROUP_STATE_SQL.format(where=where), args)
        state: dict[StateKey, str] = {}
        for typ, state_key, event_id in txn.fetchall():
            state[(typ, state_key)] = event_id
        return state

    async def get_state_ids_for_group(
        self, state_group: int, state_filter: StateFilter | None = None
    ) -> dict[StateKey, str]:
        """The state of a group (deltas resolved), filtered."""
        groups = await self.get_state_ids_for_groups([state_group], state_filter)
        return groups[state_group]

    async def get_state_ids_for_groups(
        self, state_groups: Iterable[int], state_filter: StateFilter | None = None
    ) -> dict[int, dict[StateKey, str]]:
        """The state of each group, filtered: one query per group not already cached."""
        state_filter = state_filter or StateFilter.all()
        out: dict[int, dict[StateKey, str]] = {}
        missing: list[int] = []
        for group in dict.fromkeys(state_groups):
            cached = self._group_state_cache.get(group)
            if cached is not None:
                out[group] = state_filter.filter_state(cached)
            else:
                missing.append(group)
        if not missing:
            return out
        # A filter on types alone is pushed into SQL (and the result not cached).
        types: Collection[str] | None = None
        if not state_filter.include_others and state_filter.types:
            types = list(state_filter.types)
        loaded = await self.db_pool.runInteraction(
            "get_state_ids_for_groups", self._load_groups_txn, missing, types
        )
        for group, state in loaded.items():
            if types is None:
                self._group_state_cache.set(group, state)
            out[group] = state_filter.filter_state(state)
        return out

    def _load_groups_txn(
        self, txn: LoggingTransaction, groups: list[int], types: Collection[str] | None
    ) -> dict[int, dict[StateKey, str]]:
        return {g: self._load_group_state_txn(txn, g, types) for g in groups}

    async def get_state_group_delta(
        self, state_group: int
    ) -> tuple[int | None, dict[StateKey, str] | None]:
        """``(prev_group, delta)`` if the group is stored as a delta, else ``(None, None)``."""
        return await self.db_pool.runInteraction(
            "get_state_group_delta", self._get_state_group_delta_txn, state_group
        )

    def _get_state_group_delta_txn(
        self, txn: LoggingTransaction, state_group: int
    ) -> tuple[int | None, dict[StateKey, str] | None]:
        txn.execute(
            "SELECT prev_state_group FROM state_group_edges WHERE state_group = ?", (state_group,)
        )
        row = txn.fetchone()
        if row is None:
            return None, None
        txn.execute(
            "SELECT type, state_key, event_id FROM state_groups_state WHERE state_group = ?",
            (state_group,),
        )
        return int(row[0]), {(t, k): e for t, k, e in txn.fetchall()}

    # --- the state at events ---------------------------------------------------------
    async def get_state_group_for_events(self, event_ids: Collection[str]) -> dict[str, int]:
        """The state group of the state after each event (events without one are left out)."""
        found = self._event_group_cache.get_many(event_ids)
        missing = [e for e in event_ids if e not in found]
        if missing:
            loaded = await self.db_pool.runInteraction(
                "get_state_group_for_events", self._get_state_group_for_events_txn, missing
            )
            for event_id, group in loaded.items():
                self._event_group_cache.set(event_id, group)
            found.update(loaded)
        return found

    @staticmethod
    def _get_state_group_for_events_txn(
        txn: LoggingTransaction, event_ids: Collection[str]
    ) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in batch_iter(event_ids):
            clause, args = in_list("event_id", chunk)
            txn.execute(
                f"SELECT event_id, state_group FROM event_to_state_groups WHERE {clause}", args
            )
            out.update((e, int(g)) for e, g in txn.fetchall())
        return out

    async def get_state_ids_for_event(
        self, event_id: str, state_filter: StateFilter | None = None
    ) -> dict[StateKey, str]:
        """The room state after ``event_id`` (including it, for a state event)."""
        groups = await self.get_state_group_for_events([event_id])
        group = groups.get(event_id)
        if group is None:
            raise NotFoundError(f"No state for event {event_id}")
        return await self.get_state_ids_for_group(group, state_filter)

    async def get_state_ids_for_events(
        self, event_ids: Collection[str], state_filter: StateFilter | None = None
    ) -> dict[str, dict[StateKey, str]]:
        """The room state after each event, for those events that have one."""
        groups = await self.get_state_group_for_events(event_ids)
        states = await self.get_state_ids_for_groups(set(groups.values()), state_filter)
        return {event_id: states[group] for event_id, group in groups.items()}

    def store_event_state_groups_txn(
        self, txn: LoggingTransaction, event_to_group: Mapping[str, int]
    ) -> None:
        """Record the state group after each event (within the persist transaction)."""
        if not event_to_group:
            return
        txn.execute_batch(
            "INSERT INTO event_to_state_groups (event_id, state_group) VALUES (?, ?)",
            list(event_to_group.items()),
        )
        txn.call_after(self._cache_event_groups, dict(event_to_group))

    def _cache_event_groups(self, event_to_group: Mapping[str, int]) -> None:
        for event_id, group in event_to_group.items():
            self._event_group_cache.set(event_id, group)

    # --- current state -----------------------------------------------------------------
    async def get_current_state_ids(
        self, room_id: str, state_filter: StateFilter | None = None
    ) -> dict[StateKey, str]:
        """The room's current state (the resolved state of its forward extremities)."""
        state_filter = state_filter or StateFilter.all()
        cached = self._current_state_cache.get(room_id)
        if cached is None:
            cached = await self.db_pool.runInteraction(
                "get_current_state_ids", self._get_current_state_ids_txn, room_id
            )
            self._current_state_cache.set(room_id, cached)
        return state_filter.filter_state(cached)

    @staticmethod
    def _get_current_state_ids_txn(txn: LoggingTransaction, room_id: str) -> dict[StateKey, str]:
        txn.execute(
            "SELECT type, state_key, event_id FROM current_state_events WHERE room_id = ?",
            (room_id,),
        )
        return {(t, k): e for t, k, e in txn.fetchall()}

    async def get_current_state_event_id(
        self, room_id: str, event_type: str, state_key: str
    ) -> str | None:
        state = await self.get_current_state_ids(
            room_id, StateFilter.from_types([(event_type, state_key)])
        )
        return state.get((event_type, state_key))

    def update_current_state_txn(
        self,
        txn: LoggingTransaction,
        room_id: str,
        to_delete: Collection[StateKey],
        to_insert: Mapping[StateKey, str],
        memberships: Mapping[str, str],
    ) -> None:
        """Apply a delta to ``current_state_events``; ``memberships`` gives the membership
        of each inserted ``m.room.member`` event by event ID."""
        keys = list(set(to_delete) | set(to_insert))
        if keys:
            txn.execute_batch(
                "DELETE FROM current_state_events WHERE room_id = ? AND type = ? AND state_key = ?",
                [(room_id, t, k) for t, k in keys],
            )
        if to_insert:
            txn.execute_batch(
                "INSERT INTO current_state_events (event_id, room_id, type, state_key, membership) VALUES (?, ?, ?, ?, ?)",
                [
                    (ev, room_id, t, k, memberships.get(ev) if t == EventTypes.Member else None)
                    for (t, k), ev in to_insert.items()
                ],
            )
        txn.call_after(self._current_state_cache.invalidate, room_id)

    def invalidate_current_state(self, room_id: str) -> None:
        self._current_state_cache.invalidate(room_id)
