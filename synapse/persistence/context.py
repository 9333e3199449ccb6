"""The state of new events: ``EventContext`` and the ``StateHandler`` that computes it.

The state before an event is the state after its prev events: with one prev event (or
several that agree) its state group is reused as it is; where they fork, the groups'
states are resolved (``synapse.state.resolve_events_with_store``) and the result, cached
per set of groups, becomes a new group stored as a delta against the closest of them.
The state after a state event is a one-entry delta against the state before it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

import attr

from synapse.api.room_versions import RoomVersion
from synapse.events import EventBase
from synapse.persistence.state_res_store import DatabaseStateResolutionStore
from synapse.state import resolve_events_with_store
from synapse.storage.state_filter import StateFilter
from synapse.types import StateKey, StateMap
from synapse.util.caches.lrucache import LruCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.databases.main.state import StateStore

logger = logging.getLogger(__name__)


@attr.s(slots=True, auto_attribs=True)
class EventContext:
    """What persistence needs to know about an event besides the event itself.

    ``state_group_before_event`` / ``state_group_after_event`` hold the room state before
    and after the event (the same group for a non-state or rejected event; both None for
    an outlier). ``prev_group``/``delta_ids``, when set, say that the group after the
    event is ``prev_group`` plus ``delta_ids``: persistence uses them to update current
    state without loading whole states.
    """

    _storage: StateStore
    state_group_before_event: int | None = None
    state_group_after_event: int | None = None
    prev_group: int | None = None
    delta_ids: StateMap[str] | None = None
    rejected: str | None = None
    partial_state: bool = False

    @classmethod
    def for_outlier(cls, storage: StateStore) -> EventContext:
        """The context of an event whose state we do not know (or need)."""
        return cls(storage)

    @property
    def state_group(self) -> int | None:
        """The state group after the event."""
        return self.state_group_after_event

    def is_outlier(self) -> bool:
        return self.state_group_after_event is None

    def mark_rejected(self, reason: str) -> None:
        """Reject the event: the state after it is then the state before it."""
        self.rejected = reason
        if self.state_group_after_event != self.state_group_before_event:
            self.state_group_after_event = self.state_group_before_event
            self.prev_group = None
            self.delta_ids = None

    async def get_current_state_ids(
        self, state_filter: StateFilter | None = None
    ) -> StateMap[str] | None:
        """The room state after the event (None for an outlier), loaded when asked for."""
        if self.state_group_after_event is None:
            return None
        return await self._storage.get_state_ids_for_group(
            self.state_group_after_event, state_filter
        )

    async def get_prev_state_ids(self, state_filter: StateFilter | None = None) -> StateMap[str]:
        """The room state before the event ({} for an outlier or a create event)."""
        if self.state_group_before_event is None:
            return {}
        return await self._storage.get_state_ids_for_group(
            self.state_group_before_event, state_filter
        )


@attr.s(slots=True, auto_attribs=True)
class _ResolvedState:
    """The state at a set of events: an existing group, or a new state to store."""

    state_group: int | None
    state: StateMap[str] | None = None
    prev_group: int | None = None
    delta_ids: StateMap[str] | None = None


class StateHandler:
    """Computes event contexts and resolves the state of forks for one homeserver."""

    def __init__(self, hs: HomeServer) -> None:
        stores = hs.get_datastores().main
        self._state_store = stores.state
        self._rooms = stores.rooms
        self.state_res_store = DatabaseStateResolutionStore(hs)
        # frozenset of state groups -> the resolved state at them.
        self._resolution_cache: LruCache[frozenset[int], _ResolvedState] = LruCache(10_000)
        # The group after each event whose context was computed here, so that the context
        # of an event can be computed before its prev events are persisted (a chain of
        # new events persisted as one batch).
        self._computed_groups: LruCache[str, int] = LruCache(10_000)

    async def compute_event_context(
        self,
        event: EventBase,
        state_ids_before_event: StateMap[str] | None = None,
        partial_state: bool = False,
    ) -> EventContext:
        """The context of a new event: the state before it (from its prev events, or
        ``state_ids_before_event`` when the caller knows it, e.g. from a remote server)
        and after it, stored as state groups."""
        if event.internal_metadata.is_outlier():
            return EventContext.for_outlier(self._state_store)
        room_id = event.room_id

        if state_ids_before_event is not None:
            before = _ResolvedState(None, state=dict(state_ids_before_event))
        else:
            before = await self._resolve_state_at(
                room_id, event.room_version, event.prev_event_ids()
            )
        if before.state_group is None and (before.state or before.prev_group is not None):
            before.state_group = await self._state_store.store_state_group(
                event.event_id, room_id, before.prev_group, before.delta_ids, before.state
            )
        group_before = before.state_group

        if not event.is_state():
            if group_before is not None:
                self._computed_groups.set(event.event_id, group_before)
            return EventContext(
                self._state_store,
                state_group_before_event=group_before,
                state_group_after_event=group_before,
                prev_group=before.prev_group,
                delta_ids=before.delta_ids,
                partial_state=partial_state,
            )

        key: StateKey = (event.type, event.state_key)
        if group_before is not None:
            replaced = await self._state_store.get_state_ids_for_group(
                group_before, StateFilter.from_types([key])
            )
            if key in replaced:
                event.unsigned["replaces_state"] = replaced[key]
        delta_ids = {key: event.event_id}
        if group_before is None:
            group_after = await self._state_store.store_state_group(
                event.event_id, room_id, None, None, delta_ids
            )
        else:
            group_after = await self._state_store.store_state_group(
                event.event_id, room_id, group_before, delta_ids, None
            )
        self._computed_groups.set(event.event_id, group_after)
        return EventContext(
            self._state_store,
            state_group_before_event=group_before,
            state_group_after_event=group_after,
            prev_group=group_before,
            delta_ids=delta_ids if group_before is not None else None,
            partial_state=partial_state,
        )

    def event_rejected(self, event_id: str, context: EventContext) -> None:
        """Note that an event whose context was computed here has been rejected."""
        if context.state_group_after_event is not None:
            self._computed_groups.set(event_id, context.state_group_after_event)

    async def compute_state_after_events(
        self, room_id: str, event_ids: Collection[str], state_filter: StateFilter | None = None
    ) -> StateMap[str]:
        """The room state after ``event_ids`` (resolved where they fork), e.g. to choose
        the auth events of a new event whose prev events they are."""
        room_version = await self._rooms.get_room_version(room_id)
        resolved = await self._resolve_state_at(room_id, room_version, event_ids)
        if resolved.state_group is not None:
            return await self._state_store.get_state_ids_for_group(
                resolved.state_group, state_filter
            )
        state = resolved.state or {}
        return (state_filter or StateFilter.all()).filter_state(state)

    async def resolve_state_groups(
        self,
        room_id: str,
        room_version: RoomVersion,
        state_groups: Collection[int],
        event_map: dict[str, EventBase] | None = None,
    ) -> StateMap[str]:
        """The resolved state of several state groups."""
        resolved = await self._resolve_groups(
            room_id, room_version, frozenset(state_groups), event_map
        )
        if resolved.state is not None:
            return resolved.state
        assert resolved.state_group is not None
        return await self._state_store.get_state_ids_for_group(resolved.state_group)

    async def _resolve_state_at(
        self, room_id: str, room_version: RoomVersion, event_ids: Collection[str]
    ) -> _ResolvedState:
        if not event_ids:
            return _ResolvedState(None, state={})
        # Groups computed here first: they are what will be stored for those events.
        groups_by_event = self._computed_groups.get_many(event_ids)
        missing = set(event_ids) - groups_by_event.keys()
        if missing:
            groups_by_event.update(await self._state_store.get_state_group_for_events(missing))
            missing -= groups_by_event.keys()
        if missing:
            logger.warning(
                "No state for prev events %s in %s: ignoring them", sorted(missing), room_id
            )
        groups = frozenset(groups_by_event.values())
        if not groups:
            return _ResolvedState(None, state={})
        return await self._resolve_groups(room_id, room_version, groups, None)

    async def _resolve_groups(
        self,
        room_id: str,
        room_version: RoomVersion,
        groups: frozenset[int],
        event_map: dict[str, EventBase] | None,
    ) -> _ResolvedState:
        if len(groups) == 1:
            (group,) = groups
            return _ResolvedState(group)
        cached = self._resolution_cache.get(groups)
        if cached is not None:
            return cached
        states = await self._state_store.get_state_ids_for_groups(groups)
        resolved = await self._resolve_states(
            room_id, room_version, list(states.values()), event_map
        )

        # Store it as a delta against the group it differs least from.
        best_group, best_delta = None, None
        for group, state in states.items():
            delta = {k: v for k, v in resolved.items() if state.get(k) != v}
            if any(k not in resolved for k in state):
                continue
            if best_delta is None or len(delta) < len(best_delta):
                best_group, best_delta = group, delta
        if best_group is not None and not best_delta:
            result = _ResolvedState(best_group)
        else:
            result = _ResolvedState(
                None, state=resolved, prev_group=best_group, delta_ids=best_delta
            )
        self._resolution_cache.set(groups, result)
        return result

    async def _resolve_states(
        self,
        room_id: str,
        room_version: RoomVersion,
        state_sets: list[Mapping[StateKey, str]],
        event_map: dict[str, EventBase] | None,
    ) -> dict[StateKey, str]:
        # Without a conflict the union is the answer; no need to load any event.
        union: dict[StateKey, str] = {}
        conflicted = False
        for state in state_sets:
            for k, v in state.items():
                if union.setdefault(k, v) != v:
                    conflicted = True
        if not conflicted and all(len(s) == len(union) for s in state_sets):
            return union
        resolved = await resolve_events_with_store(
            room_id, room_version, state_sets, event_map, self.state_res_store
        )
        return dict(resolved)
