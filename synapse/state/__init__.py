"""State resolution: the state of a room where the DAG forks, per room version.

``resolve_events_with_store`` is the entry point; it reads events and auth chains through
a ``StateResolutionStore``, which storage implements (``memory.InMemoryStateResolutionStore``
is the in-memory one). The algorithms are pure: no reactor, no database.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from synapse.api.room_versions import RoomVersion, StateResolutionVersions
from synapse.events import EventBase
from synapse.types import StateMap


class StateResolutionStore(Protocol):
    """What state resolution reads from storage."""

    async def get_events(
        self, event_ids: Collection[str], allow_rejected: bool = False
    ) -> dict[str, EventBase]:
        """The events among ``event_ids`` that are known (rejected ones only if asked)."""
        ...

    async def get_auth_chain_difference(self, room_id: str, state_sets: list[set[str]]) -> set[str]:
        """The events in some but not all of the full auth chains of ``state_sets``.

        The full auth chain of a set of events is the union of their auth chains (the
        events reachable through ``auth_events``; an event of the set is in it only if
        another reaches it). With an empty set among ``state_sets`` this is the union of
        the others' chains. Every event given must be known to the store.
        """
        ...


async def resolve_events_with_store(
    room_id: str,
    room_version: RoomVersion,
    state_sets: Sequence[StateMap[str]],
    event_map: dict[str, EventBase] | None,
    state_res_store: StateResolutionStore,
) -> StateMap[str]:
    """Resolve ``state_sets`` (maps of (type, state_key) to event ID) into one state map.

    ``event_map`` holds events the store may not have yet (it is not modified).
    """
    from synapse.state import v1, v2

    if room_version.state_res == StateResolutionVersions.V1:
        return await v1.resolve_events_with_store(
            room_id, room_version, state_sets, event_map, state_res_store
        )
    if room_version.state_res in (StateResolutionVersions.V2, StateResolutionVersions.V2_1):
        return await v2.resolve_events_with_store(
            room_id, room_version, state_sets, event_map, state_res_store
        )
    raise ValueError(f"Unknown state resolution version {room_version.state_res}")
