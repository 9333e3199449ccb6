"""Redaction, content and reference hashes, and signatures of events as plain JSON.

Everything here works on the event's JSON dict (the PDU), so that it needs no event
classes: the event classes use these functions. See the Matrix specification,
server-server API "Signing Events" and the redaction algorithm of each room version.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from canonicaljson import encode_canonical_json
from signedjson.sign import sign_json
from signedjson.types import SigningKey, VerifyKey
from unpaddedbase64 import decode_base64, encode_base64

from synapse.api.constants import EventContentFields, EventTypes, Membership
from synapse.api.errors import Codes, SynapseError
from synapse.api.room_versions import RoomVersion
from synapse.types import JsonDict, JsonMapping

logger = logging.getLogger(__name__)

# Top-level keys the redaction algorithm keeps, before and from room version 11.
_KEPT_KEYS_V1: frozenset[str] = frozenset(
    {
        "event_id",
        "type",
        "room_id",
        "sender",
        "state_key",
        "content",
        "hashes",
        "signatures",
        "depth",
        "prev_events",
        "prev_state",
        "auth_events",
        "origin",
        "origin_server_ts",
        "membership",
    }
)
_KEPT_KEYS_V11: frozenset[str] = _KEPT_KEYS_V1 - {"origin", "membership", "prev_state"}

_POWER_LEVELS_KEPT: tuple[str, ...] = (
    "ban",
    "events",
    "events_default",
    "kick",
    "redact",
    "state_default",
    "users",
    "users_default",
)

# Keys that the content hash does not cover.
_NOT_HASHED_KEYS: frozenset[str] = frozenset({"unsigned", "signatures", "hashes"})

_SIGNING_ALGORITHMS: frozenset[str] = frozenset({"ed25519"})


class _HasTemplatedPdu(Protocol):
    """An event object able to give its PDU without signatures and unsigned."""

    def get_templated_pdu_json(self) -> JsonDict: ...


def _kept_content_keys(room_version: RoomVersion, event_type: str) -> tuple[str, ...]:
    """The content keys that survive redaction for an event type (except special cases)."""
    if event_type == EventTypes.Member:
        if room_version.restricted_join_rule_fix:
            return ("membership", EventContentFields.AUTHORISING_USER)
        return ("membership",)
    if event_type == EventTypes.Create:
        return ("creator",)
    if event_type == EventTypes.JoinRules:
        if room_version.restricted_join_rule:
            return ("join_rule", "allow")
        return ("join_rule",)
    if event_type == EventTypes.PowerLevels:
        if room_version.updated_redaction_rules:
            return _POWER_LEVELS_KEPT + ("invite",)
        return _POWER_LEVELS_KEPT
    if event_type == EventTypes.Aliases:
        if room_version.special_case_aliases_auth:
            return ("aliases",)
        return ()
    if event_type == EventTypes.RoomHistoryVisibility:
        return ("history_visibility",)
    if event_type == EventTypes.Redaction:
        if room_version.updated_redaction_rules:
            return ("redacts",)
        return ()
    return ()


def prune_content(room_version: RoomVersion, event_type: Any, content: Any) -> JsonDict:
    """The part of an event's content that the room version's redaction algorithm keeps."""
    if not isinstance(content, Mapping):
        return {}
    if event_type == EventTypes.Create and room_version.updated_redaction_rules:
        return dict(content)
    if not isinstance(event_type, str):
        return {}
    new_content: JsonDict = {}
    for key in _kept_content_keys(room_version, event_type):
        if key in content:
            new_content[key] = content[key]
    if event_type == EventTypes.Member and room_version.updated_redaction_rules:
        invite = content.get("third_party_invite")
        if isinstance(invite, Mapping):
            kept_invite: JsonDict = {}
            if "signed" in invite:
                kept_invite["signed"] = invite["signed"]
            new_content["third_party_invite"] = kept_invite
    return new_content


def prune_event_dict(room_version: RoomVersion, event_dict: JsonMapping) -> JsonDict:
    """Apply the room version's redaction algorithm to a PDU.

    Returns a new dict: the top-level keys the algorithm keeps (``unsigned`` is always
    dropped) and the pruned content. Nested values are shared with the input, not copied.
    """
    kept = _KEPT_KEYS_V11 if room_version.updated_redaction_rules else _KEPT_KEYS_V1
    pruned: JsonDict = {k: v for k, v in event_dict.items() if k in kept}
    pruned["content"] = prune_content(
        room_version, event_dict.get("type"), event_dict.get("content")
    )
    return pruned


def compute_content_hash(event_dict: JsonMapping) -> tuple[str, bytes]:
    """The content hash of a PDU: sha256 of its canonical JSON without unsigned,
    signatures and hashes. Returns ``("sha256", digest)``."""
    hashed = {k: v for k, v in event_dict.items() if k not in _NOT_HASHED_KEYS}
    return "sha256", hashlib.sha256(encode_canonical_json(hashed)).digest()


def compute_event_reference_hash(
    event_dict: JsonMapping, room_version: RoomVersion
) -> tuple[str, bytes]:
    """The reference hash of a PDU: sha256 of its redacted canonical JSON without
    signatures and unsigned. Returns ``("sha256", digest)``."""
    pruned = prune_event_dict(room_version, event_dict)
    pruned.pop("signatures", None)
    return "sha256", hashlib.sha256(encode_canonical_json(pruned)).digest()


def check_event_content_hash(event: JsonMapping | _HasTemplatedPdu) -> bool:
    """Whether the event's ``hashes.sha256`` matches its content hash.

    Accepts a PDU dict or an event object. A missing or malformed hash fails the check.
    """
    if isinstance(event, Mapping):
        pdu: JsonMapping = event
    else:
        pdu = event.get_templated_pdu_json()
    hashes = pdu.get("hashes")
    if not isinstance(hashes, Mapping):
        return False
    expected_b64 = hashes.get("sha256")
    if not isinstance(expected_b64, str):
        return False
    try:
        expected = decode_base64(expected_b64)
    except Exception:
        return False
    _, digest = compute_content_hash(pdu)
    return digest == expected


def compute_event_signature(
    room_version: RoomVersion,
    event_dict: JsonMapping,
    signature_name: str,
    signing_key: SigningKey,
) -> JsonDict:
    """Sign the redacted form of a PDU; returns ``{signature_name: {key_id: signature}}``.

    The PDU must already carry its ``hashes``.
    """
    redacted = prune_event_dict(room_version, event_dict)
    redacted.pop("signatures", None)
    signed = sign_json(redacted, signature_name, signing_key)
    return {signature_name: signed["signatures"][signature_name]}


def add_hashes_and_signatures(
    room_version: RoomVersion,
    event_dict: JsonDict,
    signature_name: str,
    signing_key: SigningKey,
) -> None:
    """Set the content hash of a PDU and add this server's signature, in place.

    Signatures of other servers already on the event are kept.
    """
    _, digest = compute_content_hash(event_dict)
    event_dict["hashes"] = {"sha256": encode_base64(digest)}
    signature = compute_event_signature(room_version, event_dict, signature_name, signing_key)
    signatures = event_dict.get("signatures")
    if not isinstance(signatures, dict):
        signatures = {}
        event_dict["signatures"] = signatures
    signatures.setdefault(signature_name, {}).update(signature[signature_name])


def verify_event_signature(
    room_version: RoomVersion,
    pdu_dict: JsonMapping,
    server_name: str,
    verify_keys: Mapping[str, VerifyKey],
) -> None:
    """Check that ``server_name`` signed the PDU (full or redacted) with the given keys.

    ``verify_keys`` maps key IDs (``ed25519:abc``) to the keys known to be valid for the
    event. Signatures under unknown key IDs or algorithms are skipped; every remaining one
    must verify, and at least one must remain.

    Raises:
        SynapseError: 401 M_UNAUTHORIZED if no signature by a known key is present,
            403 M_FORBIDDEN if a signature does not verify.
    """
    signatures = pdu_dict.get("signatures")
    server_sigs = signatures.get(server_name) if isinstance(signatures, Mapping) else None
    if not isinstance(server_sigs, Mapping) or not server_sigs:
        raise SynapseError(401, f"Event is not signed by {server_name}", Codes.UNAUTHORIZED)

    to_check: list[tuple[str, VerifyKey, Any]] = []
    for key_id, sig in server_sigs.items():
        if not isinstance(key_id, str) or key_id.split(":", 1)[0] not in _SIGNING_ALGORITHMS:
            continue
        key = verify_keys.get(key_id)
        if key is not None:
            to_check.append((key_id, key, sig))
    if not to_check:
        raise SynapseError(
            401,
            f"Event is not signed by {server_name} with a known key "
            f"(signed with {sorted(str(k) for k in server_sigs)})",
            Codes.UNAUTHORIZED,
        )

    redacted = prune_event_dict(room_version, pdu_dict)
    redacted.pop("signatures", None)
    message = encode_canonical_json(redacted)
    for key_id, key, sig in to_check:
        try:
            if not isinstance(sig, str):
                raise ValueError("signature is not a string")
            key.verify(message, decode_base64(sig))
        except Exception:
            raise SynapseError(
                403,
                f"Invalid signature for server {server_name} with key {key_id}",
                Codes.FORBIDDEN,
            )


def get_required_signature_servers(room_version: RoomVersion, pdu_dict: JsonMapping) -> set[str]:
    """The servers whose signatures a received PDU must carry.

    The sender's server, except for an invite made from a third-party invite (where the
    sender need not be on the server that sent the event); in room versions 1 and 2 the
    server named in the event ID too; and for a restricted join (room version 8+) the
    server of the user who authorised it.
    """
    servers: set[str] = set()
    content = pdu_dict.get("content")
    if not isinstance(content, Mapping):
        content = {}
    is_member = pdu_dict.get("type") == EventTypes.Member
    membership = content.get("membership")
    if not (is_member and membership == Membership.INVITE and "third_party_invite" in content):
        sender = pdu_dict.get("sender")
        if isinstance(sender, str) and ":" in sender:
            servers.add(sender.split(":", 1)[1])
    if room_version.event_ids_in_events:
        event_id = pdu_dict.get("event_id")
        if isinstance(event_id, str) and ":" in event_id:
            servers.add(event_id.split(":", 1)[1])
    if is_member and membership == Membership.JOIN and room_version.restricted_join_rule:
        authoriser = content.get(EventContentFields.AUTHORISING_USER)
        if isinstance(authoriser, str) and ":" in authoriser:
            servers.add(authoriser.split(":", 1)[1])
    return servers
