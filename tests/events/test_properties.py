"""Property tests: redaction keeps signatures and event IDs; canonical JSON checks."""

from __future__ import annotations

import json
from typing import Any

from canonicaljson import encode_canonical_json
from hypothesis import given, settings
from hypothesis import strategies as st

from synapse.api.errors import SynapseError
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from synapse.crypto.event_signing import (
    check_event_content_hash,
    compute_event_reference_hash,
    prune_event_dict,
    verify_event_signature,
)
from synapse.events import make_event_from_dict
from synapse.events.builder import EventBuilder
from synapse.events.utils import prune_event, validate_canonicaljson
from synapse.events.validator import check_pdu_format
from tests.events.keys import SERVER_NAME, spec_signing_key, spec_verify_keys

MAX_INT = 2**53 - 1

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_INT, max_value=MAX_INT)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=6)

event_types = st.sampled_from(
    [
        "m.room.message",
        "m.room.member",
        "m.room.create",
        "m.room.join_rules",
        "m.room.power_levels",
        "m.room.aliases",
        "m.room.history_visibility",
        "m.room.redaction",
        "m.room.topic",
        "org.example.custom",
    ]
)
# Content keys that redaction keeps in some room version, so that they are exercised.
special_keys = st.sampled_from(
    [
        "membership",
        "creator",
        "join_rule",
        "allow",
        "ban",
        "users",
        "invite",
        "aliases",
        "history_visibility",
        "redacts",
        "join_authorised_via_users_server",
        "third_party_invite",
        "body",
    ]
)
contents = st.dictionaries(special_keys | st.text(max_size=8), json_values, max_size=8)
room_versions = st.sampled_from(list(KNOWN_ROOM_VERSIONS.values()))


def _build(rv: RoomVersion, event_type: str, content: dict, state_key: str | None) -> Any:
    hydra_create = rv.hydra and event_type == "m.room.create" and state_key == ""
    ref: Any = ["$a:domain", {"sha256": "x"}] if rv.event_ids_in_events else "$" + "A" * 43
    return EventBuilder(
        room_version=rv,
        type=event_type,
        sender="@u:domain",
        room_id=None if hydra_create else ("!" + "R" * 43 if rv.hydra else "!r:domain"),
        content=content,
        state_key=state_key,
    ).build(
        prev_events=[] if hydra_create else [ref],
        auth_events=[] if hydra_create else [ref],
        origin_server_ts=1_700_000_000_000,
        signing_key=spec_signing_key(),
        server_name=SERVER_NAME,
        prev_depths=[3],
    )


@settings(max_examples=150, deadline=None)
@given(
    rv=room_versions,
    event_type=event_types,
    content=contents,
    state_key=st.none() | st.just("") | st.text(max_size=5),
)
def test_redacted_event_keeps_signature_and_id(
    rv: RoomVersion, event_type: str, content: dict, state_key: str | None
) -> None:
    if not isinstance(content.get("redacts", ""), str):
        del content["redacts"]  # a malformed redaction: the format check refuses it
    event = _build(rv, event_type, content, state_key)
    pdu = event.get_pdu_json()
    check_pdu_format(pdu, rv)
    verify_event_signature(rv, pdu, SERVER_NAME, spec_verify_keys())
    assert check_event_content_hash(pdu)

    redacted = prune_event_dict(rv, pdu)
    # The signature covers exactly what redaction keeps.
    verify_event_signature(rv, redacted, SERVER_NAME, spec_verify_keys())
    # Redaction is idempotent and keeps the reference hash, hence the event ID.
    assert prune_event_dict(rv, redacted) == redacted
    assert compute_event_reference_hash(redacted, rv) == compute_event_reference_hash(pdu, rv)
    pruned_event = prune_event(event)
    assert pruned_event.event_id == event.event_id
    again = make_event_from_dict(pruned_event.get_pdu_json(), rv)
    assert again.event_id == event.event_id
    assert again.room_id == event.room_id
    check_pdu_format(redacted, rv)


@settings(max_examples=100, deadline=None)
@given(rv=room_versions, content=json_objects, key=st.text(max_size=5), value=json_scalars)
def test_content_change_breaks_content_hash(
    rv: RoomVersion, content: dict, key: str, value: Any
) -> None:
    event = _build(rv, "m.room.message", content, None)
    pdu = event.get_pdu_json()
    changed = dict(pdu, content=dict(pdu["content"]))
    if changed["content"].get(key, object()) == value and type(changed["content"].get(key)) is type(
        value
    ):
        return
    changed["content"][key] = value
    assert not check_event_content_hash(changed)
    # ... but the signature, over the redacted form, survives for message events.
    verify_event_signature(rv, changed, SERVER_NAME, spec_verify_keys())


@given(value=json_values)
def test_canonical_json_accepts_values_in_range(value: Any) -> None:
    validate_canonicaljson(value)
    encoded = encode_canonical_json(value)
    assert json.loads(encoded) == value
    # Canonical JSON is a fixed point: shortest form, sorted keys.
    assert encode_canonical_json(json.loads(encoded)) == encoded


@given(
    value=json_objects,
    bad=st.integers(min_value=MAX_INT + 1) | st.integers(max_value=-MAX_INT - 1) | st.floats(),
    key=st.text(max_size=5),
)
def test_canonical_json_refuses_out_of_range(value: dict, bad: Any, key: str) -> None:
    value = dict(value)
    value[key] = [{"nested": bad}]
    try:
        validate_canonicaljson(value)
    except SynapseError as e:
        assert e.errcode == "M_BAD_JSON"
    else:
        raise AssertionError(f"{bad!r} was accepted")


# Changes to fields the signature covers, keyed by field.
ESSENTIAL_CHANGES: dict[str, Any] = {
    "sender": "@mallory:domain",
    "type": "m.room.other",
    "depth": 99,
    "origin_server_ts": 5,
    "state_key": "changed",
    "prev_events": [],
    "auth_events": [],
    "hashes": {"sha256": "changed"},
}


@settings(max_examples=60, deadline=None)
@given(
    rv=room_versions,
    content=json_objects,
    field=st.sampled_from(sorted(ESSENTIAL_CHANGES)),
)
def test_changing_an_essential_field_breaks_the_signature(
    rv: RoomVersion, content: dict, field: str
) -> None:
    event = _build(rv, "m.room.message", content, None)
    pdu = event.get_pdu_json()
    pdu[field] = ESSENTIAL_CHANGES[field]
    try:
        verify_event_signature(rv, pdu, SERVER_NAME, spec_verify_keys())
    except SynapseError as e:
        assert e.code == 403
    else:
        raise AssertionError(f"changing {field} kept the signature valid")
