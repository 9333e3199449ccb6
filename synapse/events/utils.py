"""Redaction of event objects, the client event format, stripped state and JSON checks."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from synapse.api.constants import EventContentFields
from synapse.api.errors import Codes, SynapseError
from synapse.crypto.event_signing import prune_event_dict
from synapse.events import EventBase, make_event_from_dict
from synapse.types import JsonDict

# The unsigned keys that survive redaction of an event object: the age, the state it
# replaced, and the redaction itself.
_PRUNED_UNSIGNED_KEYS: tuple[str, ...] = ("age_ts", "replaces_state", "redacted_because")

# Keys of the client event format, besides unsigned.
_CLIENT_EVENT_KEYS: tuple[str, ...] = (
    "content",
    "event_id",
    "origin_server_ts",
    "room_id",
    "sender",
    "state_key",
    "type",
)

# Unsigned keys only the local server uses, never shown to clients.
_STRIPPED_ROOM_STATE_KEYS: tuple[str, ...] = ("invite_room_state", "knock_room_state")

CANONICALJSON_MAX_INT = 2**53 - 1
CANONICALJSON_MIN_INT = -CANONICALJSON_MAX_INT


def prune_event(event: EventBase) -> EventBase:
    """A redacted copy of ``event``, marked as redacted.

    The copy keeps the event ID, what this server knows about the event
    (internal metadata) and, of ``unsigned``, only ``age_ts``, ``replaces_state`` and
    ``redacted_because``.
    """
    pruned = prune_event_dict(event.room_version, event.get_dict())
    old_unsigned = event.unsigned
    pruned["unsigned"] = {k: old_unsigned[k] for k in _PRUNED_UNSIGNED_KEYS if k in old_unsigned}

    new_event = make_event_from_dict(
        pruned,
        event.room_version,
        event.internal_metadata.get_dict(),
        event.rejected_reason,
    )
    meta, old_meta = new_event.internal_metadata, event.internal_metadata
    meta.redacted = True
    meta.stream_ordering = old_meta.stream_ordering
    meta.instance_name = old_meta.instance_name
    # The reference hash covers only what redaction keeps, so the ID cannot change.
    if not event.room_version.event_ids_in_events:
        new_event._event_id = event.event_id
    return new_event


def get_relation(event: EventBase) -> tuple[str, str] | None:
    """``(rel_type, parent event ID)`` of an event's ``m.relates_to``, if it has one
    whose two fields are strings."""
    content = event.content
    relation = content.get(EventContentFields.RELATIONS) if isinstance(content, Mapping) else None
    if not isinstance(relation, Mapping):
        return None
    rel_type = relation.get("rel_type")
    parent = relation.get("event_id")
    if not isinstance(rel_type, str) or not isinstance(parent, str):
        return None
    return rel_type, parent


@functools.lru_cache(maxsize=10_000)
def parse_dotted_key(key: str) -> tuple[str, ...]:
    """The property names of a dot-separated path (filter ``event_fields``, push rule
    conditions): ``\\.`` is a literal dot and ``\\\\`` a literal backslash; any other
    backslash stands for itself."""
    parts: list[str] = []
    current: list[str] = []
    i, n = 0, len(key)
    while i < n:
        c = key[i]
        if c == "\\" and i + 1 < n and key[i + 1] in ".\\":
            current.append(key[i + 1])
            i += 2
            continue
        if c == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    return tuple(parts)


def only_fields(event_json: Mapping[str, Any], fields: Iterable[str]) -> JsonDict:
    """The parts of ``event_json`` named by dot-separated property paths (filter
    ``event_fields``); paths that do not exist are ignored."""
    out: JsonDict = {}
    for field in fields:
        path = parse_dotted_key(field)
        value: Any = event_json
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                break
            value = value[key]
        else:
            target = out
            for key in path[:-1]:
                nxt = target.get(key)
                if not isinstance(nxt, dict):
                    nxt = {}
                    target[key] = nxt
                target = nxt
            target[path[-1]] = value
    return out


def serialize_event(
    event: EventBase | JsonDict,
    time_now_ms: int,
    *,
    as_client_event: bool = True,
    token_id: int | None = None,
    device_id: str | None = None,
    user_id: str | None = None,
    only_event_fields: Collection[str] | None = None,
    include_stripped_room_state: bool = False,
    include_room_id: bool = True,
) -> JsonDict:
    """An event as a client (or, with ``as_client_event=False``, a server) sees it.

    ``unsigned.age`` is computed from ``age_ts``; ``redacted_because`` is serialised too.
    ``transaction_id`` is included only when the event was sent with the requester's access
    token (``token_id``) or device (``device_id``), and, if ``user_id`` is given, only
    when the requester is the sender. Stripped room state in ``unsigned`` (invites,
    knocks) is dropped unless ``include_stripped_room_state``. The client format has none
    of the federation keys (auth_events, prev_events, hashes, signatures, depth, ...).
    """
    if not isinstance(event, EventBase):
        # Already serialised (e.g. a stored redacted_because).
        return event

    if as_client_event:
        d: JsonDict = {k: event.get(k) for k in _CLIENT_EVENT_KEYS if k in event}
        d["event_id"] = event.event_id
        if include_room_id:
            d["room_id"] = event.room_id
        else:
            d.pop("room_id", None)
        if not event.room_version.updated_redaction_rules and "redacts" in event:
            d["redacts"] = event.get("redacts")
    else:
        d = event.get_dict()
        d.pop("unsigned", None)

    unsigned = dict(event.unsigned)
    age_ts = unsigned.pop("age_ts", None)
    if isinstance(age_ts, int):
        unsigned["age"] = time_now_ms - age_ts
    redacted_because = unsigned.get("redacted_because")
    if redacted_because is not None:
        unsigned["redacted_because"] = serialize_event(
            redacted_because,
            time_now_ms,
            as_client_event=as_client_event,
            include_room_id=include_room_id,
        )
    unsigned.pop("transaction_id", None)
    txn_id = event.internal_metadata.txn_id
    if txn_id is not None and (user_id is None or user_id == event.sender):
        meta = event.internal_metadata
        if (token_id is not None and meta.token_id == token_id) or (
            device_id is not None and meta.device_id == device_id
        ):
            unsigned["transaction_id"] = txn_id
    if not include_stripped_room_state:
        for key in _STRIPPED_ROOM_STATE_KEYS:
            unsigned.pop(key, None)
    d["unsigned"] = unsigned

    if only_event_fields is not None:
        if not isinstance(only_event_fields, (list, tuple, set, frozenset)) or not all(
            isinstance(f, str) for f in only_event_fields
        ):
            raise TypeError("only_event_fields must be a collection of strings")
        d = only_fields(d, only_event_fields)
    return d


def strip_event(event: EventBase) -> JsonDict:
    """The stripped state form of a state event: type, state_key, content and sender."""
    return {
        "type": event.type,
        "state_key": event.state_key,
        "content": event.content,
        "sender": event.sender,
    }


def validate_canonicaljson(value: Any) -> None:
    """Refuse JSON the spec's canonical JSON does not allow.

    Integers must lie in [-(2**53)+1, 2**53-1]; floats (NaN and the infinities too) are
    not allowed. Raises SynapseError(400, M_BAD_JSON).
    """
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str) or v is None or isinstance(v, bool):
            continue
        if isinstance(v, int):
            if not CANONICALJSON_MIN_INT <= v <= CANONICALJSON_MAX_INT:
                raise SynapseError(400, "JSON integer out of range", Codes.BAD_JSON)
        elif isinstance(v, float):
            raise SynapseError(400, "Bad JSON value: float", Codes.BAD_JSON)
        elif isinstance(v, Mapping):
            for k in v:
                if not isinstance(k, str):
                    raise SynapseError(400, "JSON object keys must be strings", Codes.BAD_JSON)
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        else:
            raise SynapseError(400, f"Bad JSON value of type {type(v).__name__}", Codes.BAD_JSON)


def _parse_power_level_value(value: Any) -> int | None:
    """A power level as an integer, from an int, a legacy numeric string or float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        s = value.strip()
        digits = s[1:] if s[:1] in ("+", "-") else s
        if digits.isascii() and digits.isdigit():
            return int(s)
        return None
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return int(value)
    return None


def copy_and_fixup_power_levels_contents(
    old_power_levels: Mapping[str, Any],
) -> dict[str, int | dict[str, int]]:
    """A copy of power levels content with every level as an integer.

    Legacy string and float levels are converted; values that are not levels at all are
    left out. Nested objects (``users``, ``events``, ``notifications``) are copied too.
    """
    if not isinstance(old_power_levels, Mapping):
        raise TypeError("Power levels content must be an object")
    power_levels: dict[str, int | dict[str, int]] = {}
    for key, value in old_power_levels.items():
        if isinstance(value, Mapping):
            nested: dict[str, int] = {}
            for k, v in value.items():
                level = _parse_power_level_value(v)
                if level is not None:
                    nested[k] = level
            power_levels[key] = nested
        else:
            level = _parse_power_level_value(value)
            if level is not None:
                power_levels[key] = level
    return power_levels
