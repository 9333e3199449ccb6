"""TLS for outbound federation: which certificates to trust, and for whom not to check.

``FederationPolicyForHTTPS`` is the ``IPolicyForHTTPS`` of the federation agent and of
``.well-known`` lookups. Certificates are verified against the system's trust store,
or the CAs of ``federation_custom_ca_list`` when given, unless
``federation_verify_certificates`` is false or the host matches an entry of
``federation_certificate_verification_whitelist`` (``*`` wildcards allowed).
"""

from __future__ import annotations

import fnmatch
import logging
import re
from typing import Any, cast

from OpenSSL import SSL
from twisted.internet import ssl
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from synapse.api.errors import ConfigError

logger = logging.getLogger(__name__)

_MINIMUM_TLS_VERSIONS = {
    "1": ssl.TLSVersion.TLSv1_0,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


@implementer(IOpenSSLClientConnectionCreator)
class _UnverifiedClientCreator:
    """TLS without certificate checks, still sending SNI for DNS names."""

    def __init__(self, hostname: str, options: ssl.CertificateOptions) -> None:
        self._options = options
        self._sni = (
            None if isIPAddress(hostname) or isIPv6Address(hostname) else hostname.encode("idna")
        )

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        connection: SSL.Connection = self._options.clientConnectionForTLS(tlsProtocol)
        if self._sni is not None:
            connection.set_tlsext_host_name(self._sni)
        return connection


def _load_trust_root(paths: list[str]) -> Any:
    if not paths:
        return ssl.platformTrust()
    certificates = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                certificates.append(ssl.Certificate.loadPEM(f.read()))
        except Exception as e:
            raise ConfigError(
                f"cannot read the CA certificate {path}: {e}", ["federation_custom_ca_list"]
            )
    return ssl.trustRootFromCertificates(certificates)


@implementer(IPolicyForHTTPS)
class FederationPolicyForHTTPS:
    """The TLS client options for each host federation connects to."""

    def __init__(self, config: Any) -> None:
        tls = config.tls
        self._verify = bool(tls.federation_verify_certificates) and not bool(
            tls.use_insecure_ssl_client_just_for_testing_do_not_use
        )
        self._minimum_version = _MINIMUM_TLS_VERSIONS[tls.federation_client_minimum_tls_version]
        self._no_verify_patterns = [
            re.compile(fnmatch.translate(entry.lower()))
            for entry in tls.federation_certificate_verification_whitelist
        ]
        self._trust_root = _load_trust_root(list(tls.federation_custom_ca_list))
        self._unverified_options = ssl.CertificateOptions(
            verify=False, raiseMinimumTo=self._minimum_version
        )

    def should_verify(self, hostname: str) -> bool:
        """Whether the certificate of ``hostname`` is checked."""
        if not self._verify:
            return False
        host = hostname.lower()
        return not any(p.match(host) for p in self._no_verify_patterns)

    def get_options(self, hostname: str) -> IOpenSSLClientConnectionCreator:
        """The connection creator for ``hostname`` (a DNS name or IP address, no brackets)."""
        if not self.should_verify(hostname):
            return cast(
                IOpenSSLClientConnectionCreator,
                _UnverifiedClientCreator(hostname, self._unverified_options),
            )
        return ssl.optionsForClientTLS(
            hostname,
            trustRoot=self._trust_root,
            extraCertificateOptions={"raiseMinimumTo": self._minimum_version},
        )

    def creatorForNetloc(self, hostname: bytes, port: int) -> IOpenSSLClientConnectionCreator:
        """``IPolicyForHTTPS``: the options for a connection to ``hostname:port``."""
        host = hostname.decode("ascii")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return self.get_options(host)
