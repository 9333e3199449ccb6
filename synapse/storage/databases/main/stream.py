"""Reading the room event stream: live (by stream ordering) and paginated (by topology).

Live reads (``/sync``) are bounded by stream orderings; ``/messages`` pages through one
room in ``(topological_ordering, stream_ordering)`` order. A ``StreamChangeCache`` of
rooms answers "did this room change since N" from memory.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attr

from synapse.events import EventBase
from synapse.storage.databases.main._events_sql import batch_iter, in_list
from synapse.storage.util.id_generators import AbstractStreamIdGenerator, StreamIdGenerator
from synapse.types import RoomStreamToken
from synapse.util.caches.stream_change_cache import StreamChangeCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction
    from synapse.storage.databases.main.events_worker import EventsWorkerStore


class EventFilterLike(Protocol):
    """What pagination reads from an event filter (``synapse.api.filtering.Filter``):
    any of ``types``, ``not_types``, ``senders``, ``not_senders`` (lists, ``*`` wildcards
    in types) and ``contains_url`` (bool or None) that it has."""


@attr.s(slots=True, frozen=True, auto_attribs=True)
class PaginationChunk:
    events: list[EventBase]
    # Where the next page starts (the same as the request's token if nothing was returned).
    next_token: RoomStreamToken


def _filter_clause(event_filter: object | None) -> tuple[str, list[Any]]:
    """SQL conditions (``AND ...``) for the parts of a filter that map onto columns."""
    if event_filter is None:
        return "", []
    clauses: list[str] = []
    args: list[Any] = []

    def type_match(pattern: str) -> tuple[str, str]:
        if "*" in pattern:
            return "type LIKE ? ESCAPE '\\'", pattern.replace("%", "\\%").replace(
                "_", "\\_"
            ).replace("*", "%")
        return "type = ?", pattern

    types = getattr(event_filter, "types", None)
    if types is not None:
        if not types:
            clauses.append("1 = 0")
        else:
            parts = [type_match(t) for t in types]
            clauses.append("(" + " OR ".join(p[0] for p in parts) + ")")
            args.extend(p[1] for p in parts)
    for t in getattr(event_filter, "not_types", None) or ():
        cond, arg = type_match(t)
        clauses.append(f"NOT {cond}")
        args.append(arg)
    senders = getattr(event_filter, "senders", None)
    if senders is not None:
        if not senders:
            clauses.append("1 = 0")
        else:
            clause, sargs = in_list("sender", list(senders))
            clauses.append(clause)
            args.extend(sargs)
    not_senders = getattr(event_filter, "not_senders", None)
    if not_senders:
        clause, sargs = in_list("sender", list(not_senders))
        clauses.append(f"NOT {clause}")
        args.extend(sargs)
    contains_url = getattr(event_filter, "contains_url", None)
    if contains_url is not None:
        clauses.append("contains_url = ?")
        args.append(1 if contains_url else 0)
    if not clauses:
        return "", []
    return " AND " + " AND ".join(clauses), args


class StreamStore:
    """Positions and reads of the room event stream."""

    def __init__(
        self, database: DatabasePool, hs: HomeServer, events_store: EventsWorkerStore
    ) -> None:
        self.db_pool = database
        self.hs = hs
        self._events = events_store
        self._stream_id_gen = StreamIdGenerator(
            None, database, "events", "stream_ordering", "events_stream_seq"
        )
        # Backfilled history goes below zero, newest first: -1, -2, ...
        self._backfill_id_gen = StreamIdGenerator(
            None, database, "events", "stream_ordering", "events_backfill_stream_seq", step=-1
        )
        self._room_change_cache = StreamChangeCache(
            "room_events", self._stream_id_gen.get_current_token()
        )

    # --- positions -----------------------------------------------------------------
    @property
    def stream_id_generator(self) -> AbstractStreamIdGenerator:
        """Hands out the stream orderings of new live events (the persistence queue's)."""
        return self._stream_id_gen

    @property
    def backfill_stream_id_generator(self) -> AbstractStreamIdGenerator:
        return self._backfill_id_gen

    def get_room_max_stream_ordering(self) -> int:
        """The highest stream ordering below which every event has been persisted."""
        return self._stream_id_gen.get_current_token()

    def get_room_max_token(self) -> RoomStreamToken:
        return RoomStreamToken(stream=self.get_room_max_stream_ordering())

    def room_events_changed(self, room_id: str, stream_ordering: int) -> None:
        self._room_change_cache.entity_has_changed(room_id, stream_ordering)

    def get_rooms_that_changed(
        self, room_ids: Collection[str], from_key: RoomStreamToken
    ) -> set[str]:
        """The rooms among ``room_ids`` that may have new events after ``from_key``."""
        return self._room_change_cache.get_entities_changed(room_ids, from_key.stream)

    # --- live reads --------------------------------------------------------------------
    async def get_room_events_stream_for_rooms(
        self,
        room_ids: Collection[str],
        from_key: RoomStreamToken,
        to_key: RoomStreamToken,
        limit: int = 0,
    ) -> dict[str, tuple[list[EventBase], RoomStreamToken]]:
        """For each room, its newest ``limit`` events in ``(from_key, to_key]`` in ascending
        stream order, and the token just before the first of them (a ``prev_batch``).

        Rooms that surely did not change are answered from memory without a query.
        """
        changed = self.get_rooms_that_changed(room_ids, from_key)
        results: dict[str, tuple[list[EventBase], RoomStreamToken]] = {
            r: ([], from_key) for r in room_ids
        }
        if not changed or from_key.stream >= to_key.stream:
            return results
        rows = await self.db_pool.runInteraction(
            "get_room_events_stream_for_rooms",
            self._get_room_events_stream_txn,
            sorted(changed),
            from_key.stream,
            to_key.stream,
            limit,
        )
        events = await self._events.get_events([r[1] for r in rows])
        by_room: dict[str, list[tuple[int, str]]] = {}
        for room_id, event_id, stream in rows:
            by_room.setdefault(room_id, []).append((stream, event_id))
        for room_id, items in by_room.items():
            items.sort()
            evs = [events[e] for _, e in items if e in events]
            start = (
                RoomStreamToken(stream=items[0][0] - 1)
                if limit and len(items) >= limit
                else from_key
            )
            results[room_id] = (evs, start)
        return results

    @staticmethod
    def _get_room_events_stream_txn(
        txn: LoggingTransaction, room_ids: list[str], from_stream: int, to_stream: int, limit: int
    ) -> list[tuple[str, str, int]]:
        out: list[tuple[str, str, int]] = []
        for chunk in batch_iter(room_ids, 200):
            clause, args = in_list("room_id", chunk)
            if limit:
                # The newest ``limit`` events of each room in one query.
                txn.execute(
                    "SELECT room_id, event_id, stream_ordering FROM ("
                    " SELECT room_id, event_id, stream_ordering, ROW_NUMBER() OVER"
                    " (PARTITION BY room_id ORDER BY stream_ordering DESC) AS rn"
                    f" FROM events WHERE {clause} AND stream_ordering > ? AND stream_ordering <= ?"
                    " AND outlier = 0 AND soft_failed = 0 AND rejected_reason IS NULL"
                    ") AS recent WHERE rn <= ?",
                    [*args, from_stream, to_stream, limit],
                )
            else:
                txn.execute(
                    "SELECT room_id, event_id, stream_ordering FROM events"
                    f" WHERE {clause} AND stream_ordering > ? AND stream_ordering <= ?"
                    " AND outlier = 0 AND soft_failed = 0 AND rejected_reason IS NULL",
                    [*args, from_stream, to_stream],
                )
            out.extend((r[0], r[1], int(r[2])) for r in txn.fetchall())
        return out

    async def get_room_events_stream_for_room(
        self, room_id: str, from_key: RoomStreamToken, to_key: RoomStreamToken, limit: int = 0
    ) -> tuple[list[EventBase], RoomStreamToken]:
        results = await self.get_room_events_stream_for_rooms([room_id], from_key, to_key, limit)
        return results[room_id]

    # --- per-room reads in one transaction (``/sync``) ---------------------------------
    async def get_recent_event_ids_for_rooms(
        self, ranges: Mapping[str, tuple[int | None, int]], limit: int
    ) -> dict[str, list[tuple[str, int]]]:
        """For each room, ``(event_id, stream_ordering)`` of its newest ``limit`` events
        with a stream ordering in ``(from, to]`` (``from`` None: from the beginning,
        backfilled history included), in ascending order.

        One indexed ``LIMIT`` query per room, several rooms per statement, all in one
        transaction: the cost follows ``limit``, not the rooms' history.
        """
        if not ranges or limit <= 0:
            return {}
        return await self.db_pool.runInteraction(
            "get_recent_event_ids_for_rooms",
            self._get_recent_event_ids_txn,
            sorted(ranges.items()),
            limit,
        )

    @staticmethod
    def _get_recent_event_ids_txn(
        txn: LoggingTransaction, ranges: list[tuple[str, tuple[int | None, int]]], limit: int
    ) -> dict[str, list[tuple[str, int]]]:
        out: dict[str, list[tuple[str, int]]] = {}
        for chunk in batch_iter(ranges, 50):
            parts: list[str] = []
            args: list[Any] = []
            for i, (room_id, (from_stream, to_stream)) in enumerate(chunk):
                lower = "" if from_stream is None else " AND stream_ordering > ?"
                parts.append(
                    "SELECT * FROM (SELECT room_id, event_id, stream_ordering FROM events"
                    " WHERE room_id = ? AND stream_ordering <= ?" + lower + " AND outlier = 0"
                    " AND soft_failed = 0 AND rejected_reason IS NULL"
                    f" ORDER BY stream_ordering DESC LIMIT ?) AS r{i}"
                )
                args += [room_id, to_stream]
                if from_stream is not None:
                    args.append(from_stream)
                args.append(limit)
            txn.execute(" UNION ALL ".join(parts), args)
            for room_id, event_id, stream in txn.fetchall():
                out.setdefault(room_id, []).append((event_id, int(stream)))
        for rows in out.values():
            rows.sort(key=lambda r: r[1])
        return out

    async def get_last_event_ids_in_rooms(
        self, room_ids: Collection[str], stream: int
    ) -> dict[str, str]:
        """For each room, its last event at or before live position ``stream`` (whose
        state after is the room's state at that position); rooms with none are left out."""
        ranges: dict[str, tuple[int | None, int]] = {r: (None, stream) for r in room_ids}
        rows = await self.get_recent_event_ids_for_rooms(ranges, 1)
        return {room_id: events[-1][0] for room_id, events in rows.items() if events}

    async def get_state_keys_changed_in_rooms(
        self, ranges: Mapping[str, tuple[int, int]]
    ) -> dict[str, set[tuple[str, str]]]:
        """For each room, the ``(type, state_key)`` of its state events with a stream
        ordering in ``(from, to)`` (both ends excluded): what may differ between the
        state at ``from`` and the state just before ``to``."""
        if not ranges:
            return {}
        return await self.db_pool.runInteraction(
            "get_state_keys_changed_in_rooms",
            self._get_state_keys_changed_txn,
            sorted(ranges.items()),
        )

    @staticmethod
    def _get_state_keys_changed_txn(
        txn: LoggingTransaction, ranges: list[tuple[str, tuple[int, int]]]
    ) -> dict[str, set[tuple[str, str]]]:
        out: dict[str, set[tuple[str, str]]] = {}
        for room_id, (from_stream, to_stream) in ranges:
            txn.execute(
                "SELECT DISTINCT type, state_key FROM events WHERE room_id = ?"
                " AND stream_ordering > ? AND stream_ordering < ? AND state_key IS NOT NULL"
                " AND outlier = 0 AND rejected_reason IS NULL",
                (room_id, from_stream, to_stream),
            )
            keys = {(t, k) for t, k in txn.fetchall()}
            if keys:
                out[room_id] = keys
        return out

    async def get_last_event_id_in_room_before_stream_ordering(
        self, room_id: str, end_stream: int
    ) -> str | None:
        """The room's last event at or before live position ``end_stream`` (the state
        after it is the room's state at that position), or None."""
        rows = await self.db_pool.execute(
            "get_last_event_id_in_room_before_stream_ordering",
            "SELECT event_id FROM events WHERE room_id = ? AND stream_ordering <= ?"
            " AND outlier = 0 AND soft_failed = 0 AND stream_ordering > 0"
            " ORDER BY stream_ordering DESC LIMIT 1",
            room_id,
            end_stream,
        )
        return rows[0][0] if rows else None

    # --- pagination ------------------------------------------------------------------
    async def get_topological_token_for_stream(self, room_id: str, stream: int) -> RoomStreamToken:
        """The pagination position in a room matching live position ``s<stream>``."""
        row = await self.db_pool.execute(
            "get_topological_token_for_stream",
            "SELECT topological_ordering FROM events WHERE room_id = ? AND stream_ordering <= ?"
            " AND outlier = 0 ORDER BY topological_ordering DESC, stream_ordering DESC LIMIT 1",
            room_id,
            stream,
        )
        topo = int(row[0][0]) if row else 0
        return RoomStreamToken(stream=stream, topological=topo)

    async def get_topological_token_for_event(self, event_id: str) -> RoomStreamToken:
        """The pagination position of an event (just after it)."""
        row = await self.db_pool.simple_select_one(
            "events",
            {"event_id": event_id},
            ("topological_ordering", "stream_ordering"),
            desc="get_topo_token",
        )
        assert row is not None
        return RoomStreamToken(stream=int(row[1]), topological=int(row[0]))

    async def paginate_room_events(
        self,
        room_id: str,
        from_key: RoomStreamToken,
        to_key: RoomStreamToken | None = None,
        direction: str = "b",
        limit: int = 10,
        event_filter: object | None = None,
    ) -> tuple[list[EventBase], RoomStreamToken]:
        """A page of the room's events from ``from_key`` towards ``to_key`` in
        ``(topological, stream)`` order, newest first for ``direction="b"``; and the token
        where the next page starts.

        A token ``(t, s)`` is the point just after the event at ``(t, s)``: going back
        returns events at or before it, going forward events after it. A live ``s`` token
        is placed in the room's topology first.
        """
        if from_key.topological is None:
            from_key = await self.get_topological_token_for_stream(room_id, from_key.stream)
        if to_key is not None and to_key.topological is None:
            to_key = await self.get_topological_token_for_stream(room_id, to_key.stream)
        rows = await self.db_pool.runInteraction(
            "paginate_room_events",
            self._paginate_txn,
            room_id,
            from_key,
            to_key,
            direction,
            limit,
            event_filter,
        )
        events = await self._events.get_events_as_list([r[0] for r in rows])
        if rows:
            _, topo, stream = rows[-1]
            next_token = (
                RoomStreamToken(stream=stream - 1, topological=topo)
                if direction == "b"
                else RoomStreamToken(stream=stream, topological=topo)
            )
        else:
            next_token = to_key if to_key is not None else from_key
        return events, next_token

    @staticmethod
    def _paginate_txn(
        txn: LoggingTransaction,
        room_id: str,
        from_key: RoomStreamToken,
        to_key: RoomStreamToken | None,
        direction: str,
        limit: int,
        event_filter: object | None,
    ) -> list[tuple[str, int, int]]:
        assert from_key.topological is not None
        args: list[Any] = [room_id]
        if direction == "b":
            bound = (
                "(topological_ordering < ? OR (topological_ordering = ? AND stream_ordering <= ?))"
            )
            args += [from_key.topological, from_key.topological, from_key.stream]
            if to_key is not None:
                bound += " AND (topological_ordering > ? OR (topological_ordering = ? AND stream_ordering > ?))"
                args += [to_key.topological, to_key.topological, to_key.stream]
            order = "DESC"
        else:
            bound = (
                "(topological_ordering > ? OR (topological_ordering = ? AND stream_ordering > ?))"
            )
            args += [from_key.topological, from_key.topological, from_key.stream]
            if to_key is not None:
                bound += " AND (topological_ordering < ? OR (topological_ordering = ? AND stream_ordering <= ?))"
                args += [to_key.topological, to_key.topological, to_key.stream]
            order = "ASC"
        filter_sql, filter_args = _filter_clause(event_filter)
        txn.execute(
            "SELECT event_id, topological_ordering, stream_ordering FROM events"
            f" WHERE room_id = ? AND outlier = 0 AND soft_failed = 0 AND rejected_reason IS NULL AND {bound}{filter_sql}"
            f" ORDER BY topological_ordering {order}, stream_ordering {order} LIMIT ?",
            [*args, *filter_args, limit],
        )
        return [(r[0], int(r[1]), int(r[2])) for r in txn.fetchall()]

    # --- transaction IDs -----------------------------------------------------------
    async def get_event_id_for_txn(
        self, room_id: str, user_id: str, device_id: str, txn_id: str
    ) -> str | None:
        """The event a client already sent with this transaction ID, if any."""
        return await self.db_pool.simple_select_one_onecol(
            "event_txn_id",
            {"room_id": room_id, "user_id": user_id, "device_id": device_id, "txn_id": txn_id},
            "event_id",
            allow_none=True,
            desc="get_event_id_for_txn",
        )
