"""Typing notifications: who is typing in which room, in memory only.

Every change of a room's typing set takes the next position of the typing stream (a
counter in memory) and wakes the room's waiting ``/sync`` requests. Each typist has a
timer on the homeserver's clock that removes them when their timeout passes. Remote
typists (federation EDUs) go through ``set_typing`` like local ones; listeners added
with ``add_typing_listener`` (the federation sender) hear about local changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from synapse.api.constants import EventTypes
from synapse.api.errors import AuthError
from synapse.types import JsonDict, Requester, StreamKeyType

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# A typing notification lasts at most this long unless renewed (ms).
MAX_TYPING_TIMEOUT_MS = 120_000
# The timeout when the client gives none (ms).
DEFAULT_TYPING_TIMEOUT_MS = 30_000

# ``listener(room_id, user_id, typing, timeout_ms)``
TypingListener = Callable[[str, str, bool, int], None]


class TypingHandler:
    """``hs.get_typing_handler()``: the typing stream."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self._notifier = hs.get_notifier()
        self._stores = hs.get_datastores().main
        # room -> user -> when the user stops typing (ms)
        self._typing: dict[str, dict[str, int]] = {}
        # room -> the typing stream position of its last change
        self._room_serials: dict[str, int] = {}
        self._timers: dict[tuple[str, str], Any] = {}
        self._latest_serial = 0
        self._listeners: list[TypingListener] = []
        self._notifier.register_stream_position_source(StreamKeyType.TYPING, self.get_current_token)

    def get_current_token(self) -> int:
        """The typing stream's position."""
        return self._latest_serial

    def add_typing_listener(self, listener: TypingListener) -> None:
        """Call ``listener(room_id, user_id, typing, timeout_ms)`` on each local change."""
        self._listeners.append(listener)

    # --- client requests ---------------------------------------------------------------
    async def set_typing_for_client(
        self, requester: Requester, target_user_id: str, room_id: str, typing: bool, timeout_ms: int
    ) -> None:
        """``PUT /rooms/{roomId}/typing/{userId}``: only for oneself, only as a member."""
        user_id = requester.user.to_string()
        if target_user_id != user_id:
            raise AuthError(403, "Cannot set the typing state of another user")
        joined = await self._stores.roommember.get_rooms_for_user(user_id)
        if room_id not in joined:
            raise AuthError(403, f"User {user_id} not in room {room_id}")
        timeout_ms = min(max(timeout_ms, 0), MAX_TYPING_TIMEOUT_MS)
        self.set_typing(room_id, user_id, typing, timeout_ms)
        if self.hs.is_mine_id(user_id):
            for listener in self._listeners:
                try:
                    listener(room_id, user_id, typing, timeout_ms)
                except Exception:
                    logger.exception("Typing listener failed")

    # --- the typing sets -------------------------------------------------------------
    def set_typing(self, room_id: str, user_id: str, typing: bool, timeout_ms: int = 0) -> None:
        """Mark ``user_id`` as typing in the room for ``timeout_ms`` (or as not typing).

        Renewing a running notification only moves its timer: the set is unchanged,
        so nothing is sent to clients.
        """
        key = (room_id, user_id)
        timer = self._timers.pop(key, None)
        if timer is not None and timer.active():
            timer.cancel()
        room = self._typing.setdefault(room_id, {})
        if typing and timeout_ms > 0:
            was_typing = user_id in room
            room[user_id] = self.clock.time_msec() + timeout_ms
            self._timers[key] = self.clock.call_later(
                timeout_ms / 1000.0, self._expire, room_id, user_id
            )
            if not was_typing:
                self._changed(room_id)
        else:
            if room.pop(user_id, None) is not None:
                self._changed(room_id)
            if not room:
                del self._typing[room_id]

    def _expire(self, room_id: str, user_id: str) -> None:
        self._timers.pop((room_id, user_id), None)
        room = self._typing.get(room_id)
        if room is None or user_id not in room:
            return
        if room[user_id] > self.clock.time_msec():
            return
        del room[user_id]
        if not room:
            del self._typing[room_id]
        self._changed(room_id)

    def _changed(self, room_id: str) -> None:
        self._latest_serial += 1
        self._room_serials[room_id] = self._latest_serial
        self._notifier.on_new_event(StreamKeyType.TYPING, self._latest_serial, rooms=[room_id])

    # --- reads -------------------------------------------------------------------------
    def get_typing_users(self, room_id: str) -> list[str]:
        """Who is typing in the room now."""
        return sorted(self._typing.get(room_id, ()))

    def get_typing_events(
        self, room_ids: Collection[str], from_key: int | None
    ) -> dict[str, JsonDict]:
        """An ``m.typing`` event (the set now) for each room whose typing set changed
        after ``from_key``; with ``from_key`` None, for each room where someone is
        typing. A ``from_key`` beyond the stream (from before a restart) counts as 0."""
        if from_key is not None and from_key > self._latest_serial:
            from_key = 0
        out: dict[str, JsonDict] = {}
        for room_id in room_ids:
            if from_key is None:
                if room_id not in self._typing:
                    continue
            else:
                serial = self._room_serials.get(room_id, 0)
                if serial <= from_key:
                    continue
            out[room_id] = {
                "type": EventTypes.Typing,
                "content": {"user_ids": self.get_typing_users(room_id)},
            }
        return out
