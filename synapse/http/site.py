"""``SynapseSite`` and ``SynapseRequest``: request ids, proxies, body limits, access log, metrics."""

from __future__ import annotations

import contextvars
import itertools
import logging
import re
from typing import Any, cast

from twisted.internet import address, defer
from twisted.internet.interfaces import IAddress
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request, Site

from synapse.api.errors import Codes
from synapse.http.server import (
    CORS_ALLOWED_HEADERS,
    CORS_ALLOWED_METHODS,
    encode_json_response,
    return_json_error,
)
from synapse.logging.context import request_context, set_request_id
from synapse.metrics import RequestUsage, start_request_usage
from synapse.metrics.http import record_request, requests_in_flight

logger = logging.getLogger(__name__)

# The largest request body a listener accepts unless told otherwise (JSON APIs).
DEFAULT_MAX_REQUEST_BODY_SIZE = 200 * 1024

# A body over the limit is read and thrown away up to this size before the connection
# is closed, so that the client can read the 413; beyond it the connection is cut.
MAX_DISCARDED_BODY_SIZE = 16 * 1024 * 1024

# Status logged for requests whose client went away before the response was sent.
CLIENT_CLOSED_REQUEST = 499

_SECRET_QUERY_PARAMS_RE = re.compile(rb"(?<=[?&])(access_token|client_secret)=[^&]*")


def redact_uri(uri: bytes) -> str:
    """The URI for logs, with access tokens and client secrets replaced by ``<redacted>``."""
    redacted = _SECRET_QUERY_PARAMS_RE.sub(rb"\1=<redacted>", uri)
    return redacted.decode("ascii", errors="replace")


class SynapseRequest(Request):
    """A request that knows its id, its real client address, its size limit and its user.

    ``requester`` is set by the auth layer once the request is authenticated, so that the
    access log names the user. ``request_metrics_name`` is set by the resource that
    handles the request (the servlet class name).
    """

    def __init__(self, channel: HTTPChannel, site: SynapseSite) -> None:
        super().__init__(channel)
        self.synapse_site = site
        self._synapse_reactor = cast(Any, site.reactor)
        self.request_seq = next(site.request_counter)
        self.request_id = f"{site.site_tag}-{self.request_seq}"
        self.requester: Any = None
        self.request_metrics_name: str | None = None
        self.render_deferred: defer.Deferred[None] | None = None
        # Whether the handler may be cancelled if the client disconnects (see
        # synapse.http.server.cancellable).
        self.is_render_cancellable = False
        self.start_time: float = self._synapse_reactor.seconds()
        self.logcontext = contextvars.copy_context()
        self._body_size = 0
        self._body_too_large = False
        self._completed = False
        self._processing = False
        self.usage = RequestUsage()

    def __repr__(self) -> str:
        method = getattr(self, "method", b"?")
        return f"<{self.__class__.__name__} {self.request_id} {method!r} {redact_uri(self.uri or b'')}>"

    # --- body size limit --------------------------------------------------------------

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self.synapse_site.max_request_body_size:
            self._reject_too_large(length)
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        self._body_size += len(data)
        if self._body_too_large:
            # Discarding the rest of the body; a client that keeps sending far more
            # than the limit is cut off.
            if self._body_size > MAX_DISCARDED_BODY_SIZE:
                self.channel.loseConnection()
            return
        if self._body_size > self.synapse_site.max_request_body_size:
            self._reject_too_large(None)
            return
        super().handleContentChunk(data)

    def _reject_too_large(self, declared_length: int | None) -> None:
        """Answer 413 M_TOO_LARGE at once, without buffering the body.

        The connection closes once the body has been read and thrown away (so that
        clients which send the whole body before reading the answer see it), or at
        once when the body declares itself bigger than ``MAX_DISCARDED_BODY_SIZE``.
        """
        self._body_too_large = True
        self._completed = True
        body = encode_json_response(
            {
                "errcode": Codes.TOO_LARGE,
                "error": f"Request body too large (limit {self.synapse_site.max_request_body_size} bytes)",
            }
        )
        head = (
            b"HTTP/1.1 413 Request Entity Too Large\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode("ascii") + b"\r\n"
            b"Access-Control-Allow-Origin: *\r\n"
            b"Access-Control-Allow-Methods: " + CORS_ALLOWED_METHODS + b"\r\n"
            b"Access-Control-Allow-Headers: " + CORS_ALLOWED_HEADERS + b"\r\n"
            b"Connection: close\r\n\r\n"
        )
        method: bytes = getattr(self.channel, "_command", b"-")
        path: bytes = getattr(self.channel, "_path", b"-")
        with request_context(self.request_id):
            self.synapse_site.access_logger.info(
                "%s - %s - {%s} %s %s - 413 %dB - %.3fs - body too large",
                self._client_ip_from_transport(),
                self.request_id,
                None,
                method.decode("ascii", errors="replace"),
                redact_uri(path),
                len(body),
                self._synapse_reactor.seconds() - self.start_time,
            )
        record_request("<body too large>", method.decode("ascii", errors="replace"), 413, 0.0)
        transport: Any = self.channel.transport
        if transport is not None:
            transport.write(head + body)
        if declared_length is not None and declared_length > MAX_DISCARDED_BODY_SIZE:
            self.channel.loseConnection()

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self._body_too_large:
            # The rejected body has been read: now close, as the 413 said.
            self.channel.loseConnection()
            return
        super().requestReceived(command, path, version)

    # --- processing -------------------------------------------------------------------

    def process(self) -> None:
        header = self.synapse_site.request_id_header
        if header:
            value = self.getHeader(header)
            if value:
                self.request_id = value.decode("ascii", errors="replace")
        self.logcontext.run(self._process)

    def _process(self) -> None:
        set_request_id(self.request_id)
        self.usage = start_request_usage()
        self._processing = True
        requests_in_flight.inc()
        super().process()

    def render(self, resrc: Any) -> None:
        # Named after the resource until a servlet gives a better name.
        if self.request_metrics_name is None:
            self.request_metrics_name = resrc.__class__.__name__
        super().render(resrc)

    def processingFailed(self, reason: Failure) -> None:  # type: ignore[override]
        """An exception escaped a resource's ``render``: answer it as JSON."""
        return_json_error(reason, self)

    def write(self, data: bytes) -> None:
        if not self.startedWriting:
            self.setHeader(b"Server", self.synapse_site.server_version_string)
        super().write(data)

    def finish(self) -> None:
        super().finish()
        self._complete(self.code)

    def connectionLost(self, reason: Failure | BaseException) -> None:
        super().connectionLost(reason)
        if self._processing and not self.finished and not self._completed:
            logger.info("%r: client disconnected before the response was sent", self)
            if (
                self.is_render_cancellable
                and self.render_deferred is not None
                and not self.render_deferred.called
            ):
                self.render_deferred.cancel()
            self._complete(CLIENT_CLOSED_REQUEST)

    def _complete(self, code: int) -> None:
        """Write the access log line and record the request metrics, once."""
        if self._completed or not self._processing:
            return
        self._completed = True
        requests_in_flight.dec()
        duration = self._synapse_reactor.seconds() - self.start_time
        method = self.method.decode("ascii", errors="replace")
        servlet = self.request_metrics_name or "<unknown>"
        usage = self.usage
        record_request(servlet, method, code, duration, usage.db_txn_count, usage.db_txn_seconds)
        user_agent = (self.getHeader(b"User-Agent") or b"-").decode("ascii", errors="replace")
        with request_context(self.request_id):
            self.synapse_site.access_logger.info(
                '%s - %s - {%s} %s %s %s - %d %dB - %.3fs (db: %d txns, %.3fs) - "%s"',
                self.get_client_ip_if_available(),
                self.request_id,
                self.get_authenticated_entity(),
                method,
                redact_uri(self.uri),
                self.clientproto.decode("ascii", errors="replace"),
                code,
                self.sentLength,
                duration,
                usage.db_txn_count,
                usage.db_txn_seconds,
                user_agent,
            )

    # --- who is asking ------------------------------------------------------------------

    def get_authenticated_entity(self) -> str | None:
        """The user the request was authenticated as, for the access log."""
        requester = self.requester
        if requester is None:
            return None
        if isinstance(requester, str):
            return requester
        user = getattr(requester, "user", None)
        return user.to_string() if user is not None else str(requester)

    def _client_ip_from_transport(self) -> str:
        transport: Any = self.channel.transport if self.channel is not None else None
        peer = transport.getPeer() if transport is not None else None
        return getattr(peer, "host", "-")

    def _forwarded_for(self) -> str | None:
        if not self.synapse_site.x_forwarded:
            return None
        header = self.getHeader(b"X-Forwarded-For")
        if not header:
            return None
        return header.decode("ascii", errors="replace").split(",")[0].strip() or None

    def getClientAddress(self) -> IAddress:
        forwarded = self._forwarded_for()
        if forwarded is not None:
            addr: Any
            if ":" in forwarded:
                addr = address.IPv6Address("TCP", forwarded.strip("[]"), 0)
            else:
                addr = address.IPv4Address("TCP", forwarded, 0)
            return cast(IAddress, addr)
        return super().getClientAddress()

    def get_client_ip_if_available(self) -> str:
        """The client's IP (from X-Forwarded-For behind a trusted proxy), or ``-``."""
        return getattr(self.getClientAddress(), "host", "-")

    def isSecure(self) -> bool:
        if self.synapse_site.x_forwarded:
            proto = self.getHeader(b"X-Forwarded-Proto")
            if proto:
                return proto.lower() == b"https"
        return bool(super().isSecure())


class SynapseSite(Site):
    """A Site that builds ``SynapseRequest`` objects and does its own access logging.

    ``x_forwarded`` trusts X-Forwarded-For / X-Forwarded-Proto from a reverse proxy.
    ``max_request_body_size`` bounds request bodies: larger ones get 413 M_TOO_LARGE.
    """

    def __init__(
        self,
        resource: IResource | Resource,
        *,
        reactor: Any,
        site_tag: str = "http",
        x_forwarded: bool = False,
        max_request_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
        server_version_string: str = "Synapse",
        request_id_header: str | None = None,
        timeout: float = 60,
    ) -> None:
        super().__init__(cast(IResource, resource), reactor=reactor, timeout=timeout)
        self.site_tag = site_tag
        self.x_forwarded = x_forwarded
        self.max_request_body_size = max_request_body_size
        self.server_version_string = server_version_string.encode("ascii", errors="replace")
        self.request_id_header = request_id_header.encode("ascii") if request_id_header else None
        self.request_counter = itertools.count()
        self.access_logger = logging.getLogger(f"synapse.access.http.{site_tag}")
        self.requestFactory = self._make_request  # type: ignore[assignment]

    def _make_request(self, channel: HTTPChannel, *args: Any) -> SynapseRequest:
        return SynapseRequest(channel, self)

    def log(self, request: Any) -> None:
        """Access logging is ``SynapseRequest``'s job."""

    def startFactory(self) -> None:
        """No Twisted access log file."""

    def stopFactory(self) -> None:
        pass
