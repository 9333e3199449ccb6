"""``/keys/upload``, ``/keys/query``, ``/keys/claim``, ``/keys/changes``,
``/keys/device_signing/upload`` and ``/keys/signatures/upload``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    parse_string,
    validate_json_object,
)
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict, StreamToken

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_STRING_MAP: JsonDict = {"type": "object", "additionalProperties": {"type": "string"}}
_SIGNATURES: JsonDict = {"type": "object", "additionalProperties": _STRING_MAP}
_TIMEOUT: JsonDict = {"type": "integer", "minimum": 0, "maximum": 2**53 - 1}

DEVICE_KEYS_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "user_id": {"type": "string"},
        "device_id": {"type": "string"},
        "algorithms": {"type": "array", "items": {"type": "string"}},
        "keys": _STRING_MAP,
        "signatures": _SIGNATURES,
    },
    "required": ["user_id", "device_id", "algorithms", "keys", "signatures"],
}

# A one-time or fallback key: a signed key object, or (curve25519) the bare key.
_KEY_OBJECTS: JsonDict = {
    "type": "object",
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "fallback": {"type": "boolean"},
                    "signatures": _SIGNATURES,
                },
                "required": ["key"],
            },
        ]
    },
}

UPLOAD_KEYS_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "device_keys": DEVICE_KEYS_SCHEMA,
        "one_time_keys": _KEY_OBJECTS,
        "fallback_keys": _KEY_OBJECTS,
    },
}

QUERY_KEYS_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "timeout": _TIMEOUT,
        "device_keys": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["device_keys"],
}

CLAIM_KEYS_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "timeout": _TIMEOUT,
        "one_time_keys": {"type": "object", "additionalProperties": _STRING_MAP},
    },
    "required": ["one_time_keys"],
}

CROSS_SIGNING_KEY_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "user_id": {"type": "string"},
        "usage": {"type": "array", "items": {"type": "string"}},
        "keys": _STRING_MAP,
        "signatures": _SIGNATURES,
    },
    "required": ["user_id", "usage", "keys"],
}

SIGNING_KEYS_UPLOAD_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "master_key": CROSS_SIGNING_KEY_SCHEMA,
        "self_signing_key": CROSS_SIGNING_KEY_SCHEMA,
        "user_signing_key": CROSS_SIGNING_KEY_SCHEMA,
        "auth": {"type": "object"},
    },
}

SIGNATURES_UPLOAD_SCHEMA: JsonDict = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {"signatures": _SIGNATURES},
        },
    },
}

# The longest a client may ask us to wait for other servers.
_MAX_TIMEOUT_MS = 60_000


class KeyUploadServlet(RestServlet):
    PATTERNS = client_patterns("/keys/upload$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.e2e_keys_handler = hs.get_e2e_keys_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        body = parse_and_validate_json_object_from_request(request, UPLOAD_KEYS_SCHEMA)
        if requester.device_id is None:
            raise SynapseError(
                400, "Keys can only be uploaded with a device's access token", Codes.MISSING_PARAM
            )
        result = await self.e2e_keys_handler.upload_keys_for_user(
            requester.user.to_string(), requester.device_id, body
        )
        return 200, result


class KeyQueryServlet(RestServlet):
    PATTERNS = client_patterns("/keys/query$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.e2e_keys_handler = hs.get_e2e_keys_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        body = parse_and_validate_json_object_from_request(request, QUERY_KEYS_SCHEMA)
        timeout = min(body.get("timeout", 10_000), _MAX_TIMEOUT_MS)
        result = await self.e2e_keys_handler.query_devices(
            body["device_keys"], requester.user.to_string(), timeout
        )
        return 200, result


class OneTimeKeyServlet(RestServlet):
    PATTERNS = client_patterns("/keys/claim$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.e2e_keys_handler = hs.get_e2e_keys_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        await self.auth.get_user_by_req(request, allow_guest=True)
        body = parse_and_validate_json_object_from_request(request, CLAIM_KEYS_SCHEMA)
        timeout = min(body.get("timeout", 10_000), _MAX_TIMEOUT_MS)
        result = await self.e2e_keys_handler.claim_one_time_keys(body["one_time_keys"], timeout)
        return 200, result


class KeyChangesServlet(RestServlet):
    PATTERNS = client_patterns("/keys/changes$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.e2e_keys_handler = hs.get_e2e_keys_handler()

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        from_str = parse_string(request, "from", required=True)
        to_str = parse_string(request, "to", required=True)
        assert from_str is not None and to_str is not None
        from_token = StreamToken.from_string(from_str)
        to_token = StreamToken.from_string(to_str)
        changes = await self.e2e_keys_handler.get_key_changes(
            requester.user.to_string(), from_token, to_token
        )
        return 200, {"changed": sorted(changes.changed), "left": sorted(changes.left)}


class SigningKeyUploadServlet(RestServlet):
    """Cross-signing keys; user-interactive auth unless the user has no master key yet
    or sends no new key."""

    PATTERNS = client_patterns("/keys/device_signing/upload$", releases=("v3",))

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.auth_handler = hs.get_auth_handler()
        self.e2e_keys_handler = hs.get_e2e_keys_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, SIGNING_KEYS_UPLOAD_SCHEMA)

        async def ui_auth() -> JsonDict:
            params, _ = await self.auth_handler.validate_user_via_ui_auth(
                requester, request, body, "add a device signing key to your account"
            )
            validate_json_object(params, SIGNING_KEYS_UPLOAD_SCHEMA)
            return params

        await self.e2e_keys_handler.upload_signing_keys_for_user(
            requester.user.to_string(), body, ui_auth
        )
        return 200, {}


class SignaturesUploadServlet(RestServlet):
    PATTERNS = client_patterns("/keys/signatures/upload$", releases=("v3",))

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.e2e_keys_handler = hs.get_e2e_keys_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        body = parse_and_validate_json_object_from_request(request, SIGNATURES_UPLOAD_SCHEMA)
        result = await self.e2e_keys_handler.upload_signatures_for_device_keys(
            requester.user.to_string(), body
        )
        return 200, result


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    KeyUploadServlet(hs).register(http_server)
    KeyQueryServlet(hs).register(http_server)
    OneTimeKeyServlet(hs).register(http_server)
    KeyChangesServlet(hs).register(http_server)
    SigningKeyUploadServlet(hs).register(http_server)
    SignaturesUploadServlet(hs).register(http_server)
