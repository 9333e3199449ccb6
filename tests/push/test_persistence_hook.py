"""Push actions on the persistence path: which events are evaluated, for whom (members
as of each event of a batch), and that they are written atomically with the events."""

from __future__ import annotations

from typing import Any

from synapse.api.constants import EventTypes
from synapse.events import EventBase
from tests.persistence._room import RoomMaker
from tests.storage._base import DatabaseTestCase

ALICE = "@alice:test"
BOB = "@bob:test"
CAROL = "@carol:test"
REMOTE = "@remote:elsewhere"


class PersistenceHookTestCase(DatabaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.stores = self.databases.main
        self.queue = self.hs.get_persistence_queue()
        self.room = RoomMaker(self.hs, self.get_success)
        self.room.create(ALICE)
        self.room.join(BOB)

    def notified(self, event: EventBase) -> set[str]:
        return set(
            self.get_success(
                self.stores.event_push_actions.get_push_actions_for_event(event.event_id)
            )
        )

    def persist_batch(self, events: list[EventBase], **kwargs: Any) -> None:
        contexts = [self.room.context_for(e) for e in events]
        self.get_success(
            self.queue.persist_events(list(zip(events, contexts, strict=True)), **kwargs)
        )

    def message(self, sender: str, body: str = "hi") -> EventBase:
        return self.room.make(EventTypes.Message, sender, {"msgtype": "m.text", "body": body})

    def test_live_message(self) -> None:
        self.assertEqual(self.notified(self.room.message(ALICE, "hello")), {BOB})

    def test_remote_sender_and_members(self) -> None:
        self.room.join(REMOTE)
        event = self.room.message(REMOTE, "from afar")
        # Only local users are evaluated; the remote sender is not one.
        self.assertEqual(self.notified(event), {ALICE, BOB})
        event = self.room.message(ALICE, "to all")
        self.assertEqual(self.notified(event), {BOB})

    def test_soft_failed_events_notify_nobody(self) -> None:
        event = self.room.make(
            EventTypes.Message,
            ALICE,
            {"msgtype": "m.text", "body": "x"},
            internal_metadata={"soft_failed": True},
        )
        self.room.persist(event)
        self.assertEqual(self.notified(event), set())

    def test_rejected_events_notify_nobody(self) -> None:
        event = self.message(ALICE)
        context = self.room.context_for(event)
        context.mark_rejected("auth_error")
        self.get_success(self.queue.persist_event(event, context))
        self.assertEqual(self.notified(event), set())

    def test_outliers_notify_nobody(self) -> None:
        event = RoomMaker.copy_as_outlier(self.message(ALICE))
        context = self.room.context_for(event)
        self.get_success(self.queue.persist_event(event, context))
        self.assertEqual(self.notified(event), set())

    def test_backfilled_events_notify_nobody(self) -> None:
        create_id = next(iter(self.room.events))
        old = self.room.make(
            EventTypes.Message, BOB, {"body": "old", "msgtype": "m.text"}, prev=[create_id]
        )
        self.persist_batch([old], backfilled=True)
        self.assertEqual(self.notified(old), set())

    def test_members_as_of_each_event_of_a_batch(self) -> None:
        # Made on top of each other, persisted together in one batch.
        before = self.message(ALICE, "before carol")
        join = self.room.make(EventTypes.Member, CAROL, {"membership": "join"}, CAROL)
        after = self.message(ALICE, "after carol")
        leave = self.room.make(EventTypes.Member, BOB, {"membership": "leave"}, BOB)
        last = self.message(ALICE, "after bob left")
        self.persist_batch([before, join, after, leave, last])
        self.assertEqual(self.notified(before), {BOB})
        self.assertEqual(self.notified(after), {BOB, CAROL})
        self.assertEqual(self.notified(last), {CAROL})
        # A two-member room again: the one-to-one rule applied to the last message.
        actions = self.get_success(
            self.stores.event_push_actions.get_push_actions_for_event(last.event_id)
        )
        self.assertEqual(
            actions[CAROL].actions, ["notify", {"set_tweak": "sound", "value": "default"}]
        )

    def test_a_failed_batch_writes_no_push_actions(self) -> None:
        def broken(_txn: Any) -> None:
            raise RuntimeError("the disk is full")

        async def hook(room_id: str, events_and_contexts: Any) -> Any:
            return broken

        self.queue.add_pre_persist_hook(hook)
        event = self.message(ALICE)
        context = self.room.context_for(event)
        self.get_failure(self.queue.persist_event(event, context), RuntimeError)
        self.assertIsNone(
            self.get_success(self.stores.events.get_event(event.event_id, allow_none=True))
        )
        self.assertEqual(self.notified(event), set())
        rows = self.get_success(self.db.execute("count", "SELECT COUNT(*) FROM event_push_actions"))
        self.assertEqual(rows[0][0], 0)
