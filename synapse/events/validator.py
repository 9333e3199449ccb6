"""Validation of events: the PDU format of each room version, and new local events.

``check_pdu_format`` is what every PDU received over federation must pass before its
signatures are checked (a failure drops the event). ``validate_new_event`` adds the
stricter checks for events this server creates on behalf of its users.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from canonicaljson import encode_canonical_json

from synapse.api.constants import MAX_DEPTH, MAX_PDU_SIZE, EventTypes, Membership
from synapse.api.errors import Codes, EventSizeError, SynapseError
from synapse.api.room_versions import RoomVersion
from synapse.events import EventBase, make_event_from_dict
from synapse.events.utils import validate_canonicaljson
from synapse.types import JsonMapping
from synapse.util.identifiers import (
    MAX_IDENTIFIER_BYTES,
    byte_length,
    get_domain_from_id,
    is_valid_event_id,
    is_valid_room_alias,
    is_valid_room_id,
    is_valid_user_id,
)

MAX_PREV_EVENTS = 20
MAX_AUTH_EVENTS = 10
MAX_DEPTH_STRICT = 2**53 - 1

# Event types that mean nothing unless they are state events.
STATE_ONLY_EVENT_TYPES: frozenset[str] = frozenset(
    {
        EventTypes.Create,
        EventTypes.Member,
        EventTypes.PowerLevels,
        EventTypes.JoinRules,
        EventTypes.ThirdPartyInvite,
        EventTypes.RoomHistoryVisibility,
        EventTypes.GuestAccess,
        EventTypes.Name,
        EventTypes.Topic,
        EventTypes.RoomAvatar,
        EventTypes.CanonicalAlias,
        EventTypes.RoomEncryption,
        EventTypes.ServerACL,
        EventTypes.Tombstone,
        EventTypes.Pinned,
        EventTypes.Aliases,
    }
)


def _bad(msg: str) -> SynapseError:
    return SynapseError(400, msg, Codes.BAD_JSON)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_str_field(pdu: JsonMapping, key: str, required: bool = True) -> str | None:
    value = pdu.get(key)
    if value is None:
        if key in pdu or required:
            raise _bad(f"'{key}' must be a string")
        return None
    if not isinstance(value, str):
        raise _bad(f"'{key}' must be a string")
    if byte_length(value) > MAX_IDENTIFIER_BYTES:
        raise EventSizeError(f"'{key}' is longer than {MAX_IDENTIFIER_BYTES} bytes")
    return value


def _check_references(room_version: RoomVersion, pdu: JsonMapping, key: str, limit: int) -> None:
    refs = pdu.get(key)
    if not isinstance(refs, list):
        raise _bad(f"'{key}' must be a list")
    if len(refs) > limit:
        raise _bad(f"Too many {key}: {len(refs)} > {limit}")
    pairs = room_version.event_ids_in_events
    for ref in refs:
        if pairs:
            if not isinstance(ref, list) or len(ref) != 2:
                raise _bad(f"'{key}' must hold [event_id, hashes] pairs in this room version")
            event_id, hashes = ref
            if not isinstance(hashes, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in hashes.items()
            ):
                raise _bad(f"Bad reference hashes in '{key}'")
        else:
            if not isinstance(ref, str):
                raise _bad(f"'{key}' must hold event IDs in this room version")
            event_id = ref
        if not is_valid_event_id(event_id, room_version):
            raise _bad(f"Bad event ID in '{key}': {event_id!r}")


def check_pdu_size(pdu: JsonMapping) -> None:
    """Refuse a PDU larger than 65536 bytes as canonical JSON (413 M_TOO_LARGE)."""
    try:
        size = len(encode_canonical_json(pdu))
    except ValueError as e:
        # Lone surrogates, NaN or infinities: not encodable as canonical JSON.
        raise _bad(f"Event is not valid JSON: {e}")
    if size > MAX_PDU_SIZE:
        raise EventSizeError(f"Event is larger than {MAX_PDU_SIZE} bytes")


def check_pdu_format(pdu: Any, room_version: RoomVersion) -> None:
    """Check that a PDU has the event format of ``room_version``.

    Checks the type of every field, the identifier grammar of sender, room_id, event_id
    and references, the 255-byte limits, the 65536-byte limit, the depth limits, that
    references are [id, hashes] pairs in room versions 1 and 2 and plain IDs later, that
    event_id is present exactly in versions 1 and 2, that room_id is absent exactly from
    room version 12 create events, and canonical JSON for versions 6 and later.

    Raises:
        SynapseError: 400 M_BAD_JSON for a malformed event.
        EventSizeError: 413 M_TOO_LARGE for a field or an event over its size limit.
    """
    if not isinstance(pdu, Mapping):
        raise _bad("Event must be a JSON object")

    check_pdu_size(pdu)
    if room_version.strict_canonicaljson:
        validate_canonicaljson(pdu)

    event_type = _check_str_field(pdu, "type")
    sender = _check_str_field(pdu, "sender")
    assert event_type is not None and sender is not None
    if not is_valid_user_id(sender):
        raise _bad(f"Invalid sender {sender!r}")

    state_key = _check_str_field(pdu, "state_key", required=False)
    is_create = event_type == EventTypes.Create and state_key == ""

    if room_version.hydra and is_create:
        if "room_id" in pdu:
            raise _bad("A create event has no room_id in this room version")
    else:
        room_id = _check_str_field(pdu, "room_id")
        assert room_id is not None
        if not is_valid_room_id(room_id, room_version):
            raise _bad(f"Invalid room_id {room_id!r} for room version {room_version.identifier}")

    if room_version.event_ids_in_events:
        event_id = _check_str_field(pdu, "event_id")
        assert event_id is not None
        if not is_valid_event_id(event_id, room_version):
            raise _bad(f"Invalid event_id {event_id!r}")
    elif "event_id" in pdu:
        raise _bad("event_id is not part of events in this room version")

    if not isinstance(pdu.get("content"), Mapping):
        raise _bad("'content' must be an object")

    ts = pdu.get("origin_server_ts")
    if not _is_int(ts):
        raise _bad("'origin_server_ts' must be an integer")

    depth: Any = pdu.get("depth")
    max_depth = MAX_DEPTH_STRICT if room_version.strict_canonicaljson else MAX_DEPTH
    if not _is_int(depth) or not 0 <= depth <= max_depth:
        raise _bad(f"'depth' must be an integer between 0 and {max_depth}")

    hashes = pdu.get("hashes")
    if not isinstance(hashes, Mapping) or not isinstance(hashes.get("sha256"), str):
        raise _bad("'hashes' must be an object with a sha256 hash")

    signatures = pdu.get("signatures")
    if not isinstance(signatures, Mapping):
        raise _bad("'signatures' must be an object")
    for server_sigs in signatures.values():
        if not isinstance(server_sigs, Mapping) or not all(
            isinstance(s, str) for s in server_sigs.values()
        ):
            raise _bad("'signatures' must map server names to objects of signatures")

    if "unsigned" in pdu and not isinstance(pdu["unsigned"], Mapping):
        raise _bad("'unsigned' must be an object")

    _check_references(room_version, pdu, "prev_events", MAX_PREV_EVENTS)
    _check_references(room_version, pdu, "auth_events", MAX_AUTH_EVENTS)

    if event_type == EventTypes.Redaction:
        redacts = (
            pdu["content"].get("redacts")
            if room_version.updated_redaction_rules
            else pdu.get("redacts")
        )
        if redacts is not None and not isinstance(redacts, str):
            raise _bad("'redacts' must be an event ID")


def check_sender_domain(pdu: JsonMapping, origin: str) -> None:
    """Refuse (403 M_FORBIDDEN) an event whose sender is not on the server ``origin``."""
    sender = pdu.get("sender")
    if not isinstance(sender, str) or ":" not in sender or get_domain_from_id(sender) != origin:
        raise SynapseError(
            403, f"Sender {sender!r} is not on the sending server {origin}", Codes.FORBIDDEN
        )


def validate_received_pdu(pdu: Any, room_version: RoomVersion, origin: str | None = None) -> None:
    """``check_pdu_format``, and when ``origin`` is given, that the sender is on it."""
    check_pdu_format(pdu, room_version)
    if origin is not None:
        check_sender_domain(pdu, origin)


# The unsigned keys a remote server may set on a membership event for us to keep.
_REMOTE_MEMBER_UNSIGNED_KEYS: tuple[str, ...] = ("invite_room_state", "knock_room_state")


def event_from_pdu_json(
    pdu: Any,
    room_version: RoomVersion,
    *,
    received_ts: int | None = None,
    outlier: bool = False,
) -> EventBase:
    """Check a PDU received over federation and make the event object.

    The remote ``unsigned`` is not trusted: only the stripped room state of invites and
    knocks is kept, and ``age`` becomes ``age_ts`` relative to ``received_ts``.
    """
    check_pdu_format(pdu, room_version)
    pdu = dict(pdu)
    remote_unsigned: Any = pdu.pop("unsigned", None) or {}
    unsigned: dict[str, Any] = {}
    age: Any = remote_unsigned.get("age")
    if received_ts is not None and _is_int(age):
        unsigned["age_ts"] = received_ts - age
    if pdu["type"] == EventTypes.Member:
        for key in _REMOTE_MEMBER_UNSIGNED_KEYS:
            if key in remote_unsigned:
                unsigned[key] = remote_unsigned[key]
    if unsigned:
        pdu["unsigned"] = unsigned
    return make_event_from_dict(pdu, room_version, {"outlier": outlier} if outlier else None)


def _check_power_levels_are_ints(content: JsonMapping) -> None:
    for key, value in content.items():
        if isinstance(value, Mapping):
            for k, v in value.items():
                if not _is_int(v):
                    raise _bad(f"Power level '{key}.{k}' must be an integer")
        elif key in ("users", "events", "notifications"):
            raise _bad(f"Power levels '{key}' must be an object")
        elif not _is_int(value):
            raise _bad(f"Power level '{key}' must be an integer")


def validate_new_event(event: EventBase) -> None:
    """The checks for an event this server creates for a local user.

    On top of ``check_pdu_format``: event types that only make sense as state must be
    state events, membership values, integer power levels and valid aliases.
    """
    rv = event.room_version
    check_pdu_format(event.get_pdu_json(), rv)
    content = event.content
    if event.type in STATE_ONLY_EVENT_TYPES and not event.is_state():
        raise _bad(f"{event.type} must be a state event")

    if event.type == EventTypes.Member:
        if content.get("membership") not in Membership.LIST:
            raise _bad("'membership' must be one of " + ", ".join(sorted(Membership.LIST)))
        if not is_valid_user_id(event.state_key):
            raise _bad("The state_key of a membership event must be a user ID")
    elif event.type == EventTypes.PowerLevels:
        _check_power_levels_are_ints(content)
    elif event.type == EventTypes.CanonicalAlias:
        alias = content.get("alias")
        if alias is not None and not (isinstance(alias, str) and is_valid_room_alias(alias)):
            raise SynapseError(400, "Invalid 'alias'", Codes.INVALID_PARAM)
        alt = content.get("alt_aliases")
        if alt is not None and not (
            isinstance(alt, list)
            and all(isinstance(a, str) and is_valid_room_alias(a) for a in alt)
        ):
            raise SynapseError(400, "Invalid 'alt_aliases'", Codes.INVALID_PARAM)
    elif event.type == EventTypes.Redaction:
        if not is_valid_event_id(event.redacts or "", rv):
            raise _bad("A redaction must name the event it redacts")
    elif event.type == EventTypes.Create:
        if rv.hydra:
            creators = content.get("additional_creators")
            if creators is not None and not (
                isinstance(creators, list)
                and all(isinstance(c, str) and is_valid_user_id(c) for c in creators)
            ):
                raise _bad("'additional_creators' must be a list of user IDs")
