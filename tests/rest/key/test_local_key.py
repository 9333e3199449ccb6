"""``GET /_matrix/key/v2/server``: this server's keys, as the spec publishes them."""

from __future__ import annotations

from typing import Any

from canonicaljson import encode_canonical_json
from signedjson.key import decode_verify_key_bytes, encode_verify_key_base64, get_verify_key
from signedjson.sign import verify_signed_json
from unpaddedbase64 import decode_base64

from tests.federation.utils import FederatingHomeserverTestCase
from tests.matrix_spec import assert_response_matches_spec
from tests.unittest import override_config

SECOND_KEY = "ed25519 second nkd0BEN1DN9aYmcY8hl1mFmSAaZLpgwOQsrSYXRmg0Q"
OLD_KEY = "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw"


class LocalKeyTestCase(FederatingHomeserverTestCase):
    def _get(self, path: str = "/_matrix/key/v2/server") -> Any:
        channel = self.federation_request("GET", path, by=0)
        self.assertEqual(channel.code, 200, channel.text_body)
        # Served as canonical JSON, so the bytes are exactly what was signed.
        self.assertEqual(channel.result["body"], encode_canonical_json(channel.json_body))
        return channel.json_body

    def test_response_matches_spec_and_verifies(self) -> None:
        body = self._get()
        assert_response_matches_spec(body, "server-server/keys_server.yaml", "/server", "get")
        self.assertEqual(body["server_name"], "test")

        signing_key = self.hs.config.key.signing_key[0]
        key_id = f"{signing_key.alg}:{signing_key.version}"
        self.assertEqual(
            body["verify_keys"],
            {key_id: {"key": encode_verify_key_base64(get_verify_key(signing_key))}},
        )
        # Signed with the key it publishes: check with the key as a remote server would.
        published = decode_verify_key_bytes(
            key_id, decode_base64(body["verify_keys"][key_id]["key"])
        )
        verify_signed_json(body, "test", published)
        self.assertEqual(body["old_verify_keys"], {})

        # Valid for key_refresh_interval (1 day by default) from now.
        now = self.clock.time_msec()
        self.assertEqual(body["valid_until_ts"], now + 24 * 3600 * 1000)

    def test_deprecated_key_id_path(self) -> None:
        self.assertEqual(self._get("/_matrix/key/v2/server/ed25519:whatever"), self._get())

    @override_config({"key_refresh_interval": "2h"})
    def test_refreshed_once_half_the_validity_is_gone(self) -> None:
        first = self._get()
        start = self.clock.time_msec()
        self.assertEqual(first["valid_until_ts"], start + 2 * 3600 * 1000)

        # Within the first half of the interval the same response is served.
        self.reactor.advance(59 * 60)
        self.assertEqual(self._get(), first)

        # Past half of it, a new one, valid for the whole interval from now.
        self.reactor.advance(2 * 60)
        second = self._get()
        self.assertEqual(second["valid_until_ts"], self.clock.time_msec() + 2 * 3600 * 1000)
        self.assertGreater(second["valid_until_ts"] - self.clock.time_msec(), 3600 * 1000)

    @override_config(
        {
            "signing_key": "ed25519 first YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1\n"
            + SECOND_KEY,
            "old_signing_keys": {"ed25519:old": {"key": OLD_KEY, "expired_ts": 1500000000000}},
        }
    )
    def test_every_key_published_and_signing(self) -> None:
        body = self._get()
        assert_response_matches_spec(body, "server-server/keys_server.yaml", "/server", "get")
        self.assertEqual(set(body["verify_keys"]), {"ed25519:first", "ed25519:second"})
        self.assertEqual(
            body["old_verify_keys"], {"ed25519:old": {"key": OLD_KEY, "expired_ts": 1500000000000}}
        )
        self.assertEqual(set(body["signatures"]["test"]), {"ed25519:first", "ed25519:second"})
        for key_id, key_json in body["verify_keys"].items():
            key = decode_verify_key_bytes(key_id, decode_base64(key_json["key"]))
            verify_signed_json(body, "test", key)
