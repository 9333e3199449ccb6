"""State resolution v2 (room versions 2 to 11) and v2.1 (room version 12).

Follows the specification's "State resolution" section of room version 2, with the two
changes of room version 12: the first iterative auth checks start from an empty state
map, and the conflicted state subgraph joins the full conflicted set.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from synapse import event_auth
from synapse.api.constants import EventTypes, Membership
from synapse.api.errors import AuthError
from synapse.api.room_versions import RoomVersion, StateResolutionVersions
from synapse.events import EventBase
from synapse.state.event_source import EventSource, create_event_id
from synapse.types import MutableStateMap, StateKey, StateMap

if TYPE_CHECKING:
    from synapse.state import StateResolutionStore

logger = logging.getLogger(__name__)

CREATE_KEY: StateKey = (EventTypes.Create, "")
POWER_KEY: StateKey = (EventTypes.PowerLevels, "")


def is_power_event(event: EventBase) -> bool:
    """Power levels, join rules, and kicks and bans (a leave or ban sent by someone else)."""
    if not event.is_state():
        return False
    if event.type in (EventTypes.PowerLevels, EventTypes.JoinRules):
        return True
    if event.type == EventTypes.Member:
        membership = event.content.get("membership")
        if membership in (Membership.LEAVE, Membership.BAN):
            return event.sender != event.state_key
    return False


def separate(
    state_sets: Sequence[StateMap[str]],
) -> tuple[MutableStateMap[str], MutableStateMap[set[str]]]:
    """Split into the unconflicted state map and, per key, the conflicted event IDs.

    A key is unconflicted when every state set has it with the same event.
    """
    first = state_sets[0]
    others = state_sets[1:]
    unconflicted: MutableStateMap[str] = {}
    for key, event_id in first.items():
        for other in others:
            if other.get(key) != event_id:
                break
        else:
            unconflicted[key] = event_id
    conflicted: MutableStateMap[set[str]] = {}
    for state_set in state_sets:
        if len(state_set) == len(unconflicted):
            continue  # every key of this set is unconflicted
        for key, event_id in state_set.items():
            if key not in unconflicted:
                conflicted.setdefault(key, set()).add(event_id)
    return unconflicted, conflicted


async def resolve_events_with_store(
    room_id: str,
    room_version: RoomVersion,
    state_sets: Sequence[StateMap[str]],
    event_map: dict[str, EventBase] | None,
    state_res_store: StateResolutionStore,
) -> StateMap[str]:
    """Resolve ``state_sets`` with state resolution v2, or v2.1 for room version 12."""
    if not state_sets:
        return {}
    unconflicted, conflicted = separate(state_sets)
    if not conflicted:
        return unconflicted
    events = EventSource(room_id, room_version, event_map, state_res_store)
    v2_1 = room_version.state_res == StateResolutionVersions.V2_1

    conflicted_ids: set[str] = set().union(*conflicted.values())
    full_conflicted = conflicted_ids | await events.auth_difference(
        [set(s.values()) for s in state_sets]
    )
    await events.load(full_conflicted)
    if v2_1:
        known = {e for e in conflicted_ids if e in events.events}
        full_conflicted |= await conflicted_subgraph(known, events)
        await events.load(full_conflicted)
    missing = {e for e in full_conflicted if e not in events.events}
    if missing:
        logger.warning("State resolution in %s without %d unknown events", room_id, len(missing))
        full_conflicted -= missing

    # Step 1: the power events and their auth chains within the full conflicted set.
    power_ids = {e for e in full_conflicted if is_power_event(events[e])}
    power_chain = await events.auth_chain(power_ids) if power_ids else set()
    selected = power_ids | (power_chain & full_conflicted)
    await events.load(power_chain)
    await events.load_auth_events(selected)
    sorted_power = reverse_topological_power_sort(selected, power_chain, events)

    # Step 2: iterative auth checks from the unconflicted state (v2) or from nothing (v2.1).
    initial: StateMap[str] = {} if v2_1 else unconflicted
    partial = await iterative_auth_checks(sorted_power, initial, events)

    # Steps 3 and 4: the rest by mainline ordering, then iterative auth checks.
    leftover = full_conflicted - selected
    await events.load_auth_events(leftover)
    sorted_rest = await mainline_sort(leftover, partial.get(POWER_KEY), events)
    resolved = await iterative_auth_checks(sorted_rest, partial, events)

    # Step 5: the unconflicted state map wins.
    resolved.update(unconflicted)
    return resolved


async def conflicted_subgraph(conflicted_ids: set[str], events: EventSource) -> set[str]:
    """The events on auth paths between two events of the conflicted state set (v2.1)."""
    chain = await events.auth_chain(conflicted_ids)
    nodes = chain | conflicted_ids
    await events.load(nodes)
    graph: dict[str, list[str]] = {}
    for event_id in nodes:
        event = events.get(event_id)
        if event is not None:
            graph[event_id] = [a for a in event.auth_event_ids() if a in nodes]
    # Whether an event reaches a conflicted event through one or more auth events.
    reaches: dict[str, bool] = {}
    for start in graph:
        stack = [start]
        while stack:
            node = stack[-1]
            if node in reaches:
                stack.pop()
                continue
            children = [c for c in graph[node] if c in graph]
            unvisited = [c for c in children if c not in reaches]
            if unvisited:
                stack.extend(unvisited)
                continue
            reaches[node] = any(c in conflicted_ids or reaches[c] for c in children)
            stack.pop()
    # Every event of ``chain`` is reached from a conflicted event: it is on a path between
    # two if it reaches one too, or is one.
    subgraph = {e for e in chain if e in conflicted_ids or reaches.get(e, False)}
    subgraph.update(e for e in conflicted_ids if reaches.get(e, False))
    return subgraph


def _power_level_of_sender(event: EventBase, events: EventSource) -> int | float:
    auth_events = [a for a in map(events.get, event.auth_event_ids()) if a is not None]
    if events.room_version.hydra:
        create = events.get(create_event_id(events.room_id))
        if create is not None and create.event_id not in event.auth_event_ids():
            auth_events.append(create)
    return event_auth.get_user_power_level(event.sender, auth_events)


def reverse_topological_power_sort(
    selected: set[str], chain: set[str], events: EventSource
) -> list[str]:
    """Order ``selected`` by the reverse topological power ordering.

    Kahn's algorithm over the auth DAG of ``selected`` and ``chain`` (their auth chains),
    taking at each step the smallest selected event by (greater sender power level, then
    origin_server_ts, then event ID). Events of ``chain`` outside ``selected`` only carry
    the ordering through and are taken as soon as they are free.
    """
    nodes = (selected | chain) & events.events.keys()
    pending: dict[str, int] = {}
    dependents: dict[str, list[str]] = {}
    for node in nodes:
        auth_ids = [a for a in dict.fromkeys(events[node].auth_event_ids()) if a in nodes]
        pending[node] = len(auth_ids)
        for auth_id in auth_ids:
            dependents.setdefault(auth_id, []).append(node)

    heap: list[tuple[int | float, int, str]] = []
    passing: list[str] = []

    def free(node: str) -> None:
        if node in selected:
            event = events[node]
            power = _power_level_of_sender(event, events)
            heapq.heappush(heap, (-power, event.origin_server_ts, node))
        else:
            passing.append(node)

    for node, count in pending.items():
        if count == 0:
            free(node)
    result: list[str] = []
    while True:
        while passing:
            node = passing.pop()
            for dependent in dependents.get(node, ()):
                pending[dependent] -= 1
                if pending[dependent] == 0:
                    free(dependent)
        if not heap:
            break
        _, _, node = heapq.heappop(heap)
        result.append(node)
        for dependent in dependents.get(node, ()):
            pending[dependent] -= 1
            if pending[dependent] == 0:
                free(dependent)
    return result


def _power_levels_auth_event(event: EventBase, events: EventSource) -> str | None:
    for auth_id in event.auth_event_ids():
        auth_event = events.get(auth_id)
        if auth_event is not None and auth_event.type == EventTypes.PowerLevels:
            if auth_event.get_state_key() == "":
                return auth_id
    return None


async def mainline_sort(
    event_ids: Collection[str], power_levels_id: str | None, events: EventSource
) -> list[str]:
    """Order ``event_ids`` by the mainline ordering based on ``power_levels_id``."""
    mainline: list[str] = []
    current = power_levels_id
    while current is not None:
        mainline.append(current)
        await events.load([current])
        event = events.get(current)
        if event is None:
            break
        await events.load(event.auth_event_ids())
        current = _power_levels_auth_event(event, events)
    index = {event_id: i for i, event_id in enumerate(mainline)}

    infinity = float("inf")
    memo: dict[str, float] = {}

    async def position(event_id: str) -> float:
        walked: list[str] = []
        found = infinity
        await events.load_auth_events([event_id])
        current = _power_levels_auth_event(events[event_id], events)
        while current is not None:
            if current in index:
                found = index[current]
                break
            if current in memo:
                found = memo[current]
                break
            walked.append(current)
            await events.load([current])
            await events.load_auth_events([current])
            parent = events.get(current)
            current = None if parent is None else _power_levels_auth_event(parent, events)
        for w in walked:
            memo[w] = found
        return found

    keys: list[tuple[float, int, str]] = []
    for event_id in event_ids:
        pos = await position(event_id)
        keys.append((-pos, events[event_id].origin_server_ts, event_id))
    keys.sort()
    return [k[2] for k in keys]


async def iterative_auth_checks(
    event_ids: Sequence[str], base_state: StateMap[str], events: EventSource
) -> MutableStateMap[str]:
    """Apply each event in turn to ``base_state`` if the authorisation rules allow it there.

    The auth events are taken from the state being built; a key missing there is taken
    from the event's own auth events, unless that auth event was rejected.
    """
    room_version = events.room_version
    keys_for: dict[str, set[StateKey]] = {}
    wanted: set[str] = set()
    for event_id in event_ids:
        keys = set(event_auth.auth_types_for_event(room_version, events[event_id]))
        keys.add(CREATE_KEY)
        keys_for[event_id] = keys
        wanted.update(base_state[k] for k in keys if k in base_state)
    await events.load(wanted)
    await events.load_auth_events(event_ids)
    create = events.get(create_event_id(events.room_id)) if room_version.hydra else None

    resolved = dict(base_state)
    for event_id in event_ids:
        event = events[event_id]
        if not event.is_state():
            continue
        own: dict[StateKey, EventBase] = {}
        for auth_id in event.auth_event_ids():
            auth_event = events.get(auth_id)
            if auth_event is not None and not auth_event.rejected_reason and auth_event.is_state():
                own[(auth_event.type, auth_event.state_key)] = auth_event
        if create is not None and not create.rejected_reason:
            own.setdefault(CREATE_KEY, create)
        auth_events: list[EventBase] = []
        for key in keys_for[event_id]:
            state_id = resolved.get(key)
            chosen = events.get(state_id) if state_id is not None else None
            if chosen is None:
                chosen = own.get(key)
            if chosen is not None:
                auth_events.append(chosen)
        try:
            event_auth.check_state_dependent_auth_rules(event, auth_events)
        except AuthError:
            continue
        resolved[(event.type, event.state_key)] = event_id
    return resolved
