"""The ``key`` section: this server's signing keys and the servers trusted to vouch for others' keys."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import string
from collections.abc import Mapping
from typing import Any

import attr
from signedjson.key import (
    NACL_ED25519,
    decode_signing_key_base64,
    decode_verify_key_bytes,
    generate_signing_key,
    is_signing_algorithm_supported,
    read_signing_keys,
    write_signing_keys,
)
from signedjson.types import SigningKey, VerifyKey
from unpaddedbase64 import decode_base64

from synapse.config._base import (
    Config,
    ConfigError,
    abspath,
    quote_yaml,
    read_bool,
    read_dict,
    read_duration,
    read_int,
    read_list,
    read_optional_str,
    read_str,
)

logger = logging.getLogger(__name__)

INSECURE_NOTARY_ERROR = """\
Your server is configured to accept key server responses without signature
validation or TLS certificate validation. This is likely to be very insecure. If
you are *sure* you want to do this, set 'accept_keys_insecurely' on the
keyserver configuration."""

RELYING_ON_MATRIX_KEY_ERROR = """\
Your server is configured to trust matrix.org to vouch for other servers' keys
without checking signatures. Set 'verify_keys' or 'accept_keys_insecurely' on it."""

TRUSTED_KEY_SERVER_WARNING = (
    "This server trusts matrix.org to vouch for the signing keys of other servers; "
    "to silence this warning, set 'suppress_key_server_warning: true' or list your own "
    "'trusted_key_servers'."
)


@attr.s(slots=True, frozen=True, auto_attribs=True)
class TrustedKeyServer:
    """A notary server; ``verify_keys`` (key id -> key) pins its keys, None trusts TLS alone."""

    server_name: str
    verify_keys: dict[str, VerifyKey] | None = None


def generate_signing_key_file(path: str) -> None:
    """Write a new ed25519 signing key in signedjson's format (``ed25519 a_XXXX <base64>``)."""
    alphabet = string.ascii_letters + string.digits
    key_id = "a_" + "".join(secrets.choice(alphabet) for _ in range(4))
    key = generate_signing_key(key_id)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        write_signing_keys(f, [key])


def _decode_verify_key(key_id: str, key_base64: Any, path: list[str]) -> VerifyKey:
    if not isinstance(key_base64, str):
        raise ConfigError("expected a base64-encoded key", path)
    if ":" not in key_id:
        raise ConfigError(f"key id {key_id!r} should look like 'ed25519:abcd'", path)
    algorithm = key_id.split(":", 1)[0]
    if not is_signing_algorithm_supported(key_id):
        raise ConfigError(f"unsupported key algorithm {algorithm!r}", path)
    try:
        return decode_verify_key_bytes(key_id, decode_base64(key_base64))
    except Exception as e:
        raise ConfigError(f"not a valid key: {e}", path)


class KeyConfig(Config):
    """``signing_key_path``, ``old_signing_keys``, ``key_refresh_interval``, ``trusted_key_servers``.

    ``signing_key`` holds the loaded keys (signedjson ``SigningKey``, first one used to sign).
    Without a configured path and without a config directory (a config built in code, as
    in tests), a fresh key is made in memory.
    """

    section = "key"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        server_name = read_str(config, "server_name", "localhost")
        signing_key_path = read_optional_str(config, "signing_key_path")
        inline_key = read_optional_str(config, "signing_key")

        self.signing_key_path: str | None
        if inline_key is not None:
            self.signing_key_path = None
            self.signing_key: list[SigningKey] = self._parse_signing_keys(
                inline_key.splitlines(), "signing_key"
            )
        elif signing_key_path is None and not config_dir_path:
            self.signing_key_path = None
            self.signing_key = [generate_signing_key("a_mem")]
        else:
            if signing_key_path is None:
                signing_key_path = os.path.join(config_dir_path, f"{server_name}.signing.key")
            self.signing_key_path = abspath(signing_key_path)
            self.signing_key = self._read_signing_key_file(self.signing_key_path)

        self.old_signing_keys: dict[str, VerifyKey] = {}
        for key_id, key_data in read_dict(config, "old_signing_keys").items():
            path = ["old_signing_keys", str(key_id)]
            if not isinstance(key_data, Mapping):
                raise ConfigError("expected a mapping with 'key' and 'expired_ts'", path)
            verify_key = _decode_verify_key(str(key_id), key_data.get("key"), [*path, "key"])
            verify_key.expired = read_int(key_data, "expired_ts", 0, path)  # type: ignore[attr-defined]
            verify_key.expired_ts = verify_key.expired  # type: ignore[attr-defined]
            self.old_signing_keys[str(key_id)] = verify_key

        self.key_refresh_interval = read_duration(config, "key_refresh_interval", "1d")

        self.key_server_signing_keys: list[SigningKey] = []
        ks_path = read_optional_str(config, "key_server_signing_keys_path")
        if ks_path:
            self.key_server_signing_keys = self._read_signing_key_file(
                abspath(ks_path, config_dir_path)
            )

        self.suppress_key_server_warning = read_bool(config, "suppress_key_server_warning", False)
        self.trusted_key_servers: list[TrustedKeyServer] = self._read_trusted_key_servers(config)
        self.key_server_warnings: list[str] = []
        if (
            not self.suppress_key_server_warning
            and any(s.server_name == "matrix.org" for s in self.trusted_key_servers)
            and "trusted_key_servers" not in config
        ):
            self.key_server_warnings.append(TRUSTED_KEY_SERVER_WARNING)

        self.macaroon_secret_key = self._macaroon_secret_key(config)
        self.form_secret = read_optional_str(config, "form_secret")

    def _read_signing_key_file(self, path: str) -> list[SigningKey]:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            raise ConfigError(
                f"the signing key file {path} does not exist; create it with --generate-keys",
                ["signing_key_path"],
            )
        except OSError as e:
            raise ConfigError(
                f"cannot read the signing key file {path}: {e.strerror}", ["signing_key_path"]
            )
        return self._parse_signing_keys(lines, "signing_key_path")

    @staticmethod
    def _parse_signing_keys(lines: list[str], key_name: str) -> list[SigningKey]:
        lines = [line for line in lines if line.strip()]
        try:
            keys = read_signing_keys(lines)
        except Exception as e:
            # Accept a bare base64 seed as well (an old format).
            if len(lines) == 1 and " " not in lines[0].strip():
                try:
                    return [decode_signing_key_base64(NACL_ED25519, "auto", lines[0].strip())]
                except Exception:
                    pass
            raise ConfigError(f"not a valid signing key ({e})", [key_name])
        if not keys:
            raise ConfigError("no signing key found", [key_name])
        return list(keys)

    def _read_trusted_key_servers(self, config: Mapping[str, Any]) -> list[TrustedKeyServer]:
        servers: list[TrustedKeyServer] = []
        if "perspectives" in config and config.get("perspectives") is not None:
            perspectives = read_dict(config, "perspectives")
            for server_name, server in read_dict(perspectives, "servers", ["perspectives"]).items():
                path = ["perspectives", "servers", str(server_name)]
                if not isinstance(server, Mapping):
                    raise ConfigError("expected a mapping with 'verify_keys'", path)
                pinned = {
                    str(key_id): _decode_verify_key(
                        str(key_id),
                        (k or {}).get("key") if isinstance(k, Mapping) else None,
                        [*path, "verify_keys"],
                    )
                    for key_id, k in read_dict(server, "verify_keys", path, required=True).items()
                }
                servers.append(TrustedKeyServer(str(server_name), pinned))

        if "trusted_key_servers" in config:
            entries = read_list(config, "trusted_key_servers")
        else:
            entries = [{"server_name": "matrix.org"}]
        for i, entry in enumerate(entries):
            path = ["trusted_key_servers", str(i)]
            if not isinstance(entry, Mapping):
                raise ConfigError("expected a mapping with 'server_name'", path)
            server_name = read_str(entry, "server_name", path=path)
            verify_keys: dict[str, VerifyKey] | None = None
            if entry.get("verify_keys") is not None:
                verify_keys = {
                    str(key_id): _decode_verify_key(
                        str(key_id), key, [*path, "verify_keys", str(key_id)]
                    )
                    for key_id, key in read_dict(entry, "verify_keys", path).items()
                }
            elif not read_bool(entry, "accept_keys_insecurely", False, path):
                if not read_bool(config, "federation_verify_certificates", True):
                    raise ConfigError(INSECURE_NOTARY_ERROR, path)
            servers.append(TrustedKeyServer(server_name, verify_keys))
        return servers

    def _macaroon_secret_key(self, config: Mapping[str, Any]) -> str:
        """The configured key, or one derived from the signing key so that it survives restarts."""
        key = read_optional_str(config, "macaroon_secret_key")
        if key:
            return key
        seed = bytes(self.signing_key[0])
        return hashlib.sha256(b"macaroon_secret_key" + seed).hexdigest()

    def generate_config_section(
        self,
        config_dir_path: str,
        data_dir_path: str,
        server_name: str,
        generate_secrets: bool = False,
        report_stats: bool | None = None,
        **kwargs: Any,
    ) -> str:
        signing_key_path = os.path.join(config_dir_path, f"{server_name}.signing.key")
        return f"""\
## Signing keys ##

# The ed25519 key this server signs events and federation requests with.
signing_key_path: {quote_yaml(signing_key_path)}

# Keys this server used in the past, so that others can still check old signatures.
#old_signing_keys:
#  "ed25519:id": {{ key: "base64string", expired_ts: 123456789123 }}

# How long other servers may cache this server's keys.
#key_refresh_interval: 1d

# Servers trusted to vouch for the keys of other servers.
trusted_key_servers:
  - server_name: "matrix.org"
#    verify_keys:
#      "ed25519:auto": "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw"

# Silence the warning about trusting matrix.org as a key server.
#suppress_key_server_warning: false
"""

    def generate_files(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        signing_key_path = config.get("signing_key_path")
        if not isinstance(signing_key_path, str):
            server_name = config.get("server_name")
            if not isinstance(server_name, str):
                return
            signing_key_path = os.path.join(config_dir_path, f"{server_name}.signing.key")
        signing_key_path = abspath(signing_key_path, config_dir_path)
        if not os.path.exists(signing_key_path):
            print(f"Generating signing key file {signing_key_path}")
            generate_signing_key_file(signing_key_path)
