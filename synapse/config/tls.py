"""The ``tls`` section: certificates for TLS listeners and checks on outbound TLS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synapse.config._base import (
    Config,
    ConfigError,
    abspath,
    read_bool,
    read_list,
    read_optional_str,
    read_str_list,
)


class TlsConfig(Config):
    """``tls_certificate_path``, ``tls_private_key_path``, ``federation_verify_certificates`` and friends."""

    section = "tls"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        cert = read_optional_str(config, "tls_certificate_path")
        key = read_optional_str(config, "tls_private_key_path")
        self.tls_certificate_file: str | None = abspath(cert, config_dir_path) if cert else None
        self.tls_private_key_file: str | None = abspath(key, config_dir_path) if key else None

        listeners = read_list(config, "listeners")
        if any(isinstance(li, Mapping) and li.get("tls") for li in listeners):
            if not self.tls_certificate_file:
                raise ConfigError(
                    "a listener has tls: true but no certificate is set", ["tls_certificate_path"]
                )
            if not self.tls_private_key_file:
                raise ConfigError(
                    "a listener has tls: true but no private key is set", ["tls_private_key_path"]
                )

        self.federation_verify_certificates = read_bool(
            config, "federation_verify_certificates", True
        )
        # YAML reads 1.2 as a number: compare its text.
        min_version = config.get("federation_client_minimum_tls_version")
        self.federation_client_minimum_tls_version = (
            "1" if min_version is None else str(min_version)
        )
        if self.federation_client_minimum_tls_version not in ("1", "1.1", "1.2", "1.3"):
            raise ConfigError(
                "must be one of 1, 1.1, 1.2, 1.3", ["federation_client_minimum_tls_version"]
            )
        self.federation_certificate_verification_whitelist = read_str_list(
            config, "federation_certificate_verification_whitelist"
        )
        self.federation_custom_ca_list = [
            abspath(p, config_dir_path) for p in read_str_list(config, "federation_custom_ca_list")
        ]
        self.use_insecure_ssl_client_just_for_testing_do_not_use = read_bool(
            config, "use_insecure_ssl_client_just_for_testing_do_not_use", False
        )

    def generate_config_section(
        self,
        config_dir_path: str,
        data_dir_path: str,
        server_name: str,
        generate_secrets: bool = False,
        report_stats: bool | None = None,
        **kwargs: Any,
    ) -> str:
        return """\
## TLS ##

# A certificate (PEM, full chain) and key for listeners with tls: true. Most
# deployments terminate TLS in a reverse proxy instead.
#tls_certificate_path: "CONFDIR/SERVERNAME.tls.crt"
#tls_private_key_path: "CONFDIR/SERVERNAME.tls.key"

# Check the certificates of other servers when federating.
#federation_verify_certificates: true
#federation_client_minimum_tls_version: 1
#federation_certificate_verification_whitelist: []
#federation_custom_ca_list: []
"""
