"""In-memory federation: homeservers on one fake reactor whose federation clients reach
each other's listener resources, routed by server name.

    class MyTest(FederatingHomeserverTestCase):
        def prepare(self, reactor, clock, hs):
            self.remote = self.make_remote_homeserver("remote.test")

        def test_it(self):
            client = self.remote.get_federation_http_client()
            body = self.get_success(client.get_json("test", "/_matrix/federation/v1/version"))

Every server registered with the ``FederationNetwork`` serves what a ``federation``
listener serves (``/_matrix/federation``, ``/_matrix/key``, ``/_matrix/media``).
Requests are real HTTP/1.1 requests written into each server's ``SynapseSite``;
``network.requests`` records them. Tests may also register plain functions as servers
(``add_responder``), make a name unreachable (``unreachable``), or keep requests to it
waiting (``hold``/``release``).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, cast

import attr
from twisted.internet import defer
from twisted.internet.error import ConnectionRefusedError, DNSLookupError
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IResponse
from zope.interface import implementer

from synapse.federation.transport.server import BaseFederationServlet, TransportLayerServer
from synapse.federation.transport.server._base import FEDERATION_PREFIX
from synapse.federation.transport.server.federation import FEDERATION_SERVLET_CLASSES
from synapse.http.matrixfederationclient import MatrixFederationHttpClient
from synapse.http.resource_tree import create_resource_tree, resources_for_listener
from synapse.http.site import SynapseRequest, SynapseSite
from tests.server import FakeChannel, ThreadedMemoryReactorClock, make_site
from tests.unittest import HomeserverTestCase

# A fake server: (method, path with query, headers, body) -> (status, JSON value or bytes).
Responder = Callable[[bytes, bytes, Headers, bytes], tuple[int, Any]]


@attr.s(slots=True, frozen=True, auto_attribs=True)
class RecordedRequest:
    """A request seen on the network."""

    origin: str
    destination: str
    method: bytes
    path: bytes
    headers: Headers
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _Transport:
    """Enough of a transport for a body protocol that may drop the connection."""

    def loseConnection(self) -> None:
        pass

    def abortConnection(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass


@implementer(IResponse)
class InMemoryResponse:
    """An ``IResponse`` whose body is already known."""

    def __init__(self, code: int, headers: Headers, body: bytes, phrase: bytes = b"") -> None:
        self.version = (b"HTTP", 1, 1)
        self.code = code
        self.phrase = phrase or b"OK"
        self.headers = headers
        self.length = len(body)
        self.request = None
        self.previousResponse = None
        self._body = body

    def deliverBody(self, protocol: Any) -> None:
        protocol.makeConnection(_Transport())
        if self._body:
            protocol.dataReceived(self._body)
        protocol.connectionLost(Failure(ResponseDone()))

    def setPreviousResponse(self, response: Any) -> None:
        self.previousResponse = response


class _WaitingChannel(FakeChannel):
    """A ``FakeChannel`` that fires ``done`` when the response is complete."""

    def __init__(self, site: SynapseSite, reactor: ThreadedMemoryReactorClock) -> None:
        super().__init__(site, reactor, client_ip="127.0.0.2")
        self.done: defer.Deferred[FakeChannel] = defer.Deferred()

    def write(self, data: bytes) -> None:
        super().write(data)
        if not self.done.called and self.is_finished():
            self.done.callback(self)

    def _connection_lost(self) -> None:
        super()._connection_lost()
        if not self.done.called:
            if self.is_finished():
                self.done.callback(self)
            else:
                self.done.errback(ConnectionRefusedError("connection closed without a response"))


def send_into_site(
    reactor: ThreadedMemoryReactorClock,
    site: SynapseSite,
    method: bytes,
    path: bytes,
    headers: Headers,
    body: bytes,
) -> _WaitingChannel:
    """Write one HTTP/1.1 request into ``site``; its ``done`` fires once the response is
    complete."""
    lines = [method + b" " + path + b" HTTP/1.1"]
    for name, values in headers.getAllRawHeaders():
        for value in values:
            lines.append(name + b": " + value)
    if body or method in (b"PUT", b"POST"):
        lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
    raw = b"\r\n".join(lines) + b"\r\n\r\n" + body

    channel = _WaitingChannel(site, reactor)
    protocol: Any = site.buildProtocol(channel.getPeer())
    channel.protocol = protocol
    make_request_object: Any = site.requestFactory

    def capture(http_channel: Any, *args: Any) -> SynapseRequest:
        request = make_request_object(http_channel, *args)
        channel.request = request
        return request

    protocol.requestFactory = capture
    protocol.makeConnection(channel)
    protocol.dataReceived(raw)
    return channel


@implementer(IAgent)
class FakeFederationAgent:
    """The ``IAgent`` of one server's federation client: ``matrix-federation://<name>``
    requests go to the server registered as ``<name>`` on the network."""

    def __init__(self, network: FederationNetwork, origin: str) -> None:
        self._network = network
        self._origin = origin

    def request(
        self,
        method: bytes,
        uri: bytes,
        headers: Headers | None = None,
        bodyProducer: Any | None = None,
    ) -> defer.Deferred[IResponse]:
        return defer.ensureDeferred(self._request(method, uri, headers, bodyProducer))

    async def _request(
        self, method: bytes, uri: bytes, headers: Headers | None, body_producer: Any | None
    ) -> IResponse:
        parsed = urllib.parse.urlsplit(uri)
        assert parsed.scheme == b"matrix-federation", uri
        destination = parsed.netloc.decode("ascii")
        path = parsed.path + (b"?" + parsed.query if parsed.query else b"")
        headers = headers.copy() if headers is not None else Headers()
        headers.setRawHeaders(b"Host", [parsed.netloc])
        body = b""
        if body_producer is not None:
            body = getattr(body_producer, "body", b"")
        self._network.requests.append(
            RecordedRequest(self._origin, destination, method, path, headers, body)
        )
        return await self._network.deliver(destination, method, path, headers, body)


class FederationNetwork:
    """Server name -> site (or responder); hands each homeserver a client wired to it."""

    def __init__(self, reactor: ThreadedMemoryReactorClock) -> None:
        self._reactor = reactor
        self.sites: dict[str, SynapseSite] = {}
        self.responders: dict[str, Responder] = {}
        self.unreachable: set[str] = set()
        self.requests: list[RecordedRequest] = []
        # Server name -> requests to it waiting for ``release``.
        self.held: dict[str, list[defer.Deferred[None]]] = {}

    def add_homeserver(
        self, hs: Any, extra_servlets: Iterable[type[BaseFederationServlet]] = ()
    ) -> None:
        """Serve ``hs``'s federation listener resources (plus ``extra_servlets`` under
        ``/_matrix/federation``) and wire its federation client to the network."""
        resources = resources_for_listener(hs, ["federation"])
        resources[FEDERATION_PREFIX] = TransportLayerServer(
            hs, (*FEDERATION_SERVLET_CLASSES, *extra_servlets)
        )
        self.sites[hs.hostname] = make_site(create_resource_tree(resources), self._reactor)
        hs._federation_http_client = MatrixFederationHttpClient(
            hs, agent=FakeFederationAgent(self, hs.hostname)
        )

    def add_responder(self, server_name: str, responder: Responder) -> None:
        """Answer requests to ``server_name`` with a function instead of a homeserver."""
        self.responders[server_name] = responder

    def hold(self, server_name: str) -> None:
        """Keep requests to ``server_name`` waiting until ``release(server_name)``."""
        self.held.setdefault(server_name, [])

    def release(self, server_name: str) -> None:
        for waiter in self.held.pop(server_name, []):
            waiter.callback(None)

    def requests_to(self, destination: str, path_prefix: bytes = b"") -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.destination == destination and r.path.startswith(path_prefix)
        ]

    async def deliver(
        self, destination: str, method: bytes, path: bytes, headers: Headers, body: bytes
    ) -> IResponse:
        if destination in self.held:
            waiter: defer.Deferred[None] = defer.Deferred()
            self.held[destination].append(waiter)
            await waiter
        if destination in self.unreachable:
            raise ConnectionRefusedError(destination)
        responder = self.responders.get(destination)
        if responder is not None:
            code, value = responder(method, path, headers, body)
            raw = value if isinstance(value, bytes) else json.dumps(value).encode("utf-8")
            response_headers = Headers({b"Content-Type": [b"application/json"]})
            return cast(IResponse, InMemoryResponse(code, response_headers, raw))
        site = self.sites.get(destination)
        if site is None:
            raise DNSLookupError(f"no such server {destination}")
        channel = await send_into_site(self._reactor, site, method, path, headers, body).done
        result = channel.result
        response = InMemoryResponse(
            result["code"], result["headers"], result["body"], result["reason"].encode("ascii")
        )
        return cast(IResponse, response)


class FederatingHomeserverTestCase(HomeserverTestCase):
    """``self.hs`` (named ``test``) on a ``FederationNetwork`` (``self.network``), and
    more homeservers on it from ``make_remote_homeserver``.

    ``federation_servlets`` are served under ``/_matrix/federation`` by every one of them,
    besides the real endpoints.
    """

    federation_servlets: ClassVar[tuple[type[BaseFederationServlet], ...]] = ()
    network: FederationNetwork

    def make_homeserver(self, reactor: ThreadedMemoryReactorClock, clock: Any) -> Any:
        hs = self.setup_test_homeserver()
        self.network = FederationNetwork(reactor)
        self.network.add_homeserver(hs, self.federation_servlets)
        return hs

    def make_remote_homeserver(self, name: str, config: dict[str, Any] | None = None) -> Any:
        """Another homeserver named ``name`` on this test's reactor and network.

        ``config`` holds top-level keys on top of this test's default config.
        """
        base = self.default_config()
        base["server_name"] = name
        base["public_baseurl"] = f"https://{name}/"
        base.update(config or {})
        hs = self.setup_test_homeserver(name, config=base)

        def close_pools() -> None:
            for pool in hs.get_database_pools():
                pool.close()

        self.addCleanup(close_pools)
        self.network.add_homeserver(hs, self.federation_servlets)
        return hs

    def federation_request(
        self,
        method: str,
        path: str,
        content: Any = None,
        origin: Any = None,
        destination: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] = (),
        target: Any = None,
        by: float = 0.1,
        await_result: bool = True,
    ) -> FakeChannel:
        """Send a request to the federation listener of ``target`` (default ``self.hs``).

        With ``origin`` (a homeserver) it is signed by that server for ``destination``
        (default the target's name); ``headers`` are added as given. The clock moves on
        by up to ``100 * by`` seconds while waiting (for retries of key fetches). Without
        ``await_result`` the channel is returned at once.
        """
        target = target or self.hs
        body = b"" if content is None else json.dumps(content).encode("utf-8")
        request_headers = Headers({b"Host": [target.hostname.encode("ascii")]})
        if content is not None:
            request_headers.addRawHeader(b"Content-Type", b"application/json")
        if origin is not None:
            for value in origin.get_federation_http_client().build_auth_headers(
                destination or target.hostname, method, path.encode("ascii"), content
            ):
                request_headers.addRawHeader(b"Authorization", value)
        for name, value in headers:
            request_headers.addRawHeader(name, value)
        site = self.network.sites[target.hostname]
        channel = send_into_site(
            self.reactor, site, method.encode("ascii"), path.encode("ascii"), request_headers, body
        )
        if await_result:
            self.get_success(channel.done, by=by)
        return channel
