"""``Linearizer``: one holder per key at a time, in arrival order."""

from __future__ import annotations

from twisted.internet import defer

from synapse.util.linearizer import Linearizer
from tests.unittest import TestCase


class LinearizerTestCase(TestCase):
    def test_one_holder_per_key_in_order(self) -> None:
        linearizer = Linearizer("test")
        gates: list[defer.Deferred[None]] = [defer.Deferred() for _ in range(3)]
        order: list[str] = []

        async def hold(key: str, i: int) -> None:
            async with linearizer.queue(key):
                order.append(f"start {key}{i}")
                await gates[i]
                order.append(f"end {key}{i}")

        d0 = defer.ensureDeferred(hold("a", 0))
        d1 = defer.ensureDeferred(hold("a", 1))
        d2 = defer.ensureDeferred(hold("b", 2))
        # The other key is not held up; the same key waits.
        self.assertEqual(order, ["start a0", "start b2"])
        self.assertTrue(linearizer.is_queued("a"))
        gates[1].callback(None)
        self.assertEqual(order, ["start a0", "start b2"])
        gates[0].callback(None)
        self.assertEqual(order, ["start a0", "start b2", "end a0", "start a1", "end a1"])
        gates[2].callback(None)
        for d in (d0, d1, d2):
            self.successResultOf(d)
        self.assertFalse(linearizer.is_queued("a"))
        self.assertEqual(linearizer._entries, {})

    def test_max_count_and_errors_release(self) -> None:
        linearizer = Linearizer("test", max_count=2)
        gate: defer.Deferred[None] = defer.Deferred()
        started: list[int] = []

        async def hold(i: int) -> None:
            async with linearizer.queue("k"):
                started.append(i)
                await gate
                raise ValueError(i)

        ds = [defer.ensureDeferred(hold(i)) for i in range(3)]
        self.assertEqual(started, [0, 1])
        gate.callback(None)
        self.assertEqual(started, [0, 1, 2])
        for d in ds:
            self.failureResultOf(d, ValueError)
        self.assertEqual(linearizer._entries, {})

    def test_cancelled_waiter_leaves_the_queue(self) -> None:
        linearizer = Linearizer("test")
        gate: defer.Deferred[None] = defer.Deferred()

        async def hold() -> None:
            async with linearizer.queue("k"):
                await gate

        first = defer.ensureDeferred(hold())
        second = defer.ensureDeferred(hold())
        second.cancel()
        self.failureResultOf(second, defer.CancelledError)
        gate.callback(None)
        self.successResultOf(first)
        self.assertEqual(linearizer._entries, {})
