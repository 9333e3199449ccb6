"""The persistence queue: chains, forks resolved into current state, batching, atomicity."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

from synapse.api.constants import EventTypes
from synapse.events import EventBase
from synapse.persistence.context import EventContext
from synapse.storage.databases.main import events as events_module
from synapse.types import RoomStreamToken
from tests.persistence._room import RoomMaker
from tests.storage._base import DatabaseTestCase

ALICE = "@alice:test"
BOB = "@bob:test"


class PersistChainTestCase(DatabaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.stores = self.databases.main
        self.room = RoomMaker(self.hs, self.get_success)
        self.room.create()

    def count(self, table: str) -> int:
        rows = self.get_success(self.db.execute("count", f"SELECT COUNT(*) FROM {table}"))
        return int(rows[0][0])

    def test_chain_is_persisted_in_order(self) -> None:
        self.room.join(BOB)
        msgs = [self.room.message(BOB, f"m{i}") for i in range(5)]
        orderings = [m.internal_metadata.stream_ordering for m in msgs]
        assert all(o is not None for o in orderings)
        self.assertEqual(orderings, sorted(orderings))
        self.assertEqual(len(set(orderings)), 5)

        fetched = self.get_success(self.stores.events.get_events([m.event_id for m in msgs]))
        self.assertEqual(
            {e: f.content["body"] for e, f in fetched.items()},
            {m.event_id: m.content["body"] for m in msgs},
        )
        self.assertEqual(
            self.get_success(
                self.stores.event_federation.get_forward_extremities(self.room.room_id)
            ),
            {msgs[-1].event_id},
        )
        self.assertEqual(self.stores.stream.get_room_max_stream_ordering(), orderings[-1])
        _, depth = self.get_success(
            self.stores.event_federation.get_max_depth_of([m.event_id for m in msgs])
        )
        self.assertEqual(depth, msgs[-1].depth)

    def test_current_state_and_memberships(self) -> None:
        self.room.join(BOB)
        state = self.get_success(self.stores.state.get_current_state_ids(self.room.room_id))
        self.assertIn((EventTypes.Member, BOB), state)
        self.assertEqual(
            sorted(self.get_success(self.stores.roommember.get_users_in_room(self.room.room_id))),
            [ALICE, BOB],
        )
        self.assertEqual(
            self.get_success(self.stores.roommember.get_rooms_for_user(BOB)), {self.room.room_id}
        )

        leave = self.room.leave(BOB)
        self.assertEqual(
            self.get_success(self.stores.roommember.get_users_in_room(self.room.room_id)), [ALICE]
        )
        self.assertEqual(
            self.get_success(self.stores.roommember.get_rooms_for_user(BOB)), frozenset()
        )
        self.assertEqual(
            self.get_success(
                self.stores.roommember.get_local_current_membership_for_user_in_room(
                    BOB, self.room.room_id
                )
            ),
            ("leave", leave.event_id),
        )
        rooms = self.get_success(
            self.stores.roommember.get_rooms_for_local_user_where_membership_is(BOB, ["leave"])
        )
        self.assertEqual(
            [(r.room_id, r.event_id, r.room_version_id) for r in rooms],
            [(self.room.room_id, leave.event_id, "10")],
        )
        self.assertEqual(
            self.get_success(
                self.stores.roommember.get_rooms_for_local_user_where_membership_is(BOB, ["join"])
            ),
            [],
        )

    def test_message_in_big_room_stores_no_state(self) -> None:
        for i in range(30):
            self.room.join(f"@user{i}:test")
        groups_before = self.count("state_groups")
        rows_before = self.count("state_groups_state")
        msg = self.room.message(ALICE, "hello")
        self.assertEqual(self.count("state_groups"), groups_before)
        self.assertEqual(self.count("state_groups_state"), rows_before)
        # The message's state group is the one after the last join.
        groups = self.get_success(
            self.stores.state.get_state_group_for_events([msg.event_id, msg.prev_event_ids()[0]])
        )
        self.assertEqual(groups[msg.event_id], groups[msg.prev_event_ids()[0]])

    def test_state_change_stores_small_delta(self) -> None:
        for i in range(30):
            self.room.join(f"@user{i}:test")
        rows_before = self.count("state_groups_state")
        topic = self.room.send(EventTypes.Topic, ALICE, {"topic": "hi"}, "")
        # One new group holding one row, as a delta against the group before the event.
        self.assertEqual(self.count("state_groups_state"), rows_before + 1)
        state = self.get_success(self.stores.state.get_state_ids_for_event(topic.event_id))
        self.assertEqual(state[(EventTypes.Topic, "")], topic.event_id)
        self.assertEqual(len(state), 4 + 30 + 1)
        current = self.get_success(self.stores.state.get_current_state_ids(self.room.room_id))
        self.assertEqual(current, state)

    def test_long_delta_chain_gets_a_snapshot(self) -> None:
        from synapse.storage.databases.main import state as state_module

        self.patch_attr(state_module, "MAX_STATE_DELTA_HOPS", 3)
        for i in range(6):
            self.room.send(EventTypes.Topic, ALICE, {"topic": str(i)}, "")
        rows = self.get_success(self.db.execute("edges", "SELECT COUNT(*) FROM state_group_edges"))
        groups = self.count("state_groups")
        # Some groups are full snapshots, so there are fewer edges than groups after the first.
        self.assertLess(int(rows[0][0]), groups - 1)
        # Reading a group back gives the full state whatever its storage.
        self.stores.state._group_state_cache.clear()
        topic_event = self.room.events[self.room.last[0]]
        state = self.get_success(self.stores.state.get_state_ids_for_event(topic_event.event_id))
        self.assertEqual(state, self.room.state_after[topic_event.event_id])

    def patch_attr(self, obj: Any, name: str, value: Any) -> None:
        old = getattr(obj, name)
        setattr(obj, name, value)
        self.addCleanup(setattr, obj, name, old)

    def test_fork_resolves_into_current_state(self) -> None:
        base = self.room.last
        # Two topics on two branches from the same parent; with equal power, the later
        # origin_server_ts is applied last and wins (state resolution v2).
        a = self.room.make(EventTypes.Topic, ALICE, {"topic": "a"}, "", prev=base, ts=2_000_000)
        b = self.room.make(EventTypes.Topic, ALICE, {"topic": "b"}, "", prev=base, ts=3_000_000)
        self.room.persist(a)
        self.room.persist(b)
        room_id = self.room.room_id
        self.assertEqual(
            self.get_success(self.stores.event_federation.get_forward_extremities(room_id)),
            {a.event_id, b.event_id},
        )
        current = self.get_success(self.stores.state.get_current_state_ids(room_id))
        self.assertEqual(current[(EventTypes.Topic, "")], b.event_id)

        # A message on both branches: its state before is the resolved state.
        merge = self.room.message(ALICE, "merge", prev=[a.event_id, b.event_id])
        self.assertEqual(
            self.get_success(self.stores.event_federation.get_forward_extremities(room_id)),
            {merge.event_id},
        )
        state = self.get_success(self.stores.state.get_state_ids_for_event(merge.event_id))
        self.assertEqual(state[(EventTypes.Topic, "")], b.event_id)
        self.assertEqual(self.get_success(self.stores.state.get_current_state_ids(room_id)), state)

    def test_fork_of_memberships_updates_members(self) -> None:
        base = self.room.last
        join = self.room.make(EventTypes.Member, BOB, {"membership": "join"}, BOB, prev=base)
        msg = self.room.make(EventTypes.Message, ALICE, {"body": "x"}, prev=base)
        self.room.persist(msg)
        self.room.persist(join)
        self.assertEqual(
            sorted(self.get_success(self.stores.roommember.get_users_in_room(self.room.room_id))),
            [ALICE, BOB],
        )

    def test_persisting_twice_is_a_no_op(self) -> None:
        msg = self.room.message(ALICE, "once")
        ordering = msg.internal_metadata.stream_ordering
        count = self.count("events")
        context = self.room.context_for(msg)
        self.get_success(self.hs.get_persistence_queue().persist_event(msg, context))
        self.assertEqual(self.count("events"), count)
        self.assertEqual(msg.internal_metadata.stream_ordering, ordering)

    def test_rejected_event_is_stored_but_not_served(self) -> None:
        bad = self.room.make(EventTypes.Topic, BOB, {"topic": "nope"}, "")
        context = self.room.context_for(bad)
        context.mark_rejected("auth_error")
        self.get_success(self.hs.get_persistence_queue().persist_event(bad, context))
        self.assertIsNone(
            self.get_success(self.stores.events.get_event(bad.event_id, allow_none=True))
        )
        stored = self.get_success(self.stores.events.get_event(bad.event_id, allow_rejected=True))
        assert stored is not None
        self.assertEqual(stored.rejected_reason, "auth_error")
        current = self.get_success(self.stores.state.get_current_state_ids(self.room.room_id))
        self.assertNotIn((EventTypes.Topic, ""), current)
        self.assertNotIn(
            bad.event_id,
            self.get_success(
                self.stores.event_federation.get_forward_extremities(self.room.room_id)
            ),
        )


class BatchingTestCase(DatabaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.stores = self.databases.main
        self.queue = self.hs.get_persistence_queue()
        self.room = RoomMaker(self.hs, self.get_success)
        self.room.create()

    def _hold_first_batch(self) -> tuple[defer.Deferred[None], list[list[str]]]:
        """Make the next batch wait for the returned Deferred; record every batch's events."""
        store = self.stores.persist_events
        real = store.persist_batch
        gate: defer.Deferred[None] = defer.Deferred()
        batches: list[list[str]] = []

        async def persist_batch(batch: events_module.PersistBatch) -> None:
            batches.append([e.event_id for e in batch.events])
            if len(batches) == 1:
                await gate
            await real(batch)

        store.persist_batch = persist_batch  # type: ignore[method-assign]
        return gate, batches

    def _chain(self, n: int) -> list[EventBase]:
        return [self.room.make(EventTypes.Message, ALICE, {"body": str(i)}) for i in range(n)]

    def test_requests_queued_behind_a_batch_are_batched_in_order(self) -> None:
        events = self._chain(5)
        contexts = [self.room.context_for(e) for e in events]
        gate, batches = self._hold_first_batch()
        results = [
            defer.ensureDeferred(self.queue.persist_events([(e, c)]))
            for e, c in zip(events, contexts, strict=True)
        ]
        self.reactor.advance(0)
        self.assertEqual(len(batches), 1)
        self.assertFalse(any(d.called for d in results))
        gate.callback(None)
        self.reactor.advance(0)
        # The first request alone, then the four queued behind it in one batch.
        self.assertEqual(batches, [[events[0].event_id], [e.event_id for e in events[1:]]])
        for d in results:
            self.assertTrue(d.called)
            self.assertIsInstance(d.result, RoomStreamToken)
        orderings = [e.internal_metadata.stream_ordering for e in events]
        self.assertEqual(orderings, sorted(orderings))
        self.assertEqual(
            self.get_success(
                self.stores.event_federation.get_forward_extremities(self.room.room_id)
            ),
            {events[-1].event_id},
        )

    def test_chain_computed_before_persisting_in_one_call(self) -> None:
        events = self._chain(4)
        topic = self.room.make(EventTypes.Topic, ALICE, {"topic": "t"}, "")
        events.append(topic)
        events.append(self.room.make(EventTypes.Message, ALICE, {"body": "after"}))
        contexts = [self.room.context_for(e) for e in events]
        self.get_success(self.queue.persist_events(list(zip(events, contexts, strict=True))))
        for event in events:
            state = self.get_success(self.stores.state.get_state_ids_for_event(event.event_id))
            self.assertEqual(state, self.room.state_after[event.event_id])
        current = self.get_success(self.stores.state.get_current_state_ids(self.room.room_id))
        self.assertEqual(current[(EventTypes.Topic, "")], topic.event_id)

    def test_failed_batch_leaves_nothing_half_written(self) -> None:
        before_max = self.stores.stream.get_room_max_stream_ordering()
        extremities = self.get_success(
            self.stores.event_federation.get_forward_extremities(self.room.room_id)
        )
        events = self._chain(3)
        contexts = [self.room.context_for(e) for e in events]

        def fail(*args: Any) -> None:
            raise RuntimeError("disk on fire")

        store = self.stores.persist_events
        store._store_relations_txn = fail  # type: ignore[method-assign,assignment]
        self.get_failure(
            self.queue.persist_events(list(zip(events, contexts, strict=True))), RuntimeError
        )
        del store._store_relations_txn

        ids = [e.event_id for e in events]
        self.assertEqual(self.get_success(self.stores.events.get_events(ids)), {})
        rows = self.get_success(
            self.db.execute("edges", "SELECT COUNT(*) FROM event_edges WHERE event_id = ?", ids[0])
        )
        self.assertEqual(rows[0][0], 0)
        self.assertEqual(
            self.get_success(
                self.stores.event_federation.get_forward_extremities(self.room.room_id)
            ),
            extremities,
        )
        self.assertEqual(self.stores.stream.get_room_max_stream_ordering(), before_max + 3)
        events_in_stream, _ = self.get_success(
            self.stores.stream.get_room_events_stream_for_room(
                self.room.room_id,
                RoomStreamToken(stream=before_max),
                self.stores.stream.get_room_max_token(),
            )
        )
        self.assertEqual(events_in_stream, [])

        # The same events go through afterwards.
        self.get_success(self.queue.persist_events(list(zip(events, contexts, strict=True))))
        self.assertEqual(set(self.get_success(self.stores.events.get_events(ids))), set(ids))

    def test_bad_request_does_not_fail_the_others_in_its_batch(self) -> None:
        base = self.room.last
        events = [
            self.room.make(EventTypes.Message, ALICE, {"body": str(i)}, prev=base) for i in range(3)
        ]
        contexts = [self.room.context_for(e) for e in events]
        bad_id = events[2].event_id
        store = self.stores.persist_events
        real_relations = store._store_relations_txn

        def failing_relations(txn: Any, evs: list[EventBase]) -> None:
            if any(e.event_id == bad_id for e in evs):
                raise RuntimeError("bad event")
            real_relations(txn, evs)

        store._store_relations_txn = failing_relations  # type: ignore[method-assign,assignment]
        gate, batches = self._hold_first_batch()
        results = [
            defer.ensureDeferred(self.queue.persist_events([(e, c)]))
            for e, c in zip(events, contexts, strict=True)
        ]
        self.reactor.advance(0)
        gate.callback(None)
        self.reactor.advance(0)
        # Batch [e1, e2] failed, then each request was retried alone.
        self.assertEqual(batches[1], [events[1].event_id, bad_id])
        self.assertIsInstance(results[0].result, RoomStreamToken)
        self.assertIsInstance(results[1].result, RoomStreamToken)
        failure = results[2].result
        results[2].addErrback(lambda _: None)
        assert isinstance(failure, Failure)
        self.assertIsInstance(failure.value, RuntimeError)
        stored = self.get_success(self.stores.events.get_events([e.event_id for e in events]))
        self.assertEqual(set(stored), {events[0].event_id, events[1].event_id})

    def test_notified_only_once_lower_orderings_are_written(self) -> None:
        other = RoomMaker(self.hs, self.get_success, name="other")
        other.create()
        notifier = self.hs.get_notifier()
        woken: list[tuple[str, int]] = []
        notifier.add_new_room_events_callback(
            lambda evs, tok: woken.extend((e.room_id, tok.stream) for e in evs)
        )

        first = self.room.make(EventTypes.Message, ALICE, {"body": "slow"})
        second = other.make(EventTypes.Message, ALICE, {"body": "fast"})
        c1, c2 = self.room.context_for(first), other.context_for(second)
        gate, _ = self._hold_first_batch()
        d1 = defer.ensureDeferred(self.queue.persist_events([(first, c1)]))
        self.reactor.advance(0)
        d2 = defer.ensureDeferred(self.queue.persist_events([(second, c2)]))
        self.reactor.advance(0)
        # The second room's event is written, but the stream cannot pass the first's yet.
        self.assertTrue(d2.called)
        self.assertEqual(woken, [])
        gate.callback(None)
        self.reactor.advance(0)
        self.assertTrue(d1.called)
        top = second.internal_metadata.stream_ordering
        self.assertEqual(sorted(woken), sorted([(self.room.room_id, top), (other.room_id, top)]))


class OutOfBandMembershipTestCase(DatabaseTestCase):
    def test_remote_invite_to_unknown_room(self) -> None:
        stores = self.databases.main
        remote = RoomMaker(self.hs, self.get_success, name="remote")
        # Events of a room this server is not in: only the invite reaches us, as an outlier.
        remote.make(EventTypes.Create, "@carol:elsewhere", {"room_version": "10"}, "", prev=[])
        remote.make(
            EventTypes.Member, "@carol:elsewhere", {"membership": "join"}, "@carol:elsewhere"
        )
        invite = remote.make(
            EventTypes.Member,
            "@carol:elsewhere",
            {"membership": "invite"},
            BOB,
            internal_metadata={"outlier": True, "out_of_band_membership": True},
        )
        context = EventContext.for_outlier(stores.state)
        self.get_success(self.hs.get_persistence_queue().persist_event(invite, context))
        rooms = self.get_success(
            stores.roommember.get_rooms_for_local_user_where_membership_is(BOB, ["invite"])
        )
        self.assertEqual(
            [(r.room_id, r.event_id, r.sender, r.room_version_id) for r in rooms],
            [(remote.room_id, invite.event_id, "@carol:elsewhere", "10")],
        )
        # Not a member, and the room's stream and state are untouched.
        self.assertEqual(self.get_success(stores.roommember.get_rooms_for_user(BOB)), frozenset())
        self.assertEqual(self.get_success(stores.state.get_current_state_ids(remote.room_id)), {})


class HistoryTestCase(DatabaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.stores = self.databases.main
        self.queue = self.hs.get_persistence_queue()
        self.room = RoomMaker(self.hs, self.get_success)
        self.room.create()

    def test_membership_changes_for_user(self) -> None:
        start = self.stores.stream.get_room_max_stream_ordering()
        self.room.message(ALICE, "before bob")
        mid = self.stores.stream.get_room_max_stream_ordering()
        # Nothing happened to Bob: answered from memory.
        self.assertEqual(
            self.get_success(
                self.stores.roommember.get_membership_changes_for_user(BOB, start, mid)
            ),
            [],
        )
        join = self.room.join(BOB)
        leave = self.room.leave(BOB)
        end = self.stores.stream.get_room_max_stream_ordering()
        changes = self.get_success(
            self.stores.roommember.get_membership_changes_for_user(BOB, mid, end)
        )
        self.assertEqual(
            [(c.room_id, c.event_id, c.membership) for c in changes],
            [
                (self.room.room_id, join.event_id, "join"),
                (self.room.room_id, leave.event_id, "leave"),
            ],
        )
        self.assertEqual(
            self.get_success(self.stores.roommember.get_membership_changes_for_user(BOB, end, end)),
            [],
        )

    def test_backfilled_events_are_history_not_stream(self) -> None:
        # Older events, made on a branch the server has not seen, arrive by backfill.
        create_id = next(iter(self.room.events))
        first = self.room.make(EventTypes.Message, ALICE, {"body": "old0"}, prev=[create_id])
        second = self.room.make(EventTypes.Message, ALICE, {"body": "old1"}, prev=[first.event_id])
        old = [first, second]
        extremities = self.get_success(
            self.stores.event_federation.get_forward_extremities(self.room.room_id)
        )
        max_before = self.stores.stream.get_room_max_stream_ordering()
        contexts = [self.room.context_for(e) for e in old]
        self.get_success(
            self.queue.persist_events(list(zip(old, contexts, strict=True)), backfilled=True)
        )

        orderings = [e.internal_metadata.stream_ordering for e in old]
        self.assertEqual(orderings, [-1, -2])
        self.assertEqual(self.stores.stream.get_room_max_stream_ordering(), max_before)
        self.assertEqual(
            self.get_success(
                self.stores.event_federation.get_forward_extremities(self.room.room_id)
            ),
            extremities,
        )
        # They are in the room's history, in topological order.
        page, _ = self.get_success(
            self.stores.stream.paginate_room_events(
                self.room.room_id, self.stores.stream.get_room_max_token(), direction="b", limit=50
            )
        )
        ids = [e.event_id for e in page]
        self.assertIn(old[0].event_id, ids)
        self.assertIn(old[1].event_id, ids)

    def test_outlier_is_de_outliered(self) -> None:
        msg = self.room.make(EventTypes.Message, ALICE, {"body": "first seen as outlier"})
        outlier = RoomMaker.copy_as_outlier(msg)
        self.get_success(
            self.queue.persist_event(outlier, EventContext.for_outlier(self.stores.state))
        )
        fetched = self.get_success(self.stores.events.get_event(msg.event_id))
        assert fetched is not None
        self.assertTrue(fetched.internal_metadata.is_outlier())
        max_before = self.stores.stream.get_room_max_stream_ordering()
        stream, _ = self.get_success(
            self.stores.stream.get_room_events_stream_for_room(
                self.room.room_id,
                RoomStreamToken(stream=0),
                self.stores.stream.get_room_max_token(),
            )
        )
        self.assertNotIn(msg.event_id, [e.event_id for e in stream])

        self.room.persist(msg)
        fetched = self.get_success(self.stores.events.get_event(msg.event_id))
        assert fetched is not None
        self.assertFalse(fetched.internal_metadata.is_outlier())
        self.assertGreater(fetched.internal_metadata.stream_ordering or 0, max_before)
        self.assertEqual(
            self.get_success(
                self.stores.event_federation.get_forward_extremities(self.room.room_id)
            ),
            {msg.event_id},
        )
        stream, _ = self.get_success(
            self.stores.stream.get_room_events_stream_for_room(
                self.room.room_id,
                RoomStreamToken(stream=max_before),
                self.stores.stream.get_room_max_token(),
            )
        )
        self.assertEqual([e.event_id for e in stream], [msg.event_id])
