"""Start-up pieces shared by the homeserver and workers: listeners, pid file, signals, systemd.

``start(hs, listeners)`` opens every listener, writes the pid file, installs the signal
handlers and tells systemd the server is ready. Stopping (SIGTERM, SIGINT or
``reactor.stop()``) closes the listeners first, lets the database thread pool finish the
transactions in flight, then closes the database connections.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterable
from types import FrameType
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.internet.error import CannotListenError, ReactorNotRunning
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from synapse.config.logger import reopen_log_files
from synapse.config.server import ListenerConfig

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)


class ListenerError(Exception):
    """A listener could not be opened (a port in use, an address not on this host...)."""


class _HealthResource(Resource):
    """``/health`` answering ``OK``, for builds without the HTTP layer's own."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:  # noqa: N802
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"OK"

    def render_HEAD(self, request: Request) -> bytes:  # noqa: N802
        return self.render_GET(request)


def build_listener_resource(hs: HomeServer, listener_config: ListenerConfig) -> Resource:
    """The root resource of an http (or metrics) listener, serving its named resources."""
    names = sorted(listener_config.resource_names)
    try:
        from synapse.http.resource_tree import build_resource_tree
    except ImportError:
        logger.warning("The HTTP resource tree is not available; serving only /health")
        root = Resource()
        root.putChild(b"health", _HealthResource())  # type: ignore[arg-type]
        return root
    return build_resource_tree(hs, names)


def _max_request_body_size(hs: HomeServer, listener_config: ListenerConfig) -> int | None:
    try:
        from synapse.http.resource_tree import max_request_body_size
    except ImportError:
        return None
    return max_request_body_size(hs, listener_config.resource_names)


def build_site(hs: HomeServer, listener_config: ListenerConfig, resource: Resource) -> Site:
    """The Site serving ``resource`` for one listener."""
    tag = (listener_config.http_options and listener_config.http_options.tag) or str(
        listener_config.port if listener_config.port is not None else listener_config.path
    )
    try:
        from synapse.http.site import SynapseSite
    except ImportError:
        return Site(resource, reactor=hs.get_reactor())

    options = listener_config.http_options
    kwargs: dict[str, Any] = {
        "reactor": hs.get_reactor(),
        "site_tag": tag,
        "x_forwarded": bool(options and options.x_forwarded),
        "server_version_string": getattr(hs, "version_string", "Synapse"),
        "request_id_header": options.request_id_header if options else None,
    }
    max_size = _max_request_body_size(hs, listener_config)
    if max_size is not None:
        kwargs["max_request_body_size"] = max_size
    return SynapseSite(resource, **kwargs)  # type: ignore[arg-type]


def _tls_context_factory(hs: HomeServer) -> Any:
    from twisted.internet import ssl

    tls = hs.config.tls
    try:
        with open(tls.tls_certificate_file or "") as f:
            cert_pem = f.read()
        with open(tls.tls_private_key_file or "") as f:
            key_pem = f.read()
        cert = ssl.PrivateCertificate.loadPEM(cert_pem + "\n" + key_pem)
    except (OSError, ValueError) as e:
        raise ListenerError(f"cannot load the TLS certificate and key: {e}")
    return cert.options()


def listen_tcp(
    reactor: Any,
    bind_addresses: Iterable[str],
    port: int,
    factory: Any,
    tls_context: Any = None,
) -> list[Any]:
    """Listen on ``port`` at each address; a port already in use raises ``ListenerError``.

    On dual-stack hosts binding ``::`` also takes the IPv4 port, so a later failure to
    bind ``0.0.0.0`` after ``::`` succeeded is not an error.
    """
    ports: list[Any] = []
    bound_ipv6_any = False
    for address in bind_addresses:
        try:
            if tls_context is not None:
                ports.append(reactor.listenSSL(port, factory, tls_context, interface=address))
            else:
                ports.append(reactor.listenTCP(port, factory, interface=address))
            if address == "::":
                bound_ipv6_any = True
        except CannotListenError as e:
            if address == "0.0.0.0" and bound_ipv6_any:
                continue
            for p in ports:
                p.stopListening()
            reason = e.socketError.strerror if e.socketError is not None else str(e)
            raise ListenerError(f"cannot listen on {address} port {port}: {reason}") from e
    return ports


def start_listener(hs: HomeServer, listener_config: ListenerConfig) -> list[Any]:
    """Open one listener; returns its listening ports."""
    reactor = hs.get_reactor()
    if listener_config.type not in ("http", "metrics"):
        logger.warning(
            "Listener type %r is not supported; not listening on it", listener_config.type
        )
        return []
    if listener_config.type == "metrics" and not hs.config.metrics.enable_metrics:
        logger.warning(
            "A metrics listener is configured but enable_metrics is false; not listening on it"
        )
        return []

    resource = build_listener_resource(hs, listener_config)
    site = build_site(hs, listener_config, resource)

    if listener_config.path is not None:
        try:
            return [reactor.listenUNIX(listener_config.path, site, mode=0o666)]
        except CannotListenError as e:
            raise ListenerError(f"cannot listen on unix socket {listener_config.path}: {e}") from e

    assert listener_config.port is not None
    tls_context = _tls_context_factory(hs) if listener_config.tls else None
    ports = listen_tcp(
        reactor, listener_config.bind_addresses, listener_config.port, site, tls_context
    )
    logger.info(
        "Listening for %s on %s port %d (%s)",
        "HTTPS" if listener_config.tls else "HTTP",
        ", ".join(listener_config.bind_addresses),
        listener_config.port,
        ", ".join(sorted(listener_config.resource_names)) or "no resources",
    )
    return ports


def start_listening(hs: HomeServer, listeners: Iterable[ListenerConfig]) -> list[Any]:
    """Open every listener, closing the ones already open if one fails."""
    ports: list[Any] = []
    try:
        for listener in listeners:
            ports.extend(start_listener(hs, listener))
    except Exception:
        for p in ports:
            p.stopListening()
        raise
    return ports


def sd_notify(state: bytes) -> bool:
    """Send ``state`` (e.g. ``b"READY=1"``) to systemd's ``$NOTIFY_SOCKET``; False if unset.

    A socket name starting with ``@`` is in the Linux abstract namespace.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state)
    except OSError as e:
        logger.warning("Could not notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), e)
        return False
    return True


def write_pid_file(path: str) -> None:
    """Write this process's id to ``path``; refuses if another running server holds it."""
    if os.path.exists(path):
        try:
            with open(path) as f:
                old_pid = int(f.read().strip())
        except (OSError, ValueError):
            old_pid = 0
        if old_pid and old_pid != os.getpid() and _process_exists(old_pid):
            raise ListenerError(
                f"the pid file {path} names process {old_pid}, which is still running"
            )
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
        f.write(f"{os.getpid()}\n")


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_pid_file(path: str) -> None:
    try:
        with open(path) as f:
            if f.read().strip() != str(os.getpid()):
                return
        os.unlink(path)
    except OSError:
        pass


def install_signal_handlers(reactor: Any, on_hup: Callable[[], None] = reopen_log_files) -> None:
    """SIGHUP reopens the log files; SIGTERM and SIGINT stop the reactor (cleanly).

    Twisted stops on SIGTERM and SIGINT by itself when ``reactor.run()`` installs its
    handlers; these are installed too so that the behaviour does not depend on that.
    """

    # Only hand work to the reactor here: a signal handler must not take locks
    # (logging's included) that the interrupted code may hold.
    def _stop(signum: int, frame: FrameType | None) -> None:
        reactor.callFromThread(_stop_reactor, reactor, signum)

    def _hup(signum: int, frame: FrameType | None) -> None:
        reactor.callFromThread(on_hup)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, _hup)


def _stop_reactor(reactor: Any, signum: int) -> None:
    logger.info("Received signal %d; shutting down", signum)
    try:
        reactor.stop()
    except ReactorNotRunning:
        # Already stopping: a second signal changes nothing.
        pass


def register_shutdown(hs: HomeServer, ports: list[Any], pid_file: str | None) -> None:
    """Close the listeners before the reactor stops, and the databases after its thread pool has.

    The reactor's thread pool is stopped (waiting for the transactions running in it)
    during shutdown, between these two steps.
    """
    reactor = hs.get_reactor()

    def _stop_listening() -> defer.Deferred[Any]:
        logger.info("Shutting down: closing %d listening port(s)", len(ports))
        sd_notify(b"STOPPING=1")
        return defer.DeferredList(
            [defer.maybeDeferred(p.stopListening) for p in ports], consumeErrors=True
        )

    def _close_databases() -> None:
        get_pools = getattr(hs, "get_database_pools", None)
        if get_pools is not None and hasattr(hs, "_datastores"):
            for pool in get_pools():
                close = getattr(pool, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:
                        logger.exception("Error closing database pool")
        if pid_file:
            remove_pid_file(pid_file)
        logger.info("Shutdown complete")

    reactor.addSystemEventTrigger("before", "shutdown", _stop_listening)
    reactor.addSystemEventTrigger("after", "shutdown", _close_databases)


def start(hs: HomeServer, listeners: Iterable[ListenerConfig]) -> list[Any]:
    """Open the listeners, write the pid file, arrange a clean shutdown, signal readiness.

    Raises ``ListenerError`` if a listener cannot be opened or the pid file is held.
    """
    pid_file = hs.config.server.pid_file
    ports = start_listening(hs, listeners)
    try:
        if pid_file:
            write_pid_file(pid_file)
    except (ListenerError, OSError) as e:
        for p in ports:
            p.stopListening()
        raise ListenerError(str(e))
    register_shutdown(hs, ports, pid_file)
    reactor = hs.get_reactor()
    install_signal_handlers(reactor)
    hs.start_time = int(hs.get_clock().time())
    reactor.callWhenRunning(_on_running, reactor)
    return ports


def _on_running(reactor: Any) -> None:
    # reactor.run() installs its own SIGINT/SIGTERM handlers; ours go back on top.
    install_signal_handlers(reactor)
    if sd_notify(b"READY=1"):
        logger.info("Notified systemd that the server is ready")


def print_error_and_exit(message: str, code: int = 1) -> None:
    """One line on stderr (the real one, even when stdio goes to the log), then exit."""
    stream = sys.__stderr__ or sys.stderr
    print(message, file=stream)
    stream.flush()
    sys.exit(code)
