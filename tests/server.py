"""The in-memory test harness: a fake reactor, a fake connection, and a test homeserver.

``make_request`` writes a real HTTP/1.1 request into the real Twisted ``HTTPChannel``
of a ``SynapseSite``, over a ``FakeChannel`` transport that collects the raw response;
``FakeChannel`` then parses it (``.code``, ``.headers``, ``.json_body``). Nothing
touches the network and time only moves when the test advances the reactor.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from twisted.internet import address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IConsumer, ITransport
from twisted.python.failure import Failure
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from zope.interface import implementer

from synapse.http.site import SynapseRequest, SynapseSite
from tests.utils import FakeThreadPool, cleanup_test_database, setup_test_database_config
from tests.utils import ThreadedMemoryReactorClock as _BaseThreadedReactor

logger = logging.getLogger(__name__)

__all__ = [
    "FakeChannel",
    "FakeThreadPool",
    "ThreadedMemoryReactorClock",
    "default_config",
    "get_clock",
    "make_request",
    "make_site",
    "setup_test_homeserver",
]

# The fake clock starts here (2023-11-14), so that timestamps look like real ones.
START_TIME = 1_700_000_000.0


class ThreadedMemoryReactorClock(_BaseThreadedReactor):
    """``MemoryReactorClock`` plus the thread API (jobs run at once) and a ``callLater``
    whose callbacks, like on a real reactor, log their exceptions instead of breaking
    ``advance``."""

    def __init__(self) -> None:
        super().__init__()
        self.advance(START_TIME)

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        def run() -> None:
            try:
                callable(*args, **kw)
            except Exception:
                logger.exception("Exception in delayed call %r", callable)

        return super().callLater(delay, run)


def get_clock() -> tuple[ThreadedMemoryReactorClock, Any]:
    """A fresh fake reactor and the homeserver ``Clock`` over it."""
    from synapse.util.clock import Clock

    reactor = ThreadedMemoryReactorClock()
    return reactor, Clock(reactor)


@implementer(ITransport, IConsumer)
class FakeChannel:
    """The client end of one HTTP connection: the transport of the server's ``HTTPChannel``.

    It collects what the server writes and parses it as an HTTP/1.1 response.
    """

    def __init__(
        self, site: SynapseSite, reactor: ThreadedMemoryReactorClock, client_ip: str = "127.0.0.1"
    ) -> None:
        self.site = site
        self._reactor = reactor
        self._ip = client_ip
        self.raw = b""
        self.disconnecting = False
        self.disconnected = False
        self.protocol: Any = None
        self.request: SynapseRequest | None = None
        self._producer: Any = None
        self._producer_streaming = False
        self._parsed: dict[str, Any] | None = None

    # --- ITransport -------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.disconnected:
            return
        self.raw += data
        self._parsed = None

    def writeSequence(self, data: Iterable[bytes]) -> None:
        for chunk in data:
            self.write(chunk)

    def loseConnection(self) -> None:
        if self.disconnecting:
            return
        self.disconnecting = True
        self._reactor.callLater(0, self._connection_lost)

    def abortConnection(self) -> None:
        self.loseConnection()

    def _connection_lost(self) -> None:
        if self.disconnected:
            return
        self.disconnected = True
        if self.protocol is not None:
            self.protocol.connectionLost(Failure(ConnectionDone("client closed")))

    def getPeer(self) -> address.IPv4Address | address.IPv6Address:
        if ":" in self._ip:
            return address.IPv6Address("TCP", self._ip, 34567)
        return address.IPv4Address("TCP", self._ip, 34567)

    def getHost(self) -> address.IPv4Address:
        return address.IPv4Address("TCP", "127.0.0.1", 8008)

    # --- IConsumer --------------------------------------------------------------------

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._producer = producer
        self._producer_streaming = streaming
        if not streaming:
            self._reactor.callLater(0, self._pull)

    def unregisterProducer(self) -> None:
        self._producer = None

    def _pull(self) -> None:
        producer = self._producer
        if producer is None or self._producer_streaming or self.disconnected:
            return
        producer.resumeProducing()
        self._reactor.callLater(0, self._pull)

    # --- the client side ----------------------------------------------------------------

    def client_disconnect(self) -> None:
        """The client goes away (e.g. a timed-out long poll)."""
        self.loseConnection()
        self._reactor.advance(0)

    def _parse(self) -> dict[str, Any] | None:
        """The response so far: ``None`` until the headers are complete."""
        if self._parsed is not None:
            return self._parsed
        data = self.raw
        while data.startswith(b"HTTP/1.1 100 "):
            data = data[data.index(b"\r\n\r\n") + 4 :]
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head, rest = data[:head_end].decode("latin-1"), data[head_end + 4 :]
        status_line, *header_lines = head.split("\r\n")
        _version, code, *reason = status_line.split(" ", 2)
        headers = Headers()
        for line in header_lines:
            name, _, value = line.partition(":")
            headers.addRawHeader(name.strip(), value.strip())
        body, done = self._parse_body(headers, rest)
        self._parsed = {
            "code": int(code),
            "reason": reason[0] if reason else "",
            "headers": headers,
            "body": body,
            "done": done,
        }
        return self._parsed

    def _parse_body(self, headers: Headers, rest: bytes) -> tuple[bytes, bool]:
        method = self.request.method if self.request is not None else b""
        if method == b"HEAD":
            return b"", True
        length = headers.getRawHeaders("Content-Length")
        if length:
            n = int(length[0])
            return rest[:n], len(rest) >= n
        if (headers.getRawHeaders("Transfer-Encoding") or [""])[0].lower() == "chunked":
            body = b""
            while True:
                line_end = rest.find(b"\r\n")
                if line_end < 0:
                    return body, False
                size = int(rest[:line_end].split(b";")[0], 16)
                if size == 0:
                    return body, True
                chunk = rest[line_end + 2 : line_end + 2 + size]
                if len(chunk) < size:
                    return body + chunk, False
                body += chunk
                rest = rest[line_end + 2 + size + 2 :]
        return rest, self.disconnected

    @property
    def result(self) -> dict[str, Any]:
        """``code``, ``reason``, ``headers``, ``body`` (bytes) and ``done`` of the response."""
        parsed = self._parse()
        if parsed is None:
            raise AssertionError(f"No response yet (got {self.raw!r})")
        return parsed

    def is_finished(self) -> bool:
        parsed = self._parse()
        return parsed is not None and bool(parsed["done"])

    @property
    def code(self) -> int:
        return int(self.result["code"])

    @property
    def headers(self) -> Headers:
        return self.result["headers"]

    @property
    def text_body(self) -> str:
        return self.result["body"].decode("utf-8")

    @property
    def json_body(self) -> Any:
        body = self.result["body"]
        try:
            return json.loads(body)
        except ValueError:
            raise AssertionError(f"Response body is not JSON: {body!r}")

    def await_result(self, timeout_ms: int = 1000) -> None:
        """Advance the reactor in 0.1s steps until the response is complete."""
        self._reactor.advance(0)
        waited = 0
        while not self.is_finished():
            if waited >= timeout_ms:
                raise TimedOutException(f"Timed out waiting for a response to {self.request!r}")
            self._reactor.advance(0.1)
            waited += 100

    def __repr__(self) -> str:
        return f"<FakeChannel {self.request!r} {len(self.raw)} bytes>"


class TimedOutException(Exception):
    """A request did not finish within the time the test gave it."""


def make_site(
    resource: Resource,
    reactor: ThreadedMemoryReactorClock,
    max_request_body_size: int | None = None,
    x_forwarded: bool = False,
) -> SynapseSite:
    """A ``SynapseSite`` over ``resource`` on the fake reactor."""
    kwargs: dict[str, Any] = {}
    if max_request_body_size is not None:
        kwargs["max_request_body_size"] = max_request_body_size
    return SynapseSite(
        resource, reactor=reactor, site_tag="test", x_forwarded=x_forwarded, **kwargs
    )


def _to_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def make_request(
    reactor: ThreadedMemoryReactorClock,
    site: SynapseSite,
    method: str | bytes,
    path: str | bytes,
    content: object = b"",
    access_token: str | None = None,
    custom_headers: Iterable[tuple[str | bytes, str | bytes]] | None = None,
    shorthand: bool = True,
    federation_auth_origin: str | bytes | None = None,
    await_result: bool = True,
    client_ip: str = "127.0.0.1",
    chunked: bool = False,
    content_type: bytes | None = None,
) -> FakeChannel:
    """Send one request into ``site`` over a new fake connection and return its channel.

    ``path`` not starting with ``/`` is taken relative to ``/_matrix/client/v3/`` when
    ``shorthand``. ``content`` may be bytes or str (sent as is) or a JSON value
    (encoded). ``chunked`` sends the body with chunked transfer-encoding (no
    Content-Length). With ``await_result`` the reactor is advanced until the response
    is complete; otherwise call ``channel.await_result()``.
    """
    method_b = _to_bytes(method).upper()
    path_b = _to_bytes(path)
    if shorthand and not path_b.startswith(b"/"):
        path_b = b"/_matrix/client/v3/" + path_b
    if content is None:
        body = b""
    elif isinstance(content, (bytes, str)):
        body = _to_bytes(content)
    else:
        body = json.dumps(content).encode("utf-8")

    headers: list[tuple[bytes, bytes]] = [(b"Host", b"test"), (b"User-Agent", b"synapse-tests")]
    if access_token is not None:
        headers.append((b"Authorization", b"Bearer " + access_token.encode("ascii")))
    if federation_auth_origin is not None:
        origin = _to_bytes(federation_auth_origin)
        headers.append(
            (
                b"Authorization",
                # Not a valid signature: tests using this stub out the server key checks.
                b'X-Matrix origin="'
                + origin
                + b'",destination="test",key="ed25519:a_lPym",sig="aGVsbG8"',
            )
        )
    if body or method_b in (b"POST", b"PUT", b"PATCH"):
        headers.append((b"Content-Type", content_type or b"application/json"))
        if chunked:
            headers.append((b"Transfer-Encoding", b"chunked"))
        else:
            headers.append((b"Content-Length", str(len(body)).encode("ascii")))
    for name, value in custom_headers or ():
        headers.append((_to_bytes(name), _to_bytes(value)))

    raw = method_b + b" " + path_b + b" HTTP/1.1\r\n"
    raw += b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n"
    if chunked:
        step = 8192
        for i in range(0, len(body), step):
            piece = body[i : i + step]
            raw += f"{len(piece):x}\r\n".encode("ascii") + piece + b"\r\n"
        raw += b"0\r\n\r\n"
    else:
        raw += body

    channel = FakeChannel(site, reactor, client_ip)
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
    if await_result:
        channel.await_result()
    return channel


def default_config(name: str = "test") -> dict[str, Any]:
    """The config dict of a test homeserver.

    Registration is open, bcrypt is cheap, and rate limits are high enough never to
    trigger unless a test lowers them.
    """
    no_limit = {"per_second": 10000, "burst_count": 10000}
    config: dict[str, Any] = {
        "server_name": name,
        # setup_test_homeserver puts the per-test database of tests.utils here.
        "database": {"name": "sqlite3", "args": {"database": ":memory:"}},
        "report_stats": False,
        "public_baseurl": f"https://{name}/",
        "enable_registration": True,
        "enable_registration_without_verification": True,
        "bcrypt_rounds": 4,
        "registration_shared_secret": "shared secret",
        "suppress_key_server_warning": True,
        "trusted_key_servers": [],
        "rc_message": no_limit,
        "rc_registration": no_limit,
        "rc_registration_token_validity": no_limit,
        "rc_login": {"address": no_limit, "account": no_limit, "failed_attempts": no_limit},
        "rc_joins": {"local": no_limit, "remote": no_limit},
        "rc_joins_per_room": no_limit,
        "rc_invites": {"per_room": no_limit, "per_user": no_limit, "per_issuer": no_limit},
        "rc_3pid_validation": no_limit,
        "rc_admin_redaction": no_limit,
        "rc_presence": {"per_user": no_limit},
        "rc_delayed_event_mgmt": no_limit,
        "rc_room_creation": no_limit,
        "rc_reports": no_limit,
        "federation_rc_window_size": 1000,
        "federation_rc_sleep_limit": 10000,
        "federation_rc_sleep_delay": 0,
        "federation_rc_reject_limit": 10000,
        "federation_rc_concurrent": 10000,
        "listeners": [{"port": 0, "type": "http", "resources": [{"names": ["client"]}]}],
        "caches": {"global_factor": 1},
        "use_frozen_dicts": False,
        "enable_metrics": True,
    }
    return config


def _parse_config(config: Mapping[str, Any]) -> Any:
    from synapse.config.homeserver import HomeServerConfig

    return HomeServerConfig.parse_config_dict(dict(config), config_dir_path="", data_dir_path="")


def setup_test_homeserver(
    cleanup_func: Callable[[Callable[[], None]], None],
    name: str = "test",
    config: Any = None,
    reactor: ThreadedMemoryReactorClock | None = None,
    clock: Any = None,
    homeserver_to_use: Any = None,
    **getter_overrides: Any,
) -> Any:
    """A ``HomeServer`` on the fake reactor with a fresh test database, schema applied.

    ``config`` is a dict (parsed here) or a ``HomeServerConfig``; its database section
    is replaced by the test database of ``tests.utils``. ``cleanup_func`` receives a
    function that drops that database. Keyword arguments set pieces before first use,
    e.g. ``auth_handler=fake`` replaces what ``hs.get_auth_handler()`` returns.
    """
    from synapse.server import HomeServer

    if reactor is None:
        reactor, _ = get_clock()
    if config is None:
        config = default_config(name)

    database_config = setup_test_database_config()
    cleanup_func(lambda: cleanup_test_database(database_config))

    if isinstance(config, Mapping):
        config_dict = dict(config)
        config_dict["database"] = database_config
        parsed = _parse_config(config_dict)
    else:
        parsed = config
        _replace_database_config(parsed, database_config)

    hs_class = homeserver_to_use or HomeServer
    hs = hs_class(name, config=parsed, reactor=cast(Any, reactor))
    if clock is not None:
        setattr(hs, "_clock", clock)  # noqa: B010
    for getter_name, value in getter_overrides.items():
        setattr(hs, "_" + getter_name, value)

    setup = getattr(hs, "setup", None)
    if setup is not None:
        setup()
    return hs


def _replace_database_config(config: Any, database_config: Mapping[str, Any]) -> None:
    """Point an already parsed config at the test database."""
    from synapse.config.database import DatabaseConfig

    section = DatabaseConfig(config)
    section.read_config({"database": dict(database_config)}, "", "")
    config.database = section
