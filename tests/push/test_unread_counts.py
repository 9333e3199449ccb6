"""Unread notification counts in ``/sync``: raised by events, reset by receipts and by
the user's own events, per room and per thread."""

from __future__ import annotations

from typing import Any

from synapse.storage.databases.main import event_push_actions
from synapse.storage.databases.main.event_push_actions import NotifCounts, RoomNotifCounts
from synapse.types import JsonDict
from tests.push.push_test_base import PushTestCase

THREAD_FILTER: JsonDict = {"room": {"timeline": {"unread_thread_notifications": True}}}


class UnreadCountsTestCase(PushTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room = self.group_room()

    def counts(self, tok: str | None = None, room: str | None = None, **params: Any) -> JsonDict:
        """The room's counts in a fresh initial sync of bob (or ``tok``'s user)."""
        self.expire_response_cache()
        body = self.sync(tok or self.other_tok, **params)
        return self.joined_room(body, room or self.room)["unread_notifications"]

    def thread_counts(self, tok: str | None = None) -> tuple[JsonDict, JsonDict]:
        self.expire_response_cache()
        body = self.sync(tok or self.other_tok, filter=THREAD_FILTER)
        room = self.joined_room(body, self.room)
        return room["unread_notifications"], room.get("unread_thread_notifications", {})

    def read(
        self, event_id: str, receipt_type: str = "m.read", thread_id: str | None = None
    ) -> None:
        body: JsonDict = {} if thread_id is None else {"thread_id": thread_id}
        channel = self.receipt(self.room, receipt_type, event_id, self.other_tok, body)
        self.assertEqual(channel.code, 200, channel.json_body)

    @staticmethod
    def n(notifications: int, highlights: int = 0) -> JsonDict:
        return {"notification_count": notifications, "highlight_count": highlights}

    # --- counts rise -------------------------------------------------------------------
    def test_counts_rise_with_messages(self) -> None:
        self.assertEqual(self.counts(), self.n(0))
        self.message(self.room, "one")
        self.message(self.room, "two")
        self.assertEqual(self.counts(), self.n(2))
        self.message(self.room, "look", extra={"m.mentions": {"user_ids": [self.other]}})
        self.assertEqual(self.counts(), self.n(3, 1))
        # Events that do not notify do not count.
        self.helper.send_event(
            self.room, "m.room.message", {"msgtype": "m.notice", "body": "bot"}, tok=self.tok
        )
        self.helper.send_state(self.room, "m.room.topic", {"topic": "x"}, tok=self.tok)
        self.assertEqual(self.counts(), self.n(3, 1))
        # The sender's own counts do not move.
        self.assertEqual(self.counts(self.tok), self.n(0))
        self.assertEqual(self.counts(self.carol_tok), self.n(3))

    def test_count_arrives_with_the_event_in_incremental_and_long_polled_syncs(self) -> None:
        since = self.sync(self.other_tok)["next_batch"]
        channel = self.sync_request(self.other_tok, since=since, timeout=30_000)
        self.reactor.advance(1)
        self.assertFalse(channel.is_finished())
        event = self.message(self.room, "wake up", extra={"m.mentions": {"user_ids": [self.other]}})
        channel.await_result()
        self.assertEqual(channel.code, 200, channel.json_body)
        room = channel.json_body["rooms"]["join"][self.room]
        self.assertEqual([e["event_id"] for e in room["timeline"]["events"]], [event])
        self.assertEqual(room["unread_notifications"], self.n(1, 1))
        since = channel.json_body["next_batch"]
        self.message(self.room, "more")
        room = self.joined_room(self.sync(self.other_tok, since=since), self.room)
        self.assertEqual(room["unread_notifications"], self.n(2, 1))

    def test_rooms_are_counted_apart(self) -> None:
        other_room = self.dm_room()
        self.message(self.room, "a")
        for _ in range(3):
            self.message(other_room, "b")
        self.expire_response_cache()
        body = self.sync(self.other_tok)
        self.assertEqual(self.joined_room(body, self.room)["unread_notifications"], self.n(1))
        self.assertEqual(self.joined_room(body, other_room)["unread_notifications"], self.n(3))

    # --- receipts ----------------------------------------------------------------------
    def test_read_receipt_resets(self) -> None:
        first = self.message(self.room, "one")
        self.message(self.room, "two", extra={"m.mentions": {"user_ids": [self.other]}})
        third = self.message(self.room, "three")
        self.read(first)
        self.assertEqual(self.counts(), self.n(2, 1))
        self.read(third)
        self.assertEqual(self.counts(), self.n(0))
        self.message(self.room, "four")
        self.assertEqual(self.counts(), self.n(1))

    def test_receipt_in_an_incremental_sync(self) -> None:
        self.message(self.room, "one")
        last = self.message(self.room, "two")
        since = self.sync(self.other_tok)["next_batch"]
        self.read(last)
        room = self.joined_room(self.sync(self.other_tok, since=since), self.room)
        self.assertEqual(room["unread_notifications"], self.n(0))

    def test_private_receipt_resets(self) -> None:
        self.message(self.room, "one")
        last = self.message(self.room, "two")
        self.read(last, "m.read.private")
        self.assertEqual(self.counts(), self.n(0))

    def test_the_furthest_of_public_and_private_receipts_counts(self) -> None:
        a = self.message(self.room, "A")
        b = self.message(self.room, "B")
        c = self.message(self.room, "C")
        d = self.message(self.room, "D")
        self.read(c, "m.read")
        self.read(a, "m.read.private")
        self.assertEqual(self.counts(), self.n(1))
        self.read(b, "m.read.private")
        self.assertEqual(self.counts(), self.n(1))
        self.read(d, "m.read.private")
        self.assertEqual(self.counts(), self.n(0))

    def test_receipt_on_a_non_notifying_event(self) -> None:
        self.message(self.room, "one")
        topic = self.helper.send_state(self.room, "m.room.topic", {"topic": "x"}, tok=self.tok)
        self.message(self.room, "two")
        self.read(topic["event_id"])
        self.assertEqual(self.counts(), self.n(1))

    def test_own_message_marks_earlier_ones_read(self) -> None:
        self.message(self.room, "one")
        self.message(self.room, "two")
        self.message(self.room, "mine", tok=self.other_tok)
        self.assertEqual(self.counts(), self.n(0))
        self.message(self.room, "three")
        self.assertEqual(self.counts(), self.n(1))

    def test_redacted_notification_no_longer_counts(self) -> None:
        self.message(self.room, "one")
        two = self.message(self.room, "two", extra={"m.mentions": {"user_ids": [self.other]}})
        self.assertEqual(self.counts(), self.n(2, 1))
        self.helper.redact(self.room, two, tok=self.tok)
        self.assertEqual(self.counts(), self.n(1))

    def test_counts_after_rejoining(self) -> None:
        last = self.message(self.room, "one")
        self.read(last)
        self.helper.leave(self.room, self.other, tok=self.other_tok)
        self.message(self.room, "while away")
        self.helper.join(self.room, tok=self.other_tok)
        # Nothing came while bob was away, and his join read everything before it.
        self.assertEqual(self.counts(), self.n(0))
        self.message(self.room, "welcome back")
        self.assertEqual(self.counts(), self.n(1))

    # --- threads -----------------------------------------------------------------------
    def test_thread_counts(self) -> None:
        root = self.message(self.room, "root")
        self.thread_reply(self.room, root, "t1")
        self.thread_reply(self.room, root, "t2")
        self.message(self.room, "main")
        # Without thread counts: the whole room.
        self.assertEqual(self.counts(), self.n(4))
        main, threads = self.thread_counts()
        self.assertEqual(main, self.n(2))
        self.assertEqual(threads, {root: self.n(2)})

    def test_threaded_receipts(self) -> None:
        root = self.message(self.room, "root")
        t1 = self.thread_reply(self.room, root, "t1")
        self.thread_reply(self.room, root, "t2")
        main_1 = self.message(self.room, "main 1")
        self.message(self.room, "main 2")

        # A threaded receipt reads its thread only.
        self.read(t1, thread_id=root)
        main, threads = self.thread_counts()
        self.assertEqual((main, threads), (self.n(3), {root: self.n(1)}))
        self.read(main_1, thread_id="main")
        main, threads = self.thread_counts()
        self.assertEqual((main, threads), (self.n(1), {root: self.n(1)}))
        self.assertEqual(self.counts(), self.n(2))

        # An unthreaded receipt reads everything before its event, threads included.
        last = self.message(self.room, "main 3")
        self.thread_reply(self.room, root, "t3")
        self.read(last)
        main, threads = self.thread_counts()
        self.assertEqual((main, threads), (self.n(0), {root: self.n(1)}))

    def test_thread_read_by_replying(self) -> None:
        root = self.message(self.room, "root")
        self.thread_reply(self.room, root, "t1")
        self.message(self.room, "main")
        self.thread_reply(self.room, root, "my reply", tok=self.other_tok)
        main, threads = self.thread_counts()
        self.assertEqual((main, threads), (self.n(2), {}))

    def test_highlights_per_thread(self) -> None:
        root = self.message(self.room, "root")
        self.message(
            self.room,
            "look",
            extra={
                "m.mentions": {"user_ids": [self.other]},
                "m.relates_to": {"rel_type": "m.thread", "event_id": root},
            },
        )
        main, threads = self.thread_counts()
        self.assertEqual((main, threads), (self.n(1), {root: self.n(1, 1)}))


class CountStoreTestCase(PushTestCase):
    """``get_unread_counts_for_rooms`` read directly."""

    def get_counts(self, room_ids: list[str], threads: bool = False) -> dict[str, RoomNotifCounts]:
        return self.get_success(
            self.stores.event_push_actions.get_unread_counts_for_rooms(
                self.other, room_ids, threads
            )
        )

    def test_many_rooms_in_several_statements(self) -> None:
        rooms = [self.dm_room() for _ in range(6)]
        for i, room in enumerate(rooms):
            for _ in range(i):
                self.message(room, "x")
        expected = self.get_counts(rooms)
        self.assertEqual(
            {r: c.main_timeline.notify_count for r, c in expected.items()},
            {room: i for i, room in enumerate(rooms) if i},
        )
        old = event_push_actions._MAX_PARAMS
        event_push_actions._MAX_PARAMS = 5
        try:
            self.assertEqual(self.get_counts(rooms), expected)
            self.assertEqual(self.get_counts(rooms, threads=True), expected)
        finally:
            event_push_actions._MAX_PARAMS = old

    def test_rooms_without_notifications_are_left_out(self) -> None:
        room = self.dm_room()
        self.assertEqual(self.get_counts([room, "!unknown:test"]), {})
        self.assertEqual(self.get_counts([]), {})
        self.message(room, "x")
        self.assertEqual(self.get_counts([room]), {room: RoomNotifCounts(NotifCounts(1, 0))})

    def test_one_transaction_per_sync(self) -> None:
        rooms = [self.dm_room() for _ in range(3)]
        for room in rooms:
            self.message(room, "x")
        calls: list[str] = []
        pool = self.stores.db_pool
        original = pool.runInteraction

        async def counting(desc: str, func: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(desc)
            return await original(desc, func, *args, **kwargs)

        pool.runInteraction = counting  # type: ignore[method-assign]
        try:
            self.get_counts(rooms)
        finally:
            pool.runInteraction = original  # type: ignore[method-assign]
        self.assertEqual(calls, ["get_unread_counts_for_rooms"])
