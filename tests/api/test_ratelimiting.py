"""The token-bucket Ratelimiter, directly and as a client sees it (429 M_LIMIT_EXCEEDED)."""

from __future__ import annotations

from typing import Any

from twisted.web.server import Request

from synapse.api.errors import Codes, LimitExceededError
from synapse.api.ratelimiting import Ratelimiter
from synapse.config.ratelimiting import RatelimitSettings
from synapse.http.servlet import RestServlet
from synapse.rest.client._base import client_patterns
from synapse.types import create_requester
from tests.matrix_spec import assert_response_matches_spec
from tests.unittest import HomeserverTestCase


class RatelimiterTestCase(HomeserverTestCase):
    def limiter(self, per_second: float = 0.1, burst_count: float = 3) -> Ratelimiter:
        return Ratelimiter(
            None, self.clock, RatelimitSettings(per_second=per_second, burst_count=burst_count)
        )

    def test_burst_then_limited_then_recovers(self) -> None:
        limiter = self.limiter(per_second=0.1, burst_count=3)
        now = self.clock.time()
        for _ in range(3):
            self.assertEqual(self.get_success(limiter.can_do_action(None, key="ip")), (True, now))
        allowed, time_allowed = self.get_success(limiter.can_do_action(None, key="ip"))
        self.assertFalse(allowed)
        self.assertAlmostEqual(time_allowed, now + 10)

        self.reactor.advance(9.9)
        self.assertFalse(self.get_success(limiter.can_do_action(None, key="ip"))[0])
        self.reactor.advance(0.1)
        self.assertTrue(self.get_success(limiter.can_do_action(None, key="ip"))[0])
        self.assertFalse(self.get_success(limiter.can_do_action(None, key="ip"))[0])

    def test_keys_are_separate_and_default_to_user(self) -> None:
        limiter = self.limiter(burst_count=1)
        alice = create_requester("@alice:test")
        bob = create_requester("@bob:test")
        self.assertTrue(self.get_success(limiter.can_do_action(alice))[0])
        self.assertFalse(self.get_success(limiter.can_do_action(alice))[0])
        self.assertFalse(self.get_success(limiter.can_do_action(None, key="@alice:test"))[0])
        self.assertTrue(self.get_success(limiter.can_do_action(bob))[0])
        self.assertTrue(self.get_success(limiter.can_do_action(alice, key="other"))[0])

    def test_update_false_does_not_count(self) -> None:
        limiter = self.limiter(burst_count=1)
        for _ in range(5):
            self.assertTrue(self.get_success(limiter.can_do_action(None, key="k", update=False))[0])
        self.assertTrue(self.get_success(limiter.can_do_action(None, key="k"))[0])
        self.assertFalse(self.get_success(limiter.can_do_action(None, key="k", update=False))[0])

    def test_overrides(self) -> None:
        limiter = self.limiter(per_second=0.1, burst_count=1)
        self.assertTrue(self.get_success(limiter.can_do_action(None, key="k", burst_count=2))[0])
        self.assertTrue(self.get_success(limiter.can_do_action(None, key="k", burst_count=2))[0])
        allowed, when = self.get_success(
            limiter.can_do_action(None, key="k", rate_hz=1, burst_count=2)
        )
        self.assertFalse(allowed)
        self.assertAlmostEqual(when - self.clock.time(), 1)

    def test_zero_rate_never_recovers(self) -> None:
        limiter = self.limiter(per_second=0, burst_count=1)
        self.get_success(limiter.ratelimit(None, key="k"))
        error = self.get_failure(limiter.ratelimit(None, key="k"), LimitExceededError).value
        assert isinstance(error, LimitExceededError)
        self.assertIsNone(error.retry_after_ms)
        self.reactor.advance(10_000)
        self.get_failure(limiter.ratelimit(None, key="k"), LimitExceededError)

    def test_ratelimit_raises_with_retry_after(self) -> None:
        limiter = self.limiter(per_second=0.5, burst_count=2)
        self.get_success(limiter.ratelimit(None, key="k"))
        self.get_success(limiter.ratelimit(None, key="k"))
        error = self.get_failure(limiter.ratelimit(None, key="k"), LimitExceededError).value
        assert isinstance(error, LimitExceededError)
        self.assertEqual(error.retry_after_ms, 2000)
        self.assertEqual(error.error_dict()["errcode"], Codes.LIMIT_EXCEEDED)

    def test_record_action_counts_beyond_burst(self) -> None:
        limiter = self.limiter(per_second=1, burst_count=2)
        limiter.record_action(None, key="k", n_actions=4)
        allowed, when = self.get_success(limiter.can_do_action(None, key="k", update=False))
        self.assertFalse(allowed)
        self.assertAlmostEqual(when - self.clock.time(), 3)

    def test_drained_buckets_are_pruned(self) -> None:
        limiter = self.limiter(per_second=1, burst_count=5)
        self.get_success(limiter.can_do_action(None, key="k"))
        self.assertIn("k", limiter._buckets)
        self.reactor.advance(61)
        self.assertNotIn("k", limiter._buckets)


class _LimitedServlet(RestServlet):
    PATTERNS = client_patterns("/limited$", releases=("v3",))

    def __init__(self, hs: Any) -> None:
        self.limiter = Ratelimiter(
            None, hs.get_clock(), RatelimitSettings(per_second=0.2, burst_count=2)
        )

    async def on_POST(self, request: Request) -> tuple[int, Any]:
        await self.limiter.ratelimit(
            None, key=getattr(request, "get_client_ip_if_available", lambda: "-")()
        )
        return 200, {}


class RatelimitOverHttpTestCase(HomeserverTestCase):
    servlets = [lambda hs, http_server: _LimitedServlet(hs).register(http_server)]

    def test_limit_exceeded_and_recovery(self) -> None:
        for _ in range(2):
            self.assertEqual(self.make_request("POST", "limited", {}).code, 200)
        channel = self.make_request("POST", "limited", {})
        self.assertEqual(channel.code, 429, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], Codes.LIMIT_EXCEEDED)
        self.assertEqual(channel.json_body["retry_after_ms"], 5000)
        self.assertEqual(channel.headers.getRawHeaders("Retry-After"), ["5"])
        assert_response_matches_spec(
            channel.json_body, "client-server/login.yaml", "/login", "post", 429
        )

        # Another client is not affected.
        self.assertEqual(self.make_request("POST", "limited", {}, client_ip="192.0.2.1").code, 200)

        self.reactor.advance(4)
        channel = self.make_request("POST", "limited", {})
        self.assertEqual(channel.code, 429)
        self.assertEqual(channel.json_body["retry_after_ms"], 1000)
        self.reactor.advance(1)
        self.assertEqual(self.make_request("POST", "limited", {}).code, 200)
