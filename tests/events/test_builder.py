"""Building the first events of a room in every room version."""

from __future__ import annotations

import hashlib
import re
import unittest

from canonicaljson import encode_canonical_json
from unpaddedbase64 import encode_base64

from synapse.api.constants import MAX_DEPTH
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion, RoomVersions
from synapse.crypto.event_signing import (
    check_event_content_hash,
    prune_event_dict,
    verify_event_signature,
)
from synapse.events import EventBase, make_event_from_dict
from synapse.events.builder import EventBuilder, compute_depth, event_reference
from synapse.events.validator import check_pdu_format
from tests.events.keys import SERVER_NAME, spec_signing_key, spec_verify_keys

CREATOR = "@creator:domain"
V1_EVENT_ID = re.compile(r"^\$[A-Za-z]{18}:domain$")
V3_EVENT_ID = re.compile(r"^\$[A-Za-z0-9+/]{43}$")
V4_EVENT_ID = re.compile(r"^\$[A-Za-z0-9_\-]{43}$")


def _expected_reference_id(event: EventBase, urlsafe: bool) -> str:
    """The reference hash computed independently of the event classes."""
    pruned = prune_event_dict(event.room_version, event.get_pdu_json())
    pruned.pop("signatures", None)
    digest = hashlib.sha256(encode_canonical_json(pruned)).digest()
    return "$" + encode_base64(digest, urlsafe=urlsafe)


class RoomBuilder:
    """Builds a linear chain of events in a new room, as a room creation would."""

    def __init__(self, rv: RoomVersion) -> None:
        self.rv = rv
        self.events: list[EventBase] = []
        self.room_id: str | None = None if rv.hydra else "!room:domain"
        self.ts = 1_000_000

    def add(
        self,
        event_type: str,
        content: dict,
        state_key: str | None = "",
        redacts: str | None = None,
    ) -> EventBase:
        auth = [
            e
            for e in self.events
            if e.type in ("m.room.create", "m.room.power_levels", "m.room.join_rules")
            or (e.type == "m.room.member" and e.state_key == CREATOR)
        ]
        if self.rv.hydra:
            auth = [e for e in auth if e.type != "m.room.create"]
        builder = EventBuilder(
            room_version=self.rv,
            type=event_type,
            sender=CREATOR,
            room_id=self.room_id,
            state_key=state_key,
            content=content,
            redacts=redacts,
        )
        prev = self.events[-1:]
        self.ts += 1
        event = builder.build(
            prev_events=[event_reference(e) for e in prev],
            auth_events=[event_reference(e) for e in auth],
            origin_server_ts=self.ts,
            signing_key=spec_signing_key(),
            server_name=SERVER_NAME,
            prev_depths=[e.depth for e in prev],
        )
        if self.room_id is None:
            self.room_id = event.room_id
        self.events.append(event)
        return event

    def build_room(self) -> list[EventBase]:
        self.add("m.room.create", {"room_version": self.rv.identifier})
        self.add("m.room.member", {"membership": "join"}, state_key=CREATOR)
        self.add("m.room.power_levels", {"users": {CREATOR: 100}, "users_default": 0})
        self.add("m.room.join_rules", {"join_rule": "public"})
        self.add("m.room.message", {"msgtype": "m.text", "body": "hello"}, state_key=None)
        return self.events


class BuilderRoundTripTestCase(unittest.TestCase):
    def test_every_room_version(self) -> None:
        for rv in KNOWN_ROOM_VERSIONS.values():
            with self.subTest(room_version=rv.identifier):
                self._check_room(rv, RoomBuilder(rv).build_room())

    def _check_room(self, rv: RoomVersion, events: list[EventBase]) -> None:
        create = events[0]
        for depth, event in enumerate(events, start=1):
            pdu = event.get_pdu_json()
            check_pdu_format(pdu, rv)
            self.assertTrue(check_event_content_hash(event))
            self.assertTrue(check_event_content_hash(pdu))
            verify_event_signature(rv, pdu, SERVER_NAME, spec_verify_keys())
            self.assertEqual(event.depth, depth)
            self.assertEqual(event.room_id, create.room_id)
            # The wire form makes the same event again.
            again = make_event_from_dict(pdu, rv)
            self.assertEqual(again.event_id, event.event_id)
            self.assertEqual(again.get_pdu_json(), pdu)

            if rv.event_ids_in_events:
                self.assertRegex(event.event_id, V1_EVENT_ID)
            elif rv.identifier == "3":
                self.assertRegex(event.event_id, V3_EVENT_ID)
                self.assertEqual(event.event_id, _expected_reference_id(event, urlsafe=False))
            else:
                self.assertRegex(event.event_id, V4_EVENT_ID)
                self.assertEqual(event.event_id, _expected_reference_id(event, urlsafe=True))

        for prev, event in zip(events[:-1], events[1:], strict=True):
            if rv.event_ids_in_events:
                ((prev_id, hashes),) = pdu_prev = event.get_pdu_json()["prev_events"]
                self.assertEqual(prev_id, prev.event_id)
                self.assertEqual(
                    hashes, {"sha256": _expected_reference_id(prev, urlsafe=False)[1:]}
                )
                self.assertEqual(len(pdu_prev), 1)
            else:
                self.assertEqual(event.get_pdu_json()["prev_events"], [prev.event_id])

        if rv.hydra:
            self.assertNotIn("room_id", create.get_pdu_json())
            self.assertEqual(create.room_id, "!" + create.event_id[1:])
            self.assertNotIn(create.event_id, events[1].auth_event_ids())
        else:
            self.assertEqual(create.room_id, "!room:domain")
            self.assertIn(create.event_id, events[1].auth_event_ids())
        if rv.implicit_room_creator:
            self.assertNotIn("creator", create.content)
        else:
            self.assertEqual(create.content["creator"], CREATOR)

    def test_redaction_placement(self) -> None:
        for rv in KNOWN_ROOM_VERSIONS.values():
            with self.subTest(room_version=rv.identifier):
                room = RoomBuilder(rv)
                room.build_room()
                target = room.events[-1].event_id
                redaction = room.add(
                    "m.room.redaction", {"reason": "spam"}, state_key=None, redacts=target
                )
                self.assertEqual(redaction.redacts, target)
                pdu = redaction.get_pdu_json()
                if rv.updated_redaction_rules:
                    self.assertEqual(pdu["content"], {"reason": "spam", "redacts": target})
                    self.assertNotIn("redacts", pdu)
                else:
                    self.assertEqual(pdu["redacts"], target)
                    self.assertNotIn("redacts", pdu["content"])
                check_pdu_format(pdu, rv)

    def test_builder_does_not_modify_content(self) -> None:
        content = {"room_version": "1"}
        builder = EventBuilder(
            room_version=RoomVersions.V1,
            type="m.room.create",
            sender=CREATOR,
            room_id="!r:domain",
            state_key="",
            content=content,
        )
        event = builder.build(
            prev_events=[],
            auth_events=[],
            origin_server_ts=1,
            signing_key=spec_signing_key(),
            server_name=SERVER_NAME,
            event_id_localpart="fixed",
        )
        self.assertEqual(content, {"room_version": "1"})
        self.assertEqual(event.event_id, "$fixed:domain")

    def test_v1_needs_reference_pairs(self) -> None:
        builder = EventBuilder(
            room_version=RoomVersions.V1,
            type="m.room.message",
            sender=CREATOR,
            room_id="!r:domain",
        )
        with self.assertRaises(ValueError):
            builder.build_pdu_dict(prev_events=["$a:domain"], auth_events=[], origin_server_ts=1)

    def test_room_id_rules(self) -> None:
        with self.assertRaises(ValueError):
            EventBuilder(
                room_version=RoomVersions.V12,
                type="m.room.create",
                sender=CREATOR,
                room_id="!r:domain",
                state_key="",
            ).build_pdu_dict(prev_events=[], auth_events=[], origin_server_ts=1)
        with self.assertRaises(ValueError):
            EventBuilder(
                room_version=RoomVersions.V11,
                type="m.room.message",
                sender=CREATOR,
                room_id=None,
            ).build_pdu_dict(prev_events=[], auth_events=[], origin_server_ts=1)

    def test_internal_metadata_and_unsigned(self) -> None:
        builder = EventBuilder(
            room_version=RoomVersions.V10,
            type="m.room.message",
            sender=CREATOR,
            room_id="!r:domain",
            unsigned={"age_ts": 5},
            internal_metadata={"txn_id": "t", "token_id": 3},
        )
        event = builder.build(
            prev_events=[],
            auth_events=[],
            origin_server_ts=5,
            signing_key=spec_signing_key(),
            server_name=SERVER_NAME,
        )
        self.assertEqual(event.internal_metadata.txn_id, "t")
        self.assertEqual(event.unsigned, {"age_ts": 5})
        verify_event_signature(
            RoomVersions.V10, event.get_pdu_json(), SERVER_NAME, spec_verify_keys()
        )


class DepthTestCase(unittest.TestCase):
    def test_compute_depth(self) -> None:
        self.assertEqual(compute_depth(RoomVersions.V10, []), 1)
        self.assertEqual(compute_depth(RoomVersions.V10, [3, 9, 4]), 10)

    def test_depth_is_capped(self) -> None:
        self.assertEqual(compute_depth(RoomVersions.V5, [MAX_DEPTH]), MAX_DEPTH)
        self.assertEqual(compute_depth(RoomVersions.V6, [2**53 - 1]), 2**53 - 1)
        self.assertEqual(compute_depth(RoomVersions.V6, [2**60]), 2**53 - 1)
