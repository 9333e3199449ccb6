"""Content hashes, reference hashes and signatures, against the spec's test vectors."""

from __future__ import annotations

import copy
import hashlib
import json
import unittest

from canonicaljson import encode_canonical_json
from signedjson.key import generate_signing_key, get_verify_key
from signedjson.sign import sign_json
from unpaddedbase64 import encode_base64

from synapse.api.errors import Codes, SynapseError
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersions
from synapse.crypto.event_signing import (
    add_hashes_and_signatures,
    check_event_content_hash,
    compute_content_hash,
    compute_event_reference_hash,
    compute_event_signature,
    get_required_signature_servers,
    prune_event_dict,
    verify_event_signature,
)
from synapse.types import JsonDict
from tests.events.keys import KEY_ID, SERVER_NAME, spec_signing_key, spec_verify_keys

# appendices.md, "Event Signing": the minimally-sized event and the one with content.
MINIMAL_EVENT: JsonDict = {
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "signatures": {},
    "hashes": {},
    "type": "X",
    "content": {},
    "prev_events": [],
    "auth_events": [],
    "depth": 3,
    "unsigned": {"age_ts": 1000000},
}
MINIMAL_EVENT_SIGNED: JsonDict = {
    "auth_events": [],
    "content": {},
    "depth": 3,
    "hashes": {"sha256": "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"},
    "origin": "domain",
    "origin_server_ts": 1000000,
    "prev_events": [],
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"
        }
    },
    "type": "X",
    "unsigned": {"age_ts": 1000000},
}
MESSAGE_EVENT: JsonDict = {
    "content": {"body": "Here is the message content"},
    "event_id": "$0:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {},
    "unsigned": {"age_ts": 1000000},
}
MESSAGE_EVENT_SIGNED: JsonDict = {
    "content": {"body": "Here is the message content"},
    "event_id": "$0:domain",
    "hashes": {"sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"},
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"
        }
    },
    "unsigned": {"age_ts": 1000000},
}

# The spec's vectors keep "origin", so they use a room version from before v11.
PRE_V11_VERSIONS = [v for v in KNOWN_ROOM_VERSIONS.values() if not v.updated_redaction_rules]


class SpecJsonSigningVectorsTestCase(unittest.TestCase):
    """appendices.md "JSON Signing" and "Canonical JSON" examples."""

    def test_sign_empty_object(self) -> None:
        signed = sign_json({}, SERVER_NAME, spec_signing_key())
        self.assertEqual(
            signed,
            {
                "signatures": {
                    "domain": {
                        "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
                    }
                }
            },
        )

    def test_sign_object_with_data(self) -> None:
        signed = sign_json({"one": 1, "two": "Two"}, SERVER_NAME, spec_signing_key())
        self.assertEqual(
            signed["signatures"]["domain"]["ed25519:1"],
            "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw",
        )

    def test_canonical_json_examples(self) -> None:
        examples = [
            ("{}", b"{}"),
            ('{"one": 1, "two": "Two"}', b'{"one":1,"two":"Two"}'),
            ('{"b": "2", "a": "1"}', b'{"a":"1","b":"2"}'),
            ('{"b":"2","a":"1"}', b'{"a":"1","b":"2"}'),
            (
                '{"auth": {"success": true, "mxid": "@john.doe:example.com", "profile": '
                '{"display_name": "John Doe", "three_pids": [{"medium": "email", "address": '
                '"john.doe@example.org"}, {"medium": "msisdn", "address": "123456789"}]}}}',
                b'{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe",'
                b'"three_pids":[{"address":"john.doe@example.org","medium":"email"},'
                b'{"address":"123456789","medium":"msisdn"}]},"success":true}}',
            ),
            ('{"a": "日本語"}', '{"a":"日本語"}'.encode()),
            ('{"本": 2, "日": 1}', '{"日":1,"本":2}'.encode()),
            ('{"a": "\\u65E5"}', '{"a":"日"}'.encode()),
            ('{"a": null}', b'{"a":null}'),
        ]
        for source, expected in examples:
            with self.subTest(source=source):
                self.assertEqual(encode_canonical_json(json.loads(source)), expected)

    def test_canonical_json_number_example(self) -> None:
        # "-0" and "1e10" denote the integers 0 and 10000000000.
        value = json.loads('{"a": -0, "b": 1e10}', parse_float=lambda s: int(float(s)))
        self.assertEqual(encode_canonical_json(value), b'{"a":0,"b":10000000000}')


class SpecEventSigningVectorsTestCase(unittest.TestCase):
    """appendices.md "Event Signing": both examples, byte for byte."""

    def test_minimal_event(self) -> None:
        for rv in PRE_V11_VERSIONS:
            with self.subTest(room_version=rv.identifier):
                event = copy.deepcopy(MINIMAL_EVENT)
                add_hashes_and_signatures(rv, event, SERVER_NAME, spec_signing_key())
                self.assertEqual(event, MINIMAL_EVENT_SIGNED)
                self.assertEqual(
                    encode_canonical_json(event), encode_canonical_json(MINIMAL_EVENT_SIGNED)
                )

    def test_event_with_redactable_content(self) -> None:
        for rv in PRE_V11_VERSIONS:
            with self.subTest(room_version=rv.identifier):
                event = copy.deepcopy(MESSAGE_EVENT)
                add_hashes_and_signatures(rv, event, SERVER_NAME, spec_signing_key())
                self.assertEqual(event, MESSAGE_EVENT_SIGNED)

    def test_content_hash_of_vectors(self) -> None:
        name, digest = compute_content_hash(MINIMAL_EVENT)
        self.assertEqual(name, "sha256")
        self.assertEqual(encode_base64(digest), "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos")
        # Adding or changing unsigned, signatures or hashes does not change the hash.
        changed = dict(MINIMAL_EVENT_SIGNED, unsigned={"age": 5}, signatures={"x": {}})
        self.assertEqual(compute_content_hash(changed)[1], digest)

    def test_signed_vectors_verify(self) -> None:
        for signed in (MINIMAL_EVENT_SIGNED, MESSAGE_EVENT_SIGNED):
            verify_event_signature(RoomVersions.V1, signed, SERVER_NAME, spec_verify_keys())
            self.assertTrue(check_event_content_hash(signed))

    def test_redacted_message_still_verifies(self) -> None:
        redacted = prune_event_dict(RoomVersions.V1, MESSAGE_EVENT_SIGNED)
        self.assertEqual(redacted["content"], {})
        verify_event_signature(RoomVersions.V1, redacted, SERVER_NAME, spec_verify_keys())
        self.assertFalse(check_event_content_hash(redacted))

    def test_compute_event_signature_matches_vector(self) -> None:
        sig = compute_event_signature(
            RoomVersions.V1, MESSAGE_EVENT_SIGNED, SERVER_NAME, spec_signing_key()
        )
        self.assertEqual(sig, MESSAGE_EVENT_SIGNED["signatures"])


class ReferenceHashTestCase(unittest.TestCase):
    def test_reference_hash_is_sha256_of_redacted_event(self) -> None:
        for rv in KNOWN_ROOM_VERSIONS.values():
            with self.subTest(room_version=rv.identifier):
                pruned = prune_event_dict(rv, MESSAGE_EVENT_SIGNED)
                del pruned["signatures"]
                expected = hashlib.sha256(encode_canonical_json(pruned)).digest()
                self.assertEqual(
                    compute_event_reference_hash(MESSAGE_EVENT_SIGNED, rv), ("sha256", expected)
                )

    def test_reference_hash_ignores_signatures_unsigned_and_redactable_content(self) -> None:
        rv = RoomVersions.V10
        base = compute_event_reference_hash(MESSAGE_EVENT_SIGNED, rv)
        other = dict(
            MESSAGE_EVENT_SIGNED,
            signatures={"elsewhere": {"ed25519:x": "abc"}},
            unsigned={"age": 1},
            content={"body": "different"},
        )
        self.assertEqual(compute_event_reference_hash(other, rv), base)
        # The hashes are covered, so a changed content hash changes the reference hash.
        changed = dict(MESSAGE_EVENT_SIGNED, hashes={"sha256": "AAAA"})
        self.assertNotEqual(compute_event_reference_hash(changed, rv), base)

    def test_v11_ignores_origin(self) -> None:
        without_origin = {k: v for k, v in MESSAGE_EVENT_SIGNED.items() if k != "origin"}
        self.assertEqual(
            compute_event_reference_hash(MESSAGE_EVENT_SIGNED, RoomVersions.V11),
            compute_event_reference_hash(without_origin, RoomVersions.V11),
        )
        self.assertNotEqual(
            compute_event_reference_hash(MESSAGE_EVENT_SIGNED, RoomVersions.V10),
            compute_event_reference_hash(without_origin, RoomVersions.V10),
        )


class VerifySignatureTestCase(unittest.TestCase):
    def _signed(self) -> JsonDict:
        return copy.deepcopy(MESSAGE_EVENT_SIGNED)

    def test_missing_server_signature(self) -> None:
        with self.assertRaises(SynapseError) as cm:
            verify_event_signature(RoomVersions.V1, self._signed(), "other", spec_verify_keys())
        self.assertEqual(cm.exception.code, 401)
        self.assertEqual(cm.exception.errcode, Codes.UNAUTHORIZED)

    def test_no_signatures_at_all(self) -> None:
        event = self._signed()
        del event["signatures"]
        with self.assertRaises(SynapseError) as cm:
            verify_event_signature(RoomVersions.V1, event, SERVER_NAME, spec_verify_keys())
        self.assertEqual(cm.exception.errcode, Codes.UNAUTHORIZED)

    def test_unknown_key_only(self) -> None:
        other_key = {"ed25519:other": get_verify_key(generate_signing_key("other"))}
        with self.assertRaises(SynapseError) as cm:
            verify_event_signature(RoomVersions.V1, self._signed(), SERVER_NAME, other_key)
        self.assertEqual(cm.exception.code, 401)

    def test_unknown_algorithm_is_skipped(self) -> None:
        event = self._signed()
        event["signatures"][SERVER_NAME]["curve9999:1"] = "garbage"
        verify_event_signature(RoomVersions.V1, event, SERVER_NAME, spec_verify_keys())

    def test_tampered_essential_field(self) -> None:
        event = self._signed()
        event["sender"] = "@mallory:domain"
        with self.assertRaises(SynapseError) as cm:
            verify_event_signature(RoomVersions.V1, event, SERVER_NAME, spec_verify_keys())
        self.assertEqual(cm.exception.code, 403)
        self.assertEqual(cm.exception.errcode, Codes.FORBIDDEN)

    def test_tampered_content_keeps_signature_but_fails_hash(self) -> None:
        event = self._signed()
        event["content"]["body"] = "changed"
        verify_event_signature(RoomVersions.V1, event, SERVER_NAME, spec_verify_keys())
        self.assertFalse(check_event_content_hash(event))

    def test_wrong_key_for_key_id(self) -> None:
        wrong = {KEY_ID: get_verify_key(generate_signing_key("1"))}
        with self.assertRaises(SynapseError) as cm:
            verify_event_signature(RoomVersions.V1, self._signed(), SERVER_NAME, wrong)
        self.assertEqual(cm.exception.code, 403)

    def test_malformed_signature(self) -> None:
        for bad in ("not base64!", 12, "AAAA"):
            event = self._signed()
            event["signatures"][SERVER_NAME][KEY_ID] = bad
            with self.subTest(signature=bad), self.assertRaises(SynapseError) as cm:
                verify_event_signature(RoomVersions.V1, event, SERVER_NAME, spec_verify_keys())
            self.assertEqual(cm.exception.code, 403)

    def test_add_signature_keeps_other_servers(self) -> None:
        event = self._signed()
        other = generate_signing_key("k")
        add_hashes_and_signatures(RoomVersions.V1, event, "other.example", other)
        self.assertEqual(set(event["signatures"]), {SERVER_NAME, "other.example"})
        verify_event_signature(RoomVersions.V1, event, SERVER_NAME, spec_verify_keys())
        verify_event_signature(
            RoomVersions.V1, event, "other.example", {"ed25519:k": get_verify_key(other)}
        )


class ContentHashTestCase(unittest.TestCase):
    def test_missing_or_malformed_hashes(self) -> None:
        for hashes in (None, {}, {"sha256": 5}, {"sha256": "!!!"}, "x"):
            event = dict(MESSAGE_EVENT_SIGNED)
            if hashes is None:
                del event["hashes"]
            else:
                event["hashes"] = hashes
            with self.subTest(hashes=hashes):
                self.assertFalse(check_event_content_hash(event))


class RequiredSignaturesTestCase(unittest.TestCase):
    def test_sender_and_v1_event_id(self) -> None:
        event = {"sender": "@u:a.example", "event_id": "$x:b.example", "type": "m.room.message"}
        self.assertEqual(
            get_required_signature_servers(RoomVersions.V1, event), {"a.example", "b.example"}
        )
        self.assertEqual(get_required_signature_servers(RoomVersions.V3, event), {"a.example"})

    def test_third_party_invite_exempts_sender(self) -> None:
        event = {
            "sender": "@u:a.example",
            "type": "m.room.member",
            "state_key": "@v:c.example",
            "content": {"membership": "invite", "third_party_invite": {"signed": {}}},
        }
        self.assertEqual(get_required_signature_servers(RoomVersions.V10, event), set())

    def test_restricted_join_authoriser(self) -> None:
        event = {
            "sender": "@u:a.example",
            "type": "m.room.member",
            "state_key": "@u:a.example",
            "content": {"membership": "join", "join_authorised_via_users_server": "@r:d.example"},
        }
        self.assertEqual(
            get_required_signature_servers(RoomVersions.V8, event), {"a.example", "d.example"}
        )
        self.assertEqual(get_required_signature_servers(RoomVersions.V7, event), {"a.example"})
