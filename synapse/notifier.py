"""Stream positions and the wake-ups of long-polling ``/sync`` requests.

Every write that a client may see (a room event, a typing notification, a receipt, ...)
moves one stream forward and tells the notifier which users and which rooms it concerns.
The notifier keeps one ``_UserStream`` per user that is (or recently was) waiting, indexed
by user and by the rooms the user is in, and wakes exactly those streams.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet import defer

from synapse.api.constants import EventTypes, Membership
from synapse.types import RoomStreamToken, StreamKeyType, StreamToken

if TYPE_CHECKING:
    from synapse.events import EventBase
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A stream with no waiter that was last notified this long ago is forgotten.
_STREAM_EXPIRY_MS = 10 * 60 * 1000


class _UserStream:
    """The position last seen for one user, and the requests waiting for it to move."""

    __slots__ = ("user_id", "rooms", "current_token", "last_notified_ms", "_waiters")

    def __init__(
        self, user_id: str, rooms: Collection[str], current_token: StreamToken, time_now_ms: int
    ) -> None:
        self.user_id = user_id
        self.rooms = set(rooms)
        self.current_token = current_token
        self.last_notified_ms = time_now_ms
        self._waiters: list[defer.Deferred[None]] = []

    def notify(self, stream_key: str, stream_id: Any, time_now_ms: int) -> None:
        self.current_token = self.current_token.copy_and_advance(stream_key, stream_id)
        self.last_notified_ms = time_now_ms
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if not d.called:
                d.callback(None)

    def new_listener(self, token: StreamToken) -> defer.Deferred[None]:
        """A Deferred that fires when the stream moves past ``token`` (at once if it has)."""
        if self.current_token.is_after(token):
            return defer.succeed(None)

        def _cancel(d: defer.Deferred[None]) -> None:
            try:
                self._waiters.remove(d)
            except ValueError:
                pass

        d: defer.Deferred[None] = defer.Deferred(_cancel)
        self._waiters.append(d)
        return d

    def has_waiters(self) -> bool:
        return bool(self._waiters)


class Notifier:
    """Tracks the current position of every stream and wakes the requests a change concerns."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        self._clock = hs.get_clock()
        self._user_streams: dict[str, _UserStream] = {}
        self._room_to_user_streams: dict[str, set[_UserStream]] = {}
        self._current_token = StreamToken.START
        self._position_sources: dict[str, Callable[[], int]] = {}
        self._default_sources_registered = False
        self._new_room_event_callbacks: list[
            Callable[[list[EventBase], RoomStreamToken], None]
        ] = []
        self._pending_leaves: list[tuple[str, str]] = []
        self._clock.looping_call(self._expire_streams, 60 * 1000)

    # --- positions ------------------------------------------------------------------
    def register_stream_position_source(self, stream_key: str, source: Callable[[], int]) -> None:
        """Tell the notifier how to read the current position of ``stream_key`` at start-up."""
        self._position_sources[stream_key] = source

    def _register_default_sources(self) -> None:
        if self._default_sources_registered:
            return
        self._default_sources_registered = True
        if StreamKeyType.ROOM not in self._position_sources:
            stream_store = self._hs.get_datastores().main.stream
            self._position_sources[StreamKeyType.ROOM] = stream_store.get_room_max_stream_ordering

    def get_current_token(self) -> StreamToken:
        """The position of every stream now."""
        self._register_default_sources()
        token = self._current_token
        for key, source in self._position_sources.items():
            token = token.copy_and_advance(key, source())
        self._current_token = token
        return token

    # --- writers tell us about new positions -----------------------------------------
    def add_new_room_events_callback(
        self, cb: Callable[[list[EventBase], RoomStreamToken], None]
    ) -> None:
        """Call ``cb(events, max_stream_token)`` after every batch of room events (federation
        sender, pushers, ...)."""
        self._new_room_event_callbacks.append(cb)

    def on_new_room_events(
        self, events: Iterable[EventBase], max_stream_token: RoomStreamToken
    ) -> None:
        """Room events were persisted up to ``max_stream_token``: wake their rooms' waiters.

        Membership events also wake their target user, and a join puts that user's stream
        under the room so that the room's later events wake it.
        """
        events = list(events)
        rooms: set[str] = set()
        users: set[str] = set()
        for event in events:
            meta = event.internal_metadata
            if event.type == EventTypes.Member:
                target = event.state_key
                users.add(target)
                if not meta.is_outlier():
                    membership = event.content.get("membership")
                    if membership == Membership.JOIN:
                        self._user_joined_room(target, event.room_id)
                    elif membership in (Membership.LEAVE, Membership.BAN):
                        self._pending_leaves.append((target, event.room_id))
            if not meta.is_outlier():
                rooms.add(event.room_id)
        self.on_new_event(StreamKeyType.ROOM, max_stream_token, users=users, rooms=rooms)
        self._apply_pending_leaves()
        for cb in self._new_room_event_callbacks:
            try:
                cb(events, max_stream_token)
            except Exception:
                logger.exception("Error in new room events callback")

    def _apply_pending_leaves(self) -> None:
        leaves, self._pending_leaves = self._pending_leaves, []
        for user_id, room_id in leaves:
            stream = self._user_streams.get(user_id)
            if stream is None:
                continue
            stream.rooms.discard(room_id)
            streams = self._room_to_user_streams.get(room_id)
            if streams is not None:
                streams.discard(stream)
                if not streams:
                    del self._room_to_user_streams[room_id]

    def on_new_event(
        self,
        stream_key: str,
        new_token: Any,
        users: Collection[str] = (),
        rooms: Collection[str] = (),
    ) -> None:
        """Stream ``stream_key`` moved to ``new_token``: wake the streams of ``users`` and
        of the members of ``rooms`` (and no other)."""
        self._current_token = self._current_token.copy_and_advance(stream_key, new_token)
        now = self._clock.time_msec()
        to_wake: set[_UserStream] = set()
        for user_id in users:
            stream = self._user_streams.get(user_id)
            if stream is not None:
                to_wake.add(stream)
        for room_id in rooms:
            to_wake.update(self._room_to_user_streams.get(room_id, ()))
        for stream in to_wake:
            stream.notify(stream_key, new_token, now)

    def _user_joined_room(self, user_id: str, room_id: str) -> None:
        stream = self._user_streams.get(user_id)
        if stream is not None:
            stream.rooms.add(room_id)
            self._room_to_user_streams.setdefault(room_id, set()).add(stream)

    # --- readers wait --------------------------------------------------------------
    async def wait_for_events(
        self,
        user_id: str,
        timeout: int,
        callback: Callable[[StreamToken, StreamToken], Awaitable[T]],
        room_ids: Collection[str] | None = None,
        from_token: StreamToken = StreamToken.START,
    ) -> T:
        """Wait up to ``timeout`` ms until ``callback(from, to)`` returns something truthy.

        The callback runs each time a stream concerning the user moves past the last
        position seen, and once more on timeout; its last result is returned. ``room_ids``
        defaults to the rooms the user is joined to.
        """
        stream = self._user_streams.get(user_id)
        if stream is None:
            current_token = self.get_current_token()
            if room_ids is None:
                room_ids = await self._hs.get_datastores().main.roommember.get_rooms_for_user(
                    user_id
                )
            stream = self._user_streams.get(user_id)
            if stream is None:
                stream = _UserStream(user_id, room_ids, current_token, self._clock.time_msec())
                self._register_stream(stream)

        result: T | None = None
        prev_token = from_token
        if timeout:
            end_time = self._clock.time_msec() + timeout
            while not result:
                now = self._clock.time_msec()
                if end_time <= now:
                    break
                listener = stream.new_listener(prev_token)
                fired = await self._wait_with_timeout(listener, (end_time - now) / 1000.0)
                if not fired:
                    break
                current_token = stream.current_token
                result = await callback(prev_token, current_token)
                prev_token = current_token

        if not result:
            result = await callback(prev_token, stream.current_token)
        return result

    async def _wait_with_timeout(self, d: defer.Deferred[None], timeout_s: float) -> bool:
        """Wait for ``d``; False if ``timeout_s`` passed first (and ``d`` is cancelled)."""
        if d.called:
            return True
        timed_out = False

        def _on_timeout() -> None:
            nonlocal timed_out
            timed_out = True
            d.cancel()

        timer: Any = self._clock.call_later(timeout_s, _on_timeout)
        try:
            await d
        except defer.CancelledError:
            if not timed_out:
                raise
            return False
        finally:
            if timer.active():
                timer.cancel()
        return True

    def _register_stream(self, stream: _UserStream) -> None:
        self._user_streams[stream.user_id] = stream
        for room_id in stream.rooms:
            self._room_to_user_streams.setdefault(room_id, set()).add(stream)

    def _expire_streams(self) -> None:
        expire_before = self._clock.time_msec() - _STREAM_EXPIRY_MS
        for user_id, stream in list(self._user_streams.items()):
            if stream.has_waiters() or stream.last_notified_ms > expire_before:
                continue
            del self._user_streams[user_id]
            for room_id in stream.rooms:
                streams = self._room_to_user_streams.get(room_id)
                if streams is not None:
                    streams.discard(stream)
                    if not streams:
                        del self._room_to_user_streams[room_id]

    # --- introspection for tests and metrics -----------------------------------------
    def count_listeners(self) -> int:
        return sum(len(s._waiters) for s in self._user_streams.values())

    def get_user_stream_rooms(self, user_id: str) -> set[str]:
        stream = self._user_streams.get(user_id)
        return set(stream.rooms) if stream else set()
