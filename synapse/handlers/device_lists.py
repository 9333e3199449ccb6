"""Device lists: recording that a user's devices changed, waking those who should
re-query their keys, and computing ``device_lists`` for ``/sync`` and ``/keys/changes``.

A user's device list changes when a device is added or deleted, renamed, or uploads new
identity keys, and when the user's cross-signing keys or their signatures change. Each
change is a row of the device list stream; the users sharing a room with the user (and
the user) are woken.

Between two sync tokens, a syncing user sees in ``changed`` the users who share a room
with them now and whose device list changed, plus everyone who came to share a room
with them (a join of theirs, or into one of their rooms): their devices are new to the
client. ``left`` holds the users who shared a room with them during the interval and
no longer share any.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from synapse.api.constants import Membership
from synapse.handlers.sync import DeviceListUpdates
from synapse.types import StreamKeyType, StreamToken

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# ``listener(user_id, device_ids, stream_id)``: a local user's devices changed (device
# ``None``: cross-signing keys); the federation sender sends ``m.device_list_update``.
DeviceListListener = Callable[[str, Collection[str | None], int], None]


class DeviceListHandler:
    """``hs.get_device_list_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self._stores = hs.get_datastores().main
        self._store = self._stores.device_lists
        self._notifier = hs.get_notifier()
        self._notifier.register_stream_position_source(
            StreamKeyType.DEVICE_LIST, self._store.get_device_list_stream_id
        )
        self._listeners: list[DeviceListListener] = []

    def add_device_list_listener(self, listener: DeviceListListener) -> None:
        """Hook for the federation sender: told of every change to a local user's devices."""
        self._listeners.append(listener)

    # --- writes ----------------------------------------------------------------------
    async def notify_device_update(
        self, user_id: str, device_ids: Collection[str | None] = ()
    ) -> int:
        """Record that the user's devices (``None``: cross-signing keys) changed and wake
        the user and everyone sharing a room with them; the stream position.

        Remote users' changes, once federation delivers them, come through here too.
        """
        stream_id = await self._store.add_device_list_change(user_id, list(device_ids))
        rooms = await self._stores.roommember.get_rooms_for_user(user_id)
        self._notifier.on_new_event(
            StreamKeyType.DEVICE_LIST, stream_id, users=[user_id], rooms=rooms
        )
        if self.hs.is_mine_id(user_id):
            for listener in self._listeners:
                try:
                    listener(user_id, list(device_ids), stream_id)
                except Exception:
                    logger.exception("Error in device list listener")
        return stream_id

    async def on_devices_deleted(self, user_id: str, device_ids: Collection[str]) -> None:
        """The devices are gone: drop their keys and pending to-device messages, and
        tell those who share a room with the user."""
        ids = list(device_ids)
        if not ids:
            return
        await self._stores.e2e_keys.delete_keys_for_devices(user_id, ids)
        await self._stores.device_inbox.delete_all_messages_for_devices(user_id, ids)
        await self.notify_device_update(user_id, ids)

    # --- reads -----------------------------------------------------------------------
    async def get_device_list_changes(
        self, user_id: str, from_token: StreamToken, to_token: StreamToken
    ) -> DeviceListUpdates:
        """Whose device lists the user should re-query, and who left, between the tokens."""
        from_room = from_token.room_key.stream
        to_room = to_token.room_key.stream
        roommember = self._stores.roommember

        rooms_now = await roommember.get_rooms_for_user(user_id)
        my_changes = await roommember.get_membership_changes_for_user(user_id, from_room, to_room)
        # Rooms of the user with new events: the only ones with new memberships.
        busy_rooms = self._stores.stream.get_rooms_that_changed(
            rooms_now | {c.room_id for c in my_changes}, from_token.room_key
        )
        rows = await roommember.get_membership_changes_in_rooms(busy_rooms, from_room, to_room)
        device_changes = await self._store.get_users_whose_devices_changed(
            from_token.device_list_key, to_token.device_list_key
        )
        if not (rows or device_changes):
            return DeviceListUpdates()

        # Per (room, user): the first membership event in the interval, and the last
        # membership.
        first_event: dict[tuple[str, str], str] = {}
        last_membership: dict[tuple[str, str], str] = {}
        for room_id, member, membership, event_id in rows:
            first_event.setdefault((room_id, member), event_id)
            last_membership[(room_id, member)] = membership
        before = await self._previous_memberships(first_event.values())

        changed = {u for u in device_changes if await self._shares_a_room(user_id, u, rooms_now)}
        maybe_left: set[str] = set()
        for (room_id, member), membership in last_membership.items():
            joined_before = before.get(first_event[(room_id, member)]) == Membership.JOIN
            joined_now = membership == Membership.JOIN and room_id in rooms_now
            if member == user_id:
                if joined_now and not joined_before:
                    changed.update(await roommember.get_users_in_room(room_id))
                elif room_id not in rooms_now:
                    maybe_left.update(await roommember.get_users_in_room(room_id))
            elif joined_now and not joined_before:
                changed.add(member)
            elif membership != Membership.JOIN:
                maybe_left.add(member)
        left = {
            u for u in maybe_left - changed if not await self._shares_a_room(user_id, u, rooms_now)
        }
        return DeviceListUpdates(changed=frozenset(changed), left=frozenset(left))

    async def _shares_a_room(self, user_id: str, other: str, rooms: frozenset[str]) -> bool:
        """Whether ``other`` is ``user_id`` or joined to one of ``rooms`` (the user's)."""
        if other == user_id:
            return True
        return not rooms.isdisjoint(await self._stores.roommember.get_rooms_for_user(other))

    async def _previous_memberships(self, event_ids: Collection[str]) -> dict[str, str]:
        """For each membership event, the membership it replaced (none: left out)."""
        events = await self._stores.events.get_events(event_ids)
        replaced = {
            event_id: prev_id
            for event_id, event in events.items()
            if isinstance(prev_id := event.unsigned.get("replaces_state"), str)
        }
        if not replaced:
            return {}
        prev_events = await self._stores.events.get_events(set(replaced.values()))
        out: dict[str, str] = {}
        for event_id, prev_id in replaced.items():
            prev = prev_events.get(prev_id)
            membership = prev.content.get("membership") if prev is not None else None
            if isinstance(membership, str):
                out[event_id] = membership
        return out
