"""``/_synapse/admin/v1/register``: create accounts with the registration shared secret.

``GET`` hands out a nonce; ``POST`` registers a user if its ``mac`` is the HMAC-SHA1,
keyed with the shared secret, of ``nonce\\0username\\0password\\0admin|notadmin`` (plus
``\\0user_type`` when a user type is given). Each nonce works once, for a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from synapse.api.constants import UserTypes
from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import RestServlet, parse_and_validate_json_object_from_request
from synapse.rest.admin._base import admin_patterns
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

NONCE_TIMEOUT_S = 60

SHARED_SECRET_REGISTER_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "nonce": {"type": "string"},
        "username": {"type": "string", "maxLength": 512},
        "password": {"type": "string", "maxLength": 512},
        "displayname": {"type": ["string", "null"]},
        "admin": {"type": "boolean"},
        "user_type": {"type": ["string", "null"]},
        "mac": {"type": "string"},
    },
    "required": ["nonce", "username", "password", "mac"],
}


def compute_registration_mac(
    shared_secret: str,
    nonce: str,
    username: str,
    password: str,
    admin: bool,
    user_type: str | None = None,
) -> str:
    """The hex HMAC-SHA1 a shared-secret registration request must carry."""
    mac = hmac.new(shared_secret.encode("utf-8"), digestmod=hashlib.sha1)
    mac.update(nonce.encode("utf-8"))
    mac.update(b"\x00")
    mac.update(username.encode("utf-8"))
    mac.update(b"\x00")
    mac.update(password.encode("utf-8"))
    mac.update(b"\x00")
    mac.update(b"admin" if admin else b"notadmin")
    if user_type:
        mac.update(b"\x00")
        mac.update(user_type.encode("utf-8"))
    return mac.hexdigest()


class UserRegisterServlet(RestServlet):
    PATTERNS = admin_patterns("/register$")

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self.auth_handler = hs.get_auth_handler()
        self.registration_handler = hs.get_registration_handler()
        self.nonces: dict[str, float] = {}

    def _shared_secret(self) -> str:
        secret = self.hs.config.registration.registration_shared_secret
        if not secret:
            raise SynapseError(400, "Shared secret registration is not enabled")
        return secret

    def _clear_old_nonces(self) -> None:
        now = self.clock.time()
        for nonce in [n for n, t in self.nonces.items() if now - t > NONCE_TIMEOUT_S]:
            del self.nonces[nonce]

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        self._shared_secret()
        self._clear_old_nonces()
        nonce = secrets.token_hex(32)
        self.nonces[nonce] = self.clock.time()
        return 200, {"nonce": nonce}

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        shared_secret = self._shared_secret()
        self._clear_old_nonces()
        body = parse_and_validate_json_object_from_request(request, SHARED_SECRET_REGISTER_SCHEMA)

        nonce = body["nonce"]
        if nonce not in self.nonces:
            raise SynapseError(400, "unrecognised nonce")
        # Single use, whatever happens next.
        del self.nonces[nonce]

        username: str = body["username"]
        password: str = body["password"]
        if "\x00" in username:
            raise SynapseError(400, "Invalid username", Codes.INVALID_USERNAME)
        if "\x00" in password:
            raise SynapseError(400, "Invalid password", Codes.INVALID_PARAM)
        admin = bool(body.get("admin", False))
        user_type = body.get("user_type")
        if user_type is not None and user_type not in UserTypes.ALL_USER_TYPES:
            raise SynapseError(400, "Invalid user type", Codes.INVALID_PARAM)

        want_mac = compute_registration_mac(
            shared_secret, nonce, username, password, admin, user_type
        )
        if not hmac.compare_digest(want_mac.encode("ascii"), body["mac"].encode("utf-8")):
            raise SynapseError(403, "HMAC incorrect", Codes.FORBIDDEN)

        password_hash = await self.auth_handler.hash(password) if password else None
        user_id = await self.registration_handler.register_user(
            localpart=username.lower(),
            password_hash=password_hash,
            admin=admin,
            user_type=user_type,
            default_display_name=body.get("displayname"),
        )
        device_id, access_token = await self.registration_handler.register_device(
            user_id, None, None
        )
        return 200, {
            "access_token": access_token,
            "user_id": user_id,
            "home_server": self.hs.hostname,
            "device_id": device_id,
        }


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    UserRegisterServlet(hs).register(http_server)
