"""The database-backed ``StateResolutionStore``: events from the event store, auth chain
differences from an ``AuthChainIndex`` per room.

A room's index of its state events (auth chains hold nothing else) is built on first use
from its ``event_auth`` rows (one query, no walk event by event), kept in an LRU of rooms, and extended by the persistence queue with each
batch it writes.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from synapse.events import EventBase
from synapse.state.auth_chain import AuthChainIndex
from synapse.util.caches.lrucache import LruCache

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

_MAX_ROOM_INDEXES = 500


class DatabaseStateResolutionStore:
    """Implements ``synapse.state.StateResolutionStore`` over the main database."""

    def __init__(self, hs: HomeServer) -> None:
        stores = hs.get_datastores().main
        self._events = stores.events
        self._federation = stores.event_federation
        self._indexes: LruCache[str, AuthChainIndex] = LruCache(_MAX_ROOM_INDEXES)
        # State events being persisted, by room: an index built from the database while
        # they are written must include them too.
        self._in_flight: dict[str, dict[str, EventBase]] = {}

    async def get_events(
        self, event_ids: Collection[str], allow_rejected: bool = False
    ) -> dict[str, EventBase]:
        return await self._events.get_events(event_ids, allow_rejected=allow_rejected)

    async def get_auth_chain_difference(self, room_id: str, state_sets: list[set[str]]) -> set[str]:
        index = await self._get_index(room_id)
        wanted = set().union(*state_sets) if state_sets else set()
        if any(e not in index for e in wanted):
            # Events stored since the index was built by another path: rebuild once.
            self._indexes.invalidate(room_id)
            index = await self._get_index(room_id)
        if all(e in index for e in wanted):
            return index.auth_chain_difference(state_sets)
        logger.warning("Auth chain index of %s lacks events: walking auth chains in SQL", room_id)
        chains = [await self._federation.get_auth_chain_ids(s) for s in state_sets]
        if not chains:
            return set()
        common = set(chains[0]).intersection(*chains[1:])
        return set().union(*chains) - common

    async def _get_index(self, room_id: str) -> AuthChainIndex:
        index = self._indexes.get(room_id)
        if index is None:
            rows = await self._federation.get_room_auth_graph(room_id)
            index = build_index(room_id, rows)
            in_flight = self._in_flight.get(room_id)
            if in_flight and not self._extend(index, in_flight.values()):
                return index
            self._indexes.set(room_id, index)
        return index

    def add_events(self, room_id: str, events: Iterable[EventBase]) -> None:
        """Index a room's new events before they are persisted (see ``events_persisted``)."""
        # Auth chains hold only state events: messages need no place in the index.
        state_events = [e for e in events if e.is_state()]
        if not state_events:
            return
        self._in_flight.setdefault(room_id, {}).update((e.event_id, e) for e in state_events)
        index = self._indexes.get(room_id)
        if index is not None and not self._extend(index, state_events):
            # An auth event we do not hold: let the next query rebuild from the database.
            self._indexes.invalidate(room_id)

    @staticmethod
    def _extend(index: AuthChainIndex, events: Iterable[EventBase]) -> bool:
        try:
            index.add_events([e for e in events if e.event_id not in index])
        except ValueError:
            return False
        return True

    def events_persisted(self, room_id: str, events: Iterable[EventBase]) -> None:
        """The events given to ``add_events`` are now in the database."""
        self._drop_in_flight(room_id, events)

    def events_failed(self, room_id: str, events: Iterable[EventBase]) -> None:
        """The events given to ``add_events`` were not persisted: forget them."""
        self._drop_in_flight(room_id, events)
        self._indexes.invalidate(room_id)

    def _drop_in_flight(self, room_id: str, events: Iterable[EventBase]) -> None:
        in_flight = self._in_flight.get(room_id)
        if in_flight is None:
            return
        for event in events:
            in_flight.pop(event.event_id, None)
        if not in_flight:
            del self._in_flight[room_id]


def build_index(
    room_id: str, rows: Iterable[tuple[str, str, str | None, list[str]]]
) -> AuthChainIndex:
    """An index of one room's ``(event_id, type, state_key, auth_event_ids)`` rows, in any
    order; events whose auth events are missing are left out."""
    index = AuthChainIndex()
    nodes = {event_id: (typ, state_key, auth) for event_id, typ, state_key, auth in rows}
    waiting: dict[str, list[str]] = {}
    missing: dict[str, int] = {}
    ready: list[str] = []
    for event_id, (_, _, auth) in nodes.items():
        unmet = {a for a in auth if a in nodes}
        if any(a not in nodes for a in auth):
            continue
        missing[event_id] = len(unmet)
        for a in unmet:
            waiting.setdefault(a, []).append(event_id)
        if not unmet:
            ready.append(event_id)
    while ready:
        event_id = ready.pop()
        typ, state_key, auth = nodes[event_id]
        key = (typ, state_key) if state_key is not None else None
        index.add(event_id, room_id, key, auth)
        for child in waiting.get(event_id, ()):
            if child in missing:
                missing[child] -= 1
                if missing[child] == 0:
                    ready.append(child)
    return index
