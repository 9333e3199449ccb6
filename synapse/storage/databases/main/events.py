"""The event persistence transaction: one batch of one room's events, written at once.

The persistence queue (``synapse/persistence/queue.py``) computes everything that needs
state resolution beforehand (the state groups of the events, the new forward
extremities, the delta to current state) and hands it here; this module only writes, in
one transaction and with one ``executemany`` per table, and schedules the cache
invalidations that the writes call for after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import attr

from synapse.api.constants import EventTypes
from synapse.events import EventBase
from synapse.storage.databases.main._events_sql import batch_iter, encode_json, in_list
from synapse.storage.databases.main.relations import RelationsStore
from synapse.types import StateKey

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction
    from synapse.storage.databases.main.event_federation import EventFederationStore
    from synapse.storage.databases.main.events_worker import EventsWorkerStore
    from synapse.storage.databases.main.roommember import RoomMemberStore
    from synapse.storage.databases.main.state import StateStore
    from synapse.storage.databases.main.stream import StreamStore


@attr.s(slots=True, auto_attribs=True)
class CurrentStateDelta:
    """How a batch changes a room's current state."""

    to_delete: list[StateKey] = attr.Factory(list)
    to_insert: dict[StateKey, str] = attr.Factory(dict)

    def is_empty(self) -> bool:
        return not self.to_delete and not self.to_insert


@attr.s(slots=True, auto_attribs=True)
class PersistBatch:
    """Everything the transaction writes for one batch of one room's events.

    ``events`` already carry their stream orderings in ``internal_metadata`` (and their
    rejection in ``rejected_reason``).
    """

    room_id: str
    events: list[EventBase]
    backfilled: bool
    # The state group after each non-outlier event.
    state_groups: dict[str, int]
    partial_state_event_ids: set[str] = attr.Factory(set)
    # Forward extremities to remove and add (None: leave them alone, e.g. backfill).
    forward_extremities_delta: tuple[set[str], set[str]] | None = None
    new_forward_extremities: set[str] | None = None
    # Events known to be stored as non-outliers (so not backward extremities).
    known_prev_events: set[str] = attr.Factory(set)
    current_state_delta: CurrentStateDelta | None = None
    # Events that were stored as outliers and are now persisted in full.
    de_outliered: set[str] = attr.Factory(set)
    # More writes of other domains for the same transaction (e.g. push actions), run last.
    extra_writes: list[Callable[[LoggingTransaction], None]] = attr.Factory(list)


class PersistEventsStore:
    """Writes batches of events across the event tables of the other event stores."""

    def __init__(
        self,
        database: DatabasePool,
        hs: HomeServer,
        events_store: EventsWorkerStore,
        state_store: StateStore,
        member_store: RoomMemberStore,
        federation_store: EventFederationStore,
        stream_store: StreamStore,
    ) -> None:
        self.db_pool = database
        self.hs = hs
        self._clock = hs.get_clock()
        self._instance_name = "master"
        self._events = events_store
        self._state = state_store
        self._members = member_store
        self._federation = federation_store
        self._stream = stream_store

    async def get_persisted_outlier_status(self, event_ids: Collection[str]) -> dict[str, bool]:
        """For the events of ``event_ids`` already stored: whether each is an outlier."""
        return await self.db_pool.runInteraction(
            "get_persisted_outlier_status", self._outlier_status_txn, event_ids
        )

    @staticmethod
    def _outlier_status_txn(txn: LoggingTransaction, event_ids: Collection[str]) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for chunk in batch_iter(event_ids):
            clause, args = in_list("event_id", chunk)
            txn.execute(f"SELECT event_id, outlier FROM events WHERE {clause}", args)
            out.update((e, bool(o)) for e, o in txn.fetchall())
        return out

    async def get_batch_prerequisites(
        self, event_ids: Collection[str]
    ) -> tuple[dict[str, bool], set[str]]:
        """In one transaction: which of ``event_ids`` are stored (and whether as outliers),
        and which a stored non-outlier event cites as a prev event."""
        return await self.db_pool.runInteraction(
            "get_batch_prerequisites", self._batch_prerequisites_txn, event_ids
        )

    def _batch_prerequisites_txn(
        self, txn: LoggingTransaction, event_ids: Collection[str]
    ) -> tuple[dict[str, bool], set[str]]:
        return (
            self._outlier_status_txn(txn, event_ids),
            self._federation._get_events_referenced_as_prev_txn(txn, event_ids),
        )

    async def get_min_stream_ordering(self) -> int:
        rows = await self.db_pool.execute(
            "get_min_stream_ordering", "SELECT MIN(stream_ordering) FROM events"
        )
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    async def persist_batch(self, batch: PersistBatch) -> None:
        """Write the batch in one transaction; nothing of it is written if any part fails."""
        await self.db_pool.runInteraction("persist_events", self._persist_batch_txn, batch)

    # --- the transaction -------------------------------------------------------------
    def _persist_batch_txn(self, txn: LoggingTransaction, batch: PersistBatch) -> None:
        room_id = batch.room_id
        events = batch.events
        now = self._clock.time_msec()
        if batch.de_outliered:
            self._delete_outlier_rows_txn(txn, batch.de_outliered)

        self._insert_events_txn(txn, events, now)
        self._insert_graph_txn(txn, room_id, events, batch.known_prev_events)

        accepted = [e for e in events if not e.rejected_reason]
        self._state.store_event_state_groups_txn(
            txn,
            {
                e.event_id: batch.state_groups[e.event_id]
                for e in events
                if e.event_id in batch.state_groups
            },
        )
        if batch.partial_state_event_ids:
            txn.execute_batch(
                "INSERT INTO partial_state_events (event_id, room_id) VALUES (?, ?)",
                [(e, room_id) for e in batch.partial_state_event_ids],
            )
        if batch.forward_extremities_delta is not None:
            to_delete, to_insert = batch.forward_extremities_delta
            self._federation.update_forward_extremities_txn(
                txn, room_id, to_delete, to_insert, batch.new_forward_extremities
            )

        member_events = [e for e in accepted if e.type == EventTypes.Member and e.is_state()]
        self._members.store_membership_events_txn(txn, member_events)
        changed_users = {e.state_key for e in member_events}
        if batch.current_state_delta is not None and not batch.current_state_delta.is_empty():
            changed_users |= self._update_current_state_txn(
                txn, room_id, batch.current_state_delta, events
            )
        self._update_out_of_band_memberships_txn(txn, room_id, member_events)
        if changed_users:
            self._members.invalidate_membership_caches_txn(txn, room_id, changed_users)

        redacted = self._store_redactions_txn(txn, accepted, now)
        self._store_relations_txn(txn, accepted)
        RelationsStore.update_threads_txn(txn, accepted)
        self._store_txn_ids_txn(txn, events, now)
        for write in batch.extra_writes:
            write(txn)

        invalidate = [e.event_id for e in events] + redacted
        txn.call_after(self._events.invalidate_events, invalidate)
        if not batch.backfilled:
            live = [e for e in events if not e.internal_metadata.is_outlier()]
            if live:
                max_stream = max(e.internal_metadata.stream_ordering or 0 for e in live)
                txn.call_after(self._stream.room_events_changed, room_id, max_stream)

    def _delete_outlier_rows_txn(self, txn: LoggingTransaction, event_ids: Collection[str]) -> None:
        for table in (
            "events",
            "event_json",
            "event_edges",
            "event_auth",
            "room_memberships",
            "redactions",
            "event_relations",
        ):
            txn.execute_batch(f"DELETE FROM {table} WHERE event_id = ?", [(e,) for e in event_ids])

    def _insert_events_txn(
        self, txn: LoggingTransaction, events: Sequence[EventBase], now: int
    ) -> None:
        event_rows: list[tuple[Any, ...]] = []
        json_rows: list[tuple[Any, ...]] = []
        for event in events:
            meta = event.internal_metadata
            content = event.content
            url = content.get("url") if isinstance(content, dict) else None
            event_rows.append(
                (
                    meta.stream_ordering,
                    event.depth,
                    event.event_id,
                    event.room_id,
                    event.type,
                    event.get_state_key(),
                    event.sender,
                    1 if isinstance(url, str) else 0,
                    1 if meta.is_outlier() else 0,
                    1 if meta.soft_failed else 0,
                    event.rejected_reason,
                    event.origin_server_ts,
                    now,
                    self._instance_name,
                )
            )
            d = event.get_dict()
            unsigned = d.get("unsigned") or {}
            if "redacted_because" in unsigned:
                d["unsigned"] = {k: v for k, v in unsigned.items() if k != "redacted_because"}
            json_rows.append(
                (
                    event.event_id,
                    event.room_id,
                    event.room_version.identifier,
                    encode_json(meta.get_dict()),
                    encode_json(d),
                    event.format_version,
                )
            )
        txn.execute_batch(
            "INSERT INTO events (stream_ordering, topological_ordering, event_id, room_id, type, state_key,"
            " sender, contains_url, outlier, soft_failed, rejected_reason, origin_server_ts, received_ts,"
            " instance_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            event_rows,
        )
        txn.execute_batch(
            "INSERT INTO event_json (event_id, room_id, room_version, internal_metadata, json, format_version)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            json_rows,
        )

    def _insert_graph_txn(
        self,
        txn: LoggingTransaction,
        room_id: str,
        events: Sequence[EventBase],
        known_prev_events: Collection[str],
    ) -> None:
        edges = [
            (e.event_id, p, room_id) for e in events for p in dict.fromkeys(e.prev_event_ids())
        ]
        auth = [(e.event_id, a, room_id) for e in events for a in dict.fromkeys(e.auth_event_ids())]
        if edges:
            txn.execute_batch(
                "INSERT INTO event_edges (event_id, prev_event_id, room_id) VALUES (?, ?, ?)", edges
            )
        if auth:
            txn.execute_batch(
                "INSERT INTO event_auth (event_id, auth_id, room_id) VALUES (?, ?, ?)", auth
            )

        # Backward extremities: prev events of non-outliers that we do not hold.
        new_ids = [e.event_id for e in events]
        txn.execute_batch(
            "DELETE FROM event_backward_extremities WHERE room_id = ? AND event_id = ?",
            [(room_id, e) for e in new_ids],
        )
        prevs = {
            p for e in events if not e.internal_metadata.is_outlier() for p in e.prev_event_ids()
        }
        prevs -= set(new_ids)
        prevs -= set(known_prev_events)
        if not prevs:
            return
        known: set[str] = set()
        for chunk in batch_iter(prevs):
            clause, args = in_list("event_id", chunk)
            txn.execute(f"SELECT event_id FROM events WHERE {clause} AND outlier = 0", args)
            known.update(r[0] for r in txn.fetchall())
        missing = prevs - known
        if missing:
            txn.execute_batch(
                "INSERT INTO event_backward_extremities (event_id, room_id) VALUES (?, ?)"
                " ON CONFLICT (room_id, event_id) DO NOTHING",
                [(e, room_id) for e in sorted(missing)],
            )

    def _update_current_state_txn(
        self,
        txn: LoggingTransaction,
        room_id: str,
        delta: CurrentStateDelta,
        events: Sequence[EventBase],
    ) -> set[str]:
        """Apply the delta to current state and to local users' current memberships;
        return the users whose membership changed."""
        by_id = {e.event_id: e for e in events}
        member_ids = [ev for (t, _), ev in delta.to_insert.items() if t == EventTypes.Member]
        memberships: dict[str, str] = {}
        positions: dict[str, int] = {}
        for ev in member_ids:
            event = by_id.get(ev)
            if event is not None:
                memberships[ev] = event.content.get("membership", "")
                positions[ev] = event.internal_metadata.stream_ordering or 0
        unknown = [ev for ev in member_ids if ev not in memberships]
        for chunk in batch_iter(unknown):
            clause, args = in_list("m.event_id", chunk)
            txn.execute(
                "SELECT m.event_id, m.membership, m.event_stream_ordering FROM room_memberships AS m"
                f" WHERE {clause}",
                args,
            )
            for ev, membership, stream in txn.fetchall():
                memberships[ev] = membership
                positions[ev] = int(stream)
        self._state.update_current_state_txn(
            txn, room_id, delta.to_delete, delta.to_insert, memberships
        )

        changed: set[str] = set()
        local_changes: list[tuple[str, str | None, str | None, int | None]] = []
        for t, state_key in delta.to_delete:
            if t == EventTypes.Member:
                changed.add(state_key)
                if self.hs.is_mine_id(state_key) and (t, state_key) not in delta.to_insert:
                    local_changes.append((state_key, None, None, None))
        for (t, state_key), ev in delta.to_insert.items():
            if t != EventTypes.Member:
                continue
            changed.add(state_key)
            if self.hs.is_mine_id(state_key) and ev in memberships:
                local_changes.append((state_key, ev, memberships[ev], positions[ev]))
        self._members.update_local_current_membership_txn(txn, room_id, local_changes)
        return changed

    def _update_out_of_band_memberships_txn(
        self, txn: LoggingTransaction, room_id: str, member_events: Sequence[EventBase]
    ) -> None:
        """Remote invites (and our replies to them) of local users, for rooms we are not in."""
        changes = [
            (
                e.state_key,
                e.event_id,
                e.content.get("membership", ""),
                e.internal_metadata.stream_ordering,
            )
            for e in member_events
            if e.internal_metadata.is_outlier()
            and e.internal_metadata.out_of_band_membership
            and self.hs.is_mine_id(e.state_key)
        ]
        self._members.update_local_current_membership_txn(txn, room_id, changes)

    def _store_redactions_txn(
        self, txn: LoggingTransaction, events: Sequence[EventBase], now: int
    ) -> list[str]:
        rows = [
            (e.event_id, e.redacts, now)
            for e in events
            if e.type == EventTypes.Redaction and e.redacts
        ]
        if rows:
            txn.execute_batch(
                "INSERT INTO redactions (event_id, redacts, received_ts) VALUES (?, ?, ?)", rows
            )
        return [r[1] for r in rows]  # type: ignore[misc]

    @staticmethod
    def _store_relations_txn(txn: LoggingTransaction, events: Sequence[EventBase]) -> None:
        rows = []
        for event in events:
            relation = (
                event.content.get("m.relates_to") if isinstance(event.content, dict) else None
            )
            if not isinstance(relation, dict):
                continue
            rel_type = relation.get("rel_type")
            parent = relation.get("event_id")
            if not isinstance(rel_type, str) or not isinstance(parent, str):
                continue
            key = relation.get("key")
            key = key if isinstance(key, str) else None
            # A relation naming a NUL cannot be stored in PostgreSQL text, nor be valid.
            if any("\x00" in v for v in (rel_type, parent, key or "")):
                continue
            rows.append((event.event_id, parent, rel_type, key))
        if rows:
            txn.execute_batch(
                "INSERT INTO event_relations (event_id, relates_to_id, relation_type, aggregation_key)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )

    @staticmethod
    def _store_txn_ids_txn(txn: LoggingTransaction, events: Sequence[EventBase], now: int) -> None:
        rows = []
        for event in events:
            meta = event.internal_metadata
            if meta.is_outlier() or meta.txn_id is None or meta.device_id is None:
                continue
            rows.append(
                (event.event_id, event.room_id, event.sender, meta.device_id, meta.txn_id, now)
            )
        if rows:
            txn.execute_batch(
                "INSERT INTO event_txn_id (event_id, room_id, user_id, device_id, txn_id, inserted_ts)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                rows,
            )
