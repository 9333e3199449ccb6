"""Paging through a room's history: ``GET /rooms/{roomId}/messages`` and
``GET /rooms/{roomId}/timestamp_to_event``.

Tokens are ``RoomStreamToken`` strings: ``t<depth>-<stream>`` positions in the room's
topological order; ``from``/``to`` also take ``/sync``'s ``prev_batch``/``next_batch``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.constants import EventTypes, Membership
from synapse.api.errors import NotFoundError
from synapse.api.filtering import Filter
from synapse.events import EventBase
from synapse.handlers.relations import parse_pagination_token
from synapse.storage.state_filter import StateFilter
from synapse.types import JsonDict, Requester, RoomStreamToken
from synapse.visibility import filter_events_for_client, get_ignored_users

if TYPE_CHECKING:
    from synapse.server import HomeServer

# The most events one /messages page returns.
MAX_MESSAGES_LIMIT = 1000
DEFAULT_MESSAGES_LIMIT = 10
# Extra pages read when a whole page is invisible to the user, before answering with an
# empty chunk (and an ``end`` to go on from).
_MAX_EXTRA_PAGES = 3


def member_state_filter(senders: set[str], include_others: bool = False) -> StateFilter:
    """The member events of ``senders`` (and, with ``include_others``, all other state)."""
    return StateFilter({EventTypes.Member: frozenset(senders)}, include_others=include_others)


class PaginationHandler:
    """``hs.get_pagination_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self._clock = hs.get_clock()
        self._stores = hs.get_datastores().main

    async def get_messages(
        self,
        requester: Requester,
        room_id: str,
        from_token: str | None,
        to_token: str | None,
        direction: str,
        limit: int = DEFAULT_MESSAGES_LIMIT,
        event_filter: Filter | None = None,
    ) -> JsonDict:
        """A page of the room's events the requester may see.

        Members (and former members, up to when they left) may page; others only in a
        world-readable room (else 403 M_FORBIDDEN). Without ``from`` the page starts at
        the end of the room (``b``) or its start (``f``). ``end`` is left out when
        there is nothing more in that direction.
        """
        user_id = requester.user.to_string()
        (
            membership,
            member_event_id,
        ) = await self.hs.get_message_handler().check_user_in_room_or_world_readable(
            room_id, requester
        )
        stream = self._stores.stream
        limit = min(limit, MAX_MESSAGES_LIMIT)

        from_key = await parse_pagination_token(self.hs, room_id, from_token)
        if from_key is None:
            if direction == "b":
                from_key = await stream.get_topological_token_for_stream(
                    room_id, stream.get_room_max_stream_ordering()
                )
            else:
                from_key = RoomStreamToken(stream=0, topological=0)
        to_key = await parse_pagination_token(self.hs, room_id, to_token)

        # A former member sees nothing after leaving: stop there.
        if membership in (Membership.LEAVE, Membership.BAN) and member_event_id is not None:
            left_at = await stream.get_topological_token_for_event(member_event_id)
            if direction == "b" and from_key.as_tuple() > left_at.as_tuple():
                from_key = left_at
            elif direction == "f" and (to_key is None or to_key.as_tuple() > left_at.as_tuple()):
                to_key = left_at

        start = from_token if from_token is not None else from_key.to_string()
        if limit <= 0:
            return {"chunk": [], "start": start}

        ignored = await get_ignored_users(self._stores, user_id)
        next_key = from_key
        more = False
        visible: list[EventBase] = []
        for _ in range(_MAX_EXTRA_PAGES + 1):
            events, next_key = await stream.paginate_room_events(
                room_id, next_key, to_key, direction, limit, event_filter
            )
            more = len(events) >= limit
            if event_filter is not None:
                events = await event_filter.filter(events)
            visible = await filter_events_for_client(
                self._stores, user_id, events, ignored_users=ignored
            )
            if visible or not more:
                break

        relations = self.hs.get_relations_handler()
        body: JsonDict = {
            "chunk": await relations.serialize_events(visible, requester),
            "start": start,
        }
        if more:
            body["end"] = next_key.to_string()
        if event_filter is not None and event_filter.lazy_load_members and visible:
            senders = {e.sender for e in visible}
            state_ids = await self._stores.state.get_state_ids_for_event(
                visible[0].event_id, member_state_filter(senders)
            )
            state = await self._stores.events.get_events_as_list(state_ids.values())
            body["state"] = await relations.serialize_events(state, requester)
        return body

    async def timestamp_to_event(
        self, requester: Requester, room_id: str, timestamp: int, direction: str
    ) -> JsonDict:
        """The room's event closest to ``timestamp`` in ``direction``; 404 M_NOT_FOUND
        if there is none, 403 M_FORBIDDEN for a room the requester cannot read."""
        await self.hs.get_message_handler().check_user_in_room_or_world_readable(room_id, requester)
        found = await self._stores.event_timestamps.get_event_id_for_timestamp(
            room_id, timestamp, direction
        )
        if found is None:
            word = "forward" if direction == "f" else "backward"
            raise NotFoundError(f"Unable to find event from {timestamp} in {word} direction")
        event_id, origin_server_ts = found
        return {"event_id": event_id, "origin_server_ts": origin_server_ts}
