"""State resolution v1 (room version 1), as the specification of room version 1 defines it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from synapse import event_auth
from synapse.api.constants import EventTypes
from synapse.api.errors import AuthError
from synapse.api.room_versions import RoomVersion
from synapse.events import EventBase
from synapse.state.event_source import EventSource
from synapse.types import MutableStateMap, StateKey, StateMap

if TYPE_CHECKING:
    from synapse.state import StateResolutionStore


def separate(
    state_sets: Sequence[StateMap[str]],
) -> tuple[MutableStateMap[str], MutableStateMap[set[str]]]:
    """Split into the union of the states without conflicts, and the conflicting events.

    A conflict is two states holding different events for one key; a key that only some
    states have, all with the same event, is not a conflict.
    """
    values: MutableStateMap[set[str]] = {}
    for state_set in state_sets:
        for key, event_id in state_set.items():
            values.setdefault(key, set()).add(event_id)
    unconflicted: MutableStateMap[str] = {}
    conflicted: MutableStateMap[set[str]] = {}
    for key, ids in values.items():
        if len(ids) == 1:
            unconflicted[key] = next(iter(ids))
        else:
            conflicted[key] = ids
    return unconflicted, conflicted


def _sha1(event_id: str) -> bytes:
    return hashlib.sha1(event_id.encode("utf-8")).digest()


def _is_allowed(event: EventBase, state: StateMap[str], events: EventSource) -> bool:
    """Whether the authorisation rules allow ``event`` in the room state ``state``."""
    auth_events = []
    for key in event_auth.auth_types_for_event(event.room_version, event):
        state_id = state.get(key)
        if state_id is not None:
            auth_event = events.get(state_id)
            if auth_event is not None:
                auth_events.append(auth_event)
    try:
        event_auth.check_state_dependent_auth_rules(event, auth_events)
    except AuthError:
        return False
    return True


def _resolve_auth_conflict(
    key: StateKey, event_ids: set[str], resolved: MutableStateMap[str], events: EventSource
) -> None:
    """Ascending depth, then descending sha1(event_id): take the first, then each in turn
    while the rules allow it in the state so far."""
    ordered = sorted(
        (events[e] for e in event_ids if e in events.events),
        key=lambda e: (e.depth, tuple(-b for b in _sha1(e.event_id))),
    )
    if not ordered:
        return
    resolved[key] = ordered[0].event_id
    for event in ordered[1:]:
        if not _is_allowed(event, resolved, events):
            break
        resolved[key] = event.event_id


def _resolve_other_conflict(
    key: StateKey, event_ids: set[str], resolved: MutableStateMap[str], events: EventSource
) -> None:
    """The event of highest depth, then lowest sha1(event_id), that the rules allow."""
    ordered = sorted(
        (events[e] for e in event_ids if e in events.events),
        key=lambda e: (-e.depth, _sha1(e.event_id)),
    )
    for event in ordered:
        if _is_allowed(event, resolved, events):
            resolved[key] = event.event_id
            return


async def resolve_events_with_store(
    room_id: str,
    room_version: RoomVersion,
    state_sets: Sequence[StateMap[str]],
    event_map: dict[str, EventBase] | None,
    state_res_store: StateResolutionStore,
) -> StateMap[str]:
    """Resolve ``state_sets`` with the state resolution algorithm of room version 1."""
    if not state_sets:
        return {}
    resolved, conflicted = separate(state_sets)
    if not conflicted:
        return resolved
    events = EventSource(room_id, room_version, event_map, state_res_store)
    await events.load(set().union(*conflicted.values()))
    # The rules may look at any auth-relevant event of the unconflicted state.
    auth_keys: set[StateKey] = set()
    for ids in conflicted.values():
        for event_id in ids:
            event = events.get(event_id)
            if event is not None:
                auth_keys |= event_auth.auth_types_for_event(room_version, event)
    await events.load(resolved[k] for k in auth_keys if k in resolved)

    for event_type in (EventTypes.PowerLevels, EventTypes.JoinRules, EventTypes.Member):
        for key in sorted(k for k in conflicted if k[0] == event_type):
            _resolve_auth_conflict(key, conflicted[key], resolved, events)
    auth_types = (EventTypes.PowerLevels, EventTypes.JoinRules, EventTypes.Member)
    for key in sorted(k for k in conflicted if k[0] not in auth_types):
        _resolve_other_conflict(key, conflicted[key], resolved, events)
    return resolved
