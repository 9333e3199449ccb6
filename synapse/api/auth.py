"""Who is calling: turns the access token of a request into a ``Requester``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from synapse.api.errors import (
    AuthError,
    Codes,
    InvalidClientTokenError,
    MissingClientTokenError,
)
from synapse.types import Requester, UserID, create_requester

if TYPE_CHECKING:
    from twisted.web.server import Request

    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# How often the address and client of one token are written down, at most.
CLIENT_IP_RECORD_INTERVAL_MS = 60 * 1000


class Auth:
    """Authenticates client requests by their access token."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self._stores = hs.get_datastores().main
        self._last_ip_record: dict[tuple[int, str, str], int] = {}

    async def get_user_by_req(
        self,
        request: Request,
        allow_guest: bool = False,
        allow_expired: bool = False,
        allow_locked: bool = False,
    ) -> Requester:
        """The caller of ``request``.

        Raises:
            MissingClientTokenError: no token was given (401 M_MISSING_TOKEN).
            InvalidClientTokenError: the token is unknown or expired (401 M_UNKNOWN_TOKEN).
            AuthError: a guest called an endpoint closed to guests (403 M_GUEST_ACCESS_FORBIDDEN);
                the account is locked (401 M_USER_LOCKED, unless ``allow_locked``).
        """
        token = self.get_access_token_from_request(request)
        requester = await self.get_user_by_access_token(
            token, allow_expired=allow_expired, allow_locked=allow_locked
        )
        if requester.is_guest and not allow_guest:
            raise AuthError(403, "Guest access not allowed", errcode=Codes.GUEST_ACCESS_FORBIDDEN)
        await self._record_client_ip(request, requester)
        try:
            request.requester = requester  # type: ignore[attr-defined]
        except AttributeError:
            pass
        return requester

    async def get_user_by_access_token(
        self, token: str, allow_expired: bool = False, allow_locked: bool = False
    ) -> Requester:
        """The user and device ``token`` belongs to."""
        info = await self._stores.registration.get_user_by_access_token(token)
        if info is None or info.is_deactivated:
            raise InvalidClientTokenError()
        if (
            not allow_expired
            and info.valid_until_ms is not None
            and info.valid_until_ms < self.clock.time_msec()
        ):
            # The session is still known: the client may log in again to the same device.
            raise InvalidClientTokenError("Access token has expired", soft_logout=True)
        if info.is_locked and not allow_locked:
            raise AuthError(
                401,
                "User account has been locked",
                errcode=Codes.USER_LOCKED,
                additional_fields={"soft_logout": True},
            )
        return create_requester(
            info.user_id,
            access_token_id=info.token_id,
            is_guest=info.is_guest,
            device_id=info.device_id,
            authenticated_entity=info.token_owner,
        )

    async def is_server_admin(self, requester: Requester) -> bool:
        """Whether the caller is a server administrator."""
        return await self._stores.registration.is_server_admin(requester.user.to_string())

    async def validate_user_is_admin(self, requester: Requester) -> None:
        """Raise 403 M_FORBIDDEN unless the caller is a server administrator."""
        if not await self.is_server_admin(requester):
            raise AuthError(403, "You are not a server admin", errcode=Codes.FORBIDDEN)

    def is_mine(self, user: UserID) -> bool:
        return self.hs.is_mine(user)

    @staticmethod
    def has_access_token(request: Request) -> bool:
        """Whether the request carries an access token at all."""
        args: dict[bytes, Any] = request.args or {}
        auth_headers = request.requestHeaders.getRawHeaders(b"Authorization")
        return bool(args.get(b"access_token")) or bool(auth_headers)

    @staticmethod
    def get_access_token_from_request(request: Request) -> str:
        """The token of the ``Authorization: Bearer`` header or ``access_token`` parameter."""
        args: dict[bytes, Any] = request.args or {}
        auth_headers = request.requestHeaders.getRawHeaders(b"Authorization")
        query_params = args.get(b"access_token")
        if auth_headers:
            if query_params is not None:
                raise MissingClientTokenError(
                    "Mixing Authorization headers and access_token query parameters."
                )
            if len(auth_headers) > 1:
                raise MissingClientTokenError("Too many Authorization headers.")
            parts = auth_headers[0].split(b" ")
            if len(parts) == 2 and parts[0] == b"Bearer" and parts[1]:
                return parts[1].decode("ascii", errors="replace")
            raise MissingClientTokenError("Invalid Authorization header.")
        if not query_params:
            raise MissingClientTokenError()
        return query_params[0].decode("utf-8", errors="replace")

    async def _record_client_ip(self, request: Request, requester: Requester) -> None:
        """Note where and with what client the token was used (at most once a minute)."""
        if requester.access_token_id is None:
            return
        try:
            ip = request.getClientAddress().host  # type: ignore[attr-defined]
        except Exception:
            ip = ""
        ip = ip or ""
        ua_headers = request.requestHeaders.getRawHeaders(b"User-Agent")
        user_agent = ua_headers[0].decode("utf-8", errors="replace") if ua_headers else ""
        now = self.clock.time_msec()
        key = (requester.access_token_id, ip, user_agent)
        last = self._last_ip_record.get(key)
        if last is not None and now - last < CLIENT_IP_RECORD_INTERVAL_MS:
            return
        if len(self._last_ip_record) > 10000:
            self._last_ip_record.clear()
        self._last_ip_record[key] = now
        try:
            await self._stores.devices.insert_client_ip(
                requester.user.to_string(), requester.device_id, ip, user_agent, now
            )
        except Exception:
            logger.exception("Failed to record client IP")
