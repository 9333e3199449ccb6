"""Which events a user may see: history visibility and ignored users.

The spec's rules (Room History Visibility) are applied with the room state at each
event, read from the event's state group:

1. ``world_readable`` at the event: visible;
2. the user's membership at the event is ``join``: visible;
3. ``shared`` and the user joined the room at some point after the event: visible;
4. ``invited`` and the user's membership at the event is ``invite``: visible;
5. otherwise not.

For ``m.room.history_visibility`` events the visibility before *or* after the event may
allow it, and for the user's own membership events the membership before or after.
An unknown or absent visibility counts as ``shared``. A user who left sees what they
could see before leaving and nothing after (their membership at later events is not
``join``), unless they join again. Events (other than state) sent by users the user
ignores are left out.

    events = await filter_events_for_client(stores, user_id, events)

The events returned carry ``unsigned.membership``: the user's membership at the event
(``leave`` if they had none), as the spec's client event format describes.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from synapse.api.constants import (
    AccountDataTypes,
    EventTypes,
    HistoryVisibility,
    Membership,
)
from synapse.events import EventBase
from synapse.storage.state_filter import StateFilter
from synapse.types import StateKey

if TYPE_CHECKING:
    from synapse.storage.databases.main import MainStores

_KNOWN_VISIBILITIES = frozenset(
    (
        HistoryVisibility.WORLD_READABLE,
        HistoryVisibility.SHARED,
        HistoryVisibility.INVITED,
        HistoryVisibility.JOINED,
    )
)
_HV_KEY: StateKey = (EventTypes.RoomHistoryVisibility, "")


async def get_ignored_users(stores: MainStores, user_id: str) -> frozenset[str]:
    """The users ``user_id`` ignores (their ``m.ignored_user_list`` account data)."""
    content = await stores.account_data.get_global_account_data_by_type_for_user(
        user_id, AccountDataTypes.IGNORED_USER_LIST
    )
    ignored = content.get("ignored_users") if isinstance(content, Mapping) else None
    if not isinstance(ignored, Mapping):
        return frozenset()
    return frozenset(u for u in ignored if isinstance(u, str))


def _visibility_of(event: EventBase | None) -> str:
    if event is None:
        return HistoryVisibility.SHARED
    value = event.content.get("history_visibility")
    return value if value in _KNOWN_VISIBILITIES else HistoryVisibility.SHARED


def _membership_of(event: EventBase | None) -> str | None:
    if event is None:
        return None
    value = event.content.get("membership")
    return value if isinstance(value, str) else None


def _allowed(visibility: str, membership: str | None, joined_later: bool) -> bool:
    if visibility == HistoryVisibility.WORLD_READABLE:
        return True
    if membership == Membership.JOIN:
        return True
    if visibility == HistoryVisibility.SHARED and joined_later:
        return True
    return visibility == HistoryVisibility.INVITED and membership == Membership.INVITE


def _with_membership(event: EventBase, membership: str | None) -> EventBase:
    """A shallow copy of the (shared, cached) event with ``unsigned.membership`` set."""
    clone = copy.copy(event)
    clone.unsigned = {**event.unsigned, "membership": membership or Membership.LEAVE}
    return clone


async def _last_join_positions(
    stores: MainStores, user_id: str, room_ids: Iterable[str]
) -> dict[str, int]:
    """For each room, the stream position of the user's latest join event there."""
    out: dict[str, int] = {}
    for room_id in room_ids:
        event_ids = await stores.roommember.get_membership_event_ids_for_user(user_id, room_id)
        if not event_ids:
            continue
        events = await stores.events.get_events(event_ids)
        joins = [
            e.internal_metadata.stream_ordering or 0
            for e in events.values()
            if _membership_of(e) == Membership.JOIN
        ]
        if joins:
            out[room_id] = max(joins)
    return out


async def filter_events_for_client(
    stores: MainStores,
    user_id: str,
    events: Sequence[EventBase],
    *,
    ignored_users: Collection[str] | None = None,
    add_membership: bool = True,
) -> list[EventBase]:
    """The events of ``events`` (of any rooms) the user may see, in order.

    ``ignored_users`` is looked up when not given. With ``add_membership`` the events
    returned are copies with ``unsigned.membership`` set.
    """
    if not events:
        return []
    if ignored_users is None:
        ignored_users = await get_ignored_users(stores, user_id)
    ignored = frozenset(ignored_users)
    events = [e for e in events if e.is_state() or e.sender not in ignored]
    if not events:
        return []

    groups = await stores.state.get_state_group_for_events([e.event_id for e in events])
    state_filter = StateFilter.from_types([_HV_KEY, (EventTypes.Member, user_id)])
    states = await stores.state.get_state_ids_for_groups(set(groups.values()), state_filter)

    # The state events deciding visibility, and the state that special events replaced.
    needed: set[str] = set()
    for state in states.values():
        needed.update(state.values())
    for event in events:
        if _is_special(event, user_id):
            replaced = event.unsigned.get("replaces_state")
            if isinstance(replaced, str):
                needed.add(replaced)
    state_events = await stores.events.get_events(needed) if needed else {}
    member_key: StateKey = (EventTypes.Member, user_id)

    last_join: dict[str, int] | None = None
    out: list[EventBase] = []
    for event in events:
        group = groups.get(event.event_id)
        if group is None:
            # Outliers (e.g. an invite over federation): only one's own membership.
            if event.type == EventTypes.Member and event.get_state_key() == user_id:
                out.append(
                    _with_membership(event, _membership_of(event)) if add_membership else event
                )
            continue
        state = states.get(group, {})
        hv_id = state.get(_HV_KEY)
        member_id = state.get(member_key)
        visibility = _visibility_of(state_events.get(hv_id) if hv_id else None)
        membership = _membership_of(state_events.get(member_id) if member_id else None)

        visibilities = [visibility]
        memberships = [membership]
        if _is_special(event, user_id):
            replaced_id = event.unsigned.get("replaces_state")
            replaced = state_events.get(replaced_id) if isinstance(replaced_id, str) else None
            if event.type == EventTypes.RoomHistoryVisibility:
                visibilities.append(_visibility_of(replaced))
            else:
                memberships.append(_membership_of(replaced))

        joined_later = False
        if HistoryVisibility.SHARED in visibilities and Membership.JOIN not in memberships:
            if last_join is None:
                last_join = await _last_join_positions(stores, user_id, {e.room_id for e in events})
            position = last_join.get(event.room_id)
            joined_later = position is not None and position > (
                event.internal_metadata.stream_ordering or 0
            )
        if any(_allowed(v, m, joined_later) for v in visibilities for m in memberships):
            out.append(_with_membership(event, membership) if add_membership else event)
    return out


def _is_special(event: EventBase, user_id: str) -> bool:
    """History visibility events and the user's own membership events: the state before
    them counts as well as the state after."""
    if not event.is_state():
        return False
    if event.type == EventTypes.RoomHistoryVisibility and event.get_state_key() == "":
        return True
    return event.type == EventTypes.Member and event.get_state_key() == user_id


async def is_event_visible(stores: MainStores, user_id: str, event: EventBase) -> bool:
    """Whether the user may see one event (history visibility and ignored users)."""
    return bool(await filter_events_for_client(stores, user_id, [event], add_membership=False))
