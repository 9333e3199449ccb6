"""The signing key of the spec's cryptographic test vectors, shared by the event tests."""

from __future__ import annotations

from signedjson.key import decode_signing_key_base64, get_verify_key
from signedjson.types import SigningKey, VerifyKey

SERVER_NAME = "domain"
KEY_ID = "ed25519:1"
SIGNING_KEY_SEED = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"


def spec_signing_key() -> SigningKey:
    return decode_signing_key_base64("ed25519", "1", SIGNING_KEY_SEED)


def spec_verify_keys() -> dict[str, VerifyKey]:
    return {KEY_ID: get_verify_key(spec_signing_key())}
