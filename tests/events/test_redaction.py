"""The redaction algorithm of each room version, on dicts and on event objects."""

from __future__ import annotations

import unittest
from typing import Any

from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion, RoomVersions
from synapse.crypto.event_signing import prune_event_dict
from synapse.events import make_event_from_dict
from synapse.events.utils import prune_event
from synapse.types import JsonDict

ALL_VERSIONS = list(KNOWN_ROOM_VERSIONS.values())

POWER_LEVELS_CONTENT: JsonDict = {
    "ban": 50,
    "events": {"m.room.name": 100},
    "events_default": 0,
    "invite": 0,
    "kick": 50,
    "notifications": {"room": 20},
    "redact": 50,
    "state_default": 50,
    "users": {"@a:x": 100},
    "users_default": 0,
    "extra": "gone",
}


def _pdu(event_type: str, content: JsonDict, **extra: Any) -> JsonDict:
    pdu: JsonDict = {
        "type": event_type,
        "room_id": "!r:x",
        "sender": "@a:x",
        "content": content,
        "depth": 5,
        "origin_server_ts": 1,
        "prev_events": [],
        "auth_events": [],
        "hashes": {"sha256": "abc"},
        "signatures": {"x": {"ed25519:1": "sig"}},
        "unsigned": {"age_ts": 1},
    }
    pdu.update(extra)
    return pdu


def _pruned_content(rv: RoomVersion, event_type: str, content: JsonDict) -> JsonDict:
    return prune_event_dict(rv, _pdu(event_type, content, state_key=""))["content"]


class TopLevelKeysTestCase(unittest.TestCase):
    def test_top_level_keys_before_v11(self) -> None:
        pdu = _pdu(
            "m.room.message",
            {"body": "x"},
            event_id="$e:x",
            origin="x",
            membership="join",
            prev_state=[],
            state_key="s",
            other_key="gone",
        )
        for rv in ALL_VERSIONS:
            if rv.updated_redaction_rules:
                continue
            with self.subTest(room_version=rv.identifier):
                self.assertEqual(
                    set(prune_event_dict(rv, pdu)),
                    {
                        "type",
                        "room_id",
                        "sender",
                        "content",
                        "depth",
                        "origin_server_ts",
                        "prev_events",
                        "auth_events",
                        "hashes",
                        "signatures",
                        "event_id",
                        "origin",
                        "membership",
                        "prev_state",
                        "state_key",
                    },
                )

    def test_top_level_keys_from_v11(self) -> None:
        pdu = _pdu(
            "m.room.message",
            {"body": "x"},
            origin="x",
            membership="join",
            prev_state=[],
            redacts="$x",
            other="gone",
        )
        for rv in (RoomVersions.V11, RoomVersions.V12):
            with self.subTest(room_version=rv.identifier):
                self.assertEqual(
                    set(prune_event_dict(rv, pdu)),
                    {
                        "type",
                        "room_id",
                        "sender",
                        "content",
                        "depth",
                        "origin_server_ts",
                        "prev_events",
                        "auth_events",
                        "hashes",
                        "signatures",
                    },
                )

    def test_unsigned_is_dropped_and_content_always_present(self) -> None:
        pdu = _pdu("m.room.message", {"body": "x"})
        del pdu["content"]
        for rv in ALL_VERSIONS:
            pruned = prune_event_dict(rv, pdu)
            self.assertNotIn("unsigned", pruned)
            self.assertEqual(pruned["content"], {})

    def test_input_is_not_modified(self) -> None:
        pdu = _pdu("m.room.message", {"body": "x"}, origin="x")
        before = repr(pdu)
        prune_event_dict(RoomVersions.V11, pdu)
        self.assertEqual(repr(pdu), before)

    def test_non_object_content(self) -> None:
        pdu = _pdu("m.room.member", "not an object")  # type: ignore[arg-type]
        self.assertEqual(prune_event_dict(RoomVersions.V1, pdu)["content"], {})


class ContentKeysTestCase(unittest.TestCase):
    def test_message_content_stripped(self) -> None:
        for rv in ALL_VERSIONS:
            self.assertEqual(_pruned_content(rv, "m.room.message", {"body": "hi"}), {})

    def test_member(self) -> None:
        content = {
            "membership": "join",
            "displayname": "A",
            "join_authorised_via_users_server": "@b:x",
            "third_party_invite": {"signed": {"token": "t"}, "display_name": "d"},
        }
        expected = {
            "1": {"membership": "join"},
            "8": {"membership": "join"},
            "9": {"membership": "join", "join_authorised_via_users_server": "@b:x"},
            "10": {"membership": "join", "join_authorised_via_users_server": "@b:x"},
            "11": {
                "membership": "join",
                "join_authorised_via_users_server": "@b:x",
                "third_party_invite": {"signed": {"token": "t"}},
            },
            "12": {
                "membership": "join",
                "join_authorised_via_users_server": "@b:x",
                "third_party_invite": {"signed": {"token": "t"}},
            },
        }
        for version, want in expected.items():
            with self.subTest(room_version=version):
                rv = KNOWN_ROOM_VERSIONS[version]
                self.assertEqual(_pruned_content(rv, "m.room.member", content), want)

    def test_member_third_party_invite_without_signed(self) -> None:
        content = {"membership": "invite", "third_party_invite": {"display_name": "d"}}
        self.assertEqual(
            _pruned_content(RoomVersions.V11, "m.room.member", content),
            {"membership": "invite", "third_party_invite": {}},
        )
        content = {"membership": "invite", "third_party_invite": "not an object"}
        self.assertEqual(
            _pruned_content(RoomVersions.V11, "m.room.member", content), {"membership": "invite"}
        )

    def test_create(self) -> None:
        content = {"creator": "@a:x", "room_version": "1", "m.federate": False}
        for rv in ALL_VERSIONS:
            with self.subTest(room_version=rv.identifier):
                pruned = _pruned_content(rv, "m.room.create", content)
                if rv.updated_redaction_rules:
                    self.assertEqual(pruned, content)
                else:
                    self.assertEqual(pruned, {"creator": "@a:x"})

    def test_join_rules(self) -> None:
        content = {"join_rule": "restricted", "allow": [{"type": "m.room_membership"}], "x": 1}
        for rv in ALL_VERSIONS:
            with self.subTest(room_version=rv.identifier):
                pruned = _pruned_content(rv, "m.room.join_rules", content)
                if int(rv.identifier) >= 8:
                    self.assertEqual(pruned, {"join_rule": "restricted", "allow": content["allow"]})
                else:
                    self.assertEqual(pruned, {"join_rule": "restricted"})

    def test_power_levels(self) -> None:
        old_keys = {
            "ban",
            "events",
            "events_default",
            "kick",
            "redact",
            "state_default",
            "users",
            "users_default",
        }
        for rv in ALL_VERSIONS:
            with self.subTest(room_version=rv.identifier):
                pruned = _pruned_content(rv, "m.room.power_levels", POWER_LEVELS_CONTENT)
                want = old_keys | {"invite"} if rv.updated_redaction_rules else old_keys
                self.assertEqual(set(pruned), want)
                self.assertEqual(pruned["users"], {"@a:x": 100})

    def test_aliases(self) -> None:
        content = {"aliases": ["#a:x"]}
        for rv in ALL_VERSIONS:
            with self.subTest(room_version=rv.identifier):
                pruned = _pruned_content(rv, "m.room.aliases", content)
                self.assertEqual(pruned, content if int(rv.identifier) <= 5 else {})

    def test_history_visibility(self) -> None:
        content = {"history_visibility": "shared", "other": 1}
        for rv in ALL_VERSIONS:
            self.assertEqual(
                _pruned_content(rv, "m.room.history_visibility", content),
                {"history_visibility": "shared"},
            )

    def test_redaction(self) -> None:
        content = {"redacts": "$e", "reason": "spam"}
        for rv in ALL_VERSIONS:
            with self.subTest(room_version=rv.identifier):
                pruned = _pruned_content(rv, "m.room.redaction", content)
                self.assertEqual(pruned, {"redacts": "$e"} if rv.updated_redaction_rules else {})

    def test_other_state_events(self) -> None:
        for event_type in ("m.room.name", "m.room.topic", "m.room.third_party_invite"):
            for rv in ALL_VERSIONS:
                self.assertEqual(_pruned_content(rv, event_type, {"name": "n", "topic": "t"}), {})


class PruneEventTestCase(unittest.TestCase):
    def test_prune_event_object(self) -> None:
        for rv in ALL_VERSIONS:
            with self.subTest(room_version=rv.identifier):
                pdu = _pdu("m.room.message", {"body": "secret"})
                pdu["unsigned"] = {
                    "age_ts": 10,
                    "replaces_state": "$old",
                    "prev_content": {"body": "x"},
                    "other": 1,
                }
                if rv.event_ids_in_events:
                    pdu["event_id"] = "$abc:x"
                if rv.hydra:
                    pdu["room_id"] = "!" + "A" * 43
                event = make_event_from_dict(
                    pdu, rv, {"txn_id": "t1", "device_id": "D"}, rejected_reason=None
                )
                event.internal_metadata.stream_ordering = 7
                pruned = prune_event(event)
                self.assertTrue(pruned.internal_metadata.redacted)
                self.assertFalse(event.internal_metadata.redacted)
                self.assertEqual(pruned.content, {})
                self.assertEqual(event.content, {"body": "secret"})
                self.assertEqual(pruned.event_id, event.event_id)
                self.assertEqual(pruned.unsigned, {"age_ts": 10, "replaces_state": "$old"})
                self.assertEqual(pruned.signatures, event.signatures)
                self.assertEqual(pruned.internal_metadata.stream_ordering, 7)
                self.assertEqual(pruned.internal_metadata.txn_id, "t1")
                self.assertEqual(pruned.room_version, rv)

    def test_prune_keeps_event_id_computed_afresh(self) -> None:
        pdu = _pdu("m.room.message", {"body": "secret"})
        event = make_event_from_dict(pdu, RoomVersions.V10)
        pruned = prune_event(event)
        fresh = make_event_from_dict(pruned.get_pdu_json(), RoomVersions.V10)
        self.assertEqual(fresh.event_id, event.event_id)
