"""SRV lookups and ``.well-known`` delegation: answers, ordering, caching, failures."""

from __future__ import annotations

import json
import random
from typing import Any, cast

from twisted.internet import defer
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.names import dns
from twisted.names.error import DNSNameError, DNSServerError
from twisted.web.http_headers import Headers

from synapse.http.federation.srv_resolver import Server, SrvResolver, order_servers
from synapse.http.federation.well_known_resolver import (
    WELL_KNOWN_DEFAULT_CACHE_SECONDS,
    WellKnownResolver,
    cache_period_from_headers,
)
from synapse.util.clock import Clock
from tests.federation.utils import InMemoryResponse
from tests.http.federation.test_matrix_federation_agent import srv_answer
from tests.unittest import TestCase


class SrvResolverTestCase(TestCase):
    def setUp(self) -> None:
        self.now = 1000.0
        self.answers: dict[bytes, Any] = {}
        self.lookups: list[bytes] = []

    def _lookup(self, name: bytes) -> defer.Deferred[Any]:
        self.lookups.append(name)
        answer = self.answers.get(name)
        if isinstance(answer, Exception):
            return defer.fail(answer)
        if answer is None:
            return defer.fail(DNSNameError(name))
        return defer.succeed((answer, [], []))

    def _resolve(self, resolver: SrvResolver, name: bytes) -> list[Server]:
        return self.successResultOf(defer.ensureDeferred(resolver.resolve_service(name)))

    def test_answers_ordered_by_priority(self) -> None:
        self.answers[b"_s"] = [
            srv_answer("c.test", 3, priority=20),
            srv_answer("a.test", 1, priority=10),
            srv_answer("b.test", 2, priority=15),
        ]
        resolver = SrvResolver(lambda: self.now, self._lookup)
        self.assertEqual(
            [(s.host, s.port) for s in self._resolve(resolver, b"_s")],
            [(b"a.test", 1), (b"b.test", 2), (b"c.test", 3)],
        )

    def test_weights(self) -> None:
        servers = [Server(b"heavy", 1, 0, 90), Server(b"light", 2, 0, 10), Server(b"zero", 3, 0, 0)]
        firsts = [order_servers(servers, random.Random(seed))[0].host for seed in range(200)]
        self.assertGreater(firsts.count(b"heavy"), firsts.count(b"light"))
        self.assertNotIn(b"zero", firsts)
        # Every server is in every order.
        self.assertEqual(
            sorted(s.host for s in order_servers(servers)), [b"heavy", b"light", b"zero"]
        )

    def test_no_records_and_dot_target(self) -> None:
        resolver = SrvResolver(lambda: self.now, self._lookup)
        self.assertEqual(self._resolve(resolver, b"_none"), [])
        self.answers[b"_dot"] = [srv_answer("", 0)]
        self.assertEqual(self._resolve(resolver, b"_dot"), [])
        self.answers[b"_other"] = [
            dns.RRHeader(name=b"x", type=dns.A, payload=cast(Any, dns.Record_A("1.2.3.4")))
        ]
        self.assertEqual(self._resolve(resolver, b"_other"), [])

    def test_cached_for_ttl_and_stale_on_failure(self) -> None:
        self.answers[b"_s"] = [srv_answer("a.test", 1, ttl=300)]
        resolver = SrvResolver(lambda: self.now, self._lookup)
        self._resolve(resolver, b"_s")
        self.now += 299
        self._resolve(resolver, b"_s")
        self.assertEqual(len(self.lookups), 1)
        self.now += 2
        self.answers[b"_s"] = DNSServerError("servfail")
        # The DNS server fails: the last answer is still used.
        self.assertEqual([s.host for s in self._resolve(resolver, b"_s")], [b"a.test"])
        self.assertEqual(len(self.lookups), 2)

        # Without any earlier answer the failure is raised.
        self.answers[b"_t"] = DNSServerError("servfail")
        self.failureResultOf(defer.ensureDeferred(resolver.resolve_service(b"_t")), DNSServerError)


class FakeAgent:
    """Answers requests by URI with ``(code, body, headers)``, or raises."""

    def __init__(self) -> None:
        self.answers: dict[bytes, Any] = {}
        self.requests: list[bytes] = []

    def request(
        self, method: bytes, uri: bytes, headers: Any = None, bodyProducer: Any = None
    ) -> Any:
        self.requests.append(uri)
        answer = self.answers.get(uri, (404, b"", {}))
        if isinstance(answer, Exception):
            return defer.fail(answer)
        code, body, response_headers = answer
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return defer.succeed(InMemoryResponse(code, Headers(response_headers), raw))


WELL_KNOWN = b"https://example.test/.well-known/matrix/server"


class WellKnownResolverTestCase(TestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.reactor.advance(1_700_000_000)
        self.agent = FakeAgent()
        self.resolver = WellKnownResolver(Clock(self.reactor), self.agent, b"ua")

    def _lookup(self, host: bytes = b"example.test") -> bytes | None:
        d = defer.ensureDeferred(self.resolver.get_well_known(host))
        self.reactor.advance(0)
        return self.successResultOf(d).delegated_server

    def test_valid_delegation_cached_a_day(self) -> None:
        self.agent.answers[WELL_KNOWN] = (200, {"m.server": "other.test:443"}, {})
        self.assertEqual(self._lookup(), b"other.test:443")
        self.reactor.advance(WELL_KNOWN_DEFAULT_CACHE_SECONDS - 1)
        self.assertEqual(self._lookup(), b"other.test:443")
        self.assertEqual(len(self.agent.requests), 1)
        self.reactor.advance(2)
        self._lookup()
        self.assertEqual(len(self.agent.requests), 2)

    def test_cache_headers(self) -> None:
        self.agent.answers[WELL_KNOWN] = (
            200,
            {"m.server": "other.test"},
            {b"Cache-Control": [b"public, max-age=1800"]},
        )
        self._lookup()
        self.reactor.advance(1801)
        self._lookup()
        self.assertEqual(len(self.agent.requests), 2)
        # No more than 48 hours whatever the server says.
        self.agent.answers[WELL_KNOWN] = (
            200,
            {"m.server": "other.test"},
            {b"Cache-Control": [b"max-age=9999999"]},
        )
        self.reactor.advance(1801)
        self._lookup()
        self.reactor.advance(48 * 3600 + 1)
        self._lookup()
        self.assertEqual(len(self.agent.requests), 4)

    def test_invalid_answers_mean_no_delegation_for_an_hour(self) -> None:
        answers: list[tuple[int, Any, dict[bytes, list[bytes]]]] = [
            (404, b"", {}),
            (200, b"not json", {}),
            (200, [], {}),
            (200, {"m.server": 1}, {}),
            (200, {"m.server": "bad name!"}, {}),
            (200, {"other": "x"}, {}),
            (200, b"x" * 100_000, {}),
        ]
        for answer in answers:
            resolver = WellKnownResolver(Clock(self.reactor), self.agent, b"ua")
            self.agent.answers[WELL_KNOWN] = answer
            self.agent.requests = []
            d = defer.ensureDeferred(resolver.get_well_known(b"example.test"))
            self.reactor.advance(0)
            self.assertIsNone(self.successResultOf(d).delegated_server, answer)
            self.reactor.advance(3599)
            self.successResultOf(defer.ensureDeferred(resolver.get_well_known(b"example.test")))
            self.assertEqual(len(self.agent.requests), 1, answer)

    def test_redirects_followed(self) -> None:
        self.agent.answers[WELL_KNOWN] = (301, b"", {b"Location": [b"https://www.example.test/wk"]})
        self.agent.answers[b"https://www.example.test/wk"] = (200, {"m.server": "other.test"}, {})
        self.assertEqual(self._lookup(), b"other.test")

        # A loop ends in "no delegation".
        self.agent.answers[b"https://loop.test/.well-known/matrix/server"] = (
            302,
            b"",
            {b"Location": [b"https://loop.test/.well-known/matrix/server"]},
        )
        self.assertIsNone(self._lookup(b"loop.test"))
        self.assertLessEqual(len(self.agent.requests), 2 + 6)

    def test_outage_backs_off_and_keeps_the_last_delegation(self) -> None:
        self.agent.answers[WELL_KNOWN] = (
            200,
            {"m.server": "other.test"},
            {b"Cache-Control": [b"max-age=600"]},
        )
        self._lookup()
        self.reactor.advance(601)
        self.agent.answers[WELL_KNOWN] = ConnectionRefusedError()
        # Unreachable: the delegation seen before is still used, retried after 2 minutes,
        # then after 4.
        self.assertEqual(self._lookup(), b"other.test")
        self.reactor.advance(119)
        self._lookup()
        self.assertEqual(len(self.agent.requests), 2)
        self.reactor.advance(2)
        self.assertEqual(self._lookup(), b"other.test")
        self.assertEqual(len(self.agent.requests), 3)
        self.reactor.advance(239)
        self._lookup()
        self.assertEqual(len(self.agent.requests), 3)

        # 5xx counts as an outage too; a server never seen has no delegation meanwhile.
        self.agent.answers[b"https://new.test/.well-known/matrix/server"] = (503, b"", {})
        self.assertIsNone(self._lookup(b"new.test"))

    def test_cache_period_from_headers(self) -> None:
        now = 1_700_000_000.0
        self.assertIsNone(cache_period_from_headers(Headers(), now))
        self.assertEqual(
            cache_period_from_headers(Headers({b"cache-control": [b"max-age=60"]}), now), 60
        )
        self.assertEqual(
            cache_period_from_headers(Headers({b"cache-control": [b"no-store"]}), now), 0
        )
        expires = Headers({b"expires": [b"Tue, 14 Nov 2023 23:13:20 GMT"]})
        self.assertAlmostEqual(cache_period_from_headers(expires, now) or 0, 3600, delta=1)
