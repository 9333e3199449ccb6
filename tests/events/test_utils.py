"""The client event format, stripped state, canonical JSON checks and power levels."""

from __future__ import annotations

import unittest
from typing import Any

from synapse.api.errors import Codes, SynapseError
from synapse.api.room_versions import RoomVersion, RoomVersions
from synapse.events import EventBase, make_event_from_dict
from synapse.events.utils import (
    copy_and_fixup_power_levels_contents,
    only_fields,
    prune_event,
    serialize_event,
    strip_event,
    validate_canonicaljson,
)
from synapse.types import JsonDict


def _event(
    rv: RoomVersion = RoomVersions.V10,
    internal_metadata: JsonDict | None = None,
    **fields: Any,
) -> EventBase:
    pdu: JsonDict = {
        "type": "m.room.message",
        "room_id": "!r:x",
        "sender": "@a:x",
        "content": {"body": "hi", "m.relates_to": {"rel_type": "m.thread"}},
        "depth": 5,
        "origin_server_ts": 1000,
        "prev_events": ["$" + "p" * 43],
        "auth_events": ["$" + "q" * 43],
        "hashes": {"sha256": "abc"},
        "signatures": {"x": {"ed25519:1": "sig"}},
        "unsigned": {"age_ts": 1000},
    }
    if rv.event_ids_in_events:
        pdu["event_id"] = "$e:x"
        pdu["prev_events"] = [["$p:x", {"sha256": "h"}]]
        pdu["auth_events"] = []
    pdu.update(fields)
    return make_event_from_dict(pdu, rv, internal_metadata)


class SerializeEventTestCase(unittest.TestCase):
    def test_client_format(self) -> None:
        event = _event()
        d = serialize_event(event, 1500)
        self.assertEqual(
            d,
            {
                "type": "m.room.message",
                "room_id": "!r:x",
                "sender": "@a:x",
                "content": event.content,
                "origin_server_ts": 1000,
                "event_id": event.event_id,
                "unsigned": {"age": 500},
            },
        )
        # The event itself is untouched.
        self.assertEqual(event.unsigned, {"age_ts": 1000})

    def test_client_format_state_event_and_no_room_id(self) -> None:
        event = _event(state_key="", type="m.room.topic", content={"topic": "t"})
        d = serialize_event(event, 1000, include_room_id=False)
        self.assertEqual(d["state_key"], "")
        self.assertNotIn("room_id", d)

    def test_federation_keys_are_dropped(self) -> None:
        event = _event(RoomVersions.V1, origin="x", prev_state=[])
        d = serialize_event(event, 1000)
        for key in (
            "auth_events",
            "prev_events",
            "hashes",
            "signatures",
            "depth",
            "origin",
            "prev_state",
        ):
            self.assertNotIn(key, d)
        self.assertEqual(d["event_id"], "$e:x")

    def test_server_format(self) -> None:
        event = _event()
        d = serialize_event(event, 1500, as_client_event=False)
        self.assertEqual(d["depth"], 5)
        self.assertEqual(d["signatures"], event.signatures)
        self.assertEqual(d["unsigned"], {"age": 500})

    def test_transaction_id_only_for_the_sending_device(self) -> None:
        event = _event(internal_metadata={"txn_id": "txn1", "token_id": 7, "device_id": "DEV"})
        self.assertEqual(
            serialize_event(event, 1000, token_id=7)["unsigned"].get("transaction_id"), "txn1"
        )
        self.assertEqual(
            serialize_event(event, 1000, device_id="DEV", user_id="@a:x")["unsigned"].get(
                "transaction_id"
            ),
            "txn1",
        )
        self.assertNotIn("transaction_id", serialize_event(event, 1000)["unsigned"])
        self.assertNotIn("transaction_id", serialize_event(event, 1000, token_id=8)["unsigned"])
        self.assertNotIn(
            "transaction_id", serialize_event(event, 1000, device_id="OTHER")["unsigned"]
        )
        # Same device ID, another user.
        self.assertNotIn(
            "transaction_id",
            serialize_event(event, 1000, device_id="DEV", user_id="@b:x")["unsigned"],
        )

    def test_redacted_because(self) -> None:
        redaction = _event(
            type="m.room.redaction", content={"redacts": "$x"}, unsigned={"age_ts": 900}
        )
        event = _event(unsigned={"age_ts": 800, "redacted_because": redaction})
        pruned = prune_event(event)
        d = serialize_event(pruned, 1000)
        self.assertEqual(d["content"], {})
        because = d["unsigned"]["redacted_because"]
        self.assertEqual(because["event_id"], redaction.event_id)
        self.assertEqual(because["unsigned"], {"age": 100})
        self.assertEqual(d["unsigned"]["age"], 200)

    def test_redacts_in_client_format(self) -> None:
        old = _event(RoomVersions.V10, type="m.room.redaction", content={}, redacts="$t")
        self.assertEqual(serialize_event(old, 0)["redacts"], "$t")
        new = _event(RoomVersions.V11, type="m.room.redaction", content={"redacts": "$t"})
        d = serialize_event(new, 0)
        self.assertNotIn("redacts", d)
        self.assertEqual(d["content"], {"redacts": "$t"})

    def test_stripped_room_state(self) -> None:
        event = _event(unsigned={"invite_room_state": [{"type": "m.room.name"}]})
        self.assertNotIn("invite_room_state", serialize_event(event, 0)["unsigned"])
        self.assertIn(
            "invite_room_state",
            serialize_event(event, 0, include_stripped_room_state=True)["unsigned"],
        )

    def test_only_event_fields(self) -> None:
        event = _event()
        d = serialize_event(
            event, 1000, only_event_fields=["type", "content.m\\.relates_to", "content.nope"]
        )
        self.assertEqual(
            d, {"type": "m.room.message", "content": {"m.relates_to": {"rel_type": "m.thread"}}}
        )
        with self.assertRaises(TypeError):
            serialize_event(event, 1000, only_event_fields="type")

    def test_only_fields_escapes(self) -> None:
        value = {"a": {"b.c": 1, "d\\e": 2, "f": {"g": 3}}, "h": 4}
        self.assertEqual(only_fields(value, ["a.b\\.c"]), {"a": {"b.c": 1}})
        self.assertEqual(only_fields(value, ["a.d\\\\e"]), {"a": {"d\\e": 2}})
        self.assertEqual(
            only_fields(value, ["a.f.g", "h", "a.f.g.x"]), {"a": {"f": {"g": 3}}, "h": 4}
        )


class StripEventTestCase(unittest.TestCase):
    def test_strip(self) -> None:
        event = _event(type="m.room.name", state_key="", content={"name": "N"})
        self.assertEqual(
            strip_event(event),
            {"type": "m.room.name", "state_key": "", "content": {"name": "N"}, "sender": "@a:x"},
        )


class CanonicalJsonTestCase(unittest.TestCase):
    def test_accepts_valid(self) -> None:
        validate_canonicaljson(
            {"a": [1, -1, 2**53 - 1, -(2**53) + 1, True, None, "s", {"b": {}}], "c": False}
        )

    def test_refuses(self) -> None:
        for bad in (
            {"a": 2**53},
            {"a": -(2**53)},
            {"a": [1.5]},
            {"a": {"b": 1.0}},
            {"a": float("nan")},
            {"a": float("inf")},
            {1: "x"},
            {"a": object()},
        ):
            with self.subTest(value=repr(bad)), self.assertRaises(SynapseError) as cm:
                validate_canonicaljson(bad)
            self.assertEqual(cm.exception.errcode, Codes.BAD_JSON)
            self.assertEqual(cm.exception.code, 400)

    def test_deep_nesting_does_not_recurse(self) -> None:
        value: Any = 1
        for _ in range(10000):
            value = [value]
        validate_canonicaljson(value)


class PowerLevelsTestCase(unittest.TestCase):
    def test_fixup(self) -> None:
        old = {
            "ban": "50",
            "kick": " +040 ",
            "redact": -5,
            "events_default": 12.7,
            "state_default": "abc",
            "invite": True,
            "users_default": "5_0",
            "events": {"m.room.name": "100", "bad": "x", "neg": " -3"},
            "users": {"@a:x": 100.0},
            "notifications": {"room": 20},
        }
        new = copy_and_fixup_power_levels_contents(old)
        self.assertEqual(
            new,
            {
                "ban": 50,
                "kick": 40,
                "redact": -5,
                "events_default": 12,
                "events": {"m.room.name": 100, "neg": -3},
                "users": {"@a:x": 100},
                "notifications": {"room": 20},
            },
        )
        # A copy: changing it leaves the original alone.
        users = new["users"]
        assert isinstance(users, dict)
        users["@b:x"] = 1
        self.assertEqual(old["users"], {"@a:x": 100.0})

    def test_refuses_non_object(self) -> None:
        with self.assertRaises(TypeError):
            copy_and_fixup_power_levels_contents([])  # type: ignore[arg-type]
