"""Filters on their own: matching events and validating filter JSON."""

from __future__ import annotations

from typing import Any
from unittest import TestCase

from synapse.api.errors import Codes, SynapseError
from synapse.api.filtering import (
    DEFAULT_FILTER_LIMIT,
    Filter,
    FilterCollection,
    check_valid_filter,
    check_valid_room_event_filter,
)
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.events import EventBase, make_event_from_dict
from synapse.types import JsonDict
from tests.matrix_spec import request_schema, spec_available, spec_errors

ROOM = "!room:test"


def make_event(
    type: str = "m.room.message",
    sender: str = "@alice:test",
    room_id: str = ROOM,
    content: JsonDict | None = None,
    state_key: str | None = None,
) -> EventBase:
    d: JsonDict = {
        "type": type,
        "sender": sender,
        "room_id": room_id,
        "content": content if content is not None else {"body": "hi"},
        "origin_server_ts": 1,
        "depth": 1,
        "prev_events": [],
        "auth_events": [],
        "hashes": {"sha256": "x"},
    }
    if state_key is not None:
        d["state_key"] = state_key
    return make_event_from_dict(d, KNOWN_ROOM_VERSIONS["10"])


def check(filter_json: JsonDict, event: EventBase | JsonDict) -> bool:
    return Filter(None, filter_json).check(event)


class FilterCheckTestCase(TestCase):
    def test_empty_filter_keeps_everything(self) -> None:
        self.assertTrue(check({}, make_event()))
        self.assertTrue(check({}, {"type": "m.typing", "content": {}}))

    def test_types(self) -> None:
        self.assertTrue(check({"types": ["m.room.message"]}, make_event()))
        self.assertFalse(check({"types": ["m.room.topic"]}, make_event()))
        self.assertFalse(check({"types": []}, make_event()))

    def test_type_wildcards(self) -> None:
        self.assertTrue(check({"types": ["m.room.*"]}, make_event()))
        self.assertTrue(check({"types": ["m.*.message"]}, make_event()))
        self.assertTrue(check({"types": ["*"]}, make_event()))
        self.assertFalse(check({"types": ["m.room"]}, make_event()))
        self.assertFalse(check({"types": ["m.call.*"]}, make_event()))
        # Only * is special: regex characters match themselves.
        self.assertFalse(check({"types": ["m.room.messag."]}, make_event()))
        self.assertTrue(check({"types": ["a.b+c"]}, make_event(type="a.b+c")))

    def test_not_types_win_over_types(self) -> None:
        self.assertFalse(check({"not_types": ["m.room.message"]}, make_event()))
        self.assertFalse(
            check({"types": ["m.room.*"], "not_types": ["m.room.message"]}, make_event())
        )
        self.assertFalse(check({"not_types": ["*"]}, make_event()))
        self.assertTrue(check({"not_types": ["m.room.topic"]}, make_event()))

    def test_senders(self) -> None:
        self.assertTrue(check({"senders": ["@alice:test"]}, make_event()))
        self.assertFalse(check({"senders": ["@bob:test"]}, make_event()))
        self.assertFalse(check({"not_senders": ["@alice:test"]}, make_event()))
        self.assertFalse(
            check({"senders": ["@alice:test"], "not_senders": ["@alice:test"]}, make_event())
        )

    def test_rooms(self) -> None:
        self.assertTrue(check({"rooms": [ROOM]}, make_event()))
        self.assertFalse(check({"rooms": ["!other:test"]}, make_event()))
        self.assertFalse(check({"rooms": [ROOM], "not_rooms": [ROOM]}, make_event()))
        self.assertEqual(
            Filter(None, {"not_rooms": ["!b:test"]}).filter_rooms(["!a:test", "!b:test"]),
            ["!a:test"],
        )

    def test_contains_url(self) -> None:
        with_url = make_event(content={"body": "x", "url": "mxc://test/abc"})
        without = make_event()
        self.assertTrue(check({"contains_url": True}, with_url))
        self.assertFalse(check({"contains_url": True}, without))
        self.assertFalse(check({"contains_url": False}, with_url))
        self.assertTrue(check({"contains_url": False}, without))
        # A url that is not a string is no url.
        self.assertFalse(check({"contains_url": True}, make_event(content={"url": 3})))

    def test_dict_events(self) -> None:
        presence = {"type": "m.presence", "content": {"user_id": "@bob:test"}}
        self.assertFalse(check({"not_senders": ["@bob:test"]}, presence))
        self.assertTrue(check({"senders": ["@bob:test"]}, presence))
        typing = {"type": "m.typing", "content": {"user_ids": []}}
        # No room ID in the dict: the room lists do not apply.
        self.assertTrue(check({"rooms": ["!x:test"]}, typing))
        self.assertFalse(check({"types": ["m.receipt"]}, typing))
        self.assertFalse(check({}, {"content": {}}))

    def test_options(self) -> None:
        f = Filter(None, {})
        self.assertEqual(f.limit, DEFAULT_FILTER_LIMIT)
        self.assertFalse(f.lazy_load_members)
        f = Filter(
            None,
            {
                "limit": 3,
                "lazy_load_members": True,
                "include_redundant_members": True,
                "unread_thread_notifications": True,
            },
        )
        self.assertEqual(f.limit, 3)
        self.assertTrue(f.lazy_load_members)
        self.assertTrue(f.include_redundant_members)
        self.assertTrue(f.unread_thread_notifications)

    def test_blocks_all(self) -> None:
        self.assertTrue(Filter(None, {"types": []}).blocks_all())
        self.assertTrue(Filter(None, {"not_types": ["*"]}).blocks_all())
        self.assertFalse(Filter(None, {"types": ["m.*"]}).blocks_all())

    def test_with_room_ids(self) -> None:
        f = Filter(None, {"rooms": ["!a:test", "!b:test"]}).with_room_ids(["!b:test", "!c:test"])
        self.assertEqual(f.rooms, ["!b:test"])
        self.assertEqual(Filter(None, {}).with_room_ids(["!c:test"]).rooms, ["!c:test"])


class FilterCollectionTestCase(TestCase):
    def test_sections(self) -> None:
        collection = FilterCollection(
            None,
            {
                "room": {
                    "not_rooms": ["!gone:test"],
                    "include_leave": True,
                    "timeline": {"limit": 5, "types": ["m.room.message"]},
                    "state": {"lazy_load_members": True},
                    "ephemeral": {"not_types": ["*"]},
                },
                "presence": {"types": []},
                "event_fields": ["content.body"],
                "event_format": "federation",
            },
        )
        self.assertEqual(collection.timeline_limit(), 5)
        self.assertTrue(collection.lazy_load_members())
        self.assertFalse(collection.include_redundant_members())
        self.assertTrue(collection.include_leave)
        self.assertTrue(collection.blocks_all_presence())
        self.assertTrue(collection.blocks_all_room_ephemeral())
        self.assertFalse(collection.blocks_all_room_timeline())
        self.assertEqual(collection.event_fields, ["content.body"])
        self.assertFalse(collection.as_client_event())
        self.assertEqual(collection.filter_rooms(["!gone:test", ROOM]), [ROOM])

    def test_defaults(self) -> None:
        collection = FilterCollection(None, {})
        self.assertEqual(collection.timeline_limit(), DEFAULT_FILTER_LIMIT)
        self.assertFalse(collection.include_leave)
        self.assertIsNone(collection.event_fields)
        self.assertTrue(collection.as_client_event())
        self.assertFalse(collection.lazy_load_members())


class FilterCollectionAsyncTestCase(TestCase):
    def run_coro(self, coro: Any) -> Any:
        try:
            coro.send(None)
        except StopIteration as e:
            return e.value
        raise AssertionError("The coroutine did not finish at once")

    def test_room_level_rooms_apply_to_every_section(self) -> None:
        collection = FilterCollection(
            None,
            {"room": {"not_rooms": ["!gone:test"], "timeline": {"types": ["m.room.message"]}}},
        )
        kept = make_event()
        gone = make_event(room_id="!gone:test")
        topic = make_event(type="m.room.topic")
        self.assertEqual(
            self.run_coro(collection.filter_room_timeline([kept, gone, topic])), [kept]
        )
        self.assertEqual(
            self.run_coro(collection.filter_room_state([kept, gone, topic])), [kept, topic]
        )

    def test_relation_filter_needs_a_homeserver(self) -> None:
        f = Filter(None, {"related_by_rel_types": ["m.thread"]})
        self.assertTrue(f.has_relation_filter())
        with self.assertRaises(RuntimeError):
            self.run_coro(f.filter([make_event()]))


class FilterValidationTestCase(TestCase):
    def assert_bad(self, filter_json: Any) -> None:
        with self.assertRaises(SynapseError) as cm:
            check_valid_filter(filter_json)
        self.assertEqual(cm.exception.code, 400)
        self.assertEqual(cm.exception.errcode, Codes.BAD_JSON)

    def test_valid_filters(self) -> None:
        for filter_json in (
            {},
            {"event_format": "client", "event_fields": ["type", "content.body"]},
            {"presence": {"types": ["m.presence"], "not_senders": ["@a:test"], "limit": 0}},
            {
                "room": {
                    "rooms": ["!a:test"],
                    "timeline": {"limit": 10, "lazy_load_members": True, "contains_url": False},
                    "state": {"types": ["m.room.*"], "include_redundant_members": True},
                    "ephemeral": {"not_types": ["m.typing"]},
                    "account_data": {"unread_thread_notifications": True},
                    "include_leave": False,
                }
            },
            # Unknown keys are allowed.
            {"org.example.custom": 1, "room": {"timeline": {"org.example": []}}},
        ):
            check_valid_filter(filter_json)

    def test_wrong_types(self) -> None:
        self.assert_bad([])
        self.assert_bad({"event_format": "xml"})
        self.assert_bad({"event_fields": "type"})
        self.assert_bad({"event_fields": [1]})
        self.assert_bad({"presence": []})
        self.assert_bad({"presence": {"limit": "10"}})
        self.assert_bad({"presence": {"limit": -1}})
        self.assert_bad({"presence": {"limit": 1.5}})
        self.assert_bad({"room": {"timeline": {"limit": 10**30}}})
        self.assert_bad({"room": {"rooms": "!a:test"}})
        self.assert_bad({"room": {"rooms": ["not-a-room"]}})
        self.assert_bad({"room": {"include_leave": "yes"}})
        self.assert_bad({"room": {"timeline": {"senders": ["bob"]}}})
        self.assert_bad({"room": {"timeline": {"types": [None]}}})
        self.assert_bad({"room": {"state": {"lazy_load_members": 1}}})
        self.assert_bad({"room": {"timeline": {"contains_url": "true"}}})

    def test_nul_characters(self) -> None:
        self.assert_bad({"room": {"timeline": {"types": ["m.room\x00"]}}})
        self.assert_bad({"presence": {"not_senders": ["@a\x00:test"]}})
        self.assert_bad({"event_fields": ["content\x00"]})
        self.assert_bad({"org.example\x00": 1})
        with self.assertRaises(SynapseError) as cm:
            check_valid_room_event_filter({"not_types": ["x\x00"]})
        self.assertEqual(cm.exception.errcode, Codes.BAD_JSON)

    def test_room_event_filter(self) -> None:
        check_valid_room_event_filter({"types": ["m.room.message"], "lazy_load_members": True})
        with self.assertRaises(SynapseError) as cm:
            check_valid_room_event_filter({"not_senders": "@a:test"})
        self.assertEqual(cm.exception.errcode, Codes.BAD_JSON)

    def test_spec_example_is_valid(self) -> None:
        if not spec_available():
            self.skipTest("the spec is not available")
        schema = request_schema("client-server/filter.yaml", "/user/{userId}/filter", "post")
        example = schema["example"]
        self.assertEqual(spec_errors(example, schema), [])
        check_valid_filter(example)
