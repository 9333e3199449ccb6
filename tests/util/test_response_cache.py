"""``ResponseCache``: shared computations, kept for a while, never cancelled by one caller."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from synapse.util.caches.response_cache import ResponseCache, ResponseCacheContext
from synapse.util.clock import Clock
from tests.unittest import TestCase


class ResponseCacheTestCase(TestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.cache: ResponseCache[str] = ResponseCache(Clock(self.reactor), "test", 1000)
        self.calls = 0
        self.pending: defer.Deferred[str] = defer.Deferred()

    async def compute(self, context: ResponseCacheContext[str]) -> str:
        self.calls += 1
        return await self.pending

    def wrap(self, key: str = "k") -> defer.Deferred[str]:
        return defer.ensureDeferred(self.cache.wrap(key, self.compute))

    def test_concurrent_callers_share_one_computation(self) -> None:
        first, second = self.wrap(), self.wrap()
        self.assertEqual(self.calls, 1)
        self.pending.callback("result")
        self.assertEqual(self.successResultOf(first), "result")
        self.assertEqual(self.successResultOf(second), "result")
        # Kept for a while, then computed again.
        self.assertEqual(self.successResultOf(self.wrap()), "result")
        self.assertEqual(self.calls, 1)
        self.reactor.advance(1.1)
        self.pending = defer.Deferred()
        self.wrap()
        self.assertEqual(self.calls, 2)

    def test_other_keys_compute_apart(self) -> None:
        self.wrap("a")
        self.wrap("b")
        self.assertEqual(self.calls, 2)

    def test_a_caller_going_away_does_not_cancel_the_others(self) -> None:
        first, second = self.wrap(), self.wrap()
        first.cancel()
        self.failureResultOf(first, defer.CancelledError)
        self.assertFalse(self.pending.called)
        self.pending.callback("still")
        self.assertEqual(self.successResultOf(second), "still")

    def test_failures_are_not_kept(self) -> None:
        first = self.wrap()
        self.pending.errback(ValueError("boom"))
        self.failureResultOf(first, ValueError)
        self.pending = defer.Deferred()
        self.wrap()
        self.assertEqual(self.calls, 2)

    def test_a_computation_may_decline_to_be_kept(self) -> None:
        async def empty(context: ResponseCacheContext[str]) -> str:
            self.calls += 1
            context.should_cache = False
            return ""

        self.assertEqual(
            self.successResultOf(defer.ensureDeferred(self.cache.wrap("k", empty))), ""
        )
        self.successResultOf(defer.ensureDeferred(self.cache.wrap("k", empty)))
        self.assertEqual(self.calls, 2)
        self.assertEqual(len(self.cache), 0)
