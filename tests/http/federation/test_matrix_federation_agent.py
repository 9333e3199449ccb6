"""``MatrixFederationAgent``: server discovery as the spec describes it, the Host header,
TLS names, and refusing blacklisted addresses, over a memory reactor."""

from __future__ import annotations

import ipaddress
import json
from typing import Any, cast

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionRefusedError, DNSLookupError
from twisted.internet.interfaces import IHostnameResolver
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.names import dns
from twisted.names.error import DNSNameError
from twisted.python.failure import Failure
from twisted.web.http_headers import Headers
from zope.interface import implementer

from synapse.config.federation import ALWAYS_BLACKLISTED, DEFAULT_IP_RANGE_BLACKLIST
from synapse.http.federation.matrix_federation_agent import MatrixFederationAgent
from synapse.http.federation.srv_resolver import SrvResolver
from synapse.http.federation.well_known_resolver import WellKnownResolver
from synapse.util.clock import Clock
from tests.federation.utils import InMemoryResponse
from tests.unittest import TestCase

BLACKLIST = [ipaddress.ip_network(r) for r in DEFAULT_IP_RANGE_BLACKLIST + ALWAYS_BLACKLISTED]

HOSTS = {
    "example.test": ["8.8.1.1"],
    "delegated.test": ["8.8.2.2"],
    "srv-target.test": ["8.8.3.3"],
    "srv-second.test": ["8.8.4.4"],
    "old-srv-target.test": ["8.8.5.5"],
    "evil.test": ["10.0.0.1"],
    "mixed.test": ["8.8.6.6", "192.168.1.1"],
}


@implementer(IHostnameResolver)
class FakeHostResolver:
    """A name resolver with fixed answers; records the names looked up."""

    def __init__(self, hosts: dict[str, list[str]]) -> None:
        self.hosts = hosts
        self.lookups: list[str] = []

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        self.lookups.append(hostName)
        resolutionReceiver.resolutionBegan(None)
        for ip in self.hosts.get(hostName, []):
            cls = IPv6Address if ":" in ip else IPv4Address
            resolutionReceiver.addressResolved(cls("TCP", ip, portNumber))
        resolutionReceiver.resolutionComplete()
        return None


class FakeWellKnownAgent:
    """Answers ``https://<host>/.well-known/matrix/server`` from a dict of host -> answer."""

    def __init__(self) -> None:
        self.answers: dict[bytes, tuple[int, Any, dict[bytes, list[bytes]]]] = {}
        self.requests: list[bytes] = []

    def request(
        self, method: bytes, uri: bytes, headers: Any = None, bodyProducer: Any = None
    ) -> Any:
        self.requests.append(uri)
        host = uri.split(b"/")[2]
        code, body, headers_dict = self.answers.get(host, (404, {}, {}))
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return defer.succeed(InMemoryResponse(code, Headers(headers_dict), raw))


class RecordingTlsPolicy:
    def __init__(self) -> None:
        self.hosts: list[tuple[bytes, int]] = []

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        from twisted.internet.ssl import CertificateOptions

        self.hosts.append((hostname, port))
        return CertificateOptions(verify=False)


def srv_answer(target: str, port: int, priority: int = 0, weight: int = 0, ttl: int = 3600) -> Any:
    return dns.RRHeader(
        name=b"x",
        type=dns.SRV,
        ttl=ttl,
        payload=cast(
            Any,
            dns.Record_SRV(priority=priority, weight=weight, port=port, target=target, ttl=ttl),
        ),
    )


class AgentTestCase(TestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.reactor.advance(1_700_000_000)
        self.clock = Clock(self.reactor)
        self.resolver = FakeHostResolver(HOSTS)
        self.reactor.installNameResolver(cast(Any, self.resolver))
        self.srv_records: dict[bytes, list[Any]] = {}
        self.srv_lookups: list[bytes] = []
        self.well_known = FakeWellKnownAgent()
        self.tls_policy: RecordingTlsPolicy | None = None

    def _lookup(self, name: bytes) -> defer.Deferred[Any]:
        self.srv_lookups.append(name)
        if name in self.srv_records:
            return defer.succeed((self.srv_records[name], [], []))
        return defer.fail(DNSNameError(name))

    def _agent(self, whitelist: tuple[str, ...] = ()) -> MatrixFederationAgent:
        return MatrixFederationAgent(
            self.reactor,
            self.clock,
            self.tls_policy,
            b"test-agent",
            ip_blacklist=BLACKLIST,
            ip_whitelist=[ipaddress.ip_network(w) for w in whitelist],
            srv_resolver=SrvResolver(self.clock.time, lookup_service=self._lookup),
            well_known_resolver=WellKnownResolver(self.clock, self.well_known, b"test-agent"),
        )

    def _request(
        self, agent: MatrixFederationAgent, server_name: str, path: str = "/foo"
    ) -> defer.Deferred[Any]:
        d = agent.request(b"GET", f"matrix-federation://{server_name}{path}".encode())
        self.reactor.advance(0)
        return d

    def _connection(self, index: int = -1) -> tuple[str, int, Any]:
        host, port, factory, _timeout, _bind = self.reactor.tcpClients[index]
        return host, port, factory

    def _complete(self, d: defer.Deferred[Any], index: int = -1) -> bytes:
        """Accept the connection, answer 200, and return the request bytes sent."""
        host, port, factory = self._connection(index)
        protocol = factory.buildProtocol(IPv4Address("TCP", host, port))
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.reactor.advance(0)
        sent = transport.value()
        protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        self.reactor.advance(0)
        response = self.successResultOf(d)
        self.assertEqual(response.code, 200)
        return sent

    def _host_header(self, sent: bytes) -> bytes:
        for line in sent.split(b"\r\n"):
            if line.lower().startswith(b"host:"):
                return line.split(b":", 1)[1].strip()
        raise AssertionError(f"no Host header in {sent!r}")

    # --- discovery -------------------------------------------------------------------

    def test_ip_literal(self) -> None:
        d = self._request(self._agent(), "8.8.9.9")
        self.assertEqual(self._connection()[:2], ("8.8.9.9", 8448))
        sent = self._complete(d)
        self.assertTrue(sent.startswith(b"GET /foo HTTP/1.1\r\n"))
        self.assertEqual(self._host_header(sent), b"8.8.9.9")
        self.assertEqual(self.well_known.requests, [])
        self.assertEqual(self.srv_lookups, [])

    def test_ipv6_literal_with_port(self) -> None:
        d = self._request(self._agent(), "[2a00:1450::1]:8449")
        self.assertEqual(self._connection()[:2], ("2a00:1450::1", 8449))
        self.assertEqual(self._host_header(self._complete(d)), b"[2a00:1450::1]:8449")

    def test_hostname_with_port(self) -> None:
        d = self._request(self._agent(), "example.test:1234", "/p?q=1")
        self.assertEqual(self._connection()[:2], ("8.8.1.1", 1234))
        sent = self._complete(d)
        self.assertTrue(sent.startswith(b"GET /p?q=1 HTTP/1.1\r\n"))
        self.assertEqual(self._host_header(sent), b"example.test:1234")
        self.assertEqual(self.well_known.requests, [])
        self.assertEqual(self.srv_lookups, [])

    def test_well_known_with_port(self) -> None:
        self.well_known.answers[b"example.test"] = (200, {"m.server": "delegated.test:5678"}, {})
        d = self._request(self._agent(), "example.test")
        self.assertEqual(
            self.well_known.requests, [b"https://example.test/.well-known/matrix/server"]
        )
        self.assertEqual(self._connection()[:2], ("8.8.2.2", 5678))
        self.assertEqual(self._host_header(self._complete(d)), b"delegated.test:5678")
        self.assertEqual(self.srv_lookups, [])

    def test_well_known_then_srv(self) -> None:
        self.tls_policy = RecordingTlsPolicy()
        self.well_known.answers[b"example.test"] = (200, {"m.server": "delegated.test"}, {})
        self.srv_records[b"_matrix-fed._tcp.delegated.test"] = [srv_answer("srv-target.test", 9000)]
        self._request(self._agent(), "example.test")
        self.assertEqual(self.srv_lookups, [b"_matrix-fed._tcp.delegated.test"])
        self.assertEqual(self._connection()[:2], ("8.8.3.3", 9000))
        # The certificate must be valid for the delegated name, not the SRV target.
        self.assertEqual(self.tls_policy.hosts, [(b"delegated.test", 9000)])

    def test_well_known_host_header_without_port(self) -> None:
        self.well_known.answers[b"example.test"] = (200, {"m.server": "delegated.test"}, {})
        d = self._request(self._agent(), "example.test")
        # No SRV records: the delegated host on 8448.
        self.assertEqual(
            self.srv_lookups,
            [b"_matrix-fed._tcp.delegated.test", b"_matrix._tcp.delegated.test"],
        )
        self.assertEqual(self._connection()[:2], ("8.8.2.2", 8448))
        self.assertEqual(self._host_header(self._complete(d)), b"delegated.test")

    def test_srv_without_well_known(self) -> None:
        self.tls_policy = RecordingTlsPolicy()
        self.srv_records[b"_matrix-fed._tcp.example.test"] = [srv_answer("srv-target.test", 9001)]
        self.srv_records[b"_matrix._tcp.example.test"] = [srv_answer("old-srv-target.test", 1)]
        self._request(self._agent(), "example.test")
        self.assertEqual(
            self.well_known.requests, [b"https://example.test/.well-known/matrix/server"]
        )
        self.assertEqual(self._connection()[:2], ("8.8.3.3", 9001))
        self.assertEqual(self.tls_policy.hosts, [(b"example.test", 9001)])

    def test_deprecated_srv(self) -> None:
        self.srv_records[b"_matrix._tcp.example.test"] = [srv_answer("old-srv-target.test", 7000)]
        d = self._request(self._agent(), "example.test")
        self.assertEqual(self._connection()[:2], ("8.8.5.5", 7000))
        self.assertEqual(self._host_header(self._complete(d)), b"example.test")

    def test_default_port(self) -> None:
        self.well_known.answers[b"example.test"] = (200, b"not json", {})
        d = self._request(self._agent(), "example.test")
        self.assertEqual(self._connection()[:2], ("8.8.1.1", 8448))
        self.assertEqual(self._host_header(self._complete(d)), b"example.test")

    def test_srv_failover(self) -> None:
        self.srv_records[b"_matrix-fed._tcp.example.test"] = [
            srv_answer("srv-second.test", 2, priority=10),
            srv_answer("srv-target.test", 1, priority=5),
        ]
        d = self._request(self._agent(), "example.test")
        self.assertEqual(self._connection()[:2], ("8.8.3.3", 1))
        _, _, factory = self._connection()
        factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        # The endpoint gives up on a name once its attempt delay has passed.
        self.reactor.advance(1)
        self.assertEqual(self._connection()[:2], ("8.8.4.4", 2))
        self._complete(d)

    def test_well_known_cached(self) -> None:
        self.well_known.answers[b"example.test"] = (
            200,
            {"m.server": "delegated.test:5678"},
            {b"Cache-Control": [b"max-age=7200"]},
        )
        agent = self._agent()
        self._request(agent, "example.test")
        self._request(agent, "example.test")
        self.assertEqual(len(self.well_known.requests), 1)
        self.reactor.advance(7201)
        self._request(agent, "example.test")
        self.assertEqual(len(self.well_known.requests), 2)

    # --- the blacklist ---------------------------------------------------------------

    def test_blacklisted_name_refused(self) -> None:
        d = self._request(self._agent(), "evil.test:8448")
        self.failureResultOf(d, DNSLookupError)
        self.assertEqual(self.reactor.tcpClients, [])

    def test_name_with_a_blacklisted_address_refused(self) -> None:
        d = self._request(self._agent(), "mixed.test:8448")
        self.failureResultOf(d, DNSLookupError)
        self.assertEqual(self.reactor.tcpClients, [])

    def test_blacklisted_ip_literals_refused(self) -> None:
        for name in ("127.0.0.1", "10.1.2.3:8448", "[::1]:8448", "[::ffff:127.0.0.1]", "0.0.0.0"):
            d = self._request(self._agent(), name)
            self.failureResultOf(d, DNSLookupError)
        self.assertEqual(self.reactor.tcpClients, [])

    def test_whitelisted_range_allowed(self) -> None:
        self._request(self._agent(whitelist=("10.0.0.0/24",)), "evil.test:8448")
        self.assertEqual(self._connection()[:2], ("10.0.0.1", 8448))
