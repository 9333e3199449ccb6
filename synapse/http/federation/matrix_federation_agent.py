"""The agent for ``matrix-federation://<server name>/<path>`` URIs.

It finds where a server name is served as the spec's "Resolving server names" says:

1. an IP literal: that address, with the given port or 8448;
2. a hostname with a port: that host and port;
3. otherwise ``/.well-known/matrix/server`` on the hostname; a delegated name found
   there is resolved like the steps below (its own port, else SRV, else 8448);
4. SRV ``_matrix-fed._tcp.<host>``, then the deprecated ``_matrix._tcp.<host>``;
5. the host on port 8448.

The ``Host`` header is the (delegated) server name; the TLS certificate must be valid for
its host part, whatever SRV pointed at. Every connection goes through a reactor whose
resolver refuses blacklisted addresses (``synapse.http.ip_filtering``).
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.error import ConnectError
from twisted.web.client import URI, Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IAgentEndpointFactory
from zope.interface import implementer

from synapse.http.federation.srv_resolver import SrvResolver
from synapse.http.federation.well_known_resolver import WellKnownResolver
from synapse.http.ip_filtering import BlacklistingReactorWrapper, IPNetwork, parse_ip_literal
from synapse.types import parse_server_name

if TYPE_CHECKING:
    from synapse.util.clock import Clock

logger = logging.getLogger(__name__)

DEFAULT_FEDERATION_PORT = 8448
SCHEME = b"matrix-federation"


def split_netloc(netloc: bytes) -> tuple[str, int | None]:
    """``(host, port)`` of a server name; IPv6 hosts keep their brackets."""
    try:
        return parse_server_name(netloc.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"Invalid server name {netloc!r}")


class MatrixHostnameEndpoint:
    """Connects to a server name: finds its targets (SRV or default port) and tries
    them in order, over TLS for the name's host when a TLS policy is given."""

    def __init__(
        self,
        reactor: Any,
        tls_policy: Any | None,
        srv_resolver: SrvResolver,
        netloc: bytes,
    ) -> None:
        self._reactor = reactor
        self._tls_policy = tls_policy
        self._srv_resolver = srv_resolver
        self._netloc = netloc

    def connect(self, protocol_factory: Any) -> defer.Deferred[Any]:
        """``IStreamClientEndpoint.connect``."""
        return defer.ensureDeferred(self._connect(protocol_factory))

    async def _connect(self, protocol_factory: Any) -> Any:
        host, _port = split_netloc(self._netloc)
        tls_host = host[1:-1] if host.startswith("[") else host
        first_error: Exception | None = None
        for target_host, target_port in await self.resolve_targets():
            endpoint: Any = HostnameEndpoint(self._reactor, target_host, target_port)
            if self._tls_policy is not None:
                creator = self._tls_policy.creatorForNetloc(tls_host.encode("ascii"), target_port)
                endpoint = wrapClientTLS(creator, endpoint)
            try:
                logger.debug("Connecting to %s:%d for %r", target_host, target_port, self._netloc)
                return await endpoint.connect(protocol_factory)
            except defer.CancelledError:
                raise
            except Exception as e:
                logger.info(
                    "Failed to connect to %s:%d for %r: %s",
                    target_host,
                    target_port,
                    self._netloc,
                    e,
                )
                if first_error is None:
                    first_error = e
        if first_error is not None:
            raise first_error
        raise ConnectError(string=f"no targets for {self._netloc!r}")

    async def resolve_targets(self) -> list[tuple[str, int]]:
        """The ``(host, port)`` pairs to try, in order."""
        host, port = split_netloc(self._netloc)
        literal = parse_ip_literal(host)
        if literal is not None:
            return [(str(literal), port or DEFAULT_FEDERATION_PORT)]
        if port is not None:
            return [(host, port)]
        for prefix in (b"_matrix-fed._tcp.", b"_matrix._tcp."):
            service = prefix + host.encode("ascii")
            try:
                servers = await self._srv_resolver.resolve_service(service)
            except defer.CancelledError:
                raise
            except Exception as e:
                logger.info("SRV lookup of %s failed: %s", service.decode("ascii"), e)
                servers = []
            if servers:
                return [(s.host.decode("ascii"), s.port) for s in servers]
        return [(host, DEFAULT_FEDERATION_PORT)]


@implementer(IAgentEndpointFactory)
class _EndpointFactory:
    def __init__(self, reactor: Any, tls_policy: Any | None, srv_resolver: SrvResolver) -> None:
        self._reactor = reactor
        self._tls_policy = tls_policy
        self._srv_resolver = srv_resolver

    def endpointForURI(self, uri: URI) -> MatrixHostnameEndpoint:
        return MatrixHostnameEndpoint(
            self._reactor, self._tls_policy, self._srv_resolver, uri.netloc
        )


@implementer(IAgent)
class MatrixFederationAgent:
    """``IAgent`` for ``matrix-federation://`` URIs; see the module docstring.

    ``tls_policy`` is an ``IPolicyForHTTPS`` (``FederationPolicyForHTTPS``); None means
    plain TCP, which only tests use. ``srv_resolver`` and ``well_known_resolver`` may be
    given to replace DNS and HTTPS lookups.
    """

    def __init__(
        self,
        reactor: Any,
        clock: Clock,
        tls_policy: Any | None,
        user_agent: bytes,
        ip_blacklist: Sequence[IPNetwork],
        ip_whitelist: Sequence[IPNetwork] = (),
        srv_resolver: SrvResolver | None = None,
        well_known_resolver: WellKnownResolver | None = None,
    ) -> None:
        self._reactor = BlacklistingReactorWrapper(reactor, ip_blacklist, ip_whitelist)
        self._pool = HTTPConnectionPool(self._reactor)
        self._pool.retryAutomatically = False
        self._pool.maxPersistentPerHost = 5
        self._pool.cachedConnectionTimeout = 2 * 60
        if srv_resolver is None:
            srv_resolver = SrvResolver(clock.time)
        self._agent = Agent.usingEndpointFactory(
            self._reactor, _EndpointFactory(self._reactor, tls_policy, srv_resolver), self._pool
        )
        if well_known_resolver is None:
            well_known_agent = Agent(
                self._reactor,
                contextFactory=tls_policy or BrowserLikePolicyForHTTPS(),
                pool=self._pool,
            )
            well_known_resolver = WellKnownResolver(clock, well_known_agent, user_agent)
        self._well_known_resolver = well_known_resolver

    def request(
        self,
        method: bytes,
        uri: bytes,
        headers: Headers | None = None,
        bodyProducer: Any | None = None,
    ) -> defer.Deferred[Any]:
        """``IAgent.request`` for a ``matrix-federation://`` URI."""
        return defer.ensureDeferred(self._request(method, uri, headers, bodyProducer))

    async def _request(
        self, method: bytes, uri: bytes, headers: Headers | None, body_producer: Any | None
    ) -> Any:
        parsed = urllib.parse.urlsplit(uri)
        if parsed.scheme != SCHEME:
            raise ValueError(f"Not a matrix-federation URI: {uri!r}")
        netloc = await self.delegated_netloc(parsed.netloc)
        headers = headers.copy() if headers is not None else Headers()
        # The Host header names the (delegated) server name, not where SRV pointed.
        headers.setRawHeaders(b"Host", [netloc])
        target = urllib.parse.urlunsplit((SCHEME, netloc, parsed.path or b"/", parsed.query, b""))
        return await self._agent.request(method, target, headers, body_producer)

    async def delegated_netloc(self, server_name: bytes) -> bytes:
        """The server name to connect to: ``server_name``, or its ``.well-known`` delegation."""
        host, port = split_netloc(server_name)
        if port is not None or parse_ip_literal(host) is not None:
            return server_name
        result = await self._well_known_resolver.get_well_known(host.encode("ascii"))
        return result.delegated_server or server_name
