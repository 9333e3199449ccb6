"""The published room directory: ``/publicRooms``.

Rooms published on this server are listed by number of joined members (most first,
then by room ID), filtered by a search term and room types, and paged with opaque
offset tokens.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from synapse.api.constants import EventContentFields, EventTypes, GuestAccess, HistoryVisibility
from synapse.api.errors import Codes, SynapseError
from synapse.storage.state_filter import StateFilter
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.server import HomeServer

_ENTRY_STATE_TYPES: list[tuple[str, str | None]] = [
    (EventTypes.Create, ""),
    (EventTypes.Name, ""),
    (EventTypes.Topic, ""),
    (EventTypes.CanonicalAlias, ""),
    (EventTypes.RoomAvatar, ""),
    (EventTypes.JoinRules, ""),
    (EventTypes.RoomHistoryVisibility, ""),
    (EventTypes.GuestAccess, ""),
]

_NEXT_PREFIX = "n"
_PREV_PREFIX = "p"


def _parse_since(since: str | None) -> int:
    """The offset an opaque ``since`` token stands for."""
    if since is None:
        return 0
    if len(since) >= 2 and since[0] in (_NEXT_PREFIX, _PREV_PREFIX) and since[1:].isdigit():
        return int(since[1:])
    raise SynapseError(400, "Invalid 'since' token", Codes.INVALID_PARAM)


def _topic_text(content: Any) -> str | None:
    topic = content.get("topic") if isinstance(content, dict) else None
    return topic if isinstance(topic, str) else None


class RoomListHandler:
    """``hs.get_room_list_handler()``: the public rooms of this server."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        stores = hs.get_datastores().main
        self._stores = stores
        self._state_store = stores.state
        self._events = stores.events
        self.enable_room_list_search = hs.config.room_directory.enable_room_list_search

    async def get_local_public_room_list(
        self,
        limit: int | None = None,
        since_token: str | None = None,
        search_term: str | None = None,
        room_types: Sequence[str | None] | None = None,
    ) -> JsonDict:
        """A page of the public room list, in the shape of the ``/publicRooms`` response."""
        offset = _parse_since(since_token)
        if limit is not None and limit < 0:
            raise SynapseError(400, "'limit' must not be negative", Codes.INVALID_PARAM)
        if not self.enable_room_list_search:
            return {"chunk": [], "total_room_count_estimate": 0}

        entries = []
        for room_id in await self._stores.rooms.get_public_room_ids():
            entry = await self.get_room_entry(room_id)
            if entry is None or entry["num_joined_members"] == 0:
                continue
            if search_term and not _matches(entry, search_term):
                continue
            if room_types is not None and entry.get("room_type") not in room_types:
                continue
            entries.append(entry)
        entries.sort(key=lambda e: (-e["num_joined_members"], e["room_id"]))

        # As elsewhere, a limit of 0 means no limit.
        end = len(entries) if not limit else offset + limit
        chunk = entries[offset:end]
        result: JsonDict = {"chunk": chunk, "total_room_count_estimate": len(entries)}
        if end < len(entries):
            result["next_batch"] = f"{_NEXT_PREFIX}{end}"
        if offset > 0 and entries:
            result["prev_batch"] = f"{_PREV_PREFIX}{max(0, offset - (limit or offset))}"
        return result

    async def get_room_entry(self, room_id: str) -> JsonDict | None:
        """The directory entry of a room from its current state (None if unknown here)."""
        state_ids = await self._state_store.get_current_state_ids(
            room_id, StateFilter.from_types(_ENTRY_STATE_TYPES)
        )
        if (EventTypes.Create, "") not in state_ids:
            return None
        events = await self._events.get_events(state_ids.values())
        by_type = {k[0]: events[v] for k, v in state_ids.items() if v in events}
        joined = await self._stores.roommember.get_users_in_room(room_id)

        def content_of(event_type: str) -> dict[str, Any]:
            event = by_type.get(event_type)
            return event.content if event is not None else {}

        history = content_of(EventTypes.RoomHistoryVisibility).get("history_visibility")
        guest_access = content_of(EventTypes.GuestAccess).get("guest_access")
        entry: JsonDict = {
            "room_id": room_id,
            "num_joined_members": len(joined),
            "world_readable": history == HistoryVisibility.WORLD_READABLE,
            "guest_can_join": guest_access == GuestAccess.CAN_JOIN,
        }
        name = content_of(EventTypes.Name).get("name")
        if isinstance(name, str) and name:
            entry["name"] = name
        topic = _topic_text(content_of(EventTypes.Topic))
        if topic:
            entry["topic"] = topic
        alias = content_of(EventTypes.CanonicalAlias).get("alias")
        if isinstance(alias, str) and alias:
            entry["canonical_alias"] = alias
        avatar = content_of(EventTypes.RoomAvatar).get("url")
        if isinstance(avatar, str) and avatar:
            entry["avatar_url"] = avatar
        join_rule = content_of(EventTypes.JoinRules).get("join_rule")
        if isinstance(join_rule, str):
            entry["join_rule"] = join_rule
        room_type = content_of(EventTypes.Create).get(EventContentFields.ROOM_TYPE)
        if isinstance(room_type, str):
            entry["room_type"] = room_type
        return entry


def _matches(entry: JsonDict, search_term: str) -> bool:
    needle = search_term.strip().lower()
    if not needle:
        return True
    fields: Collection[Any] = (
        entry.get("name"),
        entry.get("topic"),
        entry.get("canonical_alias"),
        entry.get("room_id"),
    )
    return any(isinstance(f, str) and needle in f.lower() for f in fields)
