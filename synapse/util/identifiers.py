"""The identifier grammar of the Matrix specification (appendices, "Identifier Grammar").

User IDs, room IDs, event IDs and room aliases, with the room-version-dependent forms of
room and event IDs. All lengths are counted in UTF-8 bytes.
"""

from __future__ import annotations

import re

from synapse.api.room_versions import EventFormatVersions, RoomVersion
from synapse.types import is_valid_server_name

MAX_IDENTIFIER_BYTES = 255

# The localpart of a user ID created today.
_USER_LOCALPART_RE = re.compile(r"[a-z0-9._=\-/+]+")
# Unpadded base64 of a sha256 digest: 32 bytes are 43 characters.
_HASH_B64_RE = re.compile(r"[A-Za-z0-9+/]{43}")
_HASH_B64_URLSAFE_RE = re.compile(r"[A-Za-z0-9_\-]{43}")
_NAMESPACED_RE = re.compile(r"[a-z][a-z0-9\-_.]{0,254}")


def byte_length(s: str) -> int:
    """The length of ``s`` in UTF-8 bytes (surrogates count as invalid, so huge)."""
    if s.isascii():
        return len(s)
    try:
        return len(s.encode("utf-8"))
    except UnicodeEncodeError:
        return MAX_IDENTIFIER_BYTES + 1


def _is_valid_opaque_localpart(localpart: str) -> bool:
    """Historical localparts: any non-surrogate code point except ':' and NUL (may be empty)."""
    if ":" in localpart or "\x00" in localpart:
        return False
    if localpart.isascii():
        return True
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in localpart)


def _split_domain(identifier: str, sigil: str) -> tuple[str, str] | None:
    if not isinstance(identifier, str) or not identifier.startswith(sigil):
        return None
    localpart, sep, domain = identifier[1:].partition(":")
    if not sep:
        return None
    return localpart, domain


def is_valid_user_localpart(localpart: str) -> bool:
    """Whether a localpart matches the grammar for new user IDs (a-z 0-9 . _ = - / +)."""
    return _USER_LOCALPART_RE.fullmatch(localpart) is not None


def is_valid_user_id(user_id: str, *, allow_historical: bool = True) -> bool:
    """Whether ``user_id`` is ``@localpart:server_name`` of at most 255 bytes.

    With ``allow_historical`` (the default, as events over federation need) the localpart
    may hold any code point but ':' and NUL; otherwise only the current grammar.
    """
    parts = _split_domain(user_id, "@")
    if parts is None or byte_length(user_id) > MAX_IDENTIFIER_BYTES:
        return False
    localpart, domain = parts
    if allow_historical:
        ok = _is_valid_opaque_localpart(localpart)
    else:
        ok = is_valid_user_localpart(localpart)
    return ok and is_valid_server_name(domain)


def is_valid_room_alias(alias: str) -> bool:
    """Whether ``alias`` is ``#localpart:server_name`` of at most 255 bytes."""
    parts = _split_domain(alias, "#")
    if parts is None or byte_length(alias) > MAX_IDENTIFIER_BYTES:
        return False
    localpart, domain = parts
    return _is_valid_opaque_localpart(localpart) and is_valid_server_name(domain)


def _is_valid_domain_id(identifier: str, sigil: str) -> bool:
    parts = _split_domain(identifier, sigil)
    if parts is None or byte_length(identifier) > MAX_IDENTIFIER_BYTES:
        return False
    localpart, domain = parts
    return _is_valid_opaque_localpart(localpart) and is_valid_server_name(domain)


def is_valid_room_id(room_id: str, room_version: RoomVersion | None = None) -> bool:
    """Whether ``room_id`` has the room ID form of ``room_version``.

    Before room version 12: ``!opaque:server_name``; from 12: ``!`` and the URL-safe
    reference hash of the create event. Without a room version, either form.
    """
    if not isinstance(room_id, str):
        return False
    if room_version is None:
        return _is_hash_id(room_id, "!", urlsafe=True) or _is_valid_domain_id(room_id, "!")
    if room_version.hydra:
        return _is_hash_id(room_id, "!", urlsafe=True)
    return _is_valid_domain_id(room_id, "!")


def _is_hash_id(identifier: str, sigil: str, urlsafe: bool) -> bool:
    if len(identifier) != 44 or identifier[0] != sigil:
        return False
    pattern = _HASH_B64_URLSAFE_RE if urlsafe else _HASH_B64_RE
    return pattern.fullmatch(identifier, 1) is not None


def is_valid_event_id(event_id: str, room_version: RoomVersion | None = None) -> bool:
    """Whether ``event_id`` has the event ID form of ``room_version``.

    Versions 1 and 2: ``$opaque:domain``; version 3: ``$`` and a standard base64 hash;
    version 4 on: ``$`` and a URL-safe base64 hash. Without a room version, any of these.
    """
    if not isinstance(event_id, str):
        return False
    if room_version is None:
        return (
            _is_hash_id(event_id, "$", urlsafe=True)
            or _is_hash_id(event_id, "$", urlsafe=False)
            or _is_valid_v1_event_id(event_id)
        )
    fmt = room_version.event_format
    if fmt == EventFormatVersions.ROOM_V1_V2:
        return _is_valid_v1_event_id(event_id)
    if fmt == EventFormatVersions.ROOM_V3:
        return _is_hash_id(event_id, "$", urlsafe=False)
    return _is_hash_id(event_id, "$", urlsafe=True)


def _is_valid_v1_event_id(event_id: str) -> bool:
    # The domain part of old event IDs is only a namespace: require it, do not parse it.
    parts = _split_domain(event_id, "$")
    if parts is None or byte_length(event_id) > MAX_IDENTIFIER_BYTES:
        return False
    return bool(parts[1]) and "\x00" not in event_id


def is_valid_namespaced_identifier(identifier: str) -> bool:
    """The Common Namespaced Identifier Grammar: ``[a-z][a-z0-9-_.]*``, 1 to 255 chars."""
    return isinstance(identifier, str) and _NAMESPACED_RE.fullmatch(identifier) is not None


def get_domain_from_id(identifier: str) -> str:
    """The part after the first ':' of an identifier; raises ValueError without one."""
    _, sep, domain = identifier.partition(":")
    if not sep:
        raise ValueError(f"Invalid identifier {identifier!r}: no domain")
    return domain
