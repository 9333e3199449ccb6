"""``BatchingQueue``: values of one tick form one batch; later ones wait for the next."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from synapse.util.batching_queue import BatchingQueue
from synapse.util.clock import Clock
from tests.unittest import TestCase


class BatchingQueueTestCase(TestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.batches: list[list[int]] = []
        self.gate: defer.Deferred[None] | None = None

        async def process(values: list[int]) -> int:
            self.batches.append(values)
            if self.gate is not None:
                await self.gate
            if -1 in values:
                raise ValueError("bad value")
            return sum(values)

        self.queue: BatchingQueue[int, int] = BatchingQueue("test", Clock(self.reactor), process)

    def _add(self, value: int, key: object = ()) -> defer.Deferred[int]:
        return defer.ensureDeferred(self.queue.add_to_queue(value, key))

    def test_batches(self) -> None:
        self.gate = defer.Deferred()
        d1, d2 = self._add(1), self._add(2)
        self.assertEqual(len(self.queue), 2)
        self.reactor.advance(0)
        self.assertEqual(self.batches, [[1, 2]])
        # Added while the first batch is processed: the next batch.
        d3, d4 = self._add(3), self._add(4)
        gate, self.gate = self.gate, None
        gate.callback(None)
        self.assertEqual(self.successResultOf(d1), 3)
        self.assertEqual(self.successResultOf(d2), 3)
        self.assertEqual(self.batches, [[1, 2], [3, 4]])
        self.assertEqual(self.successResultOf(d3), 7)
        self.assertEqual(self.successResultOf(d4), 7)

    def test_keys_are_separate(self) -> None:
        d1, d2 = self._add(1, "a"), self._add(2, "b")
        self.reactor.advance(0)
        self.assertEqual(sorted(self.batches), [[1], [2]])
        self.assertEqual((self.successResultOf(d1), self.successResultOf(d2)), (1, 2))

    def test_failure_fails_the_batch_only(self) -> None:
        d1, d2 = self._add(-1), self._add(2)
        self.reactor.advance(0)
        self.failureResultOf(d1, ValueError)
        self.failureResultOf(d2, ValueError)
        d3 = self._add(5)
        self.reactor.advance(0)
        self.assertEqual(self.successResultOf(d3), 5)
