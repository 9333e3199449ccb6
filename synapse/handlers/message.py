"""Creating events for local users and sending them into rooms.

``EventCreationHandler.create_event`` builds, signs and checks one event against the room
state at its prev events; ``handle_new_client_event`` persists events through the
persistence queue (which wakes the notifier). ``create_and_send_nonmember_event`` is the
whole path of ``PUT /rooms/{roomId}/send`` and ``/state``: transaction IDs, rate
limits, deduplication of unchanged state, redaction rights and canonical aliases.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from canonicaljson import encode_canonical_json
from twisted.internet import defer

from synapse.api.constants import EventContentFields, EventTypes, Membership
from synapse.api.errors import (
    AuthError,
    Codes,
    NotFoundError,
    SynapseError,
    UnsupportedRoomVersionError,
)
from synapse.api.ratelimiting import Ratelimiter
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from synapse.event_auth import (
    auth_types_for_event,
    check_auth_rules_for_event,
    get_named_level,
    get_user_power_level,
)
from synapse.events import EventBase, make_event_from_dict
from synapse.events.builder import EventBuilder, event_reference, random_string
from synapse.events.utils import strip_event
from synapse.events.validator import validate_new_event
from synapse.persistence.context import EventContext
from synapse.storage.state_filter import StateFilter
from synapse.types import JsonDict, Requester, RoomStreamToken, StateKey, StateMap
from synapse.util.identifiers import is_valid_room_alias
from synapse.util.linearizer import Linearizer

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# New local events cite at most this many forward extremities as prev events.
MAX_PREV_EVENTS_FOR_NEW_EVENT = 10

# How long a transaction ID of a request without a device is remembered in memory.
_TXN_CACHE_EXPIRY_MS = 30 * 60 * 1000

StateEventMap = Mapping[StateKey, EventBase]
EventsAndContexts = list[tuple[EventBase, EventContext]]


def _txn_scope(requester: Requester) -> str:
    """What a transaction ID is unique within: the device, else the access token."""
    if requester.device_id is not None:
        return f"d:{requester.device_id}"
    return f"t:{requester.access_token_id}"


class EventCreationHandler:
    """``hs.get_event_creation_handler()``: builds, checks and sends local events."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self.server_name = hs.hostname
        stores = hs.get_datastores().main
        self._stores = stores
        self._events = stores.events
        self._rooms = stores.rooms
        self._state_store = stores.state
        self._federation_store = stores.event_federation
        self._stream_store = stores.stream
        self._state_handler = hs.get_state_handler()
        self._signing_key = hs.config.key.signing_key[0]
        self._prejoin_state_types = hs.config.room.room_prejoin_state
        self._message_limiter = Ratelimiter(stores, self.clock, hs.config.ratelimiting.rc_message)
        # Local events of one room are created and persisted one request at a time, so
        # that each builds on the last and the room's DAG stays a line.
        self.room_linearizer: Linearizer = Linearizer("room_event_creation")
        # (room, user, scope, txn) -> the send in progress, or its result.
        self._txn_in_flight: dict[tuple[str, str, str, str], list[defer.Deferred[None]]] = {}
        self._txn_results: dict[tuple[str, str, str, str], tuple[str, int]] = {}
        self.clock.looping_call(self._expire_txn_results, 5 * 60 * 1000)

    # --- rate limits ---------------------------------------------------------------
    async def ratelimit_message(self, requester: Requester) -> None:
        """429 M_LIMIT_EXCEEDED when the user sends too fast (``rc_message``, or the
        user's override set through the admin API, 0 meaning no limit); admins are exempt."""
        override = await self._stores.admin.get_ratelimit_override(requester.user.to_string())
        if override is not None:
            if override.messages_per_second and override.burst_count:
                await self._message_limiter.ratelimit(
                    requester,
                    rate_hz=override.messages_per_second,
                    burst_count=override.burst_count,
                )
            return
        allowed, _ = await self._message_limiter.can_do_action(requester, update=False)
        if allowed:
            await self._message_limiter.ratelimit(requester)
            return
        if await self._stores.registration.is_server_admin(requester.user.to_string()):
            return
        await self._message_limiter.ratelimit(requester)

    # --- building ------------------------------------------------------------------
    def build_event(
        self,
        requester: Requester | None,
        event_dict: JsonDict,
        room_version: RoomVersion,
        prev_events: Sequence[EventBase],
        state: StateEventMap,
        txn_id: str | None = None,
        auth_event_ids: Collection[str] | None = None,
        depth: int | None = None,
        origin_server_ts: int | None = None,
    ) -> EventBase:
        """Build, sign and check an event on top of ``prev_events`` whose room state
        before it is ``state``: no I/O.

        The auth events are chosen from ``state`` (unless ``auth_event_ids`` names them,
        in which case ``state`` must hold them). Raises 400 M_BAD_JSON / 413 M_TOO_LARGE
        for a malformed event and 403 M_FORBIDDEN when the auth rules reject it.
        """
        event_type = event_dict.get("type")
        sender = event_dict.get("sender")
        if not isinstance(event_type, str) or not isinstance(sender, str):
            raise SynapseError(400, "An event needs a type and a sender", Codes.BAD_JSON)
        content = event_dict.get("content", {})
        if not isinstance(content, dict):
            raise SynapseError(400, "'content' must be an object", Codes.BAD_JSON)
        state_key = event_dict.get("state_key")
        if state_key is not None and not isinstance(state_key, str):
            raise SynapseError(400, "'state_key' must be a string", Codes.BAD_JSON)
        redacts = event_dict.get("redacts")
        if redacts is None and event_type == EventTypes.Redaction:
            redacts = content.get("redacts")
        if redacts is not None and not isinstance(redacts, str):
            raise SynapseError(400, "'redacts' must be an event ID", Codes.BAD_JSON)

        internal_metadata: JsonDict = {}
        if requester is not None:
            if txn_id is not None:
                internal_metadata["txn_id"] = txn_id
                if requester.access_token_id is not None:
                    internal_metadata["token_id"] = requester.access_token_id
                if requester.device_id is not None:
                    internal_metadata["device_id"] = requester.device_id
        is_hydra_create = room_version.hydra and event_type == EventTypes.Create and state_key == ""
        builder = EventBuilder(
            room_version=room_version,
            type=event_type,
            sender=sender,
            room_id=None if is_hydra_create else event_dict.get("room_id"),
            content=content,
            state_key=state_key,
            redacts=redacts,
            internal_metadata=internal_metadata,
        )
        unsigned: JsonDict = {}
        if state_key is not None:
            replaced = state.get((event_type, state_key))
            if replaced is not None:
                unsigned["replaces_state"] = replaced.event_id
        builder.unsigned = unsigned

        if auth_event_ids is None:
            probe = make_event_from_dict(
                builder.build_pdu_dict(prev_events=[], auth_events=[], origin_server_ts=0),
                room_version,
            )
            auth_events = [
                state[k] for k in sorted(auth_types_for_event(room_version, probe)) if k in state
            ]
        else:
            by_id = {e.event_id: e for e in state.values()}
            try:
                auth_events = [by_id[e] for e in auth_event_ids]
            except KeyError as e:
                raise SynapseError(400, f"Unknown auth event {e}", Codes.BAD_JSON) from None

        now = self.clock.time_msec() if origin_server_ts is None else origin_server_ts
        event = builder.build(
            prev_events=[event_reference(e) for e in prev_events],
            auth_events=[event_reference(e) for e in auth_events],
            origin_server_ts=now,
            signing_key=self._signing_key,
            server_name=self.server_name,
            depth=depth,
            prev_depths=[e.depth for e in prev_events],
        )
        # The builder copies unsigned into the PDU; the age is counted from now.
        event.unsigned["age_ts"] = now
        validate_new_event(event)

        auth_by_id = {e.event_id: e for e in auth_events}
        create = state.get((EventTypes.Create, ""))
        if create is not None:
            auth_by_id.setdefault(create.event_id, create)
        if room_version.hydra and event.type != EventTypes.Create and create is None:
            raise NotFoundError("Unknown room")
        check_auth_rules_for_event(event, auth_by_id)
        return event

    async def create_event(
        self,
        requester: Requester,
        event_dict: JsonDict,
        txn_id: str | None = None,
        prev_event_ids: Collection[str] | None = None,
        auth_event_ids: Collection[str] | None = None,
        depth: int | None = None,
        state_map: StateMap[str] | None = None,
    ) -> tuple[EventBase, EventContext]:
        """Build and check an event of ``event_dict`` (type, room_id, sender, content,
        optional state_key and redacts) and compute its context; nothing is persisted.

        The prev events default to the room's forward extremities (at most
        ``MAX_PREV_EVENTS_FOR_NEW_EVENT``), the auth events to those the auth rules
        select from the state after the prev events (or ``state_map``).

        Raises 404 M_NOT_FOUND for an unknown room, 400/413 for a malformed event and
        403 M_FORBIDDEN when the auth rules reject it.
        """
        event_dict = dict(event_dict)
        event_dict.setdefault("sender", requester.user.to_string())
        room_id = event_dict.get("room_id")
        if not isinstance(room_id, str):
            raise SynapseError(400, "An event needs a room_id", Codes.BAD_JSON)
        room_version = await self._rooms.get_room_version(room_id)

        if prev_event_ids is None:
            prev_event_ids = await self._federation_store.get_prev_events_for_room(
                room_id, limit=MAX_PREV_EVENTS_FOR_NEW_EVENT
            )
        prev_event_ids = list(prev_event_ids)
        prev_events_map = await self._events.get_events(prev_event_ids, allow_rejected=True)
        prev_events = [prev_events_map[e] for e in prev_event_ids if e in prev_events_map]
        if len(prev_events) != len(prev_event_ids):
            raise SynapseError(400, "Unknown prev events", Codes.BAD_JSON)

        given_state = state_map is not None
        if state_map is None:
            state_map = await self._state_handler.compute_state_after_events(
                room_id, prev_event_ids
            )
        state = await self.load_state_events(state_map, event_dict, room_version, auth_event_ids)
        event = self.build_event(
            requester,
            event_dict,
            room_version,
            prev_events,
            state,
            txn_id=txn_id,
            auth_event_ids=auth_event_ids,
            depth=depth,
        )
        context = await self._state_handler.compute_event_context(
            event, state_ids_before_event=state_map if given_state else None
        )
        return event, context

    async def load_state_events(
        self,
        state_map: StateMap[str],
        event_dict: JsonDict,
        room_version: RoomVersion,
        auth_event_ids: Collection[str] | None = None,
    ) -> dict[StateKey, EventBase]:
        """The state events of ``state_map`` an event of ``event_dict`` may need: its
        possible auth events and the state it would replace."""
        wanted: set[StateKey] = {
            (EventTypes.Create, ""),
            (EventTypes.PowerLevels, ""),
            (EventTypes.JoinRules, ""),
        }
        sender = event_dict.get("sender")
        if isinstance(sender, str):
            wanted.add((EventTypes.Member, sender))
        state_key = event_dict.get("state_key")
        if isinstance(state_key, str):
            wanted.add((str(event_dict.get("type")), state_key))
        content = event_dict.get("content")
        if event_dict.get("type") == EventTypes.Member and isinstance(content, dict):
            authoriser = content.get(EventContentFields.AUTHORISING_USER)
            if isinstance(authoriser, str):
                wanted.add((EventTypes.Member, authoriser))
            invite = content.get("third_party_invite")
            if isinstance(invite, dict) and isinstance(invite.get("signed"), dict):
                token = invite["signed"].get("token")
                if isinstance(token, str):
                    wanted.add((EventTypes.ThirdPartyInvite, token))
        ids = {k: v for k, v in state_map.items() if k in wanted}
        extra = set(auth_event_ids or ()) - set(ids.values())
        events = await self._events.get_events(list(ids.values()) + list(extra))
        state = {k: events[v] for k, v in ids.items() if v in events}
        for event_id in extra:
            event = events.get(event_id)
            if event is not None and event.is_state():
                state.setdefault((event.type, event.state_key), event)
        return state

    async def contexts_for_chain(
        self,
        events: Sequence[EventBase],
        state_group_before: int | None = None,
        state_before: StateMap[str] | None = None,
    ) -> EventsAndContexts:
        """Contexts for events not yet persisted, each the only prev event of the next
        (e.g. a new room's initial events), without reading state back from the store.

        ``state_group_before``/``state_before`` are the group and state before the first
        event (None and empty for a create event).
        """
        out: EventsAndContexts = []
        group = state_group_before
        state: dict[StateKey, str] = dict(state_before or {})
        for event in events:
            if not event.is_state():
                out.append(
                    (
                        event,
                        EventContext(
                            self._state_store,
                            state_group_before_event=group,
                            state_group_after_event=group,
                        ),
                    )
                )
                continue
            key = (event.type, event.state_key)
            delta = {key: event.event_id}
            state[key] = event.event_id
            if group is None:
                new_group = await self._state_store.store_state_group(
                    event.event_id, event.room_id, None, None, dict(state)
                )
            else:
                new_group = await self._state_store.store_state_group(
                    event.event_id, event.room_id, group, delta, None
                )
            out.append(
                (
                    event,
                    EventContext(
                        self._state_store,
                        state_group_before_event=group,
                        state_group_after_event=new_group,
                        prev_group=group,
                        delta_ids=delta if group is not None else None,
                    ),
                )
            )
            group = new_group
        return out

    # --- persisting ----------------------------------------------------------------
    async def handle_new_client_event(
        self,
        requester: Requester,
        events_and_contexts: EventsAndContexts,
        ratelimit: bool = True,
    ) -> EventBase:
        """Check what the auth rules leave to the server (redaction rights, canonical
        aliases), add the stripped room state to invites and knocks, and persist the
        events (of one room, in order) in one batch. Returns the last event, with its
        stream ordering set.
        """
        if not events_and_contexts:
            raise ValueError("No events to send")
        if ratelimit:
            await self.ratelimit_message(requester)
        # Events of the batch are not in the store yet: later ones may need earlier ones.
        batch = {e.event_id: e for e, _ in events_and_contexts}
        for event, context in events_and_contexts:
            if isinstance(event.content.get(EventContentFields.RELATIONS), dict):
                await self.hs.get_relations_handler().validate_new_relation(event)
            if event.type == EventTypes.Redaction:
                await self._check_redaction(event, context, batch)
            elif event.type == EventTypes.CanonicalAlias and event.is_state():
                await self.check_canonical_alias(event.room_id, event.content)
            elif event.type == EventTypes.Member and event.is_state():
                membership = event.content.get("membership")
                if membership == Membership.INVITE:
                    event.unsigned["invite_room_state"] = await self.stripped_room_state(
                        context, batch
                    )
                elif membership == Membership.KNOCK:
                    event.unsigned["knock_room_state"] = await self.stripped_room_state(
                        context, batch
                    )

        await self.hs.get_persistence_queue().persist_events(events_and_contexts)
        return events_and_contexts[-1][0]

    async def stripped_room_state(
        self, context: EventContext, known_events: Mapping[str, EventBase] | None = None
    ) -> list[JsonDict]:
        """The stripped state an invitee or knocker sees (``room_prejoin_state``): from
        the state before the event. ``known_events`` may hold events not stored yet."""
        types = [(t, k) for t, k in self._prejoin_state_types]
        state_ids = await context.get_prev_state_ids(StateFilter.from_types(types))
        events = await self._get_events(state_ids.values(), known_events)
        return [strip_event(events[e]) for e in state_ids.values() if e in events]

    async def _get_events(
        self, event_ids: Iterable[str], known_events: Mapping[str, EventBase] | None
    ) -> dict[str, EventBase]:
        event_ids = list(event_ids)
        known = known_events or {}
        out = {e: known[e] for e in event_ids if e in known}
        missing = [e for e in event_ids if e not in out]
        if missing:
            out.update(await self._events.get_events(missing))
        return out

    async def _check_redaction(
        self,
        event: EventBase,
        context: EventContext,
        known_events: Mapping[str, EventBase] | None = None,
    ) -> None:
        """Only the sender of an event, or a user with the redact level, may redact it;
        nobody may redact the create event."""
        redacts = event.redacts
        if redacts is None:
            return
        original = (known_events or {}).get(redacts) or await self._events.get_event(
            redacts, allow_none=True, allow_rejected=True
        )
        if original is None:
            return
        if original.room_id != event.room_id:
            raise SynapseError(400, "Cannot redact an event of another room", Codes.UNKNOWN)
        if original.type == EventTypes.Create:
            raise AuthError(403, "Redacting create events is not permitted")
        if original.sender == event.sender:
            return
        state_ids = await context.get_prev_state_ids(
            StateFilter.from_types([(EventTypes.Create, ""), (EventTypes.PowerLevels, "")])
        )
        state_events = await self._get_events(state_ids.values(), known_events)
        auth_state = {k: state_events[v] for k, v in state_ids.items() if v in state_events}
        if get_user_power_level(event.sender, auth_state) < get_named_level(auth_state, "redact"):
            raise AuthError(403, "You don't have permission to redact events")

    async def check_canonical_alias(self, room_id: str, content: Mapping[str, Any]) -> None:
        """Every local alias of an ``m.room.canonical_alias`` content must point to the
        room (400 M_BAD_ALIAS)."""
        aliases: list[Any] = []
        if content.get("alias") is not None:
            aliases.append(content["alias"])
        alt = content.get("alt_aliases")
        if isinstance(alt, list):
            aliases.extend(alt)
        directory = self._stores.directory
        for alias in aliases:
            if not isinstance(alias, str) or not is_valid_room_alias(alias):
                raise SynapseError(400, f"Invalid alias {alias!r}", Codes.INVALID_PARAM)
            if not self.hs.is_mine_id(alias):
                continue
            target = await directory.get_association_from_room_alias(alias)
            if target is None or target.room_id != room_id:
                raise SynapseError(
                    400, f"Room alias {alias} does not point to the room", Codes.BAD_ALIAS
                )

    # --- the send path ---------------------------------------------------------------
    async def create_and_send_nonmember_event(
        self,
        requester: Requester,
        event_dict: JsonDict,
        ratelimit: bool = True,
        txn_id: str | None = None,
    ) -> tuple[EventBase, int]:
        """Create and send a non-membership event; return it and its stream ordering.

        A retry with the same transaction ID (per user and device, or access token)
        returns the first event; a state event identical to the current one (same
        sender and content) is not sent again, the current one is returned.
        """
        if event_dict.get("type") == EventTypes.Member:
            raise SynapseError(
                500, "Membership events go through the room member handler", Codes.UNKNOWN
            )
        event_dict = dict(event_dict)
        event_dict["sender"] = requester.user.to_string()
        room_id = event_dict.get("room_id")
        if not isinstance(room_id, str):
            raise SynapseError(400, "An event needs a room_id", Codes.BAD_JSON)

        if txn_id is None:
            return await self._send_nonmember(requester, event_dict, ratelimit, None)

        key = (room_id, requester.user.to_string(), _txn_scope(requester), txn_id)
        known = await self._get_txn_result(requester, key)
        if known is not None:
            return known
        waiters = self._txn_in_flight.get(key)
        if waiters is not None:
            # The same request is being handled: wait for it and answer as it did.
            waiter: defer.Deferred[None] = defer.Deferred()
            waiters.append(waiter)
            await waiter
            known = await self._get_txn_result(requester, key)
            if known is not None:
                return known

        self._txn_in_flight[key] = []
        try:
            event, stream_id = await self._send_nonmember(requester, event_dict, ratelimit, txn_id)
            self._txn_results[key] = (event.event_id, self.clock.time_msec())
        finally:
            for waiter in self._txn_in_flight.pop(key):
                waiter.callback(None)
        return event, stream_id

    async def send_unratelimited_state(
        self, requester: Requester, room_id: str, event_type: str, content: JsonDict
    ) -> tuple[EventBase, int]:
        """Send a state event with an empty state key as part of a larger operation
        (an upgrade, an alias change), so without rate limiting."""
        return await self.create_and_send_nonmember_event(
            requester,
            {"type": event_type, "room_id": room_id, "state_key": "", "content": content},
            ratelimit=False,
        )

    async def get_event_for_txn(
        self, requester: Requester, room_id: str, txn_id: str
    ) -> tuple[EventBase, int] | None:
        """The event (and its stream ordering) the requester already sent to the room
        with this transaction ID, if any."""
        key = (room_id, requester.user.to_string(), _txn_scope(requester), txn_id)
        return await self._get_txn_result(requester, key)

    async def _get_txn_result(
        self, requester: Requester, key: tuple[str, str, str, str]
    ) -> tuple[EventBase, int] | None:
        remembered = self._txn_results.get(key)
        event_id = remembered[0] if remembered is not None else None
        if event_id is None and requester.device_id is not None:
            room_id, user_id, _, txn_id = key
            event_id = await self._stream_store.get_event_id_for_txn(
                room_id, user_id, requester.device_id, txn_id
            )
        if event_id is None:
            return None
        event = await self._events.get_event(event_id, allow_none=True, allow_rejected=True)
        if event is None:
            return None
        return event, event.internal_metadata.stream_ordering or 0

    def _expire_txn_results(self) -> None:
        cutoff = self.clock.time_msec() - _TXN_CACHE_EXPIRY_MS
        for key in [k for k, (_, ts) in self._txn_results.items() if ts < cutoff]:
            del self._txn_results[key]

    async def _send_nonmember(
        self,
        requester: Requester,
        event_dict: JsonDict,
        ratelimit: bool,
        txn_id: str | None,
    ) -> tuple[EventBase, int]:
        if ratelimit:
            await self.ratelimit_message(requester)
        room_id = event_dict["room_id"]
        async with self.room_linearizer.queue(room_id):
            existing = await self.find_identical_state_event(event_dict)
            if existing is not None:
                return existing, existing.internal_metadata.stream_ordering or 0
            event, context = await self.create_event(requester, event_dict, txn_id=txn_id)
            event = await self.handle_new_client_event(
                requester, [(event, context)], ratelimit=False
            )
        # Sending is activity for presence; nothing waits for it.
        defer.ensureDeferred(
            self.hs.get_presence_handler().bump_presence_active_time(requester.user.to_string())
        )
        stream_id = event.internal_metadata.stream_ordering
        assert stream_id is not None
        return event, stream_id

    async def find_identical_state_event(self, event_dict: Mapping[str, Any]) -> EventBase | None:
        """The room's current state event that ``event_dict`` would only repeat (same
        type, state key, sender and content), if any."""
        state_key = event_dict.get("state_key")
        if not isinstance(state_key, str):
            return None
        current_id = await self._state_store.get_current_state_event_id(
            event_dict["room_id"], event_dict["type"], state_key
        )
        if current_id is None:
            return None
        current = await self._events.get_event(current_id, allow_none=True)
        if current is None or current.sender != event_dict.get("sender"):
            return None
        try:
            same = encode_canonical_json(current.content) == encode_canonical_json(
                event_dict.get("content", {})
            )
        except (TypeError, ValueError):
            return None
        return current if same else None

    # --- helpers for callers -----------------------------------------------------------
    async def get_room_version_for_new_room(self, room_version_id: str | None) -> RoomVersion:
        """The version of a new room: ``room_version_id``, or the configured default
        (400 M_UNSUPPORTED_ROOM_VERSION for an unknown one)."""
        if room_version_id is None:
            return self.hs.config.server.default_room_version
        version = KNOWN_ROOM_VERSIONS.get(room_version_id)
        if version is None:
            raise UnsupportedRoomVersionError()
        return version

    def new_room_id(self) -> str:
        """A fresh room ID of this server (room versions 1 to 11)."""
        return f"!{random_string(18)}:{self.server_name}"


class MessageHandler:
    """``hs.get_message_handler()``: reads of room state for clients, with the access
    rule of ``/state`` and ``/members``: members see the current state, users who left
    see the state when they left, anyone sees a world-readable room's current state."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        stores = hs.get_datastores().main
        self._stores = stores
        self._events = stores.events
        self._state_store = stores.state

    async def check_user_in_room_or_world_readable(
        self, room_id: str, requester: Requester, allow_departed_users: bool = True
    ) -> tuple[str | None, str | None]:
        """``(membership, membership event ID)`` of the requester when they are in the
        room (or, with ``allow_departed_users``, have left or been banned), or
        ``(None, None)`` for a world-readable room; else 403 M_FORBIDDEN."""
        user_id = requester.user.to_string()
        (
            membership,
            event_id,
        ) = await self._stores.roommember.get_local_current_membership_for_user_in_room(
            user_id, room_id
        )
        if membership == Membership.JOIN:
            return membership, event_id
        if allow_departed_users and membership in (Membership.LEAVE, Membership.BAN):
            return membership, event_id
        if await self.is_world_readable(room_id):
            return None, None
        raise AuthError(403, f"User {user_id} not in room {room_id}")

    async def is_world_readable(self, room_id: str) -> bool:
        event_id = await self._state_store.get_current_state_event_id(
            room_id, EventTypes.RoomHistoryVisibility, ""
        )
        if event_id is None:
            return False
        event = await self._events.get_event(event_id, allow_none=True)
        return event is not None and event.content.get("history_visibility") == "world_readable"

    async def _state_ids_for_reader(
        self,
        requester: Requester,
        room_id: str,
        state_filter: StateFilter | None,
        at_stream: int | None = None,
    ) -> StateMap[str]:
        membership, member_event_id = await self.check_user_in_room_or_world_readable(
            room_id, requester
        )
        at_event_id: str | None = None
        if membership in (Membership.LEAVE, Membership.BAN) and member_event_id is not None:
            at_event_id = member_event_id
            if at_stream is not None:
                member_event = await self._events.get_event(member_event_id, allow_none=True)
                member_stream = (
                    member_event.internal_metadata.stream_ordering if member_event else None
                )
                if member_stream is not None and at_stream < member_stream:
                    at_event_id = await self._last_event_at(room_id, at_stream)
        elif at_stream is not None:
            at_event_id = await self._last_event_at(room_id, at_stream)
            if at_event_id is None:
                return {}
        if at_event_id is None:
            return await self._state_store.get_current_state_ids(room_id, state_filter)
        return await self._state_store.get_state_ids_for_event(at_event_id, state_filter)

    async def _last_event_at(self, room_id: str, stream: int) -> str | None:
        """The room's last event at or before stream position ``stream``."""
        events, _ = await self._stores.stream.paginate_room_events(
            room_id, RoomStreamToken(stream=stream), direction="b", limit=1
        )
        return events[0].event_id if events else None

    async def get_state_events(
        self,
        requester: Requester,
        room_id: str,
        state_filter: StateFilter | None = None,
        at_stream: int | None = None,
    ) -> list[EventBase]:
        """The room state the requester may see (``GET /rooms/{roomId}/state``)."""
        state_ids = await self._state_ids_for_reader(requester, room_id, state_filter, at_stream)
        events = await self._events.get_events(state_ids.values())
        return [events[e] for e in state_ids.values() if e in events]

    async def get_room_data(
        self, requester: Requester, room_id: str, event_type: str, state_key: str
    ) -> EventBase | None:
        """One state event the requester may see, or None."""
        events = await self.get_state_events(
            requester, room_id, StateFilter.from_types([(event_type, state_key)])
        )
        return events[0] if events else None

    async def get_joined_members(self, requester: Requester, room_id: str) -> JsonDict:
        """``{user_id: {display_name, avatar_url}}`` of the joined members; the requester
        must be in the room (or it must be world-readable)."""
        await self.check_user_in_room_or_world_readable(
            room_id, requester, allow_departed_users=False
        )
        members = await self._stores.roommember.get_users_in_room_with_profiles(room_id)
        out: JsonDict = {}
        for user_id, profile in members.items():
            entry: JsonDict = {}
            if profile.display_name is not None:
                entry["display_name"] = profile.display_name
            if profile.avatar_url is not None:
                entry["avatar_url"] = profile.avatar_url
            out[user_id] = entry
        return out
