"""``/sync``: everything that changed for a user between two stream tokens.

A sync token (``StreamToken``) holds one position per stream (room events, typing,
receipts, account data, to-device messages, device lists, presence, push rules, ...).
An incremental sync reads each stream between the client's ``since`` and the positions
now; an initial sync (no ``since``) starts from nothing. A long-poll waits in the
notifier, which wakes it only for the streams and rooms that concern the user; each
wake recomputes the sync and answers as soon as it is not empty.

How the work stays small:

- rooms whose events did not change are skipped from memory (the room stream's change
  cache), as are unchanged receipts and account data;
- timelines of many rooms are read in one transaction (one indexed ``LIMIT`` query per
  room), and the events filtered and checked for visibility together;
- an incremental sync never loads a room's whole state: a limited timeline's state
  delta is read only for the state keys written in the gap, and lazy-loaded members
  only for the timeline's senders.

The result (``SyncResult``) holds events, not JSON: ``synapse/rest/client/sync.py``
serialises it for the requesting device. The other streams (to-device messages,
device lists, one-time key counts, presence) each fill a ``_generate_*`` method below.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attr

from synapse.api.constants import EventTypes, Membership, ReceiptTypes
from synapse.api.filtering import FilterCollection
from synapse.api.presence import format_presence_event
from synapse.events import EventBase
from synapse.events.client_serializer import BundledAggregations
from synapse.storage.databases.main.event_push_actions import RoomNotifCounts
from synapse.storage.databases.main.receipts import ReceiptInfo, receipts_to_content
from synapse.storage.databases.main.roommember import MembershipChange
from synapse.storage.state_filter import StateFilter
from synapse.types import (
    JsonDict,
    JsonMapping,
    Requester,
    RoomStreamToken,
    StateKey,
    StreamKeyType,
    StreamToken,
)
from synapse.util.caches.lrucache import LruCache
from synapse.util.caches.response_cache import ResponseCache, ResponseCacheContext
from synapse.visibility import filter_events_for_client, get_ignored_users

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# The most timeline events sent per room, whatever the filter's limit (the spec asks
# servers to impose a maximum).
MAX_TIMELINE_LIMIT = 1000
# When filters drop timeline events, read further back this many times at most.
_MAX_TIMELINE_ROUNDS = 3
# The most to-device messages sent per sync; the rest come with the next one.
MAX_TO_DEVICE_MESSAGES = 100
# How many heroes a room summary names.
_MAX_HEROES = 5
# Lazy-loaded member events remembered per device, to leave out redundant ones, and
# for how many devices (a forgotten one is only sent some member events again).
_LAZY_LOADED_MEMBERS_PER_DEVICE = 1000
_LAZY_LOADED_MEMBERS_DEVICES = 5000

# ``source(user_id, since_token, now_token)``: extra global account data for a sync
# (e.g. ``m.push_rules``), type -> content; ``since_token`` None for a full sync.
AccountDataSource = Callable[
    [str, "StreamToken | None", StreamToken], Awaitable[Mapping[str, JsonMapping]]
]


# --- the request ---------------------------------------------------------------------


@attr.s(slots=True, frozen=True, auto_attribs=True)
class SyncConfig:
    """Who is syncing, with which filter, and the key identical requests share."""

    requester: Requester
    filter_collection: FilterCollection
    # (user, device, since, timeout, full_state, filter, ...): see the servlet.
    request_key: tuple[Any, ...]
    use_state_after: bool = False

    @property
    def user_id(self) -> str:
        return self.requester.user.to_string()

    @property
    def device_id(self) -> str | None:
        return self.requester.device_id


# --- the result ----------------------------------------------------------------------


@attr.s(slots=True, frozen=True, auto_attribs=True)
class TimelineBatch:
    events: list[EventBase]
    # Where ``/messages`` continues backwards from the first event.
    prev_batch: StreamToken
    # Whether events between ``since`` and the first event were left out.
    limited: bool


@attr.s(slots=True, auto_attribs=True)
class JoinedSyncResult:
    room_id: str
    timeline: TimelineBatch
    # The state at the start of the timeline (or its change since ``since``).
    state: list[EventBase]
    # With ``use_state_after``: the state at the end of the timeline (or its change).
    state_after: list[EventBase] | None
    ephemeral: list[JsonDict]
    account_data: list[JsonDict]
    unread_notifications: RoomNotifCounts
    # ``m.heroes``, ``m.joined_member_count``, ``m.invited_member_count`` when they may
    # have changed; empty otherwise.
    summary: JsonDict

    def __bool__(self) -> bool:
        # Notification counts alone do not make a room worth sending.
        return bool(
            self.timeline.events
            or self.state
            or self.state_after
            or self.ephemeral
            or self.account_data
        )


@attr.s(slots=True, auto_attribs=True)
class ArchivedSyncResult:
    room_id: str
    timeline: TimelineBatch
    state: list[EventBase]
    state_after: list[EventBase] | None
    account_data: list[JsonDict]

    def __bool__(self) -> bool:
        return True


@attr.s(slots=True, frozen=True, auto_attribs=True)
class InvitedSyncResult:
    room_id: str
    # The invite; its ``unsigned.invite_room_state`` holds the stripped state.
    invite: EventBase


@attr.s(slots=True, frozen=True, auto_attribs=True)
class KnockedSyncResult:
    room_id: str
    # The knock; its ``unsigned.knock_room_state`` holds the stripped state.
    knock: EventBase


@attr.s(slots=True, frozen=True, auto_attribs=True)
class DeviceListUpdates:
    """Users whose devices changed, and users who no longer share a room."""

    changed: frozenset[str] = frozenset()
    left: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.changed or self.left)


@attr.s(slots=True, auto_attribs=True)
class SyncResult:
    next_batch: StreamToken
    presence: list[JsonDict]
    account_data: list[JsonDict]
    joined: list[JoinedSyncResult]
    invited: list[InvitedSyncResult]
    knocked: list[KnockedSyncResult]
    archived: list[ArchivedSyncResult]
    to_device: list[JsonDict]
    device_lists: DeviceListUpdates
    device_one_time_keys_count: dict[str, int]
    device_unused_fallback_key_types: list[str]
    # Aggregations (edits, threads, references) of timeline events, by event ID.
    bundled_aggregations: dict[str, BundledAggregations] = attr.Factory(dict)

    def __bool__(self) -> bool:
        """Whether there is anything new: a long-poll answers only then (or at timeout)."""
        return bool(
            self.presence
            or self.account_data
            or self.joined
            or self.invited
            or self.knocked
            or self.archived
            or self.to_device
            or self.device_lists
        )


# --- per-room work of one request ------------------------------------------------------


@attr.s(slots=True, auto_attribs=True)
class _RoomEntry:
    """A joined or left room to send, and the stream range of its timeline."""

    room_id: str
    joined: bool
    # Send the whole state at the start of the timeline rather than a delta.
    full_state: bool
    # The timeline covers events after ``since_stream`` (None: the room's whole
    # history) up to ``upto_stream``.
    since_stream: int | None
    upto_stream: int
    # The membership event that made a room archived.
    membership_event_id: str | None = None
    # A room the user left without having been joined: only that event is sent.
    never_joined: bool = False
    timeline: TimelineBatch | None = None


class SyncHandler:
    """``hs.get_sync_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        stores = hs.get_datastores().main
        self._stores = stores
        self._notifier = hs.get_notifier()
        # The handlers whose streams a token holds register their positions with the
        # notifier when they are built: build them before the first token is taken.
        self._typing = hs.get_typing_handler()
        hs.get_receipts_handler()
        hs.get_account_data_handler()
        self._presence = hs.get_presence_handler()
        self._device_messages = hs.get_device_message_handler()
        self._device_lists = hs.get_device_list_handler()
        self._e2e_keys = hs.get_e2e_keys_handler()
        self._relations = hs.get_relations_handler()
        self._response_cache: ResponseCache[tuple[Any, ...]] = ResponseCache(
            self.clock, "sync", hs.config.caches.sync_response_cache_duration
        )
        # (user, device) -> (room, member) -> the member event last sent to that device.
        self._lazy_loaded_members: LruCache[
            tuple[str, str | None], LruCache[tuple[str, str], str]
        ] = LruCache(_LAZY_LOADED_MEMBERS_DEVICES)
        self._account_data_sources: list[AccountDataSource] = []

    def register_global_account_data_source(self, source: AccountDataSource) -> None:
        """Add global account data the server manages to every sync (push rules)."""
        self._account_data_sources.append(source)

    # --- entry points ------------------------------------------------------------------
    async def wait_for_sync_for_user(
        self,
        sync_config: SyncConfig,
        since_token: StreamToken | None = None,
        timeout: int = 0,
        full_state: bool = False,
    ) -> SyncResult:
        """Sync now, or (with ``since`` and a ``timeout`` in ms, without ``full_state``)
        wait until there is something to send or the timeout passes.

        Identical concurrent requests share one computation, whose result is also
        kept a while for a client that retries (unless it is empty).
        """

        async def compute(context: ResponseCacheContext[tuple[Any, ...]]) -> SyncResult:
            result = await self._wait_for_sync(sync_config, since_token, timeout, full_state)
            if not result:
                # The client comes back with the same token: do not answer it from here.
                context.should_cache = False
            return result

        return await self._response_cache.wrap(sync_config.request_key, compute)

    async def _wait_for_sync(
        self,
        sync_config: SyncConfig,
        since_token: StreamToken | None,
        timeout: int,
        full_state: bool,
    ) -> SyncResult:
        if timeout <= 0 or since_token is None or full_state:
            return await self.current_sync_for_user(sync_config, since_token, full_state)

        async def current_sync_callback(
            _before_token: StreamToken, _after_token: StreamToken
        ) -> SyncResult:
            return await self.current_sync_for_user(sync_config, since_token)

        return await self._notifier.wait_for_events(
            sync_config.user_id, timeout, current_sync_callback, from_token=since_token
        )

    async def current_sync_for_user(
        self,
        sync_config: SyncConfig,
        since_token: StreamToken | None = None,
        full_state: bool = False,
    ) -> SyncResult:
        """What changed for the user between ``since_token`` and now (everything, for
        an initial sync)."""
        now_token = self._notifier.get_current_token()
        request = _SyncRequest(self, sync_config, since_token, now_token, full_state)
        return await request.generate()

    # --- lazy-loaded members sent to each device -------------------------------------
    def lazy_loaded_members_cache(
        self, user_id: str, device_id: str | None
    ) -> LruCache[tuple[str, str], str]:
        key = (user_id, device_id)
        cache = self._lazy_loaded_members.get(key)
        if cache is None:
            cache = LruCache(_LAZY_LOADED_MEMBERS_PER_DEVICE)
            self._lazy_loaded_members.set(key, cache)
        return cache


class _SyncRequest:
    """The work of one sync computation (one ``since`` -> ``now``)."""

    def __init__(
        self,
        handler: SyncHandler,
        config: SyncConfig,
        since: StreamToken | None,
        now: StreamToken,
        full_state: bool,
    ) -> None:
        self.handler = handler
        self.hs = handler.hs
        self.stores = handler._stores
        self.config = config
        self.filter = config.filter_collection
        self.user_id = config.user_id
        self.since = since
        self.now = now
        self.full_state = full_state or since is None
        self.ignored_users: frozenset[str] = frozenset()
        # Where the to-device messages sent go up to (short of ``now`` when capped).
        self.to_device_upto = now.to_device_key
        self.lazy_load = self.filter.lazy_load_members()
        self.include_redundant = self.filter.include_redundant_members()

    # --- the whole response ------------------------------------------------------------
    async def generate(self) -> SyncResult:
        self.ignored_users = await get_ignored_users(self.stores, self.user_id)
        global_account_data, room_account_data = await self._account_data()

        if self.since is None:
            entries, invited, knocked = await self._initial_rooms()
        else:
            entries, invited, knocked = await self._incremental_rooms()
        await self._load_timelines(entries)

        joined = [e for e in entries if e.joined]
        archived = [e for e in entries if not e.joined]
        summaries = await self._summaries(joined)
        states = await self._states(entries, summaries)
        ephemeral = await self._ephemeral(joined)

        joined_results: list[JoinedSyncResult] = []
        for entry in joined:
            assert entry.timeline is not None
            state, state_after = states.get(entry.room_id, ([], None))
            result = JoinedSyncResult(
                room_id=entry.room_id,
                timeline=entry.timeline,
                state=state,
                state_after=state_after,
                ephemeral=ephemeral.get(entry.room_id, []),
                account_data=await self._room_account_data_events(entry.room_id, room_account_data),
                unread_notifications=RoomNotifCounts(),
                summary=summaries.get(entry.room_id, {}),
            )
            if result or entry.full_state:
                joined_results.append(result)
        # Unread counts of the rooms sent (a change of counts alone sends no room).
        counts = await self.stores.event_push_actions.get_unread_counts_for_rooms(
            self.user_id,
            [r.room_id for r in joined_results],
            self.filter.unread_thread_notifications(),
        )
        for result in joined_results:
            result.unread_notifications = counts.get(result.room_id, RoomNotifCounts())
        archived_results: list[ArchivedSyncResult] = []
        for entry in archived:
            assert entry.timeline is not None
            state, state_after = states.get(entry.room_id, ([], None))
            archived_results.append(
                ArchivedSyncResult(
                    room_id=entry.room_id,
                    timeline=entry.timeline,
                    state=state,
                    state_after=state_after,
                    account_data=await self._room_account_data_events(
                        entry.room_id, room_account_data
                    ),
                )
            )

        all_results: list[JoinedSyncResult | ArchivedSyncResult] = [
            *joined_results,
            *archived_results,
        ]
        await self._add_prev_content(all_results)
        timeline_events = [ev for r in all_results for ev in r.timeline.events]
        bundles = (
            await self.handler._relations.get_bundled_aggregations(
                timeline_events, self.user_id, self.ignored_users
            )
            if timeline_events
            else {}
        )
        self._remember_lazy_loaded_members(all_results)
        to_device = await self._generate_to_device()

        return SyncResult(
            next_batch=self.now.copy_and_replace(StreamKeyType.TO_DEVICE, self.to_device_upto),
            presence=await self._generate_presence(),
            account_data=global_account_data,
            joined=joined_results,
            invited=invited,
            knocked=knocked,
            archived=archived_results,
            to_device=to_device,
            device_lists=await self._generate_device_lists(),
            device_one_time_keys_count=await self._generate_one_time_keys_count(),
            device_unused_fallback_key_types=await self._generate_unused_fallback_key_types(),
            bundled_aggregations=bundles,
        )

    async def _add_prev_content(self, results: list[JoinedSyncResult | ArchivedSyncResult]) -> None:
        """Give each state event sent ``unsigned.prev_content`` (and ``prev_sender``): the
        state it replaced, which clients use to describe the change (a new display
        name rather than a join)."""
        lists = [r.timeline.events for r in results] + [r.state for r in results]
        replaced_ids = {
            e.unsigned["replaces_state"]
            for events in lists
            for e in events
            if e.is_state() and isinstance(e.unsigned.get("replaces_state"), str)
        }
        if not replaced_ids:
            return
        replaced = await self.stores.events.get_events(replaced_ids)
        for events in lists:
            for i, event in enumerate(events):
                prev = replaced.get(event.unsigned.get("replaces_state") or "")
                if prev is None or not event.is_state():
                    continue
                clone = copy.copy(event)
                clone.unsigned = {
                    **event.unsigned,
                    "prev_content": prev.content,
                    "prev_sender": prev.sender,
                }
                events[i] = clone

    # --- the other streams ----------------------------------------------------------------
    # Each reads its stream between ``self.since`` and ``self.now`` (``since`` None: from
    # the start) for ``self.user_id`` / ``self.config.device_id``; the token already
    # holds its position and the notifier wakes waiters through ``on_new_event``.
    async def _generate_presence(self) -> list[JsonDict]:
        """``m.presence`` events of the user and of users sharing a room with them: all
        not offline for an initial (or ``full_state``) sync, else those that changed or
        came to share a room (``PresenceHandler.get_states_for_sync``)."""
        if self.filter.blocks_all_presence():
            return []
        states = await self.handler._presence.get_states_for_sync(
            self.user_id, None if self.full_state else self.since, self.now, self.ignored_users
        )
        now_ms = self.handler.clock.time_msec()
        events = [format_presence_event(state, now_ms) for state in states]
        return [dict(e) for e in await self.filter.filter_presence(events)]

    async def _generate_to_device(self) -> list[JsonDict]:
        """Send-to-device messages of this device, at most ``MAX_TO_DEVICE_MESSAGES``
        (the rest come with the next sync); those up to ``since`` were acknowledged
        and are deleted."""
        device_id = self.config.device_id
        if device_id is None:
            return []
        messages, self.to_device_upto = await self.handler._device_messages.get_messages_for_sync(
            self.user_id,
            device_id,
            self.since.to_device_key if self.since is not None else None,
            self.now.to_device_key,
            MAX_TO_DEVICE_MESSAGES,
        )
        return messages

    async def _generate_device_lists(self) -> DeviceListUpdates:
        """Users whose device lists changed or who left (incremental syncs only)."""
        if self.since is None:
            return DeviceListUpdates()
        return await self.handler._device_lists.get_device_list_changes(
            self.user_id, self.since, self.now
        )

    async def _generate_one_time_keys_count(self) -> dict[str, int]:
        """Unclaimed one-time keys of this device, by algorithm."""
        if self.config.device_id is None:
            return {}
        counts, _ = await self.handler._e2e_keys.get_key_counts(self.user_id, self.config.device_id)
        return counts

    async def _generate_unused_fallback_key_types(self) -> list[str]:
        """Algorithms of this device's unused fallback keys."""
        if self.config.device_id is None:
            return []
        _, fallback_types = await self.handler._e2e_keys.get_key_counts(
            self.user_id, self.config.device_id
        )
        return fallback_types

    # --- account data --------------------------------------------------------------
    async def _account_data(self) -> tuple[list[JsonDict], Mapping[str, Mapping[str, JsonMapping]]]:
        """Global account data events (filtered), and room account data by room."""
        store = self.stores.account_data
        if self.since is None or self.full_state:
            global_data: Mapping[str, JsonMapping] = await store.get_global_account_data_for_user(
                self.user_id
            )
            rooms: Mapping[
                str, Mapping[str, JsonMapping]
            ] = await store.get_room_account_data_for_user(self.user_id)
        else:
            global_data, rooms = await store.get_updated_account_data_for_user(
                self.user_id,
                self.since.account_data_key,
                self.now.account_data_key,
            )
        global_data = dict(global_data)
        since = None if self.full_state else self.since
        for source in self.handler._account_data_sources:
            global_data.update(await source(self.user_id, since, self.now))
        if self.filter.blocks_all_global_account_data():
            return [], rooms
        events: list[JsonDict] = [{"type": t, "content": c} for t, c in global_data.items()]
        kept = await self.filter.filter_global_account_data(events)
        return [dict(e) for e in kept], rooms

    async def _room_account_data_events(
        self, room_id: str, room_account_data: Mapping[str, Mapping[str, JsonMapping]]
    ) -> list[JsonDict]:
        data = room_account_data.get(room_id)
        if not data or self.filter.blocks_all_room_account_data():
            return []
        events = [{"type": t, "content": c, "room_id": room_id} for t, c in data.items()]
        kept = await self.filter.filter_room_account_data(events)
        return [{"type": e["type"], "content": e["content"]} for e in kept]

    # --- which rooms -----------------------------------------------------------------
    async def _initial_rooms(
        self,
    ) -> tuple[list[_RoomEntry], list[InvitedSyncResult], list[KnockedSyncResult]]:
        memberships = [Membership.JOIN, Membership.INVITE, Membership.KNOCK]
        if self.filter.include_leave:
            memberships += [Membership.LEAVE, Membership.BAN]
        rooms = await self.stores.roommember.get_rooms_for_local_user_where_membership_is(
            self.user_id, memberships
        )
        now_stream = self.now.room_key.stream
        # A membership newer than the token comes with the next sync.
        rooms = [r for r in rooms if r.stream_ordering <= now_stream]
        wanted = set(self.filter.filter_rooms(r.room_id for r in rooms))
        rooms = [r for r in rooms if r.room_id in wanted]

        entries: list[_RoomEntry] = []
        pending: list[tuple[str, str, str]] = []  # (room, membership, event ID)
        left: list[tuple[str, str, int]] = []
        for r in rooms:
            if r.membership == Membership.JOIN:
                entries.append(_RoomEntry(r.room_id, True, True, None, now_stream))
            elif r.membership in (Membership.LEAVE, Membership.BAN):
                left.append((r.room_id, r.event_id, r.stream_ordering))
            else:
                pending.append((r.room_id, r.membership, r.event_id))
        invited, knocked = await self._invites_and_knocks(pending)
        if left:
            forgotten = await self.stores.directory.get_forgotten_rooms_for_user(self.user_id)
            left = [x for x in left if x[0] not in forgotten]
            events = await self.stores.events.get_events([x[1] for x in left])
            previous = await self._previous_memberships(events.values())
            for room_id, event_id, stream in left:
                entries.append(
                    _RoomEntry(
                        room_id,
                        False,
                        True,
                        None,
                        stream,
                        membership_event_id=event_id,
                        never_joined=previous.get(event_id) != Membership.JOIN,
                    )
                )
        return entries, invited, knocked

    async def _incremental_rooms(
        self,
    ) -> tuple[list[_RoomEntry], list[InvitedSyncResult], list[KnockedSyncResult]]:
        assert self.since is not None
        since_stream = self.since.room_key.stream
        now_stream = self.now.room_key.stream
        roommember = self.stores.roommember
        joined_now = set(await roommember.get_rooms_for_user(self.user_id))
        changes = await roommember.get_membership_changes_for_user(
            self.user_id, since_stream, now_stream
        )
        by_room: dict[str, list[MembershipChange]] = {}
        for change in changes:
            by_room.setdefault(change.room_id, []).append(change)
        wanted = set(self.filter.filter_rooms(joined_now | set(by_room)))

        newly_joined: set[str] = set()
        previous: dict[str, str] = {}
        pending: list[tuple[str, str, str]] = []
        left: list[tuple[str, str, int, bool]] = []  # (room, event, stream, was joined)
        if by_room:
            firsts = await self.stores.events.get_events([c[0].event_id for c in by_room.values()])
            previous = await self._previous_memberships(firsts.values())
            for room_id, room_changes in by_room.items():
                if room_id not in wanted:
                    continue
                was_joined = previous.get(room_changes[0].event_id) == Membership.JOIN
                last = room_changes[-1]
                if last.membership == Membership.JOIN:
                    rejoined = any(
                        c.membership in (Membership.LEAVE, Membership.BAN) for c in room_changes
                    )
                    if room_id in joined_now and (not was_joined or rejoined):
                        newly_joined.add(room_id)
                elif last.membership in (Membership.INVITE, Membership.KNOCK):
                    pending.append((room_id, last.membership, last.event_id))
                elif last.membership in (Membership.LEAVE, Membership.BAN):
                    joined_in_range = was_joined or any(
                        c.membership == Membership.JOIN for c in room_changes
                    )
                    left.append((room_id, last.event_id, last.stream_ordering, joined_in_range))

        entries: list[_RoomEntry] = []
        # Rooms whose last membership change up to the token is not a join (a join
        # after it is for the next sync) are not joined ones here.
        joined_rooms = [
            r
            for r in joined_now
            if r in wanted and (r not in by_room or by_room[r][-1].membership == Membership.JOIN)
        ]
        if self.full_state:
            changed_rooms = set(joined_rooms)
        else:
            changed_rooms = self.stores.stream.get_rooms_that_changed(
                joined_rooms, self.since.room_key
            )
        for room_id in joined_rooms:
            if room_id in newly_joined:
                entries.append(_RoomEntry(room_id, True, True, None, now_stream))
            else:
                entry = _RoomEntry(room_id, True, self.full_state, since_stream, now_stream)
                if room_id not in changed_rooms:
                    # Nothing new in the timeline: no query for it.
                    entry.timeline = self._empty_timeline(now_stream)
                entries.append(entry)

        invited, knocked = await self._invites_and_knocks(pending)
        if left:
            forgotten = await self.stores.directory.get_forgotten_rooms_for_user(self.user_id)
            for room_id, event_id, stream, joined_in_range in left:
                if room_id in forgotten:
                    continue
                was_joined_at_since = previous.get(by_room[room_id][0].event_id) == Membership.JOIN
                entries.append(
                    _RoomEntry(
                        room_id,
                        False,
                        not was_joined_at_since,
                        since_stream if was_joined_at_since else None,
                        stream,
                        membership_event_id=event_id,
                        never_joined=not joined_in_range,
                    )
                )
        return entries, invited, knocked

    async def _previous_memberships(self, events: Iterable[EventBase]) -> dict[str, str]:
        """For each membership event, the membership it replaced (by the event's ID);
        events that replaced none are left out."""
        replaced: dict[str, str] = {}
        for event in events:
            prev_id = event.unsigned.get("replaces_state")
            if isinstance(prev_id, str):
                replaced[event.event_id] = prev_id
        if not replaced:
            return {}
        prev_events = await self.stores.events.get_events(set(replaced.values()))
        out: dict[str, str] = {}
        for event_id, prev_id in replaced.items():
            prev = prev_events.get(prev_id)
            membership = prev.content.get("membership") if prev is not None else None
            if isinstance(membership, str):
                out[event_id] = membership
        return out

    async def _invites_and_knocks(
        self, pending: list[tuple[str, str, str]]
    ) -> tuple[list[InvitedSyncResult], list[KnockedSyncResult]]:
        if not pending:
            return [], []
        events = await self.stores.events.get_events([p[2] for p in pending])
        invited: list[InvitedSyncResult] = []
        knocked: list[KnockedSyncResult] = []
        for room_id, membership, event_id in pending:
            event = events.get(event_id)
            if event is None:
                continue
            if membership == Membership.INVITE:
                if event.sender in self.ignored_users:
                    continue
                invited.append(InvitedSyncResult(room_id, event))
            else:
                knocked.append(KnockedSyncResult(room_id, event))
        return invited, knocked

    # --- timelines ---------------------------------------------------------------------
    def _empty_timeline(self, upto_stream: int) -> TimelineBatch:
        return TimelineBatch(
            events=[],
            prev_batch=self.now.copy_and_replace(
                StreamKeyType.ROOM, RoomStreamToken(stream=upto_stream)
            ),
            limited=False,
        )

    async def _load_timelines(self, entries: list[_RoomEntry]) -> None:
        """Fill each entry's timeline: its newest events in range that pass the filter
        and that the user may see, at most the filter's ``limit``."""
        limit = min(self.filter.timeline_limit(), MAX_TIMELINE_LIMIT)
        todo = [e for e in entries if e.timeline is None]
        if self.filter.blocks_all_room_timeline() or limit <= 0:
            for entry in todo:
                entry.timeline = self._empty_timeline(entry.upto_stream)
            todo = []
        never_joined = [e for e in todo if e.never_joined]
        if never_joined:
            await self._load_membership_only_timelines(never_joined)
        todo = [e for e in todo if not e.never_joined]
        if not todo:
            return

        by_room = {e.room_id: e for e in todo}
        pending: dict[str, tuple[int | None, int]] = {
            e.room_id: (e.since_stream, e.upto_stream) for e in todo
        }
        kept: dict[str, list[EventBase]] = {r: [] for r in pending}
        limited: dict[str, bool] = {}
        for _ in range(_MAX_TIMELINE_ROUNDS):
            if not pending:
                break
            rows = await self.stores.stream.get_recent_event_ids_for_rooms(pending, limit + 1)
            loaded = await self.stores.events.get_events(
                [event_id for room_rows in rows.values() for event_id, _ in room_rows]
            )
            raw = [loaded[e] for room_rows in rows.values() for e, _ in room_rows if e in loaded]
            visible = await self._filter_timeline_events(raw)
            visible_by_room: dict[str, list[EventBase]] = {}
            for event in visible:
                visible_by_room.setdefault(event.room_id, []).append(event)
            next_pending: dict[str, tuple[int | None, int]] = {}
            for room_id, (from_stream, _to) in pending.items():
                room_rows = rows.get(room_id, [])
                more = len(room_rows) > limit
                events = visible_by_room.get(room_id, []) + kept[room_id]
                if len(events) > limit:
                    events = events[-limit:]
                    limited[room_id] = True
                elif not more:
                    limited[room_id] = False
                elif len(events) == limit:
                    limited[room_id] = True
                else:
                    # Filters dropped events: read further back.
                    next_pending[room_id] = (from_stream, room_rows[0][1] - 1)
                kept[room_id] = events
            pending = next_pending
        for room_id in pending:
            limited[room_id] = True

        for room_id, entry in by_room.items():
            events = kept[room_id]
            if entry.membership_event_id is not None:
                events = await self._with_own_membership(events, entry.membership_event_id)
            entry.timeline = TimelineBatch(
                events=events,
                prev_batch=self._prev_batch(events, entry.upto_stream),
                limited=limited.get(room_id, False),
            )

    async def _filter_timeline_events(self, events: list[EventBase]) -> list[EventBase]:
        events = await self.filter.filter_room_timeline(events)
        return await filter_events_for_client(
            self.stores, self.user_id, events, ignored_users=self.ignored_users
        )

    async def _with_own_membership(
        self, events: list[EventBase], membership_event_id: str
    ) -> list[EventBase]:
        """The timeline of a left room always ends with the user's leave (or ban)."""
        if any(e.event_id == membership_event_id for e in events):
            return events
        event = await self.stores.events.get_event(membership_event_id, allow_none=True)
        if event is None:
            return events
        return [*events, event]

    async def _load_membership_only_timelines(self, entries: list[_RoomEntry]) -> None:
        """Rooms left without ever being joined (a rejected invite, a withdrawn knock):
        the user sees their own membership event and nothing of the room."""
        events = await self.stores.events.get_events(
            [e.membership_event_id for e in entries if e.membership_event_id is not None]
        )
        for entry in entries:
            event = events.get(entry.membership_event_id or "")
            timeline = [event] if event is not None else []
            entry.timeline = TimelineBatch(
                events=timeline,
                prev_batch=self._prev_batch(timeline, entry.upto_stream),
                limited=False,
            )

    def _prev_batch(self, events: list[EventBase], upto_stream: int) -> StreamToken:
        """The token just before the first event (in the room's topological order),
        or at the end of the range for an empty timeline."""
        if events:
            first = events[0]
            ordering = first.internal_metadata.stream_ordering
            if ordering is not None:
                return self.now.copy_and_replace(
                    StreamKeyType.ROOM,
                    RoomStreamToken(stream=ordering - 1, topological=first.depth),
                )
        return self.now.copy_and_replace(StreamKeyType.ROOM, RoomStreamToken(stream=upto_stream))

    # --- room summaries -------------------------------------------------------------
    async def _summaries(self, entries: list[_RoomEntry]) -> dict[str, JsonDict]:
        """The summary of each joined room that is new to the client or whose members
        may have changed (a member event in the timeline or in the gap)."""
        wanted: list[str] = []
        for entry in entries:
            assert entry.timeline is not None
            if entry.full_state or entry.timeline.limited:
                wanted.append(entry.room_id)
            elif any(e.type == EventTypes.Member for e in entry.timeline.events):
                wanted.append(entry.room_id)
        if not wanted:
            return {}
        counts = await self.stores.roommember.get_member_counts(wanted)
        unnamed = [r for r in wanted if not await self._has_name_or_alias(r)]
        heroes = await self.stores.roommember.get_heroes(unnamed, self.user_id, _MAX_HEROES)
        out: dict[str, JsonDict] = {}
        for room_id in wanted:
            room_counts = counts.get(room_id, {})
            summary: JsonDict = {
                "m.joined_member_count": room_counts.get(Membership.JOIN, 0),
                "m.invited_member_count": room_counts.get(Membership.INVITE, 0),
            }
            if room_id in heroes:
                summary["m.heroes"] = heroes[room_id]
            out[room_id] = summary
        return out

    async def _has_name_or_alias(self, room_id: str) -> bool:
        state = await self.stores.state.get_current_state_ids(
            room_id,
            StateFilter.from_types([(EventTypes.Name, ""), (EventTypes.CanonicalAlias, "")]),
        )
        if not state:
            return False
        events = await self.stores.events.get_events(state.values())
        for event in events.values():
            key = "name" if event.type == EventTypes.Name else "alias"
            if event.content.get(key):
                return True
        return False

    # --- state -------------------------------------------------------------------------
    async def _states(
        self, entries: list[_RoomEntry], summaries: Mapping[str, JsonDict]
    ) -> dict[str, tuple[list[EventBase], list[EventBase] | None]]:
        """The ``state`` of each room (and ``state_after`` with ``use_state_after``).

        New rooms (and ``full_state``) get the whole state at the start of the timeline;
        a limited incremental timeline the state that changed in the gap; with lazy
        loading, the members of the timeline's senders (and heroes) not yet sent.
        """
        full: list[_RoomEntry] = []
        delta: list[_RoomEntry] = []
        lazy_only: list[_RoomEntry] = []
        for entry in entries:
            assert entry.timeline is not None
            if entry.never_joined:
                continue
            if entry.full_state:
                full.append(entry)
            elif entry.timeline.limited:
                delta.append(entry)
            elif self.lazy_load and entry.timeline.events:
                lazy_only.append(entry)

        lazy_members = {e.room_id: self._lazy_member_candidates(e, summaries) for e in entries}
        if self.since is None:
            # A new client state: whatever was sent to this device before is gone.
            self.handler._lazy_loaded_members.invalidate((self.user_id, self.config.device_id))
        filters: dict[str, StateFilter] = {}
        for entry in full:
            filters[entry.room_id] = self._full_state_filter(lazy_members[entry.room_id])

        gap_keys: dict[str, set[StateKey]] = {}
        since_event_ids: dict[str, str] = {}
        if delta:
            assert self.since is not None
            gap_keys = await self.stores.stream.get_state_keys_changed_in_rooms(
                {e.room_id: (self.since.room_key.stream, self._start_stream(e)) for e in delta}
            )
            since_event_ids = await self.stores.stream.get_last_event_ids_in_rooms(
                [e.room_id for e in delta if gap_keys.get(e.room_id)],
                self.since.room_key.stream,
            )
        for entry in delta:
            keys = set(gap_keys.get(entry.room_id, ()))
            keys.update((EventTypes.Member, u) for u in lazy_members[entry.room_id])
            filters[entry.room_id] = StateFilter.from_types(keys)
        for entry in lazy_only:
            filters[entry.room_id] = StateFilter.from_types(
                (EventTypes.Member, u) for u in lazy_members[entry.room_id]
            )

        at_start = await self._state_ids_at_timeline_start(
            [e for e in entries if e.room_id in filters and not filters[e.room_id].is_empty()],
            filters,
        )
        at_since = await self._state_ids_after_events(
            since_event_ids, {r: StateFilter.from_types(gap_keys[r]) for r in since_event_ids}
        )

        wanted_ids: dict[str, list[str]] = {}
        for entry in entries:
            state_ids = at_start.get(entry.room_id)
            if not state_ids:
                continue
            room_id = entry.room_id
            timeline_ids = {e.event_id for e in entry.timeline.events} if entry.timeline else set()
            if entry.full_state:
                ids = list(state_ids.values())
            else:
                keys = gap_keys.get(room_id, set())
                since_state = at_since.get(room_id, {})
                ids = [
                    event_id
                    for key, event_id in state_ids.items()
                    if (key in keys and since_state.get(key) != event_id)
                    or (
                        key[0] == EventTypes.Member
                        and key[1] in lazy_members[room_id]
                        and not self._already_sent(room_id, key[1], event_id)
                    )
                ]
            wanted_ids[room_id] = [i for i in ids if i not in timeline_ids]

        loaded = await self.stores.events.get_events(
            {i for ids in wanted_ids.values() for i in ids}
        )
        out: dict[str, tuple[list[EventBase], list[EventBase] | None]] = {}
        for entry in entries:
            ids = wanted_ids.get(entry.room_id, [])
            events = [loaded[i] for i in ids if i in loaded]
            events = await self.filter.filter_room_state(events)
            out[entry.room_id] = (events, None)
        if self.config.use_state_after:
            for entry in entries:
                out[entry.room_id] = (
                    [],
                    await self._state_after(entry, out[entry.room_id][0]),
                )
        return out

    def _start_stream(self, entry: _RoomEntry) -> int:
        """The stream position of the first timeline event (the end of the gap)."""
        assert entry.timeline is not None
        for event in entry.timeline.events:
            ordering = event.internal_metadata.stream_ordering
            if ordering is not None:
                return ordering
        return entry.upto_stream + 1

    def _lazy_member_candidates(
        self, entry: _RoomEntry, summaries: Mapping[str, JsonDict]
    ) -> set[str]:
        """The users whose member events a lazy-loading client needs for this room and
        may not have: the timeline's senders and the heroes (and itself, for a room new
        to it), less those sent before (unless redundant members are asked for)."""
        if not self.lazy_load or entry.timeline is None:
            return set()
        events = entry.timeline.events
        in_timeline = {e.state_key for e in events if e.type == EventTypes.Member and e.is_state()}
        users = {e.sender for e in events} - in_timeline
        users.update(summaries.get(entry.room_id, {}).get("m.heroes", ()))
        if entry.full_state:
            users.add(self.user_id)
        return users

    def _full_state_filter(self, lazy_members: Collection[str]) -> StateFilter:
        if not self.lazy_load:
            return StateFilter.all()
        return StateFilter({EventTypes.Member: frozenset(lazy_members)}, include_others=True)

    async def _state_ids_at_timeline_start(
        self, entries: list[_RoomEntry], filters: Mapping[str, StateFilter]
    ) -> dict[str, dict[StateKey, str]]:
        """For each room, the (filtered) state just before its first timeline event, or
        at the end of its range when the timeline is empty."""
        by_first: dict[str, _RoomEntry] = {}
        current: list[_RoomEntry] = []
        at_membership: list[_RoomEntry] = []
        for entry in entries:
            assert entry.timeline is not None
            if entry.timeline.events:
                by_first[entry.timeline.events[0].event_id] = entry
            elif entry.joined:
                current.append(entry)
            elif entry.membership_event_id is not None:
                at_membership.append(entry)

        first_ids = {entry.room_id: event_id for event_id, entry in by_first.items()}
        first_ids.update(
            (e.room_id, e.membership_event_id) for e in at_membership if e.membership_event_id
        )
        out = await self._state_ids_after_events(first_ids, filters)
        for entry in by_first.values():
            state = out.get(entry.room_id)
            first = entry.timeline.events[0] if entry.timeline else None
            if state is not None and first is not None and first.is_state():
                # The state after the first event, without the event itself.
                key = (first.type, first.state_key)
                replaced = first.unsigned.get("replaces_state")
                state.pop(key, None)
                if isinstance(replaced, str) and filters[entry.room_id].matches(key):
                    state[key] = replaced
        for entry in current:
            out[entry.room_id] = await self.stores.state.get_current_state_ids(
                entry.room_id, filters[entry.room_id]
            )
        return out

    async def _state_ids_after_events(
        self, event_ids: Mapping[str, str], filters: Mapping[str, StateFilter]
    ) -> dict[str, dict[StateKey, str]]:
        """For each room, the state after its event in ``event_ids``, filtered by its
        filter; the state groups of all rooms are read together."""
        if not event_ids:
            return {}
        groups = await self.stores.state.get_state_group_for_events(list(event_ids.values()))
        room_groups = {r: groups[e] for r, e in event_ids.items() if e in groups}
        union = _union_of_filters([filters[r] for r in room_groups])
        states = await self.stores.state.get_state_ids_for_groups(set(room_groups.values()), union)
        return {
            room_id: filters[room_id].filter_state(states.get(group, {}))
            for room_id, group in room_groups.items()
        }

    async def _state_after(self, entry: _RoomEntry, state: list[EventBase]) -> list[EventBase]:
        """``state_after``: the state at the end of the timeline, as a change from what
        the client has (``state`` plus the timeline's state events, latest first)."""
        assert entry.timeline is not None
        by_key: dict[StateKey, EventBase] = {}
        for event in itertools.chain(state, entry.timeline.events):
            if event.is_state():
                by_key[(event.type, event.state_key)] = event
        return list(by_key.values())

    # --- ephemeral events ------------------------------------------------------------
    async def _ephemeral(self, entries: list[_RoomEntry]) -> dict[str, list[JsonDict]]:
        """Typing and receipt events of each joined room: what changed since ``since``,
        or everything for a room new to the client."""
        if not entries or self.filter.blocks_all_room_ephemeral():
            return {}
        since = self.since
        known = [e.room_id for e in entries if since is not None and e.since_stream is not None]
        new = [e.room_id for e in entries if since is None or e.since_stream is None]
        out: dict[str, list[JsonDict]] = {}
        for room_ids, from_token in ((known, since), (new, None)):
            if not room_ids:
                continue
            typing = self.handler._typing.get_typing_events(
                room_ids, from_token.typing_key if from_token is not None else None
            )
            for room_id, event in typing.items():
                out.setdefault(room_id, []).append(event)
            receipts = await self.stores.receipts.get_linearized_receipts_for_rooms(
                room_ids,
                self.now.receipt_key,
                from_token.receipt_key if from_token is not None else None,
            )
            for room_id, room_receipts in receipts.items():
                content = receipts_to_content(self._visible_receipts(room_receipts))
                if content:
                    out.setdefault(room_id, []).append(
                        {"type": EventTypes.Receipt, "content": content}
                    )
        filtered: dict[str, list[JsonDict]] = {}
        for room_id, events in out.items():
            kept = await self.filter.filter_room_ephemeral(
                [{**e, "room_id": room_id} for e in events]
            )
            if kept:
                filtered[room_id] = [{"type": e["type"], "content": e["content"]} for e in kept]
        return filtered

    def _visible_receipts(self, receipts: Iterable[ReceiptInfo]) -> list[ReceiptInfo]:
        """Private receipts are seen only by their owner; ignored users' not at all."""
        return [
            r
            for r in receipts
            if (r.receipt_type != ReceiptTypes.READ_PRIVATE or r.user_id == self.user_id)
            and r.user_id not in self.ignored_users
        ]

    # --- lazy loading bookkeeping ---------------------------------------------------
    def _remember_lazy_loaded_members(
        self, results: list[JoinedSyncResult | ArchivedSyncResult]
    ) -> None:
        """Note the member events sent to this device, so that they are not resent."""
        if not self.lazy_load or self.include_redundant:
            return
        cache = self.handler.lazy_loaded_members_cache(self.user_id, self.config.device_id)
        for result in results:
            for event in itertools.chain(result.state, result.timeline.events):
                if event.type == EventTypes.Member and event.is_state():
                    cache.set((result.room_id, event.state_key), event.event_id)

    def _already_sent(self, room_id: str, user_id: str, event_id: str) -> bool:
        if not self.lazy_load or self.include_redundant:
            return False
        cache = self.handler.lazy_loaded_members_cache(self.user_id, self.config.device_id)
        return cache.get((room_id, user_id)) == event_id


def _union_of_filters(filters: Iterable[StateFilter]) -> StateFilter:
    """A filter keeping everything any of ``filters`` keeps."""
    types: dict[str, frozenset[str] | None] = {}
    for state_filter in filters:
        if state_filter.include_others:
            return StateFilter.all()
        for typ, keys in state_filter.types.items():
            if typ in types:
                old = types[typ]
                types[typ] = None if old is None or keys is None else old | keys
            else:
                types[typ] = keys
    return StateFilter(types)
