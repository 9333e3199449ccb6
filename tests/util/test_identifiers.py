"""The identifier grammar of the spec's appendices."""

from __future__ import annotations

import unittest

from synapse.api.room_versions import RoomVersions
from synapse.util.identifiers import (
    get_domain_from_id,
    is_valid_event_id,
    is_valid_namespaced_identifier,
    is_valid_room_alias,
    is_valid_room_id,
    is_valid_user_id,
    is_valid_user_localpart,
)

HASH = "Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"
HASH_STD = "acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk"


class UserIdTestCase(unittest.TestCase):
    def test_valid(self) -> None:
        for user_id in (
            "@a:matrix.org",
            "@a.b_c=d-e/f+g:matrix.org:8448",
            "@0:1.2.3.4",
            "@x:[1234:5678::abcd]:5678",
        ):
            with self.subTest(user_id=user_id):
                self.assertTrue(is_valid_user_id(user_id, allow_historical=False))
                self.assertTrue(is_valid_user_id(user_id))

    def test_historical(self) -> None:
        for user_id in ("@Alice:matrix.org", "@:matrix.org", "@a b\u2603:matrix.org"):
            with self.subTest(user_id=user_id):
                self.assertTrue(is_valid_user_id(user_id))
                self.assertFalse(is_valid_user_id(user_id, allow_historical=False))

    def test_invalid(self) -> None:
        for user_id in (
            "a:matrix.org",
            "@a",
            "@a:",
            "@a:bad domain",
            "@a\x00b:matrix.org",
            "@a:matrix.org:99999",
            "@" + "a" * 244 + ":matrix.org",
            "@a\ud800:matrix.org",
        ):
            with self.subTest(user_id=user_id):
                self.assertFalse(is_valid_user_id(user_id))

    def test_length_in_bytes(self) -> None:
        domain = ":matrix.org"
        ok = "@" + "a" * (255 - 1 - len(domain)) + domain
        self.assertTrue(is_valid_user_id(ok))
        self.assertFalse(is_valid_user_id("@" + "é" * 122 + domain))

    def test_localpart(self) -> None:
        self.assertTrue(is_valid_user_localpart("abc.def"))
        self.assertFalse(is_valid_user_localpart(""))
        self.assertFalse(is_valid_user_localpart("ABC"))


class RoomIdTestCase(unittest.TestCase):
    def test_domain_form(self) -> None:
        for rv in (RoomVersions.V1, RoomVersions.V11):
            self.assertTrue(is_valid_room_id("!abc:example.org", rv))
            self.assertFalse(is_valid_room_id("!" + HASH, rv))
            self.assertFalse(is_valid_room_id("abc:example.org", rv))

    def test_hash_form(self) -> None:
        self.assertTrue(is_valid_room_id("!" + HASH, RoomVersions.V12))
        self.assertFalse(is_valid_room_id("!abc:example.org", RoomVersions.V12))
        self.assertFalse(is_valid_room_id("!" + HASH_STD, RoomVersions.V12))
        self.assertFalse(is_valid_room_id("!" + HASH[:-1], RoomVersions.V12))

    def test_any_form(self) -> None:
        self.assertTrue(is_valid_room_id("!" + HASH))
        self.assertTrue(is_valid_room_id("!abc:example.org"))
        self.assertFalse(is_valid_room_id("$abc:example.org"))
        self.assertFalse(is_valid_room_id(5))  # type: ignore[arg-type]


class EventIdTestCase(unittest.TestCase):
    def test_per_version(self) -> None:
        self.assertTrue(is_valid_event_id("$abc:example.org", RoomVersions.V1))
        self.assertFalse(is_valid_event_id("$" + HASH, RoomVersions.V1))
        self.assertTrue(is_valid_event_id("$" + HASH_STD, RoomVersions.V3))
        self.assertFalse(is_valid_event_id("$" + HASH, RoomVersions.V3))
        for rv in (RoomVersions.V4, RoomVersions.V11, RoomVersions.V12):
            self.assertTrue(is_valid_event_id("$" + HASH, rv))
            self.assertFalse(is_valid_event_id("$" + HASH_STD, rv))
            self.assertFalse(is_valid_event_id("$abc:example.org", rv))

    def test_without_version(self) -> None:
        for event_id in ("$" + HASH, "$" + HASH_STD, "$a:b"):
            self.assertTrue(is_valid_event_id(event_id))
        for event_id in ("$", "abc", "$" + "a" * 300 + ":b", "$a:"):
            self.assertFalse(is_valid_event_id(event_id))


class AliasTestCase(unittest.TestCase):
    def test_alias(self) -> None:
        self.assertTrue(is_valid_room_alias("#room:example.org"))
        self.assertTrue(is_valid_room_alias("#Ünïcode room:example.org"))
        self.assertFalse(is_valid_room_alias("room:example.org"))
        self.assertFalse(is_valid_room_alias("#room"))
        self.assertFalse(is_valid_room_alias("#ro\x00om:example.org"))
        self.assertFalse(is_valid_room_alias("#" + "r" * 250 + ":example.org"))


class MiscTestCase(unittest.TestCase):
    def test_namespaced(self) -> None:
        self.assertTrue(is_valid_namespaced_identifier("m.room.message"))
        self.assertTrue(is_valid_namespaced_identifier("com.example-x_y.z9"))
        for bad in ("", "M.room", "9abc", "a b", "a" * 256):
            self.assertFalse(is_valid_namespaced_identifier(bad))

    def test_domain(self) -> None:
        self.assertEqual(get_domain_from_id("@a:b.c:8448"), "b.c:8448")
        with self.assertRaises(ValueError):
            get_domain_from_id("@abc")
