"""An in-memory ``StateResolutionStore``: the test double for tests and the benchmark."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from synapse.events import EventBase
from synapse.state.auth_chain import AuthChainIndex


class InMemoryStateResolutionStore:
    """Holds events and their auth chain index in dicts; implements ``StateResolutionStore``."""

    def __init__(self, events: Iterable[EventBase] = ()) -> None:
        self._events: dict[str, EventBase] = {}
        self.auth_chains = AuthChainIndex()
        self.add_events(events)

    def add_events(self, events: Iterable[EventBase]) -> None:
        """Store events (any order; their auth events must be stored or among them)."""
        batch = list(events)
        # Only state events can be auth events or in a state set: index only those.
        self.auth_chains.add_events(e for e in batch if e.is_state())
        for event in batch:
            self._events[event.event_id] = event

    async def get_events(
        self, event_ids: Collection[str], allow_rejected: bool = False
    ) -> dict[str, EventBase]:
        events = self._events
        result: dict[str, EventBase] = {}
        for event_id in event_ids:
            event = events.get(event_id)
            if event is not None and (allow_rejected or not event.rejected_reason):
                result[event_id] = event
        return result

    async def get_auth_chain_difference(self, room_id: str, state_sets: list[set[str]]) -> set[str]:
        """As the protocol says; events the store does not know are left out."""
        index = self.auth_chains
        known = [{e for e in s if e in index} for s in state_sets]
        return index.auth_chain_difference(known)
