"""Relations between events: checks on new ones, ``/relations``, ``/threads`` and the
bundled aggregations served with events.

``get_bundled_aggregations(events, user_id)`` is what every endpoint that serves events
(``/messages``, ``/context``, ``/event``, ``/relations``, ``/threads``, ``/sync``) calls
on its batch, then hands to ``EventClientSerializer.serialize_events``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from synapse.api.constants import EventTypes, RelationTypes
from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.events import EventBase
from synapse.events.client_serializer import (
    BundledAggregations,
    SerializeEventConfig,
    ThreadAggregation,
)
from synapse.events.utils import get_relation, prune_event
from synapse.types import JsonDict, Requester, RoomStreamToken, StreamToken
from synapse.visibility import filter_events_for_client, get_ignored_users

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# How many levels of relations ``recurse=true`` follows.
RELATIONS_RECURSION_DEPTH = 3
# Longest annotation key accepted from a local client.
MAX_ANNOTATION_KEY_LENGTH = 500


def _is_valid_edit(original: EventBase, edit: EventBase) -> bool:
    """The spec's validity rules of a replacement that the query has not checked."""
    if edit.sender != original.sender or edit.type != original.type:
        return False
    if original.is_state() or edit.is_state():
        return False
    if edit.type != EventTypes.Encrypted and not isinstance(
        edit.content.get("m.new_content"), dict
    ):
        return False
    return True


_MAX_POSITION = 2**63 - 1


def _check_in_range(token: RoomStreamToken) -> RoomStreamToken:
    """400 M_INVALID_PARAM for a token whose numbers no database column can hold."""
    for value in (token.stream, token.topological or 0):
        if not -_MAX_POSITION <= value <= _MAX_POSITION:
            raise SynapseError(400, "Invalid pagination token", Codes.INVALID_PARAM)
    return token


async def parse_pagination_token(
    hs: HomeServer, room_id: str, token: str | None
) -> RoomStreamToken | None:
    """A ``from``/``to`` token (of ``/messages``, ``/relations`` or ``/sync``) as a
    topological position in the room; 400 M_INVALID_PARAM if it is not a token."""
    if token is None:
        return None
    room_key = _check_in_range(StreamToken.from_string(token).room_key)
    if room_key.topological is None:
        room_key = await hs.get_datastores().main.stream.get_topological_token_for_stream(
            room_id, room_key.stream
        )
    return room_key


class RelationsHandler:
    """``hs.get_relations_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self._clock = hs.get_clock()
        self._stores = hs.get_datastores().main
        self._relations = self._stores.relations
        self._events = self._stores.events
        self._serializer = hs.get_event_client_serializer()

    # --- new relations from local clients -----------------------------------------------
    async def validate_new_relation(self, event: EventBase) -> None:
        """Refuse a local event whose relation the server should not accept: a parent in
        another room or unknown, a second identical annotation (400
        M_DUPLICATE_ANNOTATION), a thread off an event that has a relation itself."""
        relation = get_relation(event)
        if relation is None:
            return
        rel_type, parent_id = relation
        key = event.content["m.relates_to"].get("key")
        if any("\x00" in v for v in (rel_type, parent_id, key) if isinstance(v, str)):
            raise SynapseError(400, "NUL character in m.relates_to", Codes.BAD_JSON)
        parent = await self._events.get_event(parent_id, allow_none=True)
        if parent is not None:
            if parent.room_id != event.room_id:
                raise SynapseError(400, "Relations must be in the same room", Codes.INVALID_PARAM)
        elif not await self._relations.event_is_target_of_relation(parent_id):
            raise SynapseError(400, "Can't send a relation to an unknown event", Codes.NOT_FOUND)

        if rel_type == RelationTypes.ANNOTATION:
            if not isinstance(key, str):
                raise SynapseError(400, "An annotation needs a string key", Codes.BAD_JSON)
            if len(key) > MAX_ANNOTATION_KEY_LENGTH:
                raise SynapseError(400, "The annotation key is too long", Codes.BAD_JSON)
            if await self._relations.has_user_annotated_event(
                parent_id, event.type, key, event.sender
            ):
                raise SynapseError(
                    400, "Can't send the same annotation twice", Codes.DUPLICATE_ANNOTATION
                )
        elif rel_type == RelationTypes.THREAD:
            if parent is not None and get_relation(parent) is not None:
                raise SynapseError(
                    400, "Cannot start a thread from an event with a relation", Codes.UNKNOWN
                )

    # --- bundled aggregations --------------------------------------------------------------
    async def get_bundled_aggregations(
        self,
        events: Sequence[EventBase],
        user_id: str,
        ignored_users: Collection[str] | None = None,
    ) -> dict[str, BundledAggregations]:
        """The aggregations of each event that has some (state events have none): the
        latest valid edit, the thread summary and the references. The latest events of
        threads get their own entries (their edits), for the serializer."""
        if ignored_users is None:
            ignored_users = await get_ignored_users(self._stores, user_id)
        out = await self._aggregate(events, user_id, ignored_users)
        latest = [a.thread.latest_event for a in out.values() if a.thread is not None]
        latest = [e for e in latest if e.event_id not in out]
        if latest:
            for event_id, aggregations in (
                await self._aggregate(latest, user_id, ignored_users)
            ).items():
                aggregations.thread = None
                if aggregations:
                    out[event_id] = aggregations
        return out

    async def _aggregate(
        self, events: Sequence[EventBase], user_id: str, ignored_users: Collection[str]
    ) -> dict[str, BundledAggregations]:
        by_id = {e.event_id: e for e in events if not e.is_state()}
        if not by_id:
            return {}
        summaries = await self._relations.get_relation_summaries(by_id, user_id, ignored_users)
        out: dict[str, BundledAggregations] = {}

        # Edits: the most recent valid one, unless the original is redacted or an edit.
        candidates: dict[str, list[str]] = {}
        for parent_id, edit_ids in summaries.edits.items():
            original = by_id.get(parent_id)
            if original is None or original.is_redacted():
                continue
            own = get_relation(original)
            if own is not None and own[0] == RelationTypes.REPLACE:
                continue
            candidates[parent_id] = list(edit_ids)
        while candidates:
            firsts = {parent: ids.pop(0) for parent, ids in candidates.items()}
            loaded = await self._events.get_events(firsts.values())
            for parent_id, edit_id in firsts.items():
                edit = loaded.get(edit_id)
                if edit is not None and _is_valid_edit(by_id[parent_id], edit):
                    out.setdefault(parent_id, BundledAggregations()).replace = edit
                    del candidates[parent_id]
                elif not candidates[parent_id]:
                    del candidates[parent_id]

        # Threads.
        if summaries.threads:
            latest = await self._events.get_events(
                s.latest_event_id for s in summaries.threads.values()
            )
            for parent_id, summary in summaries.threads.items():
                latest_event = latest.get(summary.latest_event_id)
                if latest_event is None:
                    continue
                root = by_id[parent_id]
                participated = root.sender == user_id or parent_id in summaries.participated
                out.setdefault(parent_id, BundledAggregations()).thread = ThreadAggregation(
                    latest_event, summary.count, participated
                )

        for parent_id, reference_ids in summaries.references.items():
            out.setdefault(parent_id, BundledAggregations()).references = reference_ids
        return out

    async def serialize_events(
        self, events: Sequence[EventBase], requester: Requester
    ) -> list[JsonDict]:
        """Events as the requester sees them, with their bundled aggregations."""
        user_id = requester.user.to_string()
        bundles = await self.get_bundled_aggregations(events, user_id)
        return self._serializer.serialize_events(
            events,
            self._clock.time_msec(),
            config=SerializeEventConfig(requester=requester),
            bundle_aggregations=bundles,
        )

    # --- GET /relations ---------------------------------------------------------------------
    async def get_relations(
        self,
        requester: Requester,
        room_id: str,
        event_id: str,
        relation_type: str | None = None,
        event_type: str | None = None,
        from_token: str | None = None,
        to_token: str | None = None,
        direction: str = "b",
        limit: int = 5,
        recurse: bool | None = None,
    ) -> JsonDict:
        """``GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]``: 404
        M_NOT_FOUND unless the parent is in the room and visible to the requester."""
        user_id = requester.user.to_string()
        parent = await self._events.get_event(event_id, allow_none=True)
        if parent is None or parent.room_id != room_id:
            raise NotFoundError("Event not found")
        if not await filter_events_for_client(
            self._stores, user_id, [parent], add_membership=False
        ):
            raise NotFoundError("Event not found")
        from_key = await parse_pagination_token(self.hs, room_id, from_token)
        to_key = await parse_pagination_token(self.hs, room_id, to_token)
        depth = RELATIONS_RECURSION_DEPTH if recurse else 1
        page = await self._relations.get_relations_for_event(
            room_id,
            event_id,
            relation_type,
            event_type,
            from_key,
            to_key,
            direction,
            limit,
            depth,
        )
        events = await self._events.get_events_as_list(page.event_ids)
        events = await filter_events_for_client(self._stores, user_id, events)
        body: JsonDict = {"chunk": await self.serialize_events(events, requester)}
        if page.next_token is not None:
            body["next_batch"] = page.next_token.to_string()
        if from_token is not None:
            body["prev_batch"] = from_token
        if recurse is not None:
            body["recursion_depth"] = depth
        return body

    # --- GET /threads -----------------------------------------------------------------------
    async def get_threads(
        self,
        requester: Requester,
        room_id: str,
        include: str = "all",
        from_token: str | None = None,
        limit: int = 5,
    ) -> JsonDict:
        """``GET /rooms/{roomId}/threads``: the roots the requester may see, the most
        recently active first; roots sent by ignored users come redacted."""
        user_id = requester.user.to_string()
        await self.hs.get_message_handler().check_user_in_room_or_world_readable(room_id, requester)
        from_key = None
        if from_token is not None:
            from_key = _check_in_range(RoomStreamToken.parse(from_token))
            if from_key.topological is None:
                raise SynapseError(400, "Unknown pagination token", Codes.INVALID_PARAM)
        page = await self._relations.get_threads(
            room_id, user_id if include == "participated" else None, from_key, limit
        )
        ignored = await get_ignored_users(self._stores, user_id)
        roots = await self._events.get_events_as_list(page.thread_ids)
        # A thread whose root is in another room is no thread of this room.
        roots = [e for e in roots if e.room_id == room_id]
        roots = await filter_events_for_client(self._stores, user_id, roots, ignored_users=())
        roots = [
            prune_event(e) if e.sender in ignored and not e.is_redacted() else e for e in roots
        ]
        bundles = await self.get_bundled_aggregations(roots, user_id, ignored)
        body: JsonDict = {
            "chunk": self._serializer.serialize_events(
                roots,
                self._clock.time_msec(),
                config=SerializeEventConfig(requester=requester),
                bundle_aggregations=bundles,
            )
        }
        if page.next_token is not None:
            body["next_batch"] = page.next_token.to_string()
        return body
