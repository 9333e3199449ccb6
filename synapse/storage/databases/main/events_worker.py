"""Reading events: by ID, in bulk, through an LRU cache, with redactions applied."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

import attr

from synapse.api.constants import EventTypes
from synapse.api.errors import NotFoundError
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.events import EventBase, make_event_from_dict
from synapse.events.utils import prune_event
from synapse.storage.databases.main._events_sql import batch_iter, in_list
from synapse.util.caches.lrucache import LruCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

EVENT_CACHE_SIZE = 50_000


@attr.s(slots=True, frozen=True, auto_attribs=True)
class _EventCacheEntry:
    event: EventBase
    # The pruned copy to serve instead, if the event is redacted.
    redacted_event: EventBase | None


@attr.s(slots=True, frozen=True, auto_attribs=True)
class _EventRow:
    event_id: str
    json: str
    internal_metadata: str
    room_version: str
    rejected_reason: str | None
    stream_ordering: int
    outlier: bool
    instance_name: str | None


class EventsWorkerStore:
    """``get_event``/``get_events``: the one way the rest of the server reads events."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._event_cache: LruCache[str, _EventCacheEntry] = LruCache(EVENT_CACHE_SIZE)

    # --- public reads -----------------------------------------------------------------
    async def get_event(
        self,
        event_id: str,
        allow_none: bool = False,
        allow_rejected: bool = False,
    ) -> EventBase | None:
        """One event, redacted if a redaction applies; NotFoundError (or None) if unknown."""
        events = await self.get_events([event_id], allow_rejected=allow_rejected)
        event = events.get(event_id)
        if event is None and not allow_none:
            raise NotFoundError(f"Could not find event {event_id}")
        return event

    async def get_events(
        self, event_ids: Iterable[str], allow_rejected: bool = False
    ) -> dict[str, EventBase]:
        """The events we hold of ``event_ids``, by ID (unknown and, unless
        ``allow_rejected``, rejected ones left out)."""
        entries = await self._get_event_entries(event_ids)
        out: dict[str, EventBase] = {}
        for event_id, entry in entries.items():
            if not allow_rejected and entry.event.rejected_reason:
                continue
            out[event_id] = entry.redacted_event or entry.event
        return out

    async def get_events_as_list(
        self, event_ids: Iterable[str], allow_rejected: bool = False
    ) -> list[EventBase]:
        """As ``get_events``, in the order of ``event_ids``."""
        event_ids = list(event_ids)
        events = await self.get_events(event_ids, allow_rejected=allow_rejected)
        return [events[e] for e in event_ids if e in events]

    async def get_unredacted_events(self, event_ids: Iterable[str]) -> dict[str, EventBase]:
        """The events as received, redacted or not (for moderation and federation)."""
        entries = await self._get_event_entries(event_ids)
        return {e: entry.event for e, entry in entries.items()}

    async def have_seen_events(self, event_ids: Collection[str]) -> set[str]:
        """Which of ``event_ids`` we hold (rejected ones included)."""
        ids = set(event_ids)
        found = {e for e in ids if e in self._event_cache}
        missing = ids - found
        if missing:
            found |= await self.db_pool.runInteraction(
                "have_seen_events", self._have_seen_events_txn, missing
            )
        return found

    def _have_seen_events_txn(
        self, txn: LoggingTransaction, event_ids: Collection[str]
    ) -> set[str]:
        found: set[str] = set()
        for chunk in batch_iter(event_ids):
            clause, args = in_list("event_id", chunk)
            txn.execute(f"SELECT event_id FROM events WHERE {clause}", args)
            found.update(r[0] for r in txn.fetchall())
        return found

    # --- cache -------------------------------------------------------------------------
    def invalidate_events(self, event_ids: Iterable[str]) -> None:
        """Forget the cached copies of ``event_ids`` (after they, or their redaction, changed)."""
        self._event_cache.invalidate_many(event_ids)

    # --- internals ---------------------------------------------------------------------
    async def _get_event_entries(self, event_ids: Iterable[str]) -> dict[str, _EventCacheEntry]:
        event_ids = list(dict.fromkeys(event_ids))
        entries = self._event_cache.get_many(event_ids)
        missing = [e for e in event_ids if e not in entries]
        if missing:
            fetched = await self.db_pool.runInteraction(
                "get_events", self._fetch_events_txn, missing
            )
            for event_id, entry in fetched.items():
                self._event_cache.set(event_id, entry)
            entries.update(fetched)
        return entries

    def _fetch_events_txn(
        self, txn: LoggingTransaction, event_ids: Collection[str]
    ) -> dict[str, _EventCacheEntry]:
        """Load events and the redactions that apply to them, in a few bulk queries."""
        rows = self._fetch_event_rows_txn(txn, event_ids)
        events = {event_id: self._row_to_event(row) for event_id, row in rows.items()}

        # Redactions of these events that were themselves accepted.
        redaction_of: dict[str, list[str]] = {}
        for chunk in batch_iter(events):
            clause, args = in_list("r.redacts", chunk)
            txn.execute(
                "SELECT r.redacts, r.event_id FROM redactions AS r"
                " INNER JOIN events AS e ON e.event_id = r.event_id"
                f" WHERE {clause} AND e.rejected_reason IS NULL"
                " ORDER BY e.stream_ordering",
                args,
            )
            for redacts, redaction_id in txn.fetchall():
                redaction_of.setdefault(redacts, []).append(redaction_id)

        redaction_events: dict[str, EventBase] = {}
        needed = {r for ids in redaction_of.values() for r in ids} - events.keys()
        if needed:
            for event_id, row in self._fetch_event_rows_txn(txn, needed).items():
                redaction_events[event_id] = self._row_to_event(row)
        for event_id in redaction_of:
            for r in redaction_of[event_id]:
                if r not in redaction_events and r in events:
                    redaction_events[r] = events[r]

        out: dict[str, _EventCacheEntry] = {}
        for event_id, event in events.items():
            redacted: EventBase | None = None
            for redaction_id in redaction_of.get(event_id, ()):
                redaction = redaction_events.get(redaction_id)
                if redaction is not None and _redaction_applies(redaction, event):
                    redacted = prune_event(event)
                    redacted.unsigned["redacted_because"] = redaction
                    break
            out[event_id] = _EventCacheEntry(event, redacted)
        return out

    def _fetch_event_rows_txn(
        self, txn: LoggingTransaction, event_ids: Collection[str]
    ) -> dict[str, _EventRow]:
        rows: dict[str, _EventRow] = {}
        for chunk in batch_iter(event_ids):
            clause, args = in_list("e.event_id", chunk)
            txn.execute(
                "SELECT e.event_id, j.json, j.internal_metadata, j.room_version, e.rejected_reason,"
                " e.stream_ordering, e.outlier, e.instance_name"
                " FROM events AS e INNER JOIN event_json AS j ON j.event_id = e.event_id"
                f" WHERE {clause}",
                args,
            )
            for r in txn.fetchall():
                rows[r[0]] = _EventRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7])
        return rows

    @staticmethod
    def _row_to_event(row: _EventRow) -> EventBase:
        room_version = KNOWN_ROOM_VERSIONS[row.room_version]
        metadata: dict[str, Any] = json.loads(row.internal_metadata)
        event = make_event_from_dict(
            json.loads(row.json), room_version, metadata, row.rejected_reason
        )
        meta = event.internal_metadata
        meta.stream_ordering = row.stream_ordering
        meta.instance_name = row.instance_name
        meta.outlier = row.outlier
        return event


def _redaction_applies(redaction: EventBase, event: EventBase) -> bool:
    """Whether an accepted redaction should be applied to ``event`` when serving it.

    The redaction must be in the same room and not rejected. Auth rules accept a redaction
    of another server's event on the redactor's power level alone, and the handlers that
    persist redactions check that level, so no sender check is repeated here.
    """
    return (
        redaction.type == EventTypes.Redaction
        and redaction.room_id == event.room_id
        and not redaction.rejected_reason
    )
