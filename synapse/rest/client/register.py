"""``/register``, ``/register/available`` and the registration token validity check."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from synapse.api.constants import LoginType
from synapse.api.errors import Codes, InteractiveAuthIncompleteError, SynapseError
from synapse.api.ratelimiting import Ratelimiter
from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    parse_string,
    validate_json_object,
)
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict, UserID

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

_AUTH_SCHEMA: JsonDict = {"type": "object"}

REGISTER_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "auth": _AUTH_SCHEMA,
        "username": {"type": "string"},
        "password": {"type": "string"},
        "device_id": {"type": "string"},
        "initial_device_display_name": {"type": "string"},
        "inhibit_login": {"type": "boolean"},
        "refresh_token": {"type": "boolean"},
        "guest_access_token": {"type": "string"},
    },
}

# A guest registration ignores every field but this one.
GUEST_REGISTER_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"initial_device_display_name": {"type": "string"}},
}


class RegisterRestServlet(RestServlet):
    """``POST /register``: user-interactive registration, or a guest account."""

    PATTERNS = client_patterns("/register$")

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self.auth_handler = hs.get_auth_handler()
        self.registration_handler = hs.get_registration_handler()
        self.config = hs.config.registration

    def _flows(self) -> list[list[str]]:
        """The stages a registration must pass, from the config."""
        flow: list[str] = []
        if self.config.registration_requires_token:
            flow.append(LoginType.REGISTRATION_TOKEN)
        if getattr(self.hs.config, "captcha", None) is not None and (
            self.hs.config.captcha.enable_registration_captcha
        ):
            flow.append(LoginType.RECAPTCHA)
        if self.config.registrations_require_3pid:
            flow.append(LoginType.EMAIL_IDENTITY)
        if not flow:
            flow.append(LoginType.DUMMY)
        return [flow]

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        kind = parse_string(request, "kind", default="user", allowed_values=["user", "guest"])
        if kind == "guest":
            body = parse_and_validate_json_object_from_request(
                request, GUEST_REGISTER_SCHEMA, allow_empty_body=True
            )
            await self.registration_handler.check_registration_ratelimit(
                request.get_client_ip_if_available()
            )
            return await self._do_guest_registration(body)

        body = parse_and_validate_json_object_from_request(request, REGISTER_SCHEMA)
        if not self.config.enable_registration:
            raise SynapseError(403, "Registration has been disabled", Codes.FORBIDDEN)
        await self.registration_handler.check_registration_ratelimit(
            request.get_client_ip_if_available()
        )

        password = body.pop("password", None)
        if password is not None:
            self.auth_handler.validate_password_policy(password)
        # A guest upgrading their account keeps their user ID.
        guest_access_token = body.pop("guest_access_token", None)
        guest_user_id: str | None = None
        username = body.get("username")
        if username is not None:
            body["username"] = username = username.lower()
        if guest_access_token is not None:
            guest_user_id = await self.registration_handler.get_guest_user_id(guest_access_token)
            guest_localpart = UserID.from_string(guest_user_id).localpart
            if username is not None and username != guest_localpart:
                raise SynapseError(
                    400, "The username must be the guest's own localpart", Codes.INVALID_PARAM
                )
            body["username"] = guest_localpart
        elif username is not None:
            await self.registration_handler.check_username(
                username, inhibit_user_in_use_error=self.config.inhibit_user_in_use_error
            )

        # Neither the password nor the guest's token goes into the session's stored
        # request: only the password's hash and the guest's user ID, as server data.
        try:
            _, params, session_id = await self.auth_handler.check_ui_auth(
                self._flows(), request, body, "register a new account"
            )
        except InteractiveAuthIncompleteError as e:
            if password is not None:
                await self.auth_handler.set_session_data(
                    e.session_id, "password_hash", await self.auth_handler.hash(password)
                )
            if guest_user_id is not None:
                await self.auth_handler.set_session_data(
                    e.session_id, "guest_user_id", guest_user_id
                )
            raise
        validate_json_object(params, REGISTER_SCHEMA)

        registered_user_id = await self.auth_handler.get_session_data(
            session_id, "registered_user_id"
        )
        if registered_user_id is not None:
            # A retry of a registration that went through: log in the same account.
            return 200, await self._create_registration_details(registered_user_id, params)

        if password is not None:
            password_hash = await self.auth_handler.hash(password)
        else:
            password_hash = await self.auth_handler.get_session_data(session_id, "password_hash")
        if not password_hash:
            raise SynapseError(400, "Missing params: password", Codes.MISSING_PARAM)

        if guest_user_id is None:
            guest_user_id = await self.auth_handler.get_session_data(session_id, "guest_user_id")
        if guest_user_id is not None:
            await self.registration_handler.upgrade_guest(guest_user_id, password_hash)
            user_id = guest_user_id
        else:
            user_id = await self.registration_handler.register_user(
                localpart=params.get("username"), password_hash=password_hash
            )
        await self.auth_handler.set_session_data(session_id, "registered_user_id", user_id)
        creds = await self.hs.get_datastores().main.ui_auth.get_completed_ui_auth_stages(session_id)
        if LoginType.REGISTRATION_TOKEN in creds:
            await self.hs.get_datastores().main.registration.use_registration_token(
                creds[LoginType.REGISTRATION_TOKEN]
            )
        return 200, await self._create_registration_details(user_id, params)

    async def _create_registration_details(self, user_id: str, params: JsonDict) -> JsonDict:
        result: JsonDict = {"user_id": user_id, "home_server": self.hs.hostname}
        if params.get("inhibit_login", False):
            return result
        device_id, access_token = await self.registration_handler.register_device(
            user_id,
            params.get("device_id"),
            params.get("initial_device_display_name"),
            valid_until_ms=self._valid_until_ms(),
        )
        result.update({"access_token": access_token, "device_id": device_id})
        return result

    def _valid_until_ms(self) -> int | None:
        lifetime = self.config.session_lifetime
        return self.clock.time_msec() + int(lifetime) if lifetime else None

    async def _do_guest_registration(self, body: JsonDict) -> tuple[int, JsonDict]:
        user_id = await self.registration_handler.register_guest(
            body.get("initial_device_display_name")
        )
        device_id, access_token = await self.registration_handler.register_device(
            user_id,
            None,
            body.get("initial_device_display_name"),
            is_guest=True,
            valid_until_ms=self._valid_until_ms(),
        )
        return 200, {
            "user_id": user_id,
            "device_id": device_id,
            "access_token": access_token,
            "home_server": self.hs.hostname,
        }


class UsernameAvailabilityRestServlet(RestServlet):
    """``GET /register/available?username=``: whether a user ID could be registered."""

    PATTERNS = client_patterns("/register/available$")

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.registration_handler = hs.get_registration_handler()

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        if not self.hs.config.registration.enable_registration:
            raise SynapseError(403, "Registration has been disabled", Codes.FORBIDDEN)
        await self.registration_handler.check_registration_ratelimit(
            request.get_client_ip_if_available()
        )
        username = parse_string(request, "username", required=True)
        assert username is not None
        await self.registration_handler.check_username(
            username,
            inhibit_user_in_use_error=self.hs.config.registration.inhibit_user_in_use_error,
        )
        return 200, {"available": True}


class RegistrationTokenValidityRestServlet(RestServlet):
    """``GET /register/m.login.registration_token/validity?token=``."""

    PATTERNS = client_patterns(
        f"/register/{LoginType.REGISTRATION_TOKEN}/validity$",
        releases=("v1",),
    )

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self._store = hs.get_datastores().main.registration
        self._ratelimiter = Ratelimiter(
            hs.get_datastores().main,
            hs.get_clock(),
            hs.config.ratelimiting.rc_registration_token_validity,
        )

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await self._ratelimiter.ratelimit(None, key=request.get_client_ip_if_available())
        token = parse_string(request, "token", required=True)
        assert token is not None
        valid: Any = await self._store.registration_token_is_valid(token)
        return 200, {"valid": bool(valid)}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    RegisterRestServlet(hs).register(http_server)
    UsernameAvailabilityRestServlet(hs).register(http_server)
    RegistrationTokenValidityRestServlet(hs).register(http_server)
