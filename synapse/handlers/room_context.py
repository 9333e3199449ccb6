"""Reading single events and their surroundings: ``GET /rooms/{roomId}/event/{eventId}``
and ``GET /rooms/{roomId}/context/{eventId}``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.errors import NotFoundError
from synapse.api.filtering import Filter
from synapse.events import EventBase
from synapse.handlers.pagination import DEFAULT_MESSAGES_LIMIT, member_state_filter
from synapse.storage.state_filter import StateFilter
from synapse.types import JsonDict, Requester, RoomStreamToken
from synapse.visibility import filter_events_for_client, get_ignored_users

if TYPE_CHECKING:
    from synapse.server import HomeServer


class RoomContextHandler:
    """``hs.get_room_context_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self._stores = hs.get_datastores().main

    async def _visible_event(self, user_id: str, room_id: str, event_id: str) -> EventBase:
        """The event as the user sees it; 404 M_NOT_FOUND if unknown, in another room
        or not visible to them."""
        event = await self._stores.events.get_event(event_id, allow_none=True)
        if event is None or event.room_id != room_id:
            raise NotFoundError("Event not found")
        visible = await filter_events_for_client(self._stores, user_id, [event])
        if not visible:
            raise NotFoundError("Event not found")
        return visible[0]

    async def get_event(self, requester: Requester, room_id: str, event_id: str) -> JsonDict:
        """``GET /rooms/{roomId}/event/{eventId}``: the event with its aggregations."""
        event = await self._visible_event(requester.user.to_string(), room_id, event_id)
        relations = self.hs.get_relations_handler()
        (serialized,) = await relations.serialize_events([event], requester)
        return serialized

    async def get_event_context(
        self,
        requester: Requester,
        room_id: str,
        event_id: str,
        limit: int = DEFAULT_MESSAGES_LIMIT,
        event_filter: Filter | None = None,
    ) -> JsonDict:
        """``GET /rooms/{roomId}/context/{eventId}``: up to ``limit`` events around the
        event (half before), the state at the last one, and tokens to page on from.

        403 M_FORBIDDEN for a room the requester cannot read; 404 M_NOT_FOUND for an
        event they cannot see. The filter applies to all but the event itself.
        """
        user_id = requester.user.to_string()
        await self.hs.get_message_handler().check_user_in_room_or_world_readable(room_id, requester)
        event = await self._visible_event(user_id, room_id, event_id)
        stream = self._stores.stream
        position = await stream.get_topological_token_for_event(event_id)
        before_limit = limit // 2
        after_limit = limit - before_limit

        before, start_key = await stream.paginate_room_events(
            room_id,
            RoomStreamToken(stream=position.stream - 1, topological=position.topological),
            None,
            "b",
            before_limit,
            event_filter,
        )
        after, end_key = await stream.paginate_room_events(
            room_id, position, None, "f", after_limit, event_filter
        )
        if event_filter is not None:
            before = await event_filter.filter(before)
            after = await event_filter.filter(after)
        ignored = await get_ignored_users(self._stores, user_id)
        before = await filter_events_for_client(
            self._stores, user_id, before, ignored_users=ignored
        )
        after = await filter_events_for_client(self._stores, user_id, after, ignored_users=ignored)

        last = after[-1] if after else event
        state_filter = StateFilter.all()
        if event_filter is not None and event_filter.lazy_load_members:
            senders = {e.sender for e in (*before, event, *after)}
            state_filter = member_state_filter(senders, include_others=True)
        state_ids = await self._stores.state.get_state_ids_for_event(last.event_id, state_filter)
        state = await self._stores.events.get_events_as_list(state_ids.values())
        if event_filter is not None:
            state = [e for e in state if event_filter.check(e)]

        relations = self.hs.get_relations_handler()
        everything = [*before, event, *after]
        serialized = await relations.serialize_events(everything, requester)
        n_before = len(before)
        return {
            "start": start_key.to_string(),
            "end": end_key.to_string(),
            "events_before": serialized[:n_before],
            "event": serialized[n_before],
            "events_after": serialized[n_before + 1 :],
            "state": await relations.serialize_events(state, requester),
        }
