"""The notifier wakes exactly the waiters a new position concerns, and times out."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from synapse.types import StreamKeyType, StreamToken
from tests.persistence._room import RoomMaker
from tests.storage._base import DatabaseTestCase

ALICE = "@alice:test"
BOB = "@bob:test"
CAROL = "@carol:test"


class NotifierTestCase(DatabaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.notifier = self.hs.get_notifier()
        self.calls: dict[str, list[tuple[StreamToken, StreamToken]]] = {}

    def wait(
        self,
        user_id: str,
        timeout_ms: int,
        rooms: list[str] | None,
        from_token: StreamToken | None = None,
    ) -> defer.Deferred[Any]:
        calls = self.calls.setdefault(user_id, [])

        async def callback(before: StreamToken, after: StreamToken) -> StreamToken | None:
            calls.append((before, after))
            return after if after.is_after(before) else None

        token = from_token or self.notifier.get_current_token()
        d = defer.ensureDeferred(
            self.notifier.wait_for_events(user_id, timeout_ms, callback, rooms, token)
        )
        self.reactor.advance(0)
        return d

    def test_wakes_only_the_concerned_waiters(self) -> None:
        a = self.wait(ALICE, 10_000, ["!r1:test"])
        b = self.wait(BOB, 10_000, ["!r2:test"])
        c = self.wait(CAROL, 10_000, [])
        self.assertEqual(self.notifier.count_listeners(), 3)

        self.notifier.on_new_event(StreamKeyType.TYPING, 5, rooms=["!r1:test"])
        self.assertTrue(a.called)
        self.assertEqual(_result(a).typing_key, 5)
        self.assertFalse(b.called)
        self.assertFalse(c.called)

        self.notifier.on_new_event(StreamKeyType.TO_DEVICE, 3, users=[CAROL])
        self.assertTrue(c.called)
        self.assertEqual(_result(c).to_device_key, 3)
        self.assertFalse(b.called)
        self.assertEqual(self.calls[BOB], [])
        self.assertEqual(self.notifier.count_listeners(), 1)

    def test_times_out_with_the_clock(self) -> None:
        d = self.wait(BOB, 5_000, ["!r2:test"])
        self.reactor.advance(4.9)
        self.assertFalse(d.called)
        self.reactor.advance(0.2)
        self.assertTrue(d.called)
        self.assertIsNone(d.result)
        # The callback ran once, at the timeout, with the position unchanged.
        self.assertEqual(len(self.calls[BOB]), 1)
        self.assertEqual(self.notifier.count_listeners(), 0)

    def test_returns_at_once_when_already_behind(self) -> None:
        self.notifier.on_new_event(StreamKeyType.RECEIPT, 2, rooms=["!r1:test"])
        d = self.wait(ALICE, 10_000, ["!r1:test"], from_token=StreamToken.START)
        self.assertTrue(d.called)
        self.assertEqual(_result(d).receipt_key, 2)

    def test_zero_timeout_answers_at_once(self) -> None:
        d = self.wait(ALICE, 0, ["!r1:test"])
        self.assertTrue(d.called)
        self.assertIsNone(d.result)

    def test_persisted_events_wake_room_members_and_joiners(self) -> None:
        room = RoomMaker(self.hs, self.get_success)
        room.create(creator=ALICE)
        alice = self.wait(ALICE, 30_000, None)  # rooms read from the store
        bob = self.wait(BOB, 30_000, None)
        self.assertFalse(bob.called)

        join = room.join(BOB)
        # Both are woken: Alice by the room, Bob as the target of the membership.
        self.assertTrue(alice.called)
        self.assertTrue(bob.called)
        self.assertEqual(_result(bob).room_key.stream, join.internal_metadata.stream_ordering)

        # Bob is now under the room: a message wakes him; Carol, elsewhere, is not woken.
        bob2 = self.wait(BOB, 30_000, None)
        carol = self.wait(CAROL, 30_000, None)
        msg = room.message(ALICE, "hi")
        self.assertTrue(bob2.called)
        self.assertEqual(_result(bob2).room_key.stream, msg.internal_metadata.stream_ordering)
        self.assertFalse(carol.called)
        self.assertEqual(
            self.notifier.get_current_token().room_key.stream, msg.internal_metadata.stream_ordering
        )

    def test_token_round_trip(self) -> None:
        token = self.notifier.get_current_token().copy_and_advance(StreamKeyType.DEVICE_LIST, 7)
        self.assertEqual(StreamToken.from_string(token.to_string()), token)
        self.assertTrue(token.to_string().startswith("s"))


def _result(d: defer.Deferred[Any]) -> StreamToken:
    result = d.result
    assert isinstance(result, StreamToken)
    return result
