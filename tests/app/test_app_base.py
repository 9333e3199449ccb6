"""Start-up pieces on a fake reactor: listeners and their resources, TLS, pid file, systemd."""

from __future__ import annotations

import datetime
import os
import socket
import tempfile
import unittest
import uuid
from typing import Any
from unittest import mock

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet.error import CannotListenError

from synapse.app._base import (
    ListenerError,
    build_listener_resource,
    build_site,
    listen_tcp,
    sd_notify,
    start_listening,
    write_pid_file,
)
from synapse.http.site import SynapseSite
from tests.server import default_config, get_clock, make_request, setup_test_homeserver


def _self_signed(directory: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "tls.crt")
    key_path = os.path.join(directory, "tls.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


class ListenersTestCase(unittest.TestCase):
    def make_hs(self, **extra: Any) -> Any:
        reactor, clock = get_clock()
        config = default_config()
        config.update(extra)
        cleanups: list[Any] = []
        hs = setup_test_homeserver(cleanups.append, config=config, reactor=reactor, clock=clock)
        for cleanup in cleanups:
            self.addCleanup(cleanup)
        return hs

    def test_http_listener_serves_health_and_client(self) -> None:
        hs = self.make_hs(
            listeners=[
                {
                    "port": 8008,
                    "bind_addresses": ["127.0.0.1", "::1"],
                    "type": "http",
                    "resources": [{"names": ["client"]}],
                }
            ]
        )
        reactor = hs.get_reactor()
        ports = start_listening(hs, hs.config.server.listeners)
        self.assertEqual(len(ports), 2)
        self.assertEqual(
            [(p[0], p[3]) for p in reactor.tcpServers], [(8008, "127.0.0.1"), (8008, "::1")]
        )

        site = reactor.tcpServers[0][1]
        channel = make_request(reactor, site, "GET", "/health", shorthand=False)
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.result["body"], b"OK")
        channel = make_request(reactor, site, "GET", "/_matrix/client/versions", shorthand=False)
        self.assertEqual(channel.code, 200, channel.result)

    def test_resource_tree_falls_back_to_health(self) -> None:
        hs = self.make_hs()
        listener = hs.config.server.listeners[0]
        with mock.patch.dict("sys.modules", {"synapse.http.resource_tree": None}):
            resource = build_listener_resource(hs, listener)
            site = build_site(hs, listener, resource)
        assert isinstance(site, SynapseSite)
        channel = make_request(hs.get_reactor(), site, "GET", "/health", shorthand=False)
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.result["body"], b"OK")

    def test_metrics_listener_needs_enable_metrics(self) -> None:
        listeners = [{"port": 9000, "type": "metrics", "bind_addresses": ["127.0.0.1"]}]
        hs = self.make_hs(listeners=listeners, enable_metrics=False)
        self.assertEqual(start_listening(hs, hs.config.server.listeners), [])
        hs = self.make_hs(listeners=listeners, enable_metrics=True)
        self.assertEqual(len(start_listening(hs, hs.config.server.listeners)), 1)

    def test_tls_listener(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            cert, key = _self_signed(d)
            hs = self.make_hs(
                listeners=[
                    {
                        "port": 8448,
                        "tls": True,
                        "bind_addresses": ["::"],
                        "resources": [{"names": ["client"]}],
                    }
                ],
                tls_certificate_path=cert,
                tls_private_key_path=key,
            )
            start_listening(hs, hs.config.server.listeners)
        reactor = hs.get_reactor()
        self.assertEqual(reactor.tcpServers, [])
        self.assertEqual([(p[0], p[4]) for p in reactor.sslServers], [(8448, "::")])

    def test_unreadable_tls_files(self) -> None:
        hs = self.make_hs(
            listeners=[{"port": 8448, "tls": True, "resources": [{"names": ["client"]}]}],
            tls_certificate_path="/nonexistent/c.pem",
            tls_private_key_path="/nonexistent/k.pem",
        )
        with self.assertRaises(ListenerError) as cm:
            start_listening(hs, hs.config.server.listeners)
        self.assertIn("TLS", str(cm.exception))


class _BusyReactor:
    """Fails to listen on the given addresses, as a real one would with EADDRINUSE."""

    def __init__(self, busy: set[str]) -> None:
        self.busy = busy
        self.listening: list[str] = []

    def listenTCP(self, port: int, factory: Any, interface: str = "") -> Any:  # noqa: N802
        if interface in self.busy:
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))
        self.listening.append(interface)
        reactor = self

        class Port:
            def stopListening(self) -> None:  # noqa: N802
                reactor.listening.remove(interface)

        return Port()


class ListenTcpTestCase(unittest.TestCase):
    def test_ipv4_any_after_ipv6_any_is_not_an_error(self) -> None:
        reactor = _BusyReactor({"0.0.0.0"})
        ports = listen_tcp(reactor, ["::", "0.0.0.0"], 8008, object())
        self.assertEqual(len(ports), 1)

    def test_port_in_use(self) -> None:
        reactor = _BusyReactor({"127.0.0.1"})
        with self.assertRaises(ListenerError) as cm:
            listen_tcp(reactor, ["::1", "127.0.0.1"], 8008, object())
        self.assertIn("127.0.0.1 port 8008", str(cm.exception))
        self.assertIn("in use", str(cm.exception))
        self.assertEqual(reactor.listening, [], "ports opened before the failure are closed again")


class SdNotifyTestCase(unittest.TestCase):
    def test_no_socket(self) -> None:
        with mock.patch.dict(os.environ, {}, clear=False):
            os.environ.pop("NOTIFY_SOCKET", None)
            self.assertFalse(sd_notify(b"READY=1"))

    def test_path_socket(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "notify")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.bind(path)
                with mock.patch.dict(os.environ, {"NOTIFY_SOCKET": path}):
                    self.assertTrue(sd_notify(b"READY=1"))
                self.assertEqual(sock.recv(100), b"READY=1")

    @unittest.skipUnless(hasattr(socket, "AF_UNIX") and os.uname().sysname == "Linux", "Linux only")
    def test_abstract_socket(self) -> None:
        name = f"synapse-notify-{uuid.uuid4().hex}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind("\0" + name)
            with mock.patch.dict(os.environ, {"NOTIFY_SOCKET": "@" + name}):
                self.assertTrue(sd_notify(b"READY=1"))
            self.assertEqual(sock.recv(100), b"READY=1")

    def test_unreachable_socket_is_not_fatal(self) -> None:
        with mock.patch.dict(os.environ, {"NOTIFY_SOCKET": "/nonexistent/notify"}):
            self.assertFalse(sd_notify(b"READY=1"))


class PidFileTestCase(unittest.TestCase):
    def test_writes_pid(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "run", "hs.pid")
            write_pid_file(path)
            with open(path) as f:
                self.assertEqual(f.read().strip(), str(os.getpid()))

    def test_refuses_a_running_process_and_replaces_a_stale_one(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "hs.pid")
            with open(path, "w") as f:
                f.write(f"{os.getppid()}\n")
            with self.assertRaises(ListenerError):
                write_pid_file(path)
            with open(path, "w") as f:
                f.write("garbage\n")
            write_pid_file(path)
            with open(path) as f:
                self.assertEqual(f.read().strip(), str(os.getpid()))
