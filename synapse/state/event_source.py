"""The events a state resolution reads, and auth chains over the store and ``event_map``."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from synapse.api.room_versions import RoomVersion
from synapse.events import EventBase

if TYPE_CHECKING:
    from synapse.state import StateResolutionStore


def create_event_id(room_id: str) -> str:
    """The create event's ID in a room version whose room ID is its reference hash."""
    return "$" + room_id[1:]


class EventSource:
    """The events state resolution has read, and auth chains over store and ``event_map``.

    Events in ``event_map`` that the store does not know are "unpersisted": their auth
    chains are walked here, down to the stored events, whose chains the store gives.
    """

    def __init__(
        self,
        room_id: str,
        room_version: RoomVersion,
        event_map: dict[str, EventBase] | None,
        store: StateResolutionStore,
    ) -> None:
        self.room_id = room_id
        self.room_version = room_version
        self._given: dict[str, EventBase] = dict(event_map) if event_map else {}
        self.events: dict[str, EventBase] = dict(self._given)
        self._store = store
        self._unpersisted: dict[str, bool] = {}

    def __getitem__(self, event_id: str) -> EventBase:
        return self.events[event_id]

    def get(self, event_id: str) -> EventBase | None:
        return self.events.get(event_id)

    async def load(self, event_ids: Iterable[str]) -> None:
        """Fetch the events not read yet (rejected ones included); unknown IDs are skipped."""
        events = self.events
        missing = {e for e in event_ids if e not in events}
        if missing:
            events.update(await self._store.get_events(missing, allow_rejected=True))

    async def load_auth_events(self, event_ids: Iterable[str]) -> None:
        """Fetch the auth events (and for room version 12 the create event) of these events."""
        wanted: set[str] = set()
        for event_id in event_ids:
            event = self.events.get(event_id)
            if event is not None:
                wanted.update(event.auth_event_ids())
        if self.room_version.hydra:
            wanted.add(create_event_id(self.room_id))
        await self.load(wanted)

    async def _unpersisted_among(self, event_ids: Iterable[str]) -> set[str]:
        given = self._given
        if not given:
            return set()
        ids = [e for e in event_ids if e in given]
        unknown = [e for e in ids if e not in self._unpersisted]
        if unknown:
            stored = await self._store.get_events(unknown, allow_rejected=True)
            for event_id in unknown:
                self._unpersisted[event_id] = event_id not in stored
        return {e for e in ids if self._unpersisted[e]}

    async def auth_chain(self, event_ids: Collection[str]) -> set[str]:
        """The union of the auth chains of ``event_ids``."""
        unpersisted = await self._unpersisted_among(event_ids)
        stored_starts = set(event_ids) - unpersisted
        local: set[str] = set()
        frontier: set[str] = set()
        todo = list(unpersisted)
        seen = set(unpersisted)
        while todo:
            auth_ids = self._given[todo.pop()].auth_event_ids()
            unpersisted_auth = await self._unpersisted_among(auth_ids)
            for auth_id in auth_ids:
                if auth_id in unpersisted_auth:
                    local.add(auth_id)
                    if auth_id not in seen:
                        seen.add(auth_id)
                        todo.append(auth_id)
                else:
                    frontier.add(auth_id)
        result = local | frontier
        starts = stored_starts | frontier
        if starts:
            result |= await self._store.get_auth_chain_difference(self.room_id, [starts, set()])
        return result

    async def auth_difference(self, state_sets: list[set[str]]) -> set[str]:
        """The union of the sets' full auth chains minus their intersection."""
        if not await self._unpersisted_among(set().union(*state_sets)):
            return await self._store.get_auth_chain_difference(self.room_id, state_sets)
        chains = [await self.auth_chain(s) for s in state_sets]
        common = set(chains[0]).intersection(*chains[1:])
        return set().union(*chains) - common
