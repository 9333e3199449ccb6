"""Presence: whether each user is online, unavailable (idle) or offline, and their message.

The state of every user the server has seen lately is held in memory (the source of
truth while the process runs) and written to ``presence_stream``. A change clients must
hear about (state, message, ``currently_active``, or a last-active time while not
currently active) takes a position in the presence stream and wakes the ``/sync`` of
the user and of everyone sharing a room with them. Timestamp refreshes that nobody is
told about are written in the background every minute.

What moves a local user's presence (when the server tracks presence):

- ``PUT /presence/{userId}/status`` sets the state and the message;
- a ``/sync`` (unless ``set_presence=offline``) brings an offline user online (or
  unavailable with ``set_presence=unavailable``, which also marks an online user idle
  unless another of their clients syncs as online) and marks the user as syncing;
- activity (sending an event, a receipt, a read marker) makes the user online and
  bumps their last-active time;
- time: online users are unavailable after ``IDLE_TIMER_MS`` without activity, and
  anyone is offline ``SYNC_ONLINE_TIMEOUT_MS`` after their last sync ended (and their
  last activity), unless a sync is in flight.

``presence.enabled: untracked`` keeps what clients set but works nothing out; with
presence disabled the endpoints answer without effect and ``/sync`` sends none.

Federation fills two hooks: ``set_remote_states`` (states received in ``m.presence``
EDUs) and ``add_presence_listener`` (local changes to send out).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from typing import TYPE_CHECKING

from twisted.internet import defer

from synapse.api.constants import EventTypes, Membership, PresenceState
from synapse.api.errors import AuthError, Codes, NotFoundError, SynapseError
from synapse.api.presence import UserPresenceState, format_presence_content
from synapse.api.ratelimiting import Ratelimiter
from synapse.events import EventBase
from synapse.types import JsonDict, Requester, RoomStreamToken, StreamKeyType, StreamToken
from synapse.util.caches.stream_change_cache import StreamChangeCache
from synapse.util.identifiers import is_valid_user_id
from synapse.util.linearizer import Linearizer

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# An online user without activity for this long becomes unavailable.
IDLE_TIMER_MS = 5 * 60 * 1000
# A user is offline this long after their last sync ended (and their last activity).
SYNC_ONLINE_TIMEOUT_MS = 30 * 1000
# Activity within this long makes an online user ``currently_active``; while they are,
# further activity is not announced.
LAST_ACTIVE_GRANULARITY_MS = 60 * 1000
# A remote user we hear nothing about for this long is taken to be offline.
FEDERATION_TIMEOUT_MS = 30 * 60 * 1000
# How often the timeouts are checked, and unannounced timestamps written.
TIMEOUT_CHECK_INTERVAL_MS = 5 * 1000
PERSIST_INTERVAL_MS = 60 * 1000

PRESENCE_STATES = (PresenceState.ONLINE, PresenceState.UNAVAILABLE, PresenceState.OFFLINE)

# ``listener(states)``: local presence changes that clients are told about.
PresenceListener = Callable[[list[UserPresenceState]], object]


def handle_timeout(
    state: UserPresenceState, is_mine: bool, syncing: bool, now: int
) -> UserPresenceState | None:
    """The state of a user once time has passed, or None if it stays as it is."""
    if state.state == PresenceState.OFFLINE:
        return None
    new = state
    if is_mine:
        idle_for = now - state.last_active_ts
        if new.state == PresenceState.ONLINE:
            if idle_for > IDLE_TIMER_MS:
                new = new.copy_and_replace(state=PresenceState.UNAVAILABLE)
            elif new.currently_active and idle_for >= LAST_ACTIVE_GRANULARITY_MS:
                new = new.copy_and_replace(currently_active=False)
        last_seen = max(state.last_user_sync_ts, state.last_active_ts)
        if not syncing and now - last_seen > SYNC_ONLINE_TIMEOUT_MS:
            new = new.copy_and_replace(state=PresenceState.OFFLINE)
    elif now - state.last_federation_update_ts > FEDERATION_TIMEOUT_MS:
        new = new.copy_and_replace(state=PresenceState.OFFLINE)
    if new.state != PresenceState.ONLINE:
        new = new.copy_and_replace(currently_active=False)
    return None if new == state else new


def should_notify(old: UserPresenceState, new: UserPresenceState) -> bool:
    """Whether clients must be told about the change from ``old`` to ``new``."""
    if old.state != new.state or old.status_msg != new.status_msg:
        return True
    if new.state == PresenceState.ONLINE and old.currently_active != new.currently_active:
        return True
    # A new last-active time is news unless the user is shown as currently active.
    moved = new.last_active_ts - old.last_active_ts > LAST_ACTIVE_GRANULARITY_MS
    return moved and not new.currently_active


def _count(counts: dict[str, int], key: str, delta: int) -> None:
    value = counts.get(key, 0) + delta
    if value > 0:
        counts[key] = value
    else:
        counts.pop(key, None)


class PresenceHandler:
    """``hs.get_presence_handler()``: the presence of every user, and the presence stream."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self._stores = hs.get_datastores().main
        self._store = self._stores.presence
        self._notifier = hs.get_notifier()
        server = hs.config.server
        # Presence is served at all (``untracked`` included), and worked out by the server.
        self.enabled: bool = server.presence_enabled or server.track_presence
        self.tracking: bool = server.presence_enabled
        self._include_offline_on_sync = server.presence_include_offline_users_on_sync
        self._limiter = Ratelimiter(
            self._stores, self.clock, hs.config.ratelimiting.rc_presence_per_user
        )
        self._states: dict[str, UserPresenceState] = {}
        self._not_offline: set[str] = set()
        # user -> number of their syncs in flight, and of those with set_presence=online
        self._syncs: dict[str, int] = {}
        self._online_syncs: dict[str, int] = {}
        # Users whose timestamps changed since their row was last written.
        self._unpersisted: set[str] = set()
        self._persist_linearizer = Linearizer("presence_persist")
        self._listeners: list[PresenceListener] = []
        for state in self._store.take_presence_startup_info():
            self._put(state)
        self._notifier.register_stream_position_source(
            StreamKeyType.PRESENCE, self._store.get_current_presence_token
        )
        # Rooms someone joined, by room stream position: a sync looks for new members
        # only in those, so that rooms with only new messages cost no query.
        self._rooms_with_joins = StreamChangeCache(
            "presence_rooms_with_joins", self._stores.stream.get_room_max_stream_ordering()
        )
        self._notifier.add_new_room_events_callback(self._on_new_room_events)
        if self.tracking:
            self.clock.looping_call(self._handle_timeouts, TIMEOUT_CHECK_INTERVAL_MS)
        self.clock.looping_call(self._persist_timestamps, PERSIST_INTERVAL_MS)

    def _on_new_room_events(self, events: list[EventBase], max_token: RoomStreamToken) -> None:
        for event in events:
            stream = event.internal_metadata.stream_ordering
            if (
                event.type == EventTypes.Member
                and event.content.get("membership") == Membership.JOIN
                and not event.internal_metadata.is_outlier()
                and stream is not None
            ):
                self._rooms_with_joins.entity_has_changed(event.room_id, stream)

    def add_presence_listener(self, listener: PresenceListener) -> None:
        """Call ``listener(states)`` with each batch of announced local changes."""
        self._listeners.append(listener)

    # --- the states in memory ----------------------------------------------------------
    def _put(self, state: UserPresenceState) -> None:
        self._states[state.user_id] = state
        if state.state == PresenceState.OFFLINE:
            self._not_offline.discard(state.user_id)
        else:
            self._not_offline.add(state.user_id)

    async def _ensure_loaded(self, user_ids: Collection[str]) -> None:
        """Bring the stored states of ``user_ids`` into memory (once per user)."""
        missing = [u for u in user_ids if u not in self._states]
        if not missing:
            return
        stored = await self._store.get_presence_for_users(missing)
        for user_id in missing:
            # A change made while the database was read wins.
            if user_id not in self._states:
                self._put(stored.get(user_id) or UserPresenceState.default(user_id))

    def _apply(self, new_states: Iterable[UserPresenceState]) -> list[UserPresenceState]:
        """Put ``new_states`` in memory at once; the ones clients must be told about."""
        now = self.clock.time_msec()
        to_notify: list[UserPresenceState] = []
        for new in new_states:
            old = self._states.get(new.user_id) or UserPresenceState.default(new.user_id)
            if self.hs.is_mine_id(new.user_id):
                active = (
                    new.state == PresenceState.ONLINE
                    and now - new.last_active_ts < LAST_ACTIVE_GRANULARITY_MS
                )
                new = new.copy_and_replace(currently_active=active)
            if new == old:
                continue
            self._put(new)
            if should_notify(old, new):
                to_notify.append(new)
            else:
                self._unpersisted.add(new.user_id)
        return to_notify

    async def _persist_and_notify(self, states: list[UserPresenceState]) -> None:
        """Write announced changes at new stream positions, then wake their readers."""
        if not states:
            return
        async with self._persist_linearizer.queue(None):
            # What memory holds now: a later change may have overtaken this one.
            current = [self._states.get(s.user_id, s) for s in states]
            stream_id = await self._store.update_presence(current)
        for state in current:
            self._unpersisted.discard(state.user_id)
        rooms: set[str] = set()
        for state in current:
            rooms.update(await self._stores.roommember.get_rooms_for_user(state.user_id))
        self._notifier.on_new_event(
            StreamKeyType.PRESENCE, stream_id, users=[s.user_id for s in current], rooms=rooms
        )
        local = [s for s in current if self.hs.is_mine_id(s.user_id)]
        if local:
            for listener in self._listeners:
                try:
                    listener(local)
                except Exception:
                    logger.exception("Presence listener failed")

    async def _update(self, new_states: Iterable[UserPresenceState]) -> None:
        await self._persist_and_notify(self._apply(new_states))

    def _update_in_background(self, new_states: Iterable[UserPresenceState]) -> None:
        """Like ``_update``, for callers that cannot wait: memory changes at once."""
        to_notify = self._apply(new_states)
        if to_notify:
            defer.ensureDeferred(self._persist_and_notify(to_notify)).addErrback(
                lambda f: logger.error("Failed to persist presence: %s", f.value)
            )

    # --- what moves presence -----------------------------------------------------------
    async def set_state(self, user_id: str, presence: str, status_msg: str | None = None) -> None:
        """Set a local user's state and message (``PUT /presence``); a message not
        given is cleared. Going online counts as activity."""
        if not self.enabled:
            return
        await self._ensure_loaded([user_id])
        fields: JsonDict = {"state": presence, "status_msg": status_msg}
        if presence == PresenceState.ONLINE:
            fields["last_active_ts"] = self.clock.time_msec()
        await self._update([self._states[user_id].copy_and_replace(**fields)])

    async def bump_presence_active_time(self, user_id: str) -> None:
        """The user did something: online, active now."""
        if not self.tracking:
            return
        try:
            await self._ensure_loaded([user_id])
            state = self._states[user_id].copy_and_replace(
                state=PresenceState.ONLINE, last_active_ts=self.clock.time_msec()
            )
            await self._update([state])
        except Exception:
            # Presence must never fail the request that caused it.
            logger.exception("Failed to record activity of %s", user_id)

    @contextlib.asynccontextmanager
    async def user_syncing(
        self, user_id: str, affect_presence: bool, presence_state: str = PresenceState.ONLINE
    ) -> AsyncIterator[None]:
        """Around a ``/sync``: an offline user comes online (or unavailable), and
        nobody goes offline while a sync of theirs is in flight."""
        if not self.tracking or not affect_presence:
            yield
            return
        online = presence_state == PresenceState.ONLINE
        _count(self._syncs, user_id, 1)
        if online:
            _count(self._online_syncs, user_id, 1)
        try:
            try:
                await self._start_sync(user_id, presence_state)
            except Exception:
                logger.exception("Failed to update the presence of %s for a sync", user_id)
            yield
        finally:
            _count(self._syncs, user_id, -1)
            if online:
                _count(self._online_syncs, user_id, -1)
            state = self._states.get(user_id)
            if state is not None:
                # The offline timeout runs from here.
                self._update_in_background(
                    [state.copy_and_replace(last_user_sync_ts=self.clock.time_msec())]
                )

    async def _start_sync(self, user_id: str, presence_state: str) -> None:
        await self._ensure_loaded([user_id])
        now = self.clock.time_msec()
        state = self._states[user_id]
        fields: JsonDict = {"last_user_sync_ts": now}
        if state.state == PresenceState.OFFLINE:
            fields["state"] = presence_state
            if presence_state == PresenceState.ONLINE:
                fields["last_active_ts"] = now
        elif (
            presence_state == PresenceState.UNAVAILABLE
            and state.state == PresenceState.ONLINE
            and user_id not in self._online_syncs
        ):
            # The client says the user is idle, and no other client says otherwise.
            fields["state"] = PresenceState.UNAVAILABLE
        # Otherwise syncing changes no state: an unavailable user stays so until they
        # do something.
        await self._update([state.copy_and_replace(**fields)])

    def is_syncing(self, user_id: str) -> bool:
        return user_id in self._syncs

    async def set_remote_states(self, states: Collection[UserPresenceState]) -> None:
        """States of remote users received over federation (the ``m.presence`` EDU)."""
        if not self.enabled:
            return
        now = self.clock.time_msec()
        await self._update(
            s.copy_and_replace(last_federation_update_ts=now)
            for s in states
            if not self.hs.is_mine_id(s.user_id)
        )

    # --- time --------------------------------------------------------------------------
    def _handle_timeouts(self) -> None:
        now = self.clock.time_msec()
        changes = []
        for user_id in list(self._not_offline):
            state = self._states[user_id]
            new = handle_timeout(state, self.hs.is_mine_id(user_id), user_id in self._syncs, now)
            if new is not None:
                changes.append(new)
        self._update_in_background(changes)

    async def _persist_timestamps(self) -> None:
        users, self._unpersisted = self._unpersisted, set()
        states = [self._states[u] for u in users if u in self._states]
        try:
            await self._store.update_presence_timestamps(states)
        except Exception:
            logger.exception("Failed to write presence timestamps")
            self._unpersisted.update(users)

    # --- reads -------------------------------------------------------------------------
    async def get_state(self, user_id: str) -> UserPresenceState:
        return (await self.get_states([user_id]))[user_id]

    async def get_states(self, user_ids: Collection[str]) -> dict[str, UserPresenceState]:
        """The current state of each of ``user_ids`` (offline for users never seen)."""
        out = {u: self._states[u] for u in user_ids if u in self._states}
        missing = [u for u in user_ids if u not in out]
        if missing:
            stored = await self._store.get_presence_for_users(missing)
            for user_id in missing:
                out[user_id] = stored.get(user_id) or UserPresenceState.default(user_id)
        return out

    async def is_visible(self, observer: str, observed: str) -> bool:
        """Whether ``observer`` may see ``observed``'s presence: themselves, or someone
        sharing a room with them."""
        if observer == observed:
            return True
        roommember = self._stores.roommember
        mine = await roommember.get_rooms_for_user(observer)
        return bool(mine & await roommember.get_rooms_for_user(observed))

    # --- the client API ----------------------------------------------------------------
    async def get_presence_for_client(self, requester: Requester, target: str) -> JsonDict:
        """``GET /presence/{userId}/status``: 403 when the target shares no room with
        the requester, 404 for a local user who does not exist."""
        if not is_valid_user_id(target):
            raise SynapseError(400, f"Invalid user ID {target!r}", Codes.INVALID_PARAM)
        if not self.enabled:
            return {"presence": PresenceState.OFFLINE}
        observer = requester.user.to_string()
        if target != observer:
            if self.hs.is_mine_id(target):
                if await self._stores.registration.get_user_by_id(target) is None:
                    raise NotFoundError("No such user")
            if not await self.is_visible(observer, target):
                raise AuthError(403, "You are not allowed to see their presence")
        state = await self.get_state(target)
        return format_presence_content(state, self.clock.time_msec())

    async def set_presence_for_client(
        self, requester: Requester, target: str, presence: str, status_msg: str | None
    ) -> None:
        """``PUT /presence/{userId}/status``: only for oneself; ``rc_presence``."""
        if not is_valid_user_id(target):
            raise SynapseError(400, f"Invalid user ID {target!r}", Codes.INVALID_PARAM)
        user_id = requester.user.to_string()
        if target != user_id:
            raise AuthError(403, "Cannot set the presence of another user")
        if status_msg is not None and "\x00" in status_msg:
            raise SynapseError(
                400, "status_msg may not contain NUL characters", Codes.INVALID_PARAM
            )
        await self._limiter.ratelimit(requester)
        await self.set_state(user_id, presence, status_msg)

    # --- /sync -------------------------------------------------------------------------
    async def get_states_for_sync(
        self,
        user_id: str,
        since: StreamToken | None,
        now: StreamToken,
        ignored_users: Collection[str] = (),
    ) -> list[UserPresenceState]:
        """The states to send in a sync: of the user and everyone sharing a room with
        them; all not offline for an initial sync, else those that changed between the
        tokens plus those not offline who came to share a room with the user."""
        if not self.enabled:
            return []
        roommember = self._stores.roommember
        my_rooms = await roommember.get_rooms_for_user(user_id)
        if since is None:
            interested = {user_id}
            for room_id in my_rooms:
                interested.update(await roommember.get_users_in_room(room_id))
            interested.difference_update(ignored_users)
            if self._include_offline_on_sync:
                states = await self.get_states(interested)
                return [states[u] for u in sorted(interested)]
            return [self._states[u] for u in sorted(interested & self._not_offline)]

        wanted: set[str] = set()
        changed = await self._store.get_users_with_presence_changes(
            since.presence_key, now.presence_key
        )
        for other in changed:
            if other == user_id or my_rooms & await roommember.get_rooms_for_user(other):
                wanted.add(other)
        newly_shared = await self._newly_shared_users(user_id, my_rooms, since, now)
        wanted.update(newly_shared & self._not_offline)
        wanted.difference_update(ignored_users)
        states = await self.get_states(wanted)
        return [states[u] for u in sorted(wanted)]

    async def _newly_shared_users(
        self, user_id: str, my_rooms: frozenset[str], since: StreamToken, now: StreamToken
    ) -> set[str]:
        """Users who may have come to share a room with ``user_id`` between the tokens:
        the members of rooms the user joined, and those who joined the user's rooms."""
        roommember = self._stores.roommember
        from_stream, to_stream = since.room_key.stream, now.room_key.stream
        if from_stream >= to_stream:
            return set()
        out: set[str] = set()
        changes = await roommember.get_membership_changes_for_user(user_id, from_stream, to_stream)
        joined = {c.room_id for c in changes if c.membership == Membership.JOIN} & my_rooms
        for room_id in joined:
            out.update(await roommember.get_users_in_room(room_id))
        others = self._rooms_with_joins.get_entities_changed(my_rooms - joined, from_stream)
        if not others:
            return out
        keys = await self._stores.stream.get_state_keys_changed_in_rooms(
            {room_id: (from_stream, to_stream + 1) for room_id in others}
        )
        for room_id, changed_keys in keys.items():
            members = set(await roommember.get_users_in_room(room_id))
            out.update(k for t, k in changed_keys if t == EventTypes.Member and k in members)
        return out
