"""Filters (the spec's "Filtering"): which events an API returns, and stored user filters.

``Filter`` is one ``EventFilter``/``RoomEventFilter``; ``FilterCollection`` a whole
``Filter`` object of ``POST /user/{userId}/filter`` (the one ``/sync`` takes);
``Filtering`` validates, stores and loads user filters.

    collection = await hs.get_filtering().get_filter_from_param(user_id, "42")
    timeline = await collection.filter_room_timeline(events)

Besides the spec's fields, a ``RoomEventFilter`` may have ``related_by_senders`` and
``related_by_rel_types``: keep only events that have a child event (a relation) from one
of those senders / of one of those relation types.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.events import EventBase
from synapse.http.servlet import validate_json_object
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.server import HomeServer

T = TypeVar("T", EventBase, Mapping[str, Any])

# The default ``limit`` of a filter that does not give one.
DEFAULT_FILTER_LIMIT = 10

_ROOM_ID_LIST: JsonDict = {"type": "array", "items": {"type": "string", "pattern": "^!"}}
_USER_ID_LIST: JsonDict = {"type": "array", "items": {"type": "string", "pattern": "^@"}}
_STRING_LIST: JsonDict = {"type": "array", "items": {"type": "string"}}

# The spec's EventFilter (definitions/event_filter.yaml).
EVENT_FILTER_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "limit": {"type": "integer", "minimum": 0, "maximum": 2**53 - 1},
        "types": _STRING_LIST,
        "not_types": _STRING_LIST,
        "senders": _USER_ID_LIST,
        "not_senders": _USER_ID_LIST,
    },
}

# The spec's RoomEventFilter (definitions/room_event_filter.yaml), and the relation fields.
ROOM_EVENT_FILTER_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        **EVENT_FILTER_SCHEMA["properties"],
        "rooms": _ROOM_ID_LIST,
        "not_rooms": _ROOM_ID_LIST,
        "contains_url": {"type": "boolean"},
        "lazy_load_members": {"type": "boolean"},
        "include_redundant_members": {"type": "boolean"},
        "unread_thread_notifications": {"type": "boolean"},
        "related_by_senders": _USER_ID_LIST,
        "related_by_rel_types": _STRING_LIST,
    },
}

# The spec's Filter (definitions/sync_filter.yaml).
USER_FILTER_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "event_fields": _STRING_LIST,
        "event_format": {"type": "string", "enum": ["client", "federation"]},
        "presence": EVENT_FILTER_SCHEMA,
        "account_data": EVENT_FILTER_SCHEMA,
        "room": {
            "type": "object",
            "properties": {
                "rooms": _ROOM_ID_LIST,
                "not_rooms": _ROOM_ID_LIST,
                "include_leave": {"type": "boolean"},
                "timeline": ROOM_EVENT_FILTER_SCHEMA,
                "state": ROOM_EVENT_FILTER_SCHEMA,
                "ephemeral": ROOM_EVENT_FILTER_SCHEMA,
                "account_data": ROOM_EVENT_FILTER_SCHEMA,
            },
        },
    },
}


def _check_no_nul(value: Any) -> None:
    """No string of a filter may hold a NUL: no identifier does, and PostgreSQL cannot
    compare text with one."""
    if isinstance(value, str):
        if "\x00" in value:
            raise SynapseError(400, "NUL character in the filter", Codes.BAD_JSON)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_no_nul(k)
            _check_no_nul(v)
    elif isinstance(value, list):
        for v in value:
            _check_no_nul(v)


def check_valid_filter(filter_json: Any) -> None:
    """400 M_BAD_JSON unless ``filter_json`` is a valid ``Filter`` (the spec's schema)."""
    validate_json_object(filter_json, USER_FILTER_SCHEMA, Codes.BAD_JSON)
    _check_no_nul(filter_json)


def check_valid_room_event_filter(filter_json: Any) -> None:
    """400 M_BAD_JSON unless ``filter_json`` is a valid ``RoomEventFilter``."""
    validate_json_object(filter_json, ROOM_EVENT_FILTER_SCHEMA, Codes.BAD_JSON)
    _check_no_nul(filter_json)


def parse_filter_json(text: str) -> Any:
    """The JSON value of a filter given in a query string (400 M_NOT_JSON if it is not)."""
    try:
        return json.loads(text)
    except ValueError:
        raise SynapseError(400, "The filter is not valid JSON", Codes.NOT_JSON) from None


def _wildcard_regex(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any of the type patterns, where ``*`` is any sequence."""
    parts = [".*".join(re.escape(p) for p in pattern.split("*")) for pattern in patterns]
    return re.compile("^(?:" + "|".join(parts) + ")$", re.DOTALL)


def _str_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [v for v in value if isinstance(v, str)]


class Filter:
    """One ``EventFilter`` / ``RoomEventFilter``.

    ``check(event)`` works on event objects and on plain dicts (ephemeral events,
    account data, presence); a dict with no ``room_id`` (or no sender) is not checked
    against the room (or sender) lists. ``await filter(events)`` also applies the
    relation fields, which need the database.
    """

    def __init__(self, hs: HomeServer | None, filter_json: Mapping[str, Any]) -> None:
        self._hs = hs
        self.filter_json: JsonDict = dict(filter_json)
        self.types = _str_list(filter_json.get("types"))
        self.not_types = _str_list(filter_json.get("not_types")) or []
        self.senders = _str_list(filter_json.get("senders"))
        self.not_senders = _str_list(filter_json.get("not_senders")) or []
        self.rooms = _str_list(filter_json.get("rooms"))
        self.not_rooms = _str_list(filter_json.get("not_rooms")) or []
        contains_url = filter_json.get("contains_url")
        self.contains_url: bool | None = contains_url if isinstance(contains_url, bool) else None
        limit = filter_json.get("limit", DEFAULT_FILTER_LIMIT)
        self.limit: int = limit if isinstance(limit, int) and limit >= 0 else DEFAULT_FILTER_LIMIT
        self.lazy_load_members = filter_json.get("lazy_load_members") is True
        self.include_redundant_members = filter_json.get("include_redundant_members") is True
        self.unread_thread_notifications = filter_json.get("unread_thread_notifications") is True
        self.related_by_senders = _str_list(filter_json.get("related_by_senders"))
        self.related_by_rel_types = _str_list(filter_json.get("related_by_rel_types"))

        self._types_re = _wildcard_regex(self.types) if self.types else None
        self._not_types_re = _wildcard_regex(self.not_types) if self.not_types else None
        self._senders = frozenset(self.senders) if self.senders is not None else None
        self._not_senders = frozenset(self.not_senders)
        self._rooms = frozenset(self.rooms) if self.rooms is not None else None
        self._not_rooms = frozenset(self.not_rooms)

    def __repr__(self) -> str:
        return f"Filter({self.filter_json!r})"

    # --- checks on single events ------------------------------------------------------
    def check_type(self, event_type: str) -> bool:
        if self._not_types_re is not None and self._not_types_re.match(event_type):
            return False
        if self.types is not None:
            return self._types_re is not None and bool(self._types_re.match(event_type))
        return True

    def check_sender(self, sender: str) -> bool:
        if sender in self._not_senders:
            return False
        return self._senders is None or sender in self._senders

    def check_room(self, room_id: str) -> bool:
        if room_id in self._not_rooms:
            return False
        return self._rooms is None or room_id in self._rooms

    def check(self, event: EventBase | Mapping[str, Any]) -> bool:
        """Whether the event passes the filter's types, senders, rooms and contains_url."""
        if isinstance(event, EventBase):
            event_type: Any = event.type
            sender: Any = event.sender
            room_id: Any = event.room_id
            content: Any = event.content
        else:
            event_type = event.get("type")
            content = event.get("content")
            sender = event.get("sender")
            if sender is None and isinstance(content, Mapping):
                # Presence events name their user in the content.
                sender = content.get("user_id")
            room_id = event.get("room_id")
        if not isinstance(event_type, str) or not self.check_type(event_type):
            return False
        if isinstance(sender, str) and not self.check_sender(sender):
            return False
        if isinstance(room_id, str) and not self.check_room(room_id):
            return False
        if self.contains_url is not None:
            has_url = isinstance(content, Mapping) and isinstance(content.get("url"), str)
            if has_url != self.contains_url:
                return False
        return True

    def filter_rooms(self, room_ids: Iterable[str]) -> list[str]:
        """The rooms of ``room_ids`` the filter keeps."""
        return [r for r in room_ids if self.check_room(r)]

    def has_relation_filter(self) -> bool:
        return self.related_by_senders is not None or self.related_by_rel_types is not None

    async def filter(self, events: Iterable[T]) -> list[T]:
        """The events that pass ``check`` and the relation fields, in order."""
        kept = [e for e in events if self.check(e)]
        if not kept or not self.has_relation_filter():
            return kept
        if self._hs is None:
            raise RuntimeError("A filter on relations needs the homeserver")
        event_ids = [e.event_id if isinstance(e, EventBase) else e.get("event_id") for e in kept]
        related = await self._hs.get_datastores().main.relations.events_have_relations(
            [e for e in event_ids if isinstance(e, str)],
            self.related_by_senders,
            self.related_by_rel_types,
        )
        return [e for e, eid in zip(kept, event_ids, strict=True) if eid in related]

    def blocks_all(self) -> bool:
        """Whether no event at all can pass (``types: []`` or ``not_types: ["*"]``)."""
        return self.types == [] or "*" in self.not_types

    def with_room_ids(self, room_ids: Collection[str]) -> Filter:
        """A copy that also keeps only ``room_ids``."""
        filter_json = dict(self.filter_json)
        if self.rooms is not None:
            filter_json["rooms"] = [r for r in self.rooms if r in room_ids]
        else:
            filter_json["rooms"] = list(room_ids)
        return Filter(self._hs, filter_json)


class FilterCollection:
    """A whole ``Filter`` object (``/sync``'s filter): sub-filters for each section."""

    def __init__(self, hs: HomeServer | None, filter_json: Mapping[str, Any]) -> None:
        self._filter_json: JsonDict = dict(filter_json)
        room = filter_json.get("room") or {}
        self.room_filter = Filter(
            hs, {k: v for k, v in room.items() if k in ("rooms", "not_rooms")}
        )
        self.room_timeline_filter = Filter(hs, room.get("timeline") or {})
        self.room_state_filter = Filter(hs, room.get("state") or {})
        self.room_ephemeral_filter = Filter(hs, room.get("ephemeral") or {})
        self.room_account_data_filter = Filter(hs, room.get("account_data") or {})
        self.presence_filter = Filter(hs, filter_json.get("presence") or {})
        self.account_data_filter = Filter(hs, filter_json.get("account_data") or {})
        self.include_leave: bool = room.get("include_leave") is True
        fields = filter_json.get("event_fields")
        self.event_fields: list[str] | None = _str_list(fields)
        self.event_format: str = filter_json.get("event_format") or "client"

    def __repr__(self) -> str:
        return f"FilterCollection({self._filter_json!r})"

    def get_filter_json(self) -> JsonDict:
        return self._filter_json

    # --- options -------------------------------------------------------------------
    def timeline_limit(self) -> int:
        return self.room_timeline_filter.limit

    def lazy_load_members(self) -> bool:
        """Lazy loading of members, asked for in the state (or the timeline) filter."""
        return (
            self.room_state_filter.lazy_load_members or self.room_timeline_filter.lazy_load_members
        )

    def include_redundant_members(self) -> bool:
        return (
            self.room_state_filter.include_redundant_members
            or self.room_timeline_filter.include_redundant_members
        )

    def unread_thread_notifications(self) -> bool:
        return self.room_timeline_filter.unread_thread_notifications

    def as_client_event(self) -> bool:
        return self.event_format != "federation"

    def blocks_all_presence(self) -> bool:
        return self.presence_filter.blocks_all()

    def blocks_all_global_account_data(self) -> bool:
        return self.account_data_filter.blocks_all()

    def blocks_all_room_account_data(self) -> bool:
        return self.room_account_data_filter.blocks_all()

    def blocks_all_room_ephemeral(self) -> bool:
        return self.room_ephemeral_filter.blocks_all()

    def blocks_all_room_timeline(self) -> bool:
        return self.room_timeline_filter.blocks_all()

    # --- filtering -------------------------------------------------------------------
    def filter_rooms(self, room_ids: Iterable[str]) -> list[str]:
        """The rooms the top-level ``rooms``/``not_rooms`` keep."""
        return self.room_filter.filter_rooms(room_ids)

    async def filter_presence(self, events: Iterable[T]) -> list[T]:
        return await self.presence_filter.filter(events)

    async def filter_global_account_data(self, events: Iterable[T]) -> list[T]:
        return await self.account_data_filter.filter(events)

    async def filter_room_state(self, events: Iterable[T]) -> list[T]:
        return await self.room_state_filter.filter(await self.room_filter.filter(events))

    async def filter_room_timeline(self, events: Iterable[T]) -> list[T]:
        return await self.room_timeline_filter.filter(await self.room_filter.filter(events))

    async def filter_room_ephemeral(self, events: Iterable[T]) -> list[T]:
        return await self.room_ephemeral_filter.filter(await self.room_filter.filter(events))

    async def filter_room_account_data(self, events: Iterable[T]) -> list[T]:
        return await self.room_account_data_filter.filter(await self.room_filter.filter(events))


class Filtering:
    """``hs.get_filtering()``: user filters, validated and stored."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self._store = hs.get_datastores().main.filtering

    async def get_user_filter(self, user_id: str, filter_id: str) -> FilterCollection:
        """A stored filter of the user; 404 M_NOT_FOUND if there is none of that ID."""
        filter_json = await self._store.get_user_filter(user_id, filter_id)
        if filter_json is None:
            raise NotFoundError("No such filter")
        return FilterCollection(self.hs, filter_json)

    async def add_user_filter(self, user_id: str, filter_json: Any) -> str:
        """Validate and store a filter; its ID (the same one for a filter already stored)."""
        check_valid_filter(filter_json)
        return await self._store.add_user_filter(user_id, filter_json)

    async def get_filter_from_param(self, user_id: str, param: str | None) -> FilterCollection:
        """``/sync``'s ``filter``: a filter ID, or an inline filter if it starts with ``{``."""
        if param is None or param == "":
            return FilterCollection(self.hs, {})
        if param.startswith("{"):
            filter_json = parse_filter_json(param)
            check_valid_filter(filter_json)
            return FilterCollection(self.hs, filter_json)
        try:
            return await self.get_user_filter(user_id, param)
        except NotFoundError:
            raise SynapseError(400, f"Unknown filter {param!r}", Codes.INVALID_PARAM) from None

    def parse_room_event_filter(self, param: str | None) -> Filter | None:
        """The ``filter`` query parameter of ``/messages`` and ``/context``: an inline
        ``RoomEventFilter`` (M_NOT_JSON / M_BAD_JSON when it is not one)."""
        if param is None or param == "":
            return None
        filter_json = parse_filter_json(param)
        check_valid_room_event_filter(filter_json)
        return Filter(self.hs, filter_json)
