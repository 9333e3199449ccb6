"""``EventClientSerializer``: bundled aggregations under ``unsigned.m.relations``."""

from __future__ import annotations

from unittest import TestCase

from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.events import EventBase, make_event_from_dict
from synapse.events.client_serializer import (
    BundledAggregations,
    EventClientSerializer,
    SerializeEventConfig,
    ThreadAggregation,
)
from synapse.types import JsonDict


def make_event(body: str, relates_to: JsonDict | None = None) -> EventBase:
    """An event whose ID depends on ``body`` (through the timestamp: IDs hash the
    redacted event, which has no content)."""
    content: JsonDict = {"msgtype": "m.text", "body": body}
    if relates_to is not None:
        content["m.relates_to"] = relates_to
    return make_event_from_dict(
        {
            "type": "m.room.message",
            "sender": "@alice:test",
            "room_id": "!room:test",
            "content": content,
            "origin_server_ts": 1000 + sum(map(ord, body)),
            "depth": 1,
            "prev_events": [],
            "auth_events": [],
            "hashes": {"sha256": "x"},
            "unsigned": {"age_ts": 100},
        },
        KNOWN_ROOM_VERSIONS["10"],
    )


class SerializerTestCase(TestCase):
    def setUp(self) -> None:
        self.serializer = EventClientSerializer()
        self.root = make_event("root")
        self.edit = make_event("* edit", {"rel_type": "m.replace", "event_id": self.root.event_id})
        self.reply = make_event("reply", {"rel_type": "m.thread", "event_id": self.root.event_id})
        self.reply_edit = make_event(
            "* reply", {"rel_type": "m.replace", "event_id": self.reply.event_id}
        )
        self.bundles = {
            self.root.event_id: BundledAggregations(
                replace=self.edit,
                thread=ThreadAggregation(self.reply, 3, True),
                references=["$ref1", "$ref2"],
            ),
            self.reply.event_id: BundledAggregations(replace=self.reply_edit),
        }

    def test_aggregations(self) -> None:
        d = self.serializer.serialize_event(self.root, 1000, bundle_aggregations=self.bundles)
        relations = d["unsigned"]["m.relations"]
        self.assertEqual(d["unsigned"]["age"], 900)
        self.assertEqual(relations["m.replace"]["event_id"], self.edit.event_id)
        self.assertEqual(relations["m.replace"]["content"]["body"], "* edit")
        thread = relations["m.thread"]
        self.assertEqual(thread["count"], 3)
        self.assertTrue(thread["current_user_participated"])
        self.assertEqual(thread["latest_event"]["event_id"], self.reply.event_id)
        self.assertEqual(
            thread["latest_event"]["unsigned"]["m.relations"]["m.replace"]["event_id"],
            self.reply_edit.event_id,
        )
        self.assertEqual(
            relations["m.reference"], {"chunk": [{"event_id": "$ref1"}, {"event_id": "$ref2"}]}
        )

    def test_no_aggregations(self) -> None:
        d = self.serializer.serialize_event(self.edit, 1000, bundle_aggregations=self.bundles)
        self.assertNotIn("m.relations", d["unsigned"])
        d = self.serializer.serialize_event(self.root, 1000)
        self.assertNotIn("m.relations", d["unsigned"])
        empty = {self.root.event_id: BundledAggregations()}
        self.assertFalse(empty[self.root.event_id])
        d = self.serializer.serialize_event(self.root, 1000, bundle_aggregations=empty)
        self.assertNotIn("m.relations", d["unsigned"])

    def test_event_fields_and_format(self) -> None:
        config = SerializeEventConfig(only_event_fields=["content.body", "unsigned.m\\.relations"])
        (d,) = self.serializer.serialize_events(
            [self.root], 1000, config=config, bundle_aggregations=self.bundles
        )
        self.assertEqual(set(d), {"content", "unsigned"})
        self.assertEqual(d["content"], {"body": "root"})
        # The related events inside are whole.
        self.assertIn("sender", d["unsigned"]["m.relations"]["m.replace"])

        d = self.serializer.serialize_event(
            self.root, 1000, config=SerializeEventConfig(as_client_event=False)
        )
        self.assertIn("depth", d)
        d = self.serializer.serialize_event(
            self.root, 1000, config=SerializeEventConfig(include_room_id=False)
        )
        self.assertNotIn("room_id", d)

    def test_already_serialised(self) -> None:
        d: JsonDict = {"type": "m.typing", "content": {}}
        self.assertIs(self.serializer.serialize_event(d, 0), d)
