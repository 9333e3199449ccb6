"""Signed device keys, one-time keys and cross-signing keys for end-to-end encryption tests,
made with real ed25519 keys (signedjson), and a test case base that uploads them."""

from __future__ import annotations

import copy
from typing import Any

from signedjson.key import (
    SigningKey,
    decode_signing_key_base64,
    encode_signing_key_base64,
    encode_verify_key_base64,
    generate_signing_key,
    get_verify_key,
)
from signedjson.sign import sign_json

from synapse.rest.client import account, devices, keys, login, room_keys, sendtodevice
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.server import FakeChannel
from tests.unittest import HomeserverTestCase

ALGORITHMS = ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"]


def sign(obj: JsonDict, user_id: str, key: SigningKey) -> JsonDict:
    """A copy of ``obj`` with ``user_id``'s signature by ``key`` added."""
    return sign_json(copy.deepcopy(obj), user_id, key)


def device_keys(user_id: str, device_id: str) -> tuple[JsonDict, SigningKey]:
    """A device's identity keys, signed by its own ed25519 key."""
    key = generate_signing_key(device_id)
    public = encode_verify_key_base64(get_verify_key(key))
    unsigned: JsonDict = {
        "user_id": user_id,
        "device_id": device_id,
        "algorithms": ALGORITHMS,
        "keys": {f"curve25519:{device_id}": f"curve-{device_id}", f"ed25519:{device_id}": public},
    }
    return sign(unsigned, user_id, key), key


def one_time_keys(
    user_id: str, key: SigningKey, ids: list[str], fallback: bool = False
) -> JsonDict:
    """``signed_curve25519:<id>`` keys signed by a device key."""
    out: JsonDict = {}
    for key_id in ids:
        obj: JsonDict = {"key": f"otk-{key_id}"}
        if fallback:
            obj["fallback"] = True
        out[f"signed_curve25519:{key_id}"] = sign(obj, user_id, key)
    return out


def cross_signing_key(
    user_id: str, usage: str, signer: tuple[SigningKey, str] | None = None
) -> tuple[JsonDict, SigningKey, str]:
    """A cross-signing key (usage ``master``, ``self_signing`` or ``user_signing``), its
    private key and public key; signed by ``signer`` (a private key and its public key)."""
    tmp = generate_signing_key("tmp")
    public = encode_verify_key_base64(get_verify_key(tmp))
    key = decode_signing_key_base64("ed25519", public, encode_signing_key_base64(tmp))
    obj: JsonDict = {"user_id": user_id, "usage": [usage], "keys": {f"ed25519:{public}": public}}
    if signer is not None:
        obj = sign(obj, user_id, signer[0])
    return obj, key, public


class E2eTestCase(HomeserverTestCase):
    """Serves the key, to-device and backup servlets; helpers to upload keys."""

    servlets = [
        login.register_servlets,
        account.register_servlets,
        devices.register_servlets,
        keys.register_servlets,
        sendtodevice.register_servlets,
        room_keys.register_servlets,
    ]

    def post(self, path: str, body: Any, tok: str | None) -> FakeChannel:
        return self.make_request("POST", path, body, access_token=tok)

    def upload_device_keys(
        self, user_id: str, device_id: str, tok: str, otk_ids: list[str] | None = None
    ) -> tuple[JsonDict, SigningKey]:
        keys_json, key = device_keys(user_id, device_id)
        body: JsonDict = {"device_keys": keys_json}
        if otk_ids:
            body["one_time_keys"] = one_time_keys(user_id, key, otk_ids)
        channel = self.post("keys/upload", body, tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(
            channel.json_body, "client-server/keys.yaml", "/keys/upload", "post"
        )
        return keys_json, key

    def query(self, tok: str, users: dict[str, list[str]]) -> JsonDict:
        channel = self.post("keys/query", {"device_keys": users}, tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(
            channel.json_body, "client-server/keys.yaml", "/keys/query", "post"
        )
        return channel.json_body

    def claim(self, tok: str, query: dict[str, dict[str, str]]) -> JsonDict:
        channel = self.post("keys/claim", {"one_time_keys": query}, tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(
            channel.json_body, "client-server/keys.yaml", "/keys/claim", "post"
        )
        return channel.json_body

    def upload_cross_signing(
        self, user_id: str, tok: str
    ) -> dict[str, tuple[JsonDict, SigningKey, str]]:
        """Upload a fresh master, self-signing and user-signing key (no UIA: the first)."""
        master = cross_signing_key(user_id, "master")
        ssk = cross_signing_key(user_id, "self_signing", (master[1], master[2]))
        usk = cross_signing_key(user_id, "user_signing", (master[1], master[2]))
        channel = self.post(
            "keys/device_signing/upload",
            {"master_key": master[0], "self_signing_key": ssk[0], "user_signing_key": usk[0]},
            tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(
            channel.json_body,
            "client-server/cross_signing.yaml",
            "/keys/device_signing/upload",
            "post",
        )
        return {"master": master, "self_signing": ssk, "user_signing": usk}
