"""The admin API for registration tokens (``registration_requires_token``), with
Synapse's paths and shapes: ``GET /_synapse/admin/v1/registration_tokens[?valid=]``,
``POST /registration_tokens/new``, ``GET/PUT/DELETE /registration_tokens/{token}``."""

from __future__ import annotations

import secrets
import string
from http import HTTPStatus
from typing import TYPE_CHECKING

from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.http.servlet import (
    RestServlet,
    parse_boolean,
    parse_json_object_from_request,
    validate_json_object,
)
from synapse.rest.admin._base import admin_patterns, assert_requester_is_admin
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_TOKEN_CHARS = string.ascii_letters + string.digits + "._~-"
_MAX_INT = 2**53 - 1

_LIMITS = {
    "uses_allowed": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**31 - 1},
    "expiry_time": {"type": ["integer", "null"], "minimum": 0, "maximum": _MAX_INT},
}

_NEW_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "token": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "pattern": "^[A-Za-z0-9._~-]+$",
        },
        "length": {"type": "integer", "minimum": 1, "maximum": 64},
        **_LIMITS,
    },
}

_UPDATE_SCHEMA: JsonDict = {"type": "object", "properties": _LIMITS}


class _TokensServlet(RestServlet):
    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.auth = hs.get_auth()
        self.stores = hs.get_datastores().main
        self.clock = hs.get_clock()

    def _check_expiry(self, body: JsonDict) -> None:
        expiry = body.get("expiry_time")
        if expiry is not None and expiry < self.clock.time_msec():
            raise SynapseError(
                HTTPStatus.BAD_REQUEST, "expiry_time must not be in the past", Codes.INVALID_PARAM
            )


class ListRegistrationTokensRestServlet(_TokensServlet):
    """``GET /_synapse/admin/v1/registration_tokens``."""

    PATTERNS = admin_patterns("/registration_tokens$")

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        valid = parse_boolean(request, "valid") if b"valid" in request.args else None
        tokens = await self.stores.admin.get_registration_tokens(valid)
        return HTTPStatus.OK, {"registration_tokens": tokens}


class NewRegistrationTokenRestServlet(_TokensServlet):
    """``POST /_synapse/admin/v1/registration_tokens/new``."""

    PATTERNS = admin_patterns("/registration_tokens/new$")

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        body = parse_json_object_from_request(request, allow_empty_body=True)
        validate_json_object(body, _NEW_SCHEMA, Codes.INVALID_PARAM)
        self._check_expiry(body)
        uses_allowed = body.get("uses_allowed")
        expiry_time = body.get("expiry_time")
        token = body.get("token")
        registration = self.stores.registration
        if token is not None:
            if not await registration.create_registration_token(token, uses_allowed, expiry_time):
                raise SynapseError(
                    HTTPStatus.BAD_REQUEST, f"Token already exists: {token}", Codes.INVALID_PARAM
                )
        else:
            length = body.get("length", 16)
            while True:
                token = "".join(secrets.choice(_TOKEN_CHARS) for _ in range(length))
                if await registration.create_registration_token(token, uses_allowed, expiry_time):
                    break
        created = await self.stores.admin.get_registration_token(token)
        assert created is not None
        return HTTPStatus.OK, created


class RegistrationTokenRestServlet(_TokensServlet):
    """``GET/PUT/DELETE /_synapse/admin/v1/registration_tokens/{token}``."""

    PATTERNS = admin_patterns("/registration_tokens/(?P<token>[^/]*)$")

    async def on_GET(self, request: Request, token: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        found = await self.stores.admin.get_registration_token(token)
        if found is None:
            raise NotFoundError(f"No such registration token: {token}")
        return HTTPStatus.OK, found

    async def on_PUT(self, request: Request, token: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        body = parse_json_object_from_request(request, allow_empty_body=True)
        validate_json_object(body, _UPDATE_SCHEMA, Codes.INVALID_PARAM)
        self._check_expiry(body)
        values: dict[str, int | None] = {
            k: body[k] for k in ("uses_allowed", "expiry_time") if k in body
        }
        updated = await self.stores.admin.update_registration_token(token, values)
        if updated is None:
            raise NotFoundError(f"No such registration token: {token}")
        return HTTPStatus.OK, updated

    async def on_DELETE(self, request: Request, token: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        if not await self.stores.admin.delete_registration_token(token):
            raise NotFoundError(f"No such registration token: {token}")
        return HTTPStatus.OK, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    # "new" first: the {token} pattern would match it too.
    NewRegistrationTokenRestServlet(hs).register(http_server)
    ListRegistrationTokensRestServlet(hs).register(http_server)
    RegistrationTokenRestServlet(hs).register(http_server)
