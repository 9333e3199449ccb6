"""The PDU format check refuses each malformed field and events of the wrong format."""

from __future__ import annotations

import copy
import unittest
from collections.abc import Callable
from typing import Any

from synapse.api.errors import Codes, EventSizeError, SynapseError
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion, RoomVersions
from synapse.events import make_event_from_dict
from synapse.events.builder import EventBuilder
from synapse.events.validator import (
    check_pdu_format,
    check_sender_domain,
    event_from_pdu_json,
    validate_new_event,
    validate_received_pdu,
)
from synapse.types import JsonDict
from tests.events.keys import SERVER_NAME, spec_signing_key

HASH_ID = "$" + "A" * 43
HASH_ID_URLSAFE = "$" + "A-_b" * 10 + "xyz"
HASH_ID_STANDARD = "$" + "A+/b" * 10 + "xyz"
V12_ROOM_ID = "!" + "B" * 43


def _good_pdu(rv: RoomVersion) -> JsonDict:
    pdu: JsonDict = {
        "type": "m.room.message",
        "room_id": V12_ROOM_ID if rv.hydra else "!r:domain",
        "sender": "@a:domain",
        "content": {"body": "hello"},
        "depth": 5,
        "origin_server_ts": 1000,
        "prev_events": [HASH_ID],
        "auth_events": [HASH_ID],
        "hashes": {"sha256": "abc"},
        "signatures": {"domain": {"ed25519:1": "sig"}},
        "unsigned": {"age": 4},
    }
    if rv.event_ids_in_events:
        pdu["event_id"] = "$e:domain"
        pdu["prev_events"] = [["$p:domain", {"sha256": "h"}]]
        pdu["auth_events"] = [["$q:domain", {"sha256": "h"}]]
    return pdu


def _set(key: str, value: Any) -> Callable[[JsonDict], None]:
    def f(pdu: JsonDict) -> None:
        pdu[key] = value

    return f


def _del(key: str) -> Callable[[JsonDict], None]:
    def f(pdu: JsonDict) -> None:
        pdu.pop(key, None)

    return f


# Changes that make a PDU invalid in every room version.
MALFORMATIONS: dict[str, Callable[[JsonDict], None]] = {
    "no type": _del("type"),
    "type not a string": _set("type", 5),
    "no sender": _del("sender"),
    "sender not a user ID": _set("sender", "a:domain"),
    "sender without domain": _set("sender", "@a"),
    "sender with bad domain": _set("sender", "@a:bad domain"),
    "no room_id": _del("room_id"),
    "room_id not a string": _set("room_id", ["!r:domain"]),
    "room_id not a room ID": _set("room_id", "#r:domain"),
    "state_key not a string": _set("state_key", 1),
    "state_key null": _set("state_key", None),
    "no content": _del("content"),
    "content not an object": _set("content", "body"),
    "no origin_server_ts": _del("origin_server_ts"),
    "origin_server_ts not an integer": _set("origin_server_ts", "1000"),
    "origin_server_ts boolean": _set("origin_server_ts", True),
    "no depth": _del("depth"),
    "depth negative": _set("depth", -1),
    "depth a string": _set("depth", "5"),
    "depth too large": _set("depth", 2**63),
    "no hashes": _del("hashes"),
    "hashes without sha256": _set("hashes", {"sha512": "x"}),
    "hashes not an object": _set("hashes", "abc"),
    "no signatures": _del("signatures"),
    "signatures not an object": _set("signatures", []),
    "server signatures not an object": _set("signatures", {"domain": "sig"}),
    "signature not a string": _set("signatures", {"domain": {"ed25519:1": 5}}),
    "unsigned not an object": _set("unsigned", []),
    "no prev_events": _del("prev_events"),
    "prev_events not a list": _set("prev_events", HASH_ID),
    "no auth_events": _del("auth_events"),
    "auth_events not a list": _set("auth_events", {}),
    "too many prev_events": lambda pdu: pdu.__setitem__("prev_events", pdu["prev_events"] * 21),
    "too many auth_events": lambda pdu: pdu.__setitem__("auth_events", pdu["auth_events"] * 11),
    "redacts not a string": lambda pdu: pdu.update(
        type="m.room.redaction", redacts=5, content={"redacts": 5}
    ),
}

# Changes that only break the size limits (413).
OVERSIZED: dict[str, Callable[[JsonDict], None]] = {
    "long type": _set("type", "t" * 256),
    "long state_key": _set("state_key", "k" * 256),
    "long multibyte state_key": _set("state_key", "é" * 128),
    "long sender": _set("sender", "@" + "a" * 250 + ":domain"),
    "long room_id": _set("room_id", "!" + "r" * 250 + ":domain"),
    "large event": lambda pdu: pdu["content"].__setitem__("body", "x" * 65536),
    "large unsigned": _set("unsigned", {"x": "y" * 65536}),
}


class CheckPduFormatTestCase(unittest.TestCase):
    def test_good_pdus(self) -> None:
        for rv in KNOWN_ROOM_VERSIONS.values():
            with self.subTest(room_version=rv.identifier):
                check_pdu_format(_good_pdu(rv), rv)

    def test_malformed_fields(self) -> None:
        for rv in KNOWN_ROOM_VERSIONS.values():
            for name, change in MALFORMATIONS.items():
                pdu = copy.deepcopy(_good_pdu(rv))
                change(pdu)
                with self.subTest(room_version=rv.identifier, change=name):
                    with self.assertRaises(SynapseError) as cm:
                        check_pdu_format(pdu, rv)
                    self.assertEqual(cm.exception.code, 400)
                    self.assertEqual(cm.exception.errcode, Codes.BAD_JSON)

    def test_oversized(self) -> None:
        for rv in KNOWN_ROOM_VERSIONS.values():
            for name, change in OVERSIZED.items():
                pdu = copy.deepcopy(_good_pdu(rv))
                change(pdu)
                with self.subTest(room_version=rv.identifier, change=name):
                    with self.assertRaises(EventSizeError) as cm:
                        check_pdu_format(pdu, rv)
                    self.assertEqual(cm.exception.code, 413)
                    self.assertEqual(cm.exception.errcode, Codes.TOO_LARGE)

    def test_limits_are_inclusive(self) -> None:
        rv = RoomVersions.V10
        pdu = _good_pdu(rv)
        pdu["type"] = "t" * 255
        pdu["state_key"] = "é" * 127
        pdu["prev_events"] = [HASH_ID] * 20
        pdu["auth_events"] = [HASH_ID] * 10
        check_pdu_format(pdu, rv)

    def test_unencodable_json(self) -> None:
        for rv in (RoomVersions.V1, RoomVersions.V10):
            for bad in ("\ud800", float("nan"), float("inf")):
                pdu = _good_pdu(rv)
                pdu["content"]["x"] = bad
                with self.subTest(room_version=rv.identifier, value=bad):
                    with self.assertRaises(SynapseError) as cm:
                        check_pdu_format(pdu, rv)
                    self.assertEqual(cm.exception.errcode, Codes.BAD_JSON)

    def test_not_an_object(self) -> None:
        values: list[Any] = [[], "x", None, 5]
        for value in values:
            with self.assertRaises(SynapseError):
                check_pdu_format(value, RoomVersions.V10)

    def test_event_id_presence(self) -> None:
        for rv in KNOWN_ROOM_VERSIONS.values():
            pdu = _good_pdu(rv)
            with self.subTest(room_version=rv.identifier):
                if rv.event_ids_in_events:
                    del pdu["event_id"]
                else:
                    pdu["event_id"] = HASH_ID
                with self.assertRaises(SynapseError):
                    check_pdu_format(pdu, rv)

    def test_bad_event_ids(self) -> None:
        for bad in ("e:domain", "$nodomain", 5):
            pdu = _good_pdu(RoomVersions.V1)
            pdu["event_id"] = bad
            with self.subTest(event_id=bad), self.assertRaises(SynapseError):
                check_pdu_format(pdu, RoomVersions.V1)

    def test_reference_shape_per_version(self) -> None:
        pairs = [["$p:domain", {"sha256": "h"}]]
        ids = [HASH_ID]
        for rv in KNOWN_ROOM_VERSIONS.values():
            for key in ("prev_events", "auth_events"):
                pdu = _good_pdu(rv)
                pdu[key] = ids if rv.event_ids_in_events else pairs
                with self.subTest(room_version=rv.identifier, key=key):
                    with self.assertRaises(SynapseError):
                        check_pdu_format(pdu, rv)

    def test_malformed_v1_pairs(self) -> None:
        for bad in (
            [["$p:domain"]],
            [["$p:domain", {"sha256": "h"}, "x"]],
            [["$p:domain", "h"]],
            [["$p:domain", {"sha256": 5}]],
            [[5, {"sha256": "h"}]],
            [("$p:domain", {"sha256": "h"}, 1)],
        ):
            pdu = _good_pdu(RoomVersions.V2)
            pdu["prev_events"] = bad
            with self.subTest(prev_events=bad), self.assertRaises(SynapseError):
                check_pdu_format(pdu, RoomVersions.V2)

    def test_event_id_alphabet_per_version(self) -> None:
        pdu = _good_pdu(RoomVersions.V3)
        pdu["prev_events"] = [HASH_ID_STANDARD]
        check_pdu_format(pdu, RoomVersions.V3)
        pdu["prev_events"] = [HASH_ID_URLSAFE]
        with self.assertRaises(SynapseError):
            check_pdu_format(pdu, RoomVersions.V3)

        pdu = _good_pdu(RoomVersions.V4)
        pdu["prev_events"] = [HASH_ID_URLSAFE]
        check_pdu_format(pdu, RoomVersions.V4)
        for bad in (HASH_ID_STANDARD, "$p:domain", HASH_ID + "A"):
            pdu["prev_events"] = [bad]
            with self.subTest(event_id=bad), self.assertRaises(SynapseError):
                check_pdu_format(pdu, RoomVersions.V4)

    def test_room_id_forms(self) -> None:
        pdu = _good_pdu(RoomVersions.V11)
        pdu["room_id"] = V12_ROOM_ID
        with self.assertRaises(SynapseError):
            check_pdu_format(pdu, RoomVersions.V11)
        pdu = _good_pdu(RoomVersions.V12)
        pdu["room_id"] = "!r:domain"
        with self.assertRaises(SynapseError):
            check_pdu_format(pdu, RoomVersions.V12)

    def test_v12_create_event(self) -> None:
        pdu = _good_pdu(RoomVersions.V12)
        pdu.update(type="m.room.create", state_key="", prev_events=[], auth_events=[])
        with self.assertRaises(SynapseError):
            check_pdu_format(pdu, RoomVersions.V12)
        del pdu["room_id"]
        check_pdu_format(pdu, RoomVersions.V12)
        # Without a state key it is no create event, and needs a room_id.
        del pdu["state_key"]
        with self.assertRaises(SynapseError):
            check_pdu_format(pdu, RoomVersions.V12)
        # Other room versions need room_id on create events.
        pdu = _good_pdu(RoomVersions.V11)
        pdu.update(type="m.room.create", state_key="")
        del pdu["room_id"]
        with self.assertRaises(SynapseError):
            check_pdu_format(pdu, RoomVersions.V11)

    def test_canonical_json_from_v6(self) -> None:
        for change in (
            lambda pdu: pdu["content"].__setitem__("n", 1.5),
            lambda pdu: pdu["content"].__setitem__("n", 2**53),
            _set("depth", 2**53),
        ):
            for rv in KNOWN_ROOM_VERSIONS.values():
                pdu = _good_pdu(rv)
                change(pdu)
                with self.subTest(room_version=rv.identifier):
                    if rv.strict_canonicaljson:
                        with self.assertRaises(SynapseError) as cm:
                            check_pdu_format(pdu, rv)
                        self.assertEqual(cm.exception.errcode, Codes.BAD_JSON)
                    else:
                        check_pdu_format(pdu, rv)

    def test_historical_sender_accepted(self) -> None:
        pdu = _good_pdu(RoomVersions.V10)
        pdu["sender"] = "@Old User!:domain"
        check_pdu_format(pdu, RoomVersions.V10)


class SenderDomainTestCase(unittest.TestCase):
    def test_sender_domain(self) -> None:
        pdu = _good_pdu(RoomVersions.V10)
        check_sender_domain(pdu, "domain")
        validate_received_pdu(pdu, RoomVersions.V10, origin="domain")
        for origin in ("other", "domain:8448", "main"):
            with self.subTest(origin=origin), self.assertRaises(SynapseError) as cm:
                validate_received_pdu(pdu, RoomVersions.V10, origin=origin)
            self.assertEqual(cm.exception.code, 403)
            self.assertEqual(cm.exception.errcode, Codes.FORBIDDEN)


class ValidateNewEventTestCase(unittest.TestCase):
    def _build(
        self,
        event_type: str,
        content: JsonDict,
        state_key: str | None = "",
        rv: RoomVersion = RoomVersions.V10,
        redacts: str | None = None,
    ) -> Any:
        return EventBuilder(
            room_version=rv,
            type=event_type,
            sender="@a:domain",
            room_id=V12_ROOM_ID if rv.hydra else "!r:domain",
            state_key=state_key,
            content=content,
            redacts=redacts,
        ).build(
            prev_events=[HASH_ID],
            auth_events=[HASH_ID],
            origin_server_ts=1,
            signing_key=spec_signing_key(),
            server_name=SERVER_NAME,
        )

    def test_valid(self) -> None:
        validate_new_event(self._build("m.room.member", {"membership": "join"}, "@a:domain"))
        validate_new_event(self._build("m.room.power_levels", {"users": {"@a:domain": 100}}))
        validate_new_event(self._build("m.room.message", {"body": "x"}, None))
        validate_new_event(self._build("m.room.canonical_alias", {"alias": "#a:domain"}))
        validate_new_event(self._build("m.room.redaction", {}, None, redacts=HASH_ID))
        validate_new_event(
            self._build("m.room.redaction", {}, None, rv=RoomVersions.V11, redacts=HASH_ID)
        )

    def test_refused(self) -> None:
        cases: list[tuple[str, JsonDict, str | None]] = [
            ("m.room.member", {"membership": "join"}, None),
            ("m.room.create", {}, None),
            ("m.room.power_levels", {}, None),
            ("m.room.join_rules", {"join_rule": "public"}, None),
            ("m.room.member", {"membership": "dance"}, "@a:domain"),
            ("m.room.member", {"membership": "join"}, "not a user"),
            ("m.room.power_levels", {"ban": "50"}, ""),
            ("m.room.power_levels", {"users": {"@a:domain": 1.5}}, ""),
            ("m.room.power_levels", {"users": 5}, ""),
            ("m.room.canonical_alias", {"alias": "not an alias"}, ""),
            ("m.room.canonical_alias", {"alt_aliases": ["#a:domain", "b"]}, ""),
            ("m.room.redaction", {}, None),
        ]
        for event_type, content, state_key in cases:
            event = self._build(event_type, content, state_key)
            with self.subTest(type=event_type, content=content, state_key=state_key):
                with self.assertRaises(SynapseError) as cm:
                    validate_new_event(event)
                self.assertEqual(cm.exception.code, 400)

    def test_v12_additional_creators(self) -> None:
        rv = RoomVersions.V12

        def create(content: JsonDict) -> Any:
            return EventBuilder(
                room_version=rv,
                type="m.room.create",
                sender="@a:domain",
                room_id=None,
                state_key="",
                content=content,
            ).build(
                prev_events=[],
                auth_events=[],
                origin_server_ts=1,
                signing_key=spec_signing_key(),
                server_name=SERVER_NAME,
            )

        validate_new_event(create({"additional_creators": ["@b:domain"]}))
        with self.assertRaises(SynapseError):
            validate_new_event(create({"additional_creators": ["b"]}))
        with self.assertRaises(SynapseError):
            validate_new_event(create({"additional_creators": "@b:domain"}))

    def test_oversized_new_event(self) -> None:
        event = make_event_from_dict(
            dict(_good_pdu(RoomVersions.V10), content={"body": "x" * 70000}), RoomVersions.V10
        )
        with self.assertRaises(EventSizeError):
            validate_new_event(event)


class EventFromPduJsonTestCase(unittest.TestCase):
    def test_unsigned_is_not_trusted(self) -> None:
        pdu = _good_pdu(RoomVersions.V10)
        pdu["unsigned"] = {
            "age": 400,
            "redacted_because": {"type": "m.room.redaction"},
            "transaction_id": "x",
            "invite_room_state": [],
        }
        event = event_from_pdu_json(pdu, RoomVersions.V10, received_ts=1000, outlier=True)
        self.assertEqual(event.unsigned, {"age_ts": 600})
        self.assertTrue(event.internal_metadata.outlier)
        # The caller's dict is left alone.
        self.assertIn("transaction_id", pdu["unsigned"])

    def test_membership_keeps_stripped_state(self) -> None:
        pdu = _good_pdu(RoomVersions.V10)
        pdu.update(type="m.room.member", state_key="@b:domain", content={"membership": "invite"})
        pdu["unsigned"] = {"invite_room_state": [{"type": "m.room.name"}], "other": 1}
        event = event_from_pdu_json(pdu, RoomVersions.V10)
        self.assertEqual(event.unsigned, {"invite_room_state": [{"type": "m.room.name"}]})

    def test_malformed_is_refused(self) -> None:
        pdu = _good_pdu(RoomVersions.V10)
        del pdu["hashes"]
        with self.assertRaises(SynapseError):
            event_from_pdu_json(pdu, RoomVersions.V10)
