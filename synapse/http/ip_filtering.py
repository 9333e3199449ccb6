"""Refuse outbound connections to blacklisted IP ranges.

``BlacklistingReactorWrapper`` is a reactor whose name resolver never yields a
blacklisted address (IP literals included, since endpoints resolve those through the
same resolver), so every endpoint built on it can only connect to allowed addresses.
A name with any blacklisted address is refused entirely, so that a host cannot be
steered to an internal address by answering with a mix of addresses.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import (
    IAddress,
    IHostnameResolver,
    IHostResolution,
    IReactorPluggableNameResolver,
    IResolutionReceiver,
)
from zope.interface import alsoProvides, implementer, providedBy

logger = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` names literally (``[...]`` brackets allowed), or None."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_ip_blocked(
    ip: IPAddress, blacklist: Iterable[IPNetwork], whitelist: Iterable[IPNetwork] = ()
) -> bool:
    """Whether ``ip`` is in a blacklisted range and in no whitelisted one.

    An IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) is judged as its IPv4 address too.
    """
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    whitelist = list(whitelist)
    for candidate in candidates:
        if any(candidate in net for net in blacklist if net.version == candidate.version):
            if not any(candidate in net for net in whitelist if net.version == candidate.version):
                return True
    return False


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        """Nothing to cancel: answers that come late are dropped by the receiver."""


@implementer(IHostnameResolver)
class BlacklistingResolver:
    """Resolves through ``resolver`` (an ``IHostnameResolver``) and gives no address for a
    name with a blocked one."""

    def __init__(
        self,
        resolver: Any,
        blacklist: Sequence[IPNetwork],
        whitelist: Sequence[IPNetwork] = (),
    ) -> None:
        self._resolver = resolver
        self._blacklist = list(blacklist)
        self._whitelist = list(whitelist)

    def _blocked(self, address: IAddress) -> bool:
        host = getattr(address, "host", None)
        if not isinstance(host, str):
            return False
        ip = parse_ip_literal(host.split("%", 1)[0])
        return ip is not None and is_ip_blocked(ip, self._blacklist, self._whitelist)

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> _Resolution:
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)

        literal = parse_ip_literal(hostName)
        if literal is not None:
            if is_ip_blocked(literal, self._blacklist, self._whitelist):
                logger.info("Refusing to connect to blacklisted address %s", hostName)
            else:
                cls = IPv4Address if literal.version == 4 else IPv6Address
                resolutionReceiver.addressResolved(cls("TCP", str(literal), portNumber))
            resolutionReceiver.resolutionComplete()
            return resolution

        addresses: list[IAddress] = []
        resolver = self

        @implementer(IResolutionReceiver)
        class _Collector:
            @staticmethod
            def resolutionBegan(resolutionInProgress: Any) -> None:
                pass

            @staticmethod
            def addressResolved(address: IAddress) -> None:
                addresses.append(address)

            @staticmethod
            def resolutionComplete() -> None:
                if any(resolver._blocked(a) for a in addresses):
                    logger.info(
                        "Refusing to connect to %s: it resolves to a blacklisted address",
                        hostName,
                    )
                else:
                    for address in addresses:
                        resolutionReceiver.addressResolved(address)
                resolutionReceiver.resolutionComplete()

        self._resolver.resolveHostName(
            _Collector(), hostName, portNumber, addressTypes, transportSemantics
        )
        return resolution


@implementer(IReactorPluggableNameResolver)
class BlacklistingReactorWrapper:
    """The given reactor, with a name resolver that refuses blacklisted addresses.

    Everything but ``nameResolver`` is the wrapped reactor's; the wrapper provides the
    same interfaces, so endpoints and agents accept it as a reactor.
    """

    def __init__(
        self, reactor: Any, blacklist: Sequence[IPNetwork], whitelist: Sequence[IPNetwork] = ()
    ) -> None:
        self._reactor = reactor
        self._name_resolver = BlacklistingResolver(reactor.nameResolver, blacklist, whitelist)
        for interface in providedBy(reactor):
            # Declared per instance: the wrapped reactor decides what is provided.
            if not interface.providedBy(self):
                alsoProvides(self, interface)

    @property
    def nameResolver(self) -> BlacklistingResolver:
        return self._name_resolver

    def installNameResolver(self, resolver: Any) -> Any:
        raise NotImplementedError("The resolver of a blacklisting reactor is fixed")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)
