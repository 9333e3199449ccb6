"""IP range checks and the blacklisting name resolver."""

from __future__ import annotations

import ipaddress
from typing import Any, cast

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import MemoryReactorClock

from synapse.http.ip_filtering import BlacklistingReactorWrapper, is_ip_blocked, parse_ip_literal
from tests.http.federation.test_matrix_federation_agent import FakeHostResolver
from tests.unittest import TestCase

BLACKLIST = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "127.0.0.0/8", "::1/128", "fc00::/7")]
WHITELIST = [ipaddress.ip_network("10.1.0.0/16")]


class _Receiver:
    def __init__(self) -> None:
        self.addresses: list[Any] = []
        self.complete = False

    def resolutionBegan(self, resolution: Any) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address)

    def resolutionComplete(self) -> None:
        self.complete = True


class IpFilteringTestCase(TestCase):
    def test_is_ip_blocked(self) -> None:
        def blocked(ip: str) -> bool:
            return is_ip_blocked(ipaddress.ip_address(ip), BLACKLIST, WHITELIST)

        self.assertTrue(blocked("10.2.3.4"))
        self.assertFalse(blocked("10.1.3.4"))
        self.assertTrue(blocked("127.0.0.1"))
        self.assertFalse(blocked("8.8.8.8"))
        self.assertTrue(blocked("::1"))
        self.assertTrue(blocked("fd00::5"))
        self.assertFalse(blocked("2a00:1450::1"))
        # IPv4 in IPv6 clothing.
        self.assertTrue(blocked("::ffff:127.0.0.1"))
        self.assertFalse(blocked("::ffff:10.1.0.1"))

    def test_parse_ip_literal(self) -> None:
        self.assertEqual(parse_ip_literal("[::1]"), ipaddress.ip_address("::1"))
        self.assertEqual(parse_ip_literal("1.2.3.4"), ipaddress.ip_address("1.2.3.4"))
        self.assertIsNone(parse_ip_literal("example.com"))

    def test_resolver(self) -> None:
        reactor = MemoryReactorClock()
        resolver = FakeHostResolver(
            {
                "good.test": ["8.8.8.8", "2a00::1"],
                "bad.test": ["10.9.9.9"],
                "mixed.test": ["8.8.8.8", "127.0.0.1"],
            }
        )
        reactor.installNameResolver(cast(Any, resolver))
        wrapped = BlacklistingReactorWrapper(reactor, BLACKLIST, WHITELIST)

        def resolve(name: str) -> list[str]:
            receiver = _Receiver()
            wrapped.nameResolver.resolveHostName(receiver, name, 443)
            self.assertTrue(receiver.complete)
            for address in receiver.addresses:
                self.assertIsInstance(address, (IPv4Address, IPv6Address))
                self.assertEqual(address.port, 443)
            return [a.host for a in receiver.addresses]

        self.assertEqual(resolve("good.test"), ["8.8.8.8", "2a00::1"])
        self.assertEqual(resolve("bad.test"), [])
        self.assertEqual(resolve("mixed.test"), [])
        self.assertEqual(resolve("nothing.test"), [])
        self.assertEqual(resolve("10.1.2.3"), ["10.1.2.3"])
        self.assertEqual(resolve("10.2.2.3"), [])
        self.assertEqual(resolve("::1"), [])
        # Everything else is the wrapped reactor's.
        self.assertEqual(wrapped.seconds(), reactor.seconds())
