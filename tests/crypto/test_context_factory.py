"""TLS for outbound federation: certificates checked against the custom CAs, for the right
name, unless verification is off or the host is whitelisted. Handshakes run in memory."""

from __future__ import annotations

import datetime
import os
import tempfile
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.internet.ssl import CertificateOptions
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.test.iosim import FakeTransport, connect
from zope.interface import implementer

from synapse.api.errors import ConfigError
from synapse.config.homeserver import HomeServerConfig
from synapse.crypto.context_factory import FederationPolicyForHTTPS
from tests.server import default_config
from tests.unittest import TestCase


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca() -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Test CA"))
        .issuer_name(_name("Test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(
    ca_key: Any, ca_cert: x509.Certificate, hostname: str
) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hostname))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


@implementer(IHandshakeListener)
class _HandshakeRecorder(Protocol):
    def __init__(self) -> None:
        self.handshake_done = False
        self.lost: Failure | None = None

    def handshakeCompleted(self) -> None:
        self.handshake_done = True

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.lost = reason


class FederationTlsTestCase(TestCase):
    def setUp(self) -> None:
        self.ca_key, self.ca_cert = make_ca()
        key, cert = make_server_cert(self.ca_key, self.ca_cert, "example.test")
        self.server_options = CertificateOptions(
            privateKey=key,
            certificate=cast(Any, cert),
        )
        self.dir = tempfile.mkdtemp()
        self.ca_path = os.path.join(self.dir, "ca.pem")
        with open(self.ca_path, "wb") as f:
            f.write(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def _policy(self, **config: Any) -> FederationPolicyForHTTPS:
        config_dict = default_config("test")
        config_dict.update(config)
        return FederationPolicyForHTTPS(HomeServerConfig.parse_config_dict(config_dict))

    def _handshake(self, policy: FederationPolicyForHTTPS, hostname: bytes) -> bool:
        """Whether a client using ``policy`` for ``hostname`` accepts the test server."""
        server_factory = TLSMemoryBIOFactory(
            cast(Any, self.server_options), False, cast(Any, Factory.forProtocol(Protocol))
        )
        recorder = _HandshakeRecorder()
        client_factory = TLSMemoryBIOFactory(
            policy.creatorForNetloc(hostname, 8448),
            True,
            cast(Any, ClientFactory.forProtocol(lambda: recorder)),
        )
        server = server_factory.buildProtocol(None)
        client = client_factory.buildProtocol(None)
        pump = connect(
            server,
            FakeTransport(server, isServer=True),
            client,
            FakeTransport(client, isServer=False),
        )
        pump.flush()
        return recorder.handshake_done and recorder.lost is None

    def test_custom_ca_trusted_for_the_right_name(self) -> None:
        policy = self._policy(federation_custom_ca_list=[self.ca_path])
        self.assertTrue(self._handshake(policy, b"example.test"))
        # The certificate is not valid for another name.
        self.assertFalse(self._handshake(policy, b"other.test"))

    def test_untrusted_ca_refused(self) -> None:
        other_ca_path = os.path.join(self.dir, "other.pem")
        with open(other_ca_path, "wb") as f:
            f.write(make_ca()[1].public_bytes(serialization.Encoding.PEM))
        policy = self._policy(federation_custom_ca_list=[other_ca_path])
        self.assertFalse(self._handshake(policy, b"example.test"))

    def test_verification_off(self) -> None:
        policy = self._policy(federation_verify_certificates=False)
        self.assertFalse(policy.should_verify("other.test"))
        self.assertTrue(self._handshake(policy, b"other.test"))

    def test_verification_whitelist(self) -> None:
        policy = self._policy(
            federation_custom_ca_list=[self.ca_path],
            federation_certificate_verification_whitelist=["*.onion", "lenient.test"],
        )
        self.assertFalse(policy.should_verify("abc.onion"))
        self.assertFalse(policy.should_verify("LENIENT.test"))
        self.assertTrue(policy.should_verify("example.test"))
        self.assertTrue(self._handshake(policy, b"lenient.test"))
        self.assertTrue(self._handshake(policy, b"deep.name.onion"))
        self.assertFalse(self._handshake(policy, b"strict.test"))

    def test_missing_ca_file(self) -> None:
        with self.assertRaises(ConfigError):
            self._policy(federation_custom_ca_list=[os.path.join(self.dir, "missing.pem")])
