"""The authorization rules of every room version (1 to 12).

Pure functions, no I/O: they take an event and the events that authorise it and raise
``AuthError(403, reason)`` when a rule rejects the event. The rules follow the room
version specifications (``rooms/v1.md`` ... ``rooms/v12.md``); rule numbers in the
comments are those of room version 11 unless said otherwise.

The checks are split in two, as the server-server API's checks on receipt of a PDU are:

- ``check_state_independent_auth_rules``: what needs only the event and the events it
  lists in ``auth_events`` (the create event rules, the shape of ``auth_events``, the
  size limits, the room ID of room version 12);
- ``check_state_dependent_auth_rules``: every other rule, against a given room state
  (the event's auth events, the state before it, or the current state).

Where the spec leaves a case open, these rules decide it:

- A room without an ``m.room.join_rules`` event has the join rule ``invite``.
- A power levels event whose values cannot be read as power levels in the room version
  (a string that is not an integer, a boolean, a float from version 6) is rejected,
  since the rules cannot compare them. When such a value is read from the room state it
  counts as absent (the default applies).
- Rule 4.2 (``join_authorised_via_users_server``) checks that the authorising server's
  signature is present; checking it is valid needs keys and is part of the signature
  checks done on receipt.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, Union

from signedjson.key import decode_verify_key_bytes
from signedjson.sign import SignatureVerifyException, verify_signed_json
from unpaddedbase64 import decode_base64

from synapse.api.constants import (
    EventContentFields,
    EventTypes,
    JoinRules,
    Membership,
)
from synapse.api.errors import AuthError
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from synapse.events import EventBase
from synapse.types import StateKey, is_valid_server_name

# The power level of a room creator in room version 12: above any level an event can
# hold (canonical JSON bounds integers to 2**53 - 1).
CREATOR_POWER_LEVEL: Final = 2**63

# Identifiers and the ``type`` and ``state_key`` of an event are at most 255 bytes.
MAX_IDENTIFIER_BYTES: Final = 255

# The range of integers canonical JSON allows (room versions 6 and later).
CANONICALJSON_MAX_INT: Final = 2**53 - 1
CANONICALJSON_MIN_INT: Final = -CANONICALJSON_MAX_INT

# The levels named at the top of an m.room.power_levels content, with their defaults.
NAMED_LEVEL_DEFAULTS: Final[Mapping[str, int]] = {
    "users_default": 0,
    "events_default": 0,
    "state_default": 50,
    "ban": 50,
    "kick": 50,
    "redact": 50,
    "invite": 0,
}

# The creator's power level in room versions 1 to 11 when there is no power levels event.
_CREATOR_DEFAULT_LEVEL: Final = 100

# Room versions 1 to 9 accept power levels written as strings: an optionally signed
# base-10 integer, with any leading zeroes and surrounding whitespace.
_STRINGY_LEVEL_RE: Final = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)

# Either a state map (keyed by (type, state_key), or by event ID) or a plain iterable.
AuthEvents = Union[Mapping[Any, EventBase], Iterable[EventBase]]
StateEvents = dict[StateKey, EventBase]


def _reject(reason: str) -> AuthError:
    return AuthError(403, reason)


# --------------------------------------------------------------------------------------
# Auth events selection
# --------------------------------------------------------------------------------------


def auth_types_for_event(room_version: RoomVersion, event: EventBase) -> set[tuple[str, str]]:
    """The (type, state_key) pairs of the state events that may authorise ``event``.

    This is the server-server API's "auth events selection". The create event has no
    auth events; room version 12 never selects the create event (the room ID names it).
    """
    if event.type == EventTypes.Create:
        return set()

    auth_types: set[tuple[str, str]] = set()
    if not room_version.hydra:
        auth_types.add((EventTypes.Create, ""))
    auth_types.add((EventTypes.PowerLevels, ""))
    auth_types.add((EventTypes.Member, event.sender))

    if event.type == EventTypes.Member:
        content = event.content
        membership = content.get("membership")
        target = event.get_state_key()
        if isinstance(target, str):
            auth_types.add((EventTypes.Member, target))

        if membership in (Membership.JOIN, Membership.INVITE, Membership.KNOCK):
            auth_types.add((EventTypes.JoinRules, ""))

        if membership == Membership.INVITE:
            token = _third_party_invite_token(content)
            if token is not None:
                auth_types.add((EventTypes.ThirdPartyInvite, token))

        if membership == Membership.JOIN and room_version.restricted_join_rule:
            authoriser = content.get(EventContentFields.AUTHORISING_USER)
            if isinstance(authoriser, str):
                auth_types.add((EventTypes.Member, authoriser))

    return auth_types


def _third_party_invite_token(content: Mapping[str, Any]) -> str | None:
    invite = content.get("third_party_invite")
    if not isinstance(invite, Mapping):
        return None
    signed = invite.get("signed")
    if not isinstance(signed, Mapping):
        return None
    token = signed.get("token")
    return token if isinstance(token, str) else None


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


def check_auth_rules_for_event(
    event: EventBase, auth_events_by_id: Mapping[str, EventBase]
) -> None:
    """Check ``event`` against the events it lists as auth events: every rule.

    ``auth_events_by_id`` maps event IDs to events and must hold each event the event
    lists in ``auth_events``; in room version 12 it must also hold the create event
    (whose ID is the room ID with ``$`` for ``!``).
    """
    check_state_independent_auth_rules(event, auth_events_by_id)
    if event.type == EventTypes.Create:
        return
    state = [auth_events_by_id[event_id] for event_id in event.auth_event_ids()]
    if event.room_version.hydra:
        state.append(auth_events_by_id[_create_event_id_for_room(event.room_id)])
    check_state_dependent_auth_rules(event, state)


def check_state_independent_auth_rules(
    event: EventBase, auth_events_by_id: Mapping[str, EventBase]
) -> None:
    """The rules that need only the event and the events it lists as auth events.

    The create event rules; the size limits; in room version 12 the room ID being the
    ID of an accepted create event; the auth events being of the selected types, with
    no duplicates, not rejected and in the same room; and that a restricted join is
    signed by the authorising user's server. ``auth_events_by_id`` must hold every
    listed auth event (and, in room version 12, the create event).
    """
    room_version = event.room_version
    _check_size_limits(event)
    if room_version.strict_canonicaljson:
        _check_canonical_json_values(event)

    # Rule 1: the create event.
    if event.type == EventTypes.Create:
        _check_create_event(event)
        return

    # Room version 12, rule 2: the room ID is the ID of an accepted create event.
    if room_version.hydra:
        _check_room_id_names_create_event(event, auth_events_by_id)

    # Rule 2: the auth events.
    allowed_types = auth_types_for_event(room_version, event)
    seen: set[tuple[str, str | None]] = set()
    for auth_event_id in event.auth_event_ids():
        auth_event = auth_events_by_id.get(auth_event_id)
        if auth_event is None:
            raise _reject(f"Unknown auth event {auth_event_id}")
        key = (auth_event.type, auth_event.get_state_key())
        if key in seen:
            raise _reject(f"Duplicate auth events for {key}")
        seen.add(key)
        if key not in allowed_types:
            raise _reject(f"Auth event {auth_event_id} {key} is not one the event may cite")
        if auth_event.rejected_reason is not None:
            raise _reject(f"Auth event {auth_event_id} was rejected")
        if auth_event.room_id != event.room_id:
            raise _reject(f"Auth event {auth_event_id} is in another room")
    if not room_version.hydra and (EventTypes.Create, "") not in seen:
        raise _reject("No create event among the auth events")

    if event.type == EventTypes.Member and room_version.restricted_join_rule:
        _check_authorising_server_signed(event)


def check_state_dependent_auth_rules(event: EventBase, auth_events: AuthEvents) -> None:
    """Every rule that depends on the room state, against ``auth_events``.

    ``auth_events`` is the relevant state: a state map, a map by event ID, or an
    iterable of state events. It must hold the room's create event (in every room
    version, including 12).
    """
    room_version = event.room_version

    if event.type == EventTypes.Create:
        _check_create_event(event)
        return

    wanted = auth_types_for_event(room_version, event)
    wanted.add((EventTypes.Create, ""))
    state = _select_state(auth_events, wanted)
    for state_event in state.values():
        if state_event.room_id != event.room_id:
            raise _reject(f"State event {state_event.event_id} is in another room")

    create = state.get((EventTypes.Create, ""))
    if create is None:
        raise _reject("No create event in the room state")
    if room_version.hydra and (
        create.event_id != _create_event_id_for_room(event.room_id)
        or create.rejected_reason is not None
    ):
        raise _reject("The room ID does not name the room's accepted create event")

    # Rule 3: m.federate.
    if create.content.get("m.federate", True) is False and _domain(event.sender) != _domain(
        create.sender
    ):
        raise _reject("This room does not federate with the sender's server")

    # Room versions 1 to 5, rule 4: m.room.aliases.
    if room_version.special_case_aliases_auth and event.type == EventTypes.Aliases:
        state_key = event.get_state_key()
        if state_key is None:
            raise _reject("m.room.aliases event without a state_key")
        if _domain(event.sender) != state_key:
            raise _reject("m.room.aliases state_key does not match the sender's server")
        return

    # Rule 4: m.room.member.
    if event.type == EventTypes.Member:
        _check_membership(event, state, create)
        return

    # Rule 5.
    if _membership_of(state, event.sender) != Membership.JOIN:
        raise _reject(f"{event.sender} is not in the room")

    sender_level = _user_power_level(event.sender, state)

    # Rule 6: m.room.third_party_invite.
    if event.type == EventTypes.ThirdPartyInvite:
        if sender_level < _named_level(state, "invite"):
            raise _reject("The sender's power level is below the invite level")
        return

    # Rule 7.
    power_levels = state.get((EventTypes.PowerLevels, ""))
    required = get_send_level(event.type, event.get_state_key(), power_levels)
    if required > sender_level:
        raise _reject(
            f"The sender's power level {sender_level} is below the {required} "
            f"required for {event.type}"
        )

    # Rule 8.
    state_key = event.get_state_key()
    if state_key is not None and state_key.startswith("@") and state_key != event.sender:
        raise _reject("A state_key that is a user ID must be the sender's")

    # Rule 9: m.room.power_levels.
    if event.type == EventTypes.PowerLevels:
        _check_power_levels(event, power_levels, sender_level, create)
        return

    # Room versions 1 and 2, rule 11: m.room.redaction. These are exactly the versions
    # whose event IDs carry the origin's domain, which the rule compares.
    if room_version.event_ids_in_events and event.type == EventTypes.Redaction:
        _check_redaction_v1(event, state, sender_level)


# --------------------------------------------------------------------------------------
# State-independent rules
# --------------------------------------------------------------------------------------


def _check_size_limits(event: EventBase) -> None:
    """The size limits of the client-server API's "Size limits"."""
    fields = ["sender", "room_id", "type", "state_key"]
    if event.room_version.event_ids_in_events:
        fields.append("event_id")
    for field in fields:
        value = event.get(field)
        if isinstance(value, str) and len(value.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
            raise _reject(f"'{field}' is longer than {MAX_IDENTIFIER_BYTES} bytes")


def _check_canonical_json_values(event: EventBase) -> None:
    """No floats, and integers within the canonical JSON range (room versions 6+)."""
    stack: list[Any] = [event.get_templated_pdu_json()]
    while stack:
        value = stack.pop()
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif isinstance(value, int):
            if not CANONICALJSON_MIN_INT <= value <= CANONICALJSON_MAX_INT:
                raise _reject("An integer is outside the range canonical JSON allows")
        else:
            raise _reject("A value is not allowed by canonical JSON (floats are not)")


def _check_create_event(event: EventBase) -> None:
    """Rule 1: the m.room.create event."""
    room_version = event.room_version
    if event.prev_event_ids():
        raise _reject("The create event has prev_events")

    if room_version.hydra:
        if "room_id" in event:
            raise _reject("The create event of this room version has no room_id")
    else:
        room_domain = _domain(event.room_id)
        if room_domain is None or room_domain != _domain(event.sender):
            raise _reject("The room ID's domain does not match the sender's")

    content = event.content
    if "room_version" in content and not (
        isinstance(content["room_version"], str) and content["room_version"] in KNOWN_ROOM_VERSIONS
    ):
        raise _reject("The create event names an unknown room version")

    if not room_version.implicit_room_creator and "creator" not in content:
        raise _reject("The create event has no creator")

    if room_version.hydra and EventContentFields.ADDITIONAL_CREATORS in content:
        additional = content[EventContentFields.ADDITIONAL_CREATORS]
        if not isinstance(additional, list) or not all(
            isinstance(user_id, str) and is_valid_user_id(user_id) for user_id in additional
        ):
            raise _reject("additional_creators is not a list of user IDs")


def _create_event_id_for_room(room_id: str) -> str:
    """The event ID of a room version 12 room's create event: the room ID, sigil ``$``."""
    if not room_id.startswith("!"):
        raise _reject("The room ID does not start with '!'")
    return "$" + room_id[1:]


def _check_room_id_names_create_event(
    event: EventBase, auth_events_by_id: Mapping[str, EventBase]
) -> None:
    """Room version 12, rule 2."""
    create_event_id = _create_event_id_for_room(event.room_id)
    create = auth_events_by_id.get(create_event_id)
    if create is None:
        raise _reject(f"Unknown create event {create_event_id}")
    if (
        create.type != EventTypes.Create
        or create.get_state_key() != ""
        or create.event_id != create_event_id
    ):
        raise _reject("The room ID does not name a create event")
    if create.rejected_reason is not None:
        raise _reject("The room's create event was rejected")


def _check_authorising_server_signed(event: EventBase) -> None:
    """Room versions 8+, rule 4.2: a join_authorised_via_users_server is signed for.

    Only the presence of the signature is checked here: verifying it needs the server's
    keys, which the signature checks on receipt of the event do.
    """
    if EventContentFields.AUTHORISING_USER not in event.content:
        return
    authoriser = event.content[EventContentFields.AUTHORISING_USER]
    if not isinstance(authoriser, str) or not is_valid_user_id(authoriser):
        raise _reject("join_authorised_via_users_server is not a user ID")
    server = authoriser.partition(":")[2]
    server_signatures = event.signatures.get(server)
    if not isinstance(server_signatures, Mapping) or not server_signatures:
        raise _reject(f"The event is not signed by {server}, which authorised the join")


# --------------------------------------------------------------------------------------
# Membership
# --------------------------------------------------------------------------------------


def _check_membership(event: EventBase, state: StateEvents, create: EventBase) -> None:
    """Rule 4: m.room.member events."""
    room_version = event.room_version
    content = event.content
    target = event.get_state_key()
    if target is None or "membership" not in content:
        raise _reject("A member event needs a state_key and a membership")
    membership = content["membership"]

    if room_version.restricted_join_rule:
        _check_authorising_server_signed(event)

    sender = event.sender
    sender_membership = _membership_of(state, sender)
    target_membership = _membership_of(state, target)
    join_rule = _join_rule(state)

    if membership == Membership.JOIN:
        # 4.3.1: the creator's own first join.
        prev_events = event.prev_event_ids()
        if (
            len(prev_events) == 1
            and prev_events[0] == create.event_id
            and target == _joining_creator(create)
        ):
            return
        if sender != target:
            raise _reject("A user can only join for themselves")
        if sender_membership == Membership.BAN:
            raise _reject(f"{sender} is banned from the room")

        knock_rules = {JoinRules.KNOCK} if room_version.knock_join_rule else set()
        restricted_rules = set()
        if room_version.restricted_join_rule:
            restricted_rules.add(JoinRules.RESTRICTED)
        if room_version.knock_restricted_join_rule:
            restricted_rules.add(JoinRules.KNOCK_RESTRICTED)

        if join_rule == JoinRules.INVITE or join_rule in knock_rules:
            if sender_membership in (Membership.INVITE, Membership.JOIN):
                return
        elif join_rule in restricted_rules:
            if sender_membership in (Membership.JOIN, Membership.INVITE):
                return
            authoriser = content.get(EventContentFields.AUTHORISING_USER)
            if not isinstance(authoriser, str):
                raise _reject("A restricted join needs join_authorised_via_users_server")
            if _membership_of(state, authoriser) != Membership.JOIN:
                raise _reject("The authorising user is not in the room")
            if _user_power_level(authoriser, state) < _named_level(state, "invite"):
                raise _reject("The authorising user cannot invite")
            return
        elif join_rule == JoinRules.PUBLIC:
            return
        raise _reject(f"{sender} may not join this room")

    if membership == Membership.INVITE:
        if "third_party_invite" in content:
            if target_membership == Membership.BAN:
                raise _reject(f"{target} is banned from the room")
            _check_third_party_invite(event, content["third_party_invite"], state)
            return
        if sender_membership != Membership.JOIN:
            raise _reject(f"{sender} is not in the room")
        if target_membership in (Membership.JOIN, Membership.BAN):
            raise _reject(f"{target} is already in the room or banned")
        if _user_power_level(sender, state) >= _named_level(state, "invite"):
            return
        raise _reject("The sender's power level is below the invite level")

    if membership == Membership.LEAVE:
        if sender == target:
            may_leave = {Membership.INVITE, Membership.JOIN}
            if room_version.knock_join_rule:
                may_leave.add(Membership.KNOCK)
            if sender_membership in may_leave:
                return
            raise _reject(f"{sender} cannot leave a room they are not in")
        if sender_membership != Membership.JOIN:
            raise _reject(f"{sender} is not in the room")
        sender_level = _user_power_level(sender, state)
        if target_membership == Membership.BAN and sender_level < _named_level(state, "ban"):
            raise _reject("The sender's power level is below the ban level")
        if (
            sender_level >= _named_level(state, "kick")
            and _user_power_level(target, state) < sender_level
        ):
            return
        raise _reject("The sender may not kick this user")

    if membership == Membership.BAN:
        if sender_membership != Membership.JOIN:
            raise _reject(f"{sender} is not in the room")
        sender_level = _user_power_level(sender, state)
        if (
            sender_level >= _named_level(state, "ban")
            and _user_power_level(target, state) < sender_level
        ):
            return
        raise _reject("The sender may not ban this user")

    if membership == Membership.KNOCK and room_version.knock_join_rule:
        knockable = {JoinRules.KNOCK}
        if room_version.knock_restricted_join_rule:
            knockable.add(JoinRules.KNOCK_RESTRICTED)
        if join_rule not in knockable:
            raise _reject("This room does not allow knocking")
        if sender != target:
            raise _reject("A user can only knock for themselves")
        if sender_membership not in (Membership.BAN, Membership.INVITE, Membership.JOIN):
            return
        raise _reject(f"{sender} cannot knock: they are banned, invited or joined")

    raise _reject(f"Unknown membership {membership!r}")


def _check_third_party_invite(event: EventBase, invite: Any, state: StateEvents) -> None:
    """Rule 4.4.1: an invite that redeems an m.room.third_party_invite."""
    signed = invite.get("signed") if isinstance(invite, Mapping) else None
    if not isinstance(signed, Mapping):
        raise _reject("third_party_invite has no 'signed' object")
    if "mxid" not in signed or "token" not in signed:
        raise _reject("third_party_invite.signed lacks mxid or token")
    if signed["mxid"] != event.get_state_key():
        raise _reject("third_party_invite.signed.mxid does not match the state_key")
    token = signed["token"]
    invite_event = (
        state.get((EventTypes.ThirdPartyInvite, token)) if isinstance(token, str) else None
    )
    if invite_event is None:
        raise _reject("No m.room.third_party_invite for this token")
    if invite_event.sender != event.sender:
        raise _reject("The sender did not send the m.room.third_party_invite")
    if not _signed_by_any_key(signed, _third_party_invite_public_keys(invite_event)):
        raise _reject("third_party_invite.signed is not signed by the invite's keys")


def _third_party_invite_public_keys(invite_event: EventBase) -> list[bytes]:
    """The public keys in ``public_key`` and ``public_keys``; undecodable ones are left out."""
    encoded: list[Any] = [invite_event.content.get("public_key")]
    public_keys = invite_event.content.get("public_keys")
    if isinstance(public_keys, list):
        encoded.extend(k.get("public_key") for k in public_keys if isinstance(k, Mapping))
    keys = []
    for key in encoded:
        if not isinstance(key, str):
            continue
        try:
            keys.append(decode_base64(key))
        except ValueError:
            continue
    return keys


def _signed_by_any_key(signed: Mapping[str, Any], keys: list[bytes]) -> bool:
    """Whether any signature in ``signed`` verifies with any of ``keys`` (Ed25519)."""
    signatures = signed.get("signatures")
    if not isinstance(signatures, Mapping):
        return False
    signed_dict = dict(signed)
    for server, server_signatures in signatures.items():
        if not isinstance(server_signatures, Mapping):
            continue
        for key_id in server_signatures:
            if not isinstance(key_id, str) or not key_id.startswith("ed25519:"):
                continue
            for key_bytes in keys:
                try:
                    verify_key = decode_verify_key_bytes(key_id, key_bytes)
                    verify_signed_json(signed_dict, server, verify_key)
                except (SignatureVerifyException, ValueError, TypeError):
                    continue
                return True
    return False


# --------------------------------------------------------------------------------------
# Power levels
# --------------------------------------------------------------------------------------


def _check_power_levels(
    event: EventBase,
    current: EventBase | None,
    sender_level: int,
    create: EventBase,
) -> None:
    """Rule 9: m.room.power_levels (rule 10 in room version 12)."""
    room_version = event.room_version
    content = event.content
    map_properties = ["events"]
    if room_version.limit_notifications_power_levels:
        map_properties.append("notifications")

    # 9.1 and 9.2 (room versions 10+): the values must be integers. Before room version
    # 10 they may be strings (and, before 6, floats), but must still read as levels.
    for name in NAMED_LEVEL_DEFAULTS:
        if name in content and parse_power_level(content[name], room_version) is None:
            raise _reject(f"Power level '{name}' is not an integer")
    for name in map_properties:
        if name not in content:
            continue
        levels = content[name]
        if not isinstance(levels, Mapping) or any(
            parse_power_level(v, room_version) is None for v in levels.values()
        ):
            raise _reject(f"Power levels '{name}' is not an object of integers")

    # 9.3: users.
    users = content.get("users", {})
    if not isinstance(users, Mapping):
        raise _reject("Power levels 'users' is not an object")
    for user_id, level in users.items():
        if not isinstance(user_id, str) or not is_valid_user_id(user_id):
            raise _reject(f"Power levels 'users' has an invalid user ID {user_id!r}")
        if parse_power_level(level, room_version) is None:
            raise _reject(f"The power level of {user_id} is not an integer")

    # Room version 12, 10.4: creators are not listed.
    if room_version.hydra:
        listed = get_room_creators(create).intersection(users)
        if listed:
            raise _reject(f"Room creators cannot be given power levels: {sorted(listed)}")

    # 9.4.
    if current is None:
        return

    # 9.5: the named levels.
    for name in NAMED_LEVEL_DEFAULTS:
        old = _read_level(current.content.get(name), room_version)
        new = _read_level(content.get(name), room_version)
        if old == new:
            continue
        if old is not None and old > sender_level:
            raise _reject(f"Cannot change '{name}' from a level above the sender's")
        if new is not None and new > sender_level:
            raise _reject(f"Cannot set '{name}' above the sender's level")

    # 9.6 and 9.7: events (and notifications from room version 6).
    for name in map_properties:
        old_levels = _read_level_map(current.content.get(name), room_version)
        new_levels = _read_level_map(content.get(name), room_version)
        for key in old_levels.keys() | new_levels.keys():
            old = old_levels.get(key)
            new = new_levels.get(key)
            if old == new:
                continue
            if old is not None and old > sender_level:
                raise _reject(f"Cannot change {name}[{key!r}] from a level above the sender's")
            if new is not None and new > sender_level:
                raise _reject(f"Cannot set {name}[{key!r}] above the sender's level")

    # 9.8 and 9.9: users.
    old_users = _read_level_map(current.content.get("users"), room_version)
    new_users = _read_level_map(users, room_version)
    for user_id in old_users.keys() | new_users.keys():
        old = old_users.get(user_id)
        new = new_users.get(user_id)
        if old == new:
            continue
        if old is not None and user_id != event.sender and old >= sender_level:
            raise _reject(f"Cannot change the level of {user_id}, not below the sender's")
        if new is not None and new > sender_level:
            raise _reject(f"Cannot set the level of {user_id} above the sender's")


def parse_power_level(value: Any, room_version: RoomVersion) -> int | None:
    """A power level value as an integer, or None if the room version does not accept it.

    Integers always; strings of an integer before room version 10; floats (truncated)
    before room version 6. Booleans are never power levels.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if room_version.enforce_int_power_levels:
        return None
    if isinstance(value, str):
        if _STRINGY_LEVEL_RE.fullmatch(value):
            return int(value.strip())
        return None
    if isinstance(value, float) and not room_version.strict_canonicaljson:
        if math.isfinite(value):
            return math.trunc(value)
    return None


def _read_level(value: Any, room_version: RoomVersion) -> int | None:
    return None if value is None else parse_power_level(value, room_version)


def _read_level_map(levels: Any, room_version: RoomVersion) -> dict[str, int]:
    """The readable entries of an ``events``, ``notifications`` or ``users`` object."""
    if not isinstance(levels, Mapping):
        return {}
    out = {}
    for key, value in levels.items():
        level = parse_power_level(value, room_version)
        if level is not None:
            out[key] = level
    return out


def get_send_level(etype: str, state_key: str | None, power_levels_event: EventBase | None) -> int:
    """The level needed to send an event of type ``etype`` (a state event if ``state_key``
    is not None): ``events[etype]``, else ``state_default`` (50) or ``events_default`` (0).
    """
    if power_levels_event is None:
        return NAMED_LEVEL_DEFAULTS["state_default" if state_key is not None else "events_default"]
    room_version = power_levels_event.room_version
    content = power_levels_event.content
    events = content.get("events")
    if isinstance(events, Mapping) and etype in events:
        level = parse_power_level(events[etype], room_version)
        if level is not None:
            return level
    name = "state_default" if state_key is not None else "events_default"
    level = _read_level(content.get(name), room_version)
    return NAMED_LEVEL_DEFAULTS[name] if level is None else level


def get_named_level(auth_events: AuthEvents, name: str, default: int | None = None) -> int:
    """A level named in the power levels content (``ban``, ``kick``, ``invite``, ...).

    ``default`` is used when the room has no power levels event or it does not set the
    level; it defaults to the spec's default for ``name``.
    """
    return _named_level(_as_state_map(auth_events), name, default)


def _named_level(state: StateEvents, name: str, default: int | None = None) -> int:
    if default is None:
        default = NAMED_LEVEL_DEFAULTS.get(name, 0)
    power_levels = state.get((EventTypes.PowerLevels, ""))
    if power_levels is None:
        return default
    level = _read_level(power_levels.content.get(name), power_levels.room_version)
    return default if level is None else level


def get_user_power_level(user_id: str, auth_events: AuthEvents) -> int:
    """The power level of ``user_id`` in the given state.

    In room version 12 the creators have ``CREATOR_POWER_LEVEL`` (infinite). Otherwise
    the level in ``users``, else ``users_default``; with no power levels event, the
    creator has 100 (room versions 1 to 11) and everyone else 0.
    """
    return _user_power_level(user_id, _as_state_map(auth_events))


def _user_power_level(user_id: str, state: StateEvents) -> int:
    create = state.get((EventTypes.Create, ""))
    power_levels = state.get((EventTypes.PowerLevels, ""))

    if create is not None and create.room_version.hydra and user_id in get_room_creators(create):
        return CREATOR_POWER_LEVEL

    if power_levels is not None:
        room_version = power_levels.room_version
        users = power_levels.content.get("users")
        if isinstance(users, Mapping) and user_id in users:
            level = parse_power_level(users[user_id], room_version)
            if level is not None:
                return level
        return _named_level(state, "users_default")

    if create is not None and is_creator(user_id, create):
        return _CREATOR_DEFAULT_LEVEL
    return 0


# --------------------------------------------------------------------------------------
# Creators
# --------------------------------------------------------------------------------------


def get_room_creators(create_event: EventBase) -> frozenset[str]:
    """The room's creators: ``content.creator`` (room versions 1 to 10), the sender of
    the create event (11+) and, from room version 12, the ``additional_creators``.
    """
    room_version = create_event.room_version
    if not room_version.implicit_room_creator:
        creator = create_event.content.get("creator")
        return frozenset([creator]) if isinstance(creator, str) else frozenset()
    creators = {create_event.sender}
    if room_version.hydra:
        additional = create_event.content.get(EventContentFields.ADDITIONAL_CREATORS)
        if isinstance(additional, list):
            creators.update(u for u in additional if isinstance(u, str))
    return frozenset(creators)


def is_creator(user_id: str, create_event: EventBase) -> bool:
    """Whether ``user_id`` is one of the room's creators (see ``get_room_creators``)."""
    return user_id in get_room_creators(create_event)


def _joining_creator(create_event: EventBase) -> str | None:
    """The user whose join may directly follow the create event (rule 4.3.1)."""
    if create_event.room_version.implicit_room_creator:
        return create_event.sender
    creator = create_event.content.get("creator")
    return creator if isinstance(creator, str) else None


# --------------------------------------------------------------------------------------
# Redactions
# --------------------------------------------------------------------------------------


def _check_redaction_v1(event: EventBase, state: StateEvents, sender_level: int) -> None:
    """Room versions 1 and 2, rule 11: m.room.redaction."""
    if sender_level >= _named_level(state, "redact"):
        return
    redacts = event.redacts
    redacts_domain = _domain(redacts) if redacts is not None else None
    if redacts_domain is not None and redacts_domain == _domain(event.event_id):
        return
    raise _reject("The sender may not redact this event")


def can_apply_redaction(
    redaction: EventBase, redacted_event: EventBase, auth_events: AuthEvents
) -> bool:
    """Whether an accepted redaction may be applied to ``redacted_event``.

    Room versions 3+ ("Handling redactions"): the redaction's sender has the redact
    level, or is on the redacted event's sender's server. In room versions 1 and 2 the
    auth rules have already decided, with the event IDs' domains.
    """
    state = _as_state_map(auth_events)
    if _user_power_level(redaction.sender, state) >= _named_level(state, "redact"):
        return True
    if redaction.room_version.event_ids_in_events:
        return _domain(redacted_event.event_id) == _domain(redaction.event_id)
    return _domain(redacted_event.sender) == _domain(redaction.sender)


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def is_valid_user_id(user_id: str) -> bool:
    """A user ID as events may carry it: ``@``, a historical localpart (no ``:`` or NUL),
    ``:``, a valid server name, at most 255 bytes in all.
    """
    if not user_id.startswith("@") or len(user_id.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        return False
    localpart, sep, server_name = user_id[1:].partition(":")
    return bool(sep) and "\x00" not in localpart and is_valid_server_name(server_name)


def _domain(identifier: str) -> str | None:
    """The part of an identifier after the first ``:``, if any."""
    if not isinstance(identifier, str):
        return None
    _, sep, domain = identifier.partition(":")
    return domain if sep else None


def _membership_of(state: StateEvents, user_id: str) -> str | None:
    member = state.get((EventTypes.Member, user_id))
    if member is None:
        return None
    membership = member.content.get("membership")
    return membership if isinstance(membership, str) else None


def _join_rule(state: StateEvents) -> str:
    """The room's join rule; ``invite`` when there is no join rules event."""
    join_rules = state.get((EventTypes.JoinRules, ""))
    if join_rules is None:
        return JoinRules.INVITE
    rule = join_rules.content.get("join_rule", JoinRules.INVITE)
    return rule if isinstance(rule, str) else JoinRules.INVITE


def _index_state(auth_events: AuthEvents) -> StateEvents:
    """Key state events by (type, state_key); events without a state_key are left out."""
    events = auth_events.values() if isinstance(auth_events, Mapping) else auth_events
    state: StateEvents = {}
    for event in events:
        state_key = event.get_state_key()
        if state_key is not None:
            state[(event.type, state_key)] = event
    return state


def _is_state_map(auth_events: AuthEvents) -> bool:
    """Whether ``auth_events`` is a mapping keyed by (type, state_key)."""
    if not isinstance(auth_events, Mapping):
        return False
    first_key = next(iter(auth_events), None)
    return first_key is None or isinstance(first_key, tuple)


def _as_state_map(auth_events: AuthEvents) -> StateEvents:
    """``auth_events`` as a state map, without copying one that already is."""
    if isinstance(auth_events, dict) and _is_state_map(auth_events):
        return auth_events
    return _index_state(auth_events)


def _select_state(auth_events: AuthEvents, wanted: set[tuple[str, str]]) -> StateEvents:
    """The entries of ``auth_events`` at the ``wanted`` keys (cheap for a large state map)."""
    if _is_state_map(auth_events):
        assert isinstance(auth_events, Mapping)
        return {key: auth_events[key] for key in wanted if key in auth_events}
    state = _index_state(auth_events)
    return {key: state[key] for key in wanted if key in state}
