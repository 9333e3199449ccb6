"""Event reads: redactions applied on read, the stream, pagination, txn IDs, relations."""

from __future__ import annotations

import attr

from synapse.api.constants import EventTypes
from synapse.api.errors import NotFoundError
from synapse.events.utils import serialize_event
from synapse.storage.state_filter import StateFilter
from synapse.types import RoomStreamToken
from tests.persistence._room import RoomMaker
from tests.storage._base import DatabaseTestCase

ALICE = "@alice:test"
BOB = "@bob:test"


class EventReadsTestCase(DatabaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.stores = self.databases.main
        self.room = RoomMaker(self.hs, self.get_success)
        self.room.create()
        self.room.join(BOB)

    def test_get_event_unknown(self) -> None:
        self.get_failure(self.stores.events.get_event("$nope"), NotFoundError)
        self.assertIsNone(self.get_success(self.stores.events.get_event("$nope", allow_none=True)))

    def test_redaction_applied_on_read(self) -> None:
        msg = self.room.message(BOB, "secret")
        # Cached before the redaction: the redaction must invalidate it.
        fetched = self.get_success(self.stores.events.get_event(msg.event_id))
        assert fetched is not None
        self.assertEqual(fetched.content["body"], "secret")

        redaction = self.room.send(
            EventTypes.Redaction, ALICE, {"reason": "spam"}, redacts=msg.event_id
        )
        redacted = self.get_success(self.stores.events.get_event(msg.event_id))
        assert redacted is not None
        self.assertEqual(redacted.content, {})
        self.assertTrue(redacted.is_redacted())
        self.assertEqual(redacted.unsigned["redacted_because"].event_id, redaction.event_id)
        client = serialize_event(redacted, 0)
        self.assertEqual(client["unsigned"]["redacted_because"]["event_id"], redaction.event_id)
        self.assertEqual(client["unsigned"]["redacted_because"]["content"]["reason"], "spam")

        # Also after the cache is dropped, and the original is still there for moderation.
        self.stores.events._event_cache.clear()
        again = self.get_success(self.stores.events.get_event(msg.event_id))
        assert again is not None
        self.assertEqual(again.content, {})
        original = self.get_success(self.stores.events.get_unredacted_events([msg.event_id]))
        self.assertEqual(original[msg.event_id].content["body"], "secret")

    def test_redaction_in_another_room_does_not_apply(self) -> None:
        msg = self.room.message(BOB, "stays")
        other = RoomMaker(self.hs, self.get_success, name="other")
        other.create()
        other.send(EventTypes.Redaction, ALICE, {}, redacts=msg.event_id)
        fetched = self.get_success(self.stores.events.get_event(msg.event_id))
        assert fetched is not None
        self.assertEqual(fetched.content["body"], "stays")

    def test_room_stream_for_rooms(self) -> None:
        start = self.stores.stream.get_room_max_token()
        other = RoomMaker(self.hs, self.get_success, name="other")
        other.create()
        quiet = RoomMaker(self.hs, self.get_success, name="quiet")
        quiet.create()
        mid = self.stores.stream.get_room_max_token()
        msgs = [self.room.message(BOB, str(i)) for i in range(5)]
        other_msg = other.message(ALICE, "o")
        end = self.stores.stream.get_room_max_token()

        result = self.get_success(
            self.stores.stream.get_room_events_stream_for_rooms(
                [self.room.room_id, other.room_id, quiet.room_id], mid, end, limit=3
            )
        )
        events, prev_batch = result[self.room.room_id]
        self.assertEqual([e.event_id for e in events], [m.event_id for m in msgs[2:]])
        first_stream = msgs[2].internal_metadata.stream_ordering
        assert first_stream is not None
        self.assertEqual(prev_batch, RoomStreamToken(stream=first_stream - 1))
        self.assertEqual([e.event_id for e in result[other.room_id][0]], [other_msg.event_id])
        self.assertEqual(result[quiet.room_id], ([], mid))
        # The quiet room is answered from memory.
        self.assertEqual(
            self.stores.stream.get_rooms_that_changed([self.room.room_id, quiet.room_id], mid),
            {self.room.room_id},
        )
        # From before the other room existed, all of its events are there.
        all_other, _ = self.get_success(
            self.stores.stream.get_room_events_stream_for_room(other.room_id, start, end)
        )
        self.assertEqual(all_other[-1].event_id, other_msg.event_id)
        self.assertEqual(all_other[0].type, EventTypes.Create)

    def test_paginate_backwards_and_forwards(self) -> None:
        msgs = [self.room.message(BOB, str(i)) for i in range(7)]
        end = self.stores.stream.get_room_max_token()
        seen: list[str] = []
        token = end
        for _ in range(3):
            page, token = self.get_success(
                self.stores.stream.paginate_room_events(
                    self.room.room_id, token, direction="b", limit=3
                )
            )
            seen.extend(e.event_id for e in page)
        ids = [m.event_id for m in msgs]
        self.assertEqual(seen[:7], list(reversed(ids)))
        eighth = self.get_success(self.stores.events.get_event(seen[7]))
        assert eighth is not None
        self.assertEqual(eighth.type, EventTypes.Member)

        # Forwards from the token just before msgs[2], up to the end.
        start = self.get_success(
            self.stores.stream.get_topological_token_for_event(msgs[1].event_id)
        )
        page, nxt = self.get_success(
            self.stores.stream.paginate_room_events(
                self.room.room_id, start, end, direction="f", limit=10
            )
        )
        self.assertEqual([e.event_id for e in page], ids[2:])
        self.assertEqual(nxt.topological, msgs[-1].depth)

    def test_paginate_with_filter(self) -> None:
        self.room.send(EventTypes.Topic, ALICE, {"topic": "t"}, "")
        msg = self.room.message(BOB, "m")

        @attr.s(auto_attribs=True)
        class Filter:
            types: list[str] | None = None
            not_senders: list[str] | None = None

        end = self.stores.stream.get_room_max_token()
        page, _ = self.get_success(
            self.stores.stream.paginate_room_events(
                self.room.room_id,
                end,
                direction="b",
                limit=10,
                event_filter=Filter(types=["m.room.mess*"]),
            )
        )
        self.assertEqual([e.event_id for e in page], [msg.event_id])
        page, _ = self.get_success(
            self.stores.stream.paginate_room_events(
                self.room.room_id,
                end,
                direction="b",
                limit=10,
                event_filter=Filter(not_senders=[ALICE]),
            )
        )
        self.assertEqual({e.sender for e in page}, {BOB})

    def test_txn_id(self) -> None:
        msg = self.room.message(BOB, "once", internal_metadata={"txn_id": "t1", "device_id": "DEV"})
        store = self.stores.stream
        self.assertEqual(
            self.get_success(store.get_event_id_for_txn(self.room.room_id, BOB, "DEV", "t1")),
            msg.event_id,
        )
        self.assertIsNone(
            self.get_success(store.get_event_id_for_txn(self.room.room_id, BOB, "OTHER", "t1"))
        )

    def test_relations_stored(self) -> None:
        msg = self.room.message(BOB, "hi")
        reaction = self.room.send(
            EventTypes.Reaction,
            ALICE,
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": msg.event_id, "key": "+1"}},
        )
        rows = self.get_success(
            self.db.simple_select_list(
                "event_relations",
                {"relates_to_id": msg.event_id},
                ("event_id", "relation_type", "aggregation_key"),
            )
        )
        self.assertEqual([tuple(r) for r in rows], [(reaction.event_id, "m.annotation", "+1")])

    def test_state_filter_reads(self) -> None:
        state = self.get_success(
            self.stores.state.get_current_state_ids(
                self.room.room_id, StateFilter.from_types([(EventTypes.Member, None)])
            )
        )
        self.assertEqual({k[1] for k in state}, {ALICE, BOB})
        self.stores.state._group_state_cache.clear()
        last = self.room.last[0]
        filtered = self.get_success(
            self.stores.state.get_state_ids_for_event(
                last, StateFilter.from_types([(EventTypes.Create, "")])
            )
        )
        self.assertEqual(list(filtered), [(EventTypes.Create, "")])

    def test_room_store(self) -> None:
        room = self.get_success(self.stores.rooms.get_room(self.room.room_id))
        assert room is not None
        self.assertEqual((room.room_version, room.creator, room.is_public), ("10", ALICE, False))
        self.assertEqual(
            self.get_success(self.stores.rooms.get_room_version(self.room.room_id)).identifier, "10"
        )
        self.get_failure(self.stores.rooms.get_room_version("!nope:test"), NotFoundError)

    def test_last_event_before_stream_position(self) -> None:
        first = self.room.message(BOB, "one")
        position = first.internal_metadata.stream_ordering
        assert position is not None
        self.room.send(EventTypes.Topic, ALICE, {"topic": "later"}, "")
        stream = self.stores.stream
        last = self.get_success(
            stream.get_last_event_id_in_room_before_stream_ordering(self.room.room_id, position)
        )
        self.assertEqual(last, first.event_id)
        state = self.get_success(self.stores.state.get_state_ids_for_event(first.event_id))
        self.assertNotIn((EventTypes.Topic, ""), state)
        self.assertIsNone(
            self.get_success(stream.get_last_event_id_in_room_before_stream_ordering("!x:test", 10))
        )
