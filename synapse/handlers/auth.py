"""Passwords, access tokens, password login and user-interactive authentication."""

from __future__ import annotations

import logging
import secrets
import string
import zlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import bcrypt
import unpaddedbase64
from twisted.internet import defer

from synapse.api.constants import LoginType
from synapse.api.errors import (
    AuthError,
    Codes,
    InteractiveAuthIncompleteError,
    StoreError,
    SynapseError,
)
from synapse.api.ratelimiting import Ratelimiter
from synapse.types import JsonDict, Requester, UserID

if TYPE_CHECKING:
    from twisted.web.server import Request

    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# A user-interactive auth session is forgotten this long after it began.
UI_AUTH_SESSION_EXPIRY_MS = 48 * 60 * 60 * 1000

MAX_PASSWORD_LENGTH = 512
BCRYPT_MAX_BYTES = 72

_TOKEN_ALPHABET = string.ascii_letters + string.digits
# 24 characters of a 62-letter alphabet: about 143 bits of randomness.
_TOKEN_RANDOM_LENGTH = 24


class LoginError(SynapseError):
    """A credential was refused (a wrong password, an unknown user, ...)."""


def _base62(num: int, min_width: int = 0) -> str:
    digits = string.digits + string.ascii_uppercase + string.ascii_lowercase
    out = ""
    while num:
        num, rem = divmod(num, 62)
        out = digits[rem] + out
    return out.rjust(min_width, "0")


def random_string(length: int) -> str:
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(length))


def generate_access_token_for(localpart: str, prefix: str = "syt") -> str:
    """A new token ``<prefix>_<base64 localpart>_<random>_<crc>``; the CRC catches typos."""
    b64 = unpaddedbase64.encode_base64(localpart.encode("utf-8"), urlsafe=True)
    base = f"{prefix}_{b64}_{random_string(_TOKEN_RANDOM_LENGTH)}"
    return f"{base}_{_base62(zlib.crc32(base.encode('ascii')), 6)}"


class AuthHandler:
    """Checks credentials and runs user-interactive authentication sessions."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self._stores = hs.get_datastores().main
        config = hs.config.registration
        self._bcrypt_rounds: int = config.bcrypt_rounds
        self._password_pepper: str = config.password_pepper
        self._password_enabled_for_login: bool = config.password_enabled_for_login
        self._password_enabled_for_reauth: bool = config.password_enabled_for_reauth
        rc_login = hs.config.ratelimiting.rc_login
        self._address_limiter = Ratelimiter(self._stores, self.clock, rc_login.address)
        self._account_limiter = Ratelimiter(self._stores, self.clock, rc_login.account)
        self._failed_limiter = Ratelimiter(self._stores, self.clock, rc_login.failed_attempts)
        self._ui_auth_checkers = {
            LoginType.DUMMY: self._check_dummy_auth,
            LoginType.PASSWORD: self._check_password_auth,
            LoginType.REGISTRATION_TOKEN: self._check_registration_token_auth,
        }
        self.clock.looping_call(
            lambda: defer.ensureDeferred(self._expire_old_sessions()), 5 * 60 * 1000
        )

    # Passwords

    def _peppered(self, password: str) -> bytes:
        # bcrypt reads at most 72 bytes; older versions cut the rest silently, and the
        # hashes they made (Synapse's among them) only match the first 72 bytes.
        return (password + self._password_pepper).encode("utf-8")[:BCRYPT_MAX_BYTES]

    async def hash(self, password: str) -> str:
        """The bcrypt hash of ``password`` with the configured pepper and rounds."""

        def _do_hash() -> str:
            return bcrypt.hashpw(
                self._peppered(password), bcrypt.gensalt(self._bcrypt_rounds)
            ).decode("ascii")

        return await self._run_in_thread(_do_hash)

    def validate_password_policy(self, password: str) -> None:
        """400 (M_PASSWORD_TOO_SHORT, M_PASSWORD_NO_DIGIT, ...) if the configured policy refuses it."""
        if len(password) > MAX_PASSWORD_LENGTH:
            raise SynapseError(400, "Password is too long", Codes.BAD_JSON)
        config = self.hs.config.registration
        if not config.password_policy_enabled:
            return
        policy = config.password_policy
        if len(password) < policy["minimum_length"]:
            raise SynapseError(
                400,
                f"The password must be at least {policy['minimum_length']} characters long",
                Codes.PASSWORD_TOO_SHORT,
            )
        checks = (
            ("require_digit", str.isdigit, "a digit", Codes.PASSWORD_NO_DIGIT),
            ("require_symbol", lambda c: not c.isalnum(), "a symbol", Codes.PASSWORD_NO_SYMBOL),
            ("require_uppercase", str.isupper, "an uppercase letter", Codes.PASSWORD_NO_UPPERCASE),
            ("require_lowercase", str.islower, "a lowercase letter", Codes.PASSWORD_NO_LOWERCASE),
        )
        for key, test, what, errcode in checks:
            if policy[key] and not any(test(c) for c in password):
                raise SynapseError(400, f"The password must contain {what}", errcode)

    async def validate_hash(self, password: str, stored_hash: str) -> bool:
        """Whether ``password`` matches the bcrypt hash ``stored_hash``."""
        if not stored_hash:
            return False

        def _do_check() -> bool:
            try:
                return bcrypt.checkpw(self._peppered(password), stored_hash.encode("ascii"))
            except ValueError:
                return False

        return await self._run_in_thread(_do_check)

    async def _run_in_thread(self, func: Any) -> Any:
        reactor = self.hs.get_reactor()
        get_pool = getattr(reactor, "getThreadPool", None)
        if get_pool is None:
            return func()
        from twisted.internet import threads

        return await threads.deferToThreadPool(reactor, get_pool(), func)

    # Access tokens

    def generate_access_token(self, user_id: UserID) -> str:
        return generate_access_token_for(user_id.localpart)

    async def create_access_token_for_user_id(
        self, user_id: str, device_id: str | None, valid_until_ms: int | None = None
    ) -> str:
        """Issue and store a new access token for ``user_id`` on ``device_id``."""
        token = self.generate_access_token(UserID.from_string(user_id))
        await self._stores.registration.add_access_token_to_user(
            user_id, token, device_id, valid_until_ms=valid_until_ms
        )
        return token

    async def delete_access_token(self, access_token: str) -> None:
        await self._stores.registration.delete_access_token(access_token)

    async def delete_access_tokens_for_user(
        self, user_id: str, except_token_id: int | None = None, device_id: str | None = None
    ) -> list[tuple[int, str | None]]:
        """Invalidate the user's tokens (all, one device's, or all but one)."""
        return await self._stores.registration.user_delete_access_tokens(
            user_id, except_token_id=except_token_id, device_id=device_id
        )

    # Login

    def get_supported_login_types(self) -> list[str]:
        return [LoginType.PASSWORD] if self._password_enabled_for_login else []

    async def check_user_exists(self, user_id: str) -> str | None:
        """The canonical form of ``user_id`` if an account matches it (ignoring case)."""
        users = await self._stores.registration.get_users_by_id_case_insensitive(user_id)
        if not users:
            return None
        if user_id in users:
            return user_id
        if len(users) == 1:
            return next(iter(users))
        return None

    def _qualify_user_id(self, user: str) -> str | None:
        """``@user:server`` for a localpart or an MXID; None if it is not one of ours."""
        if user.startswith("@"):
            try:
                parsed = UserID.from_string(user)
            except SynapseError:
                return None
            if not self.hs.is_mine(parsed):
                return None
            return parsed.to_string()
        if not user or ":" in user:
            return None
        return UserID(user, self.hs.hostname).to_string()

    def _user_from_identifier(self, submission: JsonDict) -> str | None:
        """The user a login submission names; None for a user that cannot exist here.

        Raises SynapseError for a malformed identifier and 403 for third-party ones,
        since no third-party identifiers are bound to accounts here.
        """
        identifier = submission.get("identifier")
        if identifier is None:
            if "user" in submission:
                identifier = {"type": "m.id.user", "user": submission["user"]}
            elif "medium" in submission and "address" in submission:
                identifier = {
                    "type": "m.id.thirdparty",
                    "medium": submission["medium"],
                    "address": submission["address"],
                }
            else:
                raise SynapseError(400, "Missing param: identifier", Codes.MISSING_PARAM)
        if not isinstance(identifier, dict):
            raise SynapseError(400, "'identifier' must be an object", Codes.BAD_JSON)
        id_type = identifier.get("type")
        if id_type == "m.id.user":
            user = identifier.get("user")
            if not isinstance(user, str):
                raise SynapseError(400, "'identifier.user' must be a string", Codes.BAD_JSON)
            return self._qualify_user_id(user)
        if id_type in ("m.id.thirdparty", "m.id.phone"):
            raise LoginError(403, "Invalid username or password", Codes.FORBIDDEN)
        raise SynapseError(400, "Unknown login identifier type", Codes.UNKNOWN)

    async def validate_login(self, login_submission: JsonDict, ratelimit: bool = False) -> str:
        """Check an ``m.login.password`` submission; return the canonical user ID.

        Raises LoginError (403 M_FORBIDDEN) for an unknown user or a wrong password,
        403 M_USER_DEACTIVATED for a deactivated account, 429 when rate limited.
        """
        login_type = login_submission.get("type")
        if login_type != LoginType.PASSWORD or not self._password_enabled_for_login:
            raise SynapseError(400, "Unknown login type", Codes.UNKNOWN)
        password = login_submission.get("password")
        if not isinstance(password, str):
            raise SynapseError(400, "Missing param: password", Codes.MISSING_PARAM)
        qualified = self._user_from_identifier(login_submission)
        if ratelimit and qualified is not None:
            await self._account_limiter.ratelimit(None, key=qualified.lower())
            await self._failed_limiter.ratelimit(None, key=qualified.lower(), update=False)
        canonical = await self._check_password(qualified, password)
        if canonical is None:
            if ratelimit and qualified is not None:
                self._failed_limiter.record_action(None, key=qualified.lower())
            raise LoginError(403, "Invalid username or password", Codes.FORBIDDEN)
        user = await self._stores.registration.get_user_by_id(canonical)
        if user is not None and user.is_deactivated:
            raise LoginError(403, "This account has been deactivated", Codes.USER_DEACTIVATED)
        return canonical

    async def _check_password(self, qualified: str | None, password: str) -> str | None:
        """The canonical user ID if ``password`` is theirs, else None."""
        if qualified is None:
            return None
        users = await self._stores.registration.get_users_by_id_case_insensitive(qualified)
        if not users:
            return None
        if qualified in users:
            candidates = {qualified: users[qualified]}
        else:
            candidates = users
        for user_id, stored_hash in candidates.items():
            if stored_hash and await self.validate_hash(password, stored_hash):
                return user_id
        return None

    # Login rate limits (rc_login)

    async def ratelimit_login_address(self, address: str) -> None:
        """429 M_LIMIT_EXCEEDED when ``address`` tries to log in too often."""
        await self._address_limiter.ratelimit(None, key=address)

    # User-interactive authentication

    async def validate_user_via_ui_auth(
        self,
        requester: Requester,
        request: Request,
        request_body: JsonDict,
        description: str,
    ) -> tuple[JsonDict, str]:
        """Make a logged-in user prove themselves again (their password) before a change.

        Returns the request body (as first submitted in the session) and the session ID.
        Raises InteractiveAuthIncompleteError (401) until done, 403 if someone else's
        credentials were given.
        """
        user_id = requester.user.to_string()
        flows: list[list[str]] = []
        if self._password_enabled_for_reauth:
            password_hash = await self._stores.registration.get_user_password_hash(user_id)
            if password_hash:
                flows.append([LoginType.PASSWORD])
        if not flows:
            raise SynapseError(400, "User has no way to re-authenticate", Codes.FORBIDDEN)
        creds, params, session_id = await self.check_ui_auth(
            flows, request, request_body, description
        )
        for login_type in (LoginType.PASSWORD,):
            if login_type in creds and creds[login_type] != user_id:
                raise AuthError(403, "Invalid auth: the credentials belong to another user")
        return params, session_id

    async def check_ui_auth(
        self,
        flows: Sequence[Sequence[str]],
        request: Request,
        clientdict: JsonDict,
        description: str,
    ) -> tuple[dict[str, Any], JsonDict, str]:
        """Run one step of a user-interactive auth session.

        Returns ``(completed stage -> result, clientdict, session_id)`` once a flow is
        complete; raises InteractiveAuthIncompleteError (a 401 whose body lists flows,
        params, session, completed and any error) until then.
        """
        clientdict = dict(clientdict)
        authdict = clientdict.pop("auth", None)
        if authdict is not None and not isinstance(authdict, dict):
            raise SynapseError(400, "'auth' must be an object", Codes.BAD_JSON)
        uri = request.uri.decode("utf-8", errors="replace").split("?", 1)[0]
        method = request.method.decode("ascii", errors="replace")
        ui_auth = self._stores.ui_auth

        session_id = authdict.get("session") if authdict else None
        if session_id is not None:
            if not isinstance(session_id, str):
                raise SynapseError(400, "'auth.session' must be a string", Codes.BAD_JSON)
            try:
                session = await ui_auth.get_ui_auth_session(session_id)
            except StoreError:
                raise SynapseError(400, "Unknown session ID", Codes.UNKNOWN)
            if session.uri != uri or session.method != method:
                raise SynapseError(
                    403,
                    "Requested operation has changed during the UI authentication session.",
                    Codes.FORBIDDEN,
                )
            if clientdict:
                await ui_auth.set_ui_auth_clientdict(session_id, clientdict)
            else:
                clientdict = session.clientdict
        else:
            session = await ui_auth.create_ui_auth_session(clientdict, uri, method, description)
            session_id = session.session_id

        if not authdict:
            raise InteractiveAuthIncompleteError(
                session_id,
                await self._auth_dict_for_flows(flows, session_id),
            )

        creds = await ui_auth.get_completed_ui_auth_stages(session_id)
        login_type = authdict.get("type")
        if login_type is not None and login_type not in creds:
            if not isinstance(login_type, str) or not any(login_type in f for f in flows):
                raise SynapseError(400, "Unrecognised login type", Codes.UNRECOGNIZED)
            try:
                result = await self._check_auth_stage(login_type, authdict)
            except LoginError as e:
                body = await self._auth_dict_for_flows(flows, session_id)
                body.update(e.error_dict())
                raise InteractiveAuthIncompleteError(session_id, body)
            await ui_auth.mark_ui_auth_stage_complete(session_id, login_type, result)
            creds[login_type] = result

        for flow in flows:
            if all(stage in creds for stage in flow):
                return creds, clientdict, session_id

        raise InteractiveAuthIncompleteError(
            session_id, await self._auth_dict_for_flows(flows, session_id)
        )

    async def _check_auth_stage(self, login_type: str, authdict: JsonDict) -> Any:
        checker = self._ui_auth_checkers.get(login_type)
        if checker is None:
            raise SynapseError(400, "Unrecognised login type", Codes.UNRECOGNIZED)
        return await checker(authdict)

    async def _check_dummy_auth(self, authdict: JsonDict) -> bool:
        return True

    async def _check_registration_token_auth(self, authdict: JsonDict) -> str:
        token = authdict.get("token")
        if not isinstance(token, str):
            raise LoginError(400, "Missing param: token", Codes.MISSING_PARAM)
        if not await self._stores.registration.registration_token_is_valid(token):
            raise LoginError(401, "Invalid registration token", Codes.UNAUTHORIZED)
        await self._stores.registration.set_registration_token_pending(token)
        return token

    async def _check_password_auth(self, authdict: JsonDict) -> str:
        if not self._password_enabled_for_reauth:
            raise LoginError(400, "Password authentication is disabled", Codes.UNKNOWN)
        password = authdict.get("password")
        if not isinstance(password, str):
            raise LoginError(400, "Missing param: password", Codes.MISSING_PARAM)
        try:
            qualified = self._user_from_identifier(authdict)
        except LoginError:
            raise
        except SynapseError as e:
            raise LoginError(e.code, e.msg, e.errcode)
        canonical = await self._check_password(qualified, password)
        if canonical is None:
            raise LoginError(401, "Invalid password", Codes.FORBIDDEN)
        return canonical

    async def _auth_dict_for_flows(
        self, flows: Iterable[Sequence[str]], session_id: str
    ) -> JsonDict:
        completed = await self._stores.ui_auth.get_completed_ui_auth_stages(session_id)
        body: JsonDict = {
            "flows": [{"stages": list(flow)} for flow in flows],
            "params": {},
            "session": session_id,
        }
        if completed:
            body["completed"] = list(completed)
        return body

    async def set_session_data(self, session_id: str, key: str, value: Any) -> None:
        """Keep a server-side value (e.g. a password hash) in a UI auth session."""
        await self._stores.ui_auth.set_ui_auth_session_data(session_id, key, value)

    async def get_session_data(self, session_id: str, key: str, default: Any = None) -> Any:
        return await self._stores.ui_auth.get_ui_auth_session_data(session_id, key, default)

    async def _expire_old_sessions(self) -> None:
        try:
            await self._stores.ui_auth.delete_old_ui_auth_sessions(
                self.clock.time_msec() - UI_AUTH_SESSION_EXPIRY_MS
            )
        except Exception:
            logger.exception("Failed to expire old user-interactive auth sessions")
