"""Errors a client or a remote server can see, with their Matrix errcodes."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any


class Codes:
    """The errcodes of the Matrix specification (and the few Synapse adds)."""

    UNRECOGNIZED = "M_UNRECOGNIZED"
    UNAUTHORIZED = "M_UNAUTHORIZED"
    FORBIDDEN = "M_FORBIDDEN"
    BAD_JSON = "M_BAD_JSON"
    NOT_JSON = "M_NOT_JSON"
    USER_IN_USE = "M_USER_IN_USE"
    ROOM_IN_USE = "M_ROOM_IN_USE"
    BAD_PAGINATION = "M_BAD_PAGINATION"
    BAD_STATE = "M_BAD_STATE"
    UNKNOWN = "M_UNKNOWN"
    NOT_FOUND = "M_NOT_FOUND"
    MISSING_TOKEN = "M_MISSING_TOKEN"
    UNKNOWN_TOKEN = "M_UNKNOWN_TOKEN"
    GUEST_ACCESS_FORBIDDEN = "M_GUEST_ACCESS_FORBIDDEN"
    LIMIT_EXCEEDED = "M_LIMIT_EXCEEDED"
    CAPTCHA_NEEDED = "M_CAPTCHA_NEEDED"
    CAPTCHA_INVALID = "M_CAPTCHA_INVALID"
    MISSING_PARAM = "M_MISSING_PARAM"
    INVALID_PARAM = "M_INVALID_PARAM"
    TOO_LARGE = "M_TOO_LARGE"
    EXCLUSIVE = "M_EXCLUSIVE"
    THREEPID_AUTH_FAILED = "M_THREEPID_AUTH_FAILED"
    THREEPID_IN_USE = "M_THREEPID_IN_USE"
    THREEPID_NOT_FOUND = "M_THREEPID_NOT_FOUND"
    THREEPID_DENIED = "M_THREEPID_DENIED"
    INVALID_USERNAME = "M_INVALID_USERNAME"
    SERVER_NOT_TRUSTED = "M_SERVER_NOT_TRUSTED"
    CONSENT_NOT_GIVEN = "M_CONSENT_NOT_GIVEN"
    CANNOT_LEAVE_SERVER_NOTICE_ROOM = "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM"
    RESOURCE_LIMIT_EXCEEDED = "M_RESOURCE_LIMIT_EXCEEDED"
    UNSUPPORTED_ROOM_VERSION = "M_UNSUPPORTED_ROOM_VERSION"
    INCOMPATIBLE_ROOM_VERSION = "M_INCOMPATIBLE_ROOM_VERSION"
    WRONG_ROOM_KEYS_VERSION = "M_WRONG_ROOM_KEYS_VERSION"
    EXPIRED_ACCOUNT = "ORG_MATRIX_EXPIRED_ACCOUNT"
    PASSWORD_TOO_SHORT = "M_PASSWORD_TOO_SHORT"
    PASSWORD_NO_DIGIT = "M_PASSWORD_NO_DIGIT"
    PASSWORD_NO_UPPERCASE = "M_PASSWORD_NO_UPPERCASE"
    PASSWORD_NO_LOWERCASE = "M_PASSWORD_NO_LOWERCASE"
    PASSWORD_NO_SYMBOL = "M_PASSWORD_NO_SYMBOL"
    PASSWORD_IN_DICTIONARY = "M_PASSWORD_IN_DICTIONARY"
    WEAK_PASSWORD = "M_WEAK_PASSWORD"
    INVALID_SIGNATURE = "M_INVALID_SIGNATURE"
    USER_DEACTIVATED = "M_USER_DEACTIVATED"
    USER_LOCKED = "M_USER_LOCKED"
    USER_SUSPENDED = "M_USER_SUSPENDED"
    INVALID_ROOM_STATE = "M_INVALID_ROOM_STATE"
    THREEPID_MEDIUM_NOT_SUPPORTED = "M_THREEPID_MEDIUM_NOT_SUPPORTED"
    CANNOT_OVERWRITE_MEDIA = "M_CANNOT_OVERWRITE_MEDIA"
    NOT_YET_UPLOADED = "M_NOT_YET_UPLOADED"
    DUPLICATE_ANNOTATION = "M_DUPLICATE_ANNOTATION"
    UNKNOWN_POS = "M_UNKNOWN_POS"
    BAD_ALIAS = "M_BAD_ALIAS"
    UNABLE_TO_AUTHORISE_JOIN = "M_UNABLE_TO_AUTHORISE_JOIN"
    UNABLE_TO_GRANT_JOIN = "M_UNABLE_TO_GRANT_JOIN"
    INVALID_TOKEN = "M_INVALID_TOKEN"


class SynapseError(Exception):
    """An error that is shown to the client as ``{"errcode", "error"}`` with an HTTP status."""

    def __init__(
        self,
        code: int,
        msg: str,
        errcode: str = Codes.UNKNOWN,
        additional_fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = int(code)
        self.msg = msg
        self.errcode = errcode
        self._additional_fields = dict(additional_fields or {})
        self.headers = headers

    def error_dict(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"errcode": self.errcode, "error": self.msg, **self._additional_fields}


class InvalidAPICallError(SynapseError):
    """The request was well-formed JSON but not of the shape the endpoint accepts."""

    def __init__(self, msg: str) -> None:
        super().__init__(HTTPStatus.BAD_REQUEST, msg, Codes.BAD_JSON)


class NotFoundError(SynapseError):
    def __init__(self, msg: str = "Not found", errcode: str = Codes.NOT_FOUND) -> None:
        super().__init__(HTTPStatus.NOT_FOUND, msg, errcode)


class UnrecognizedRequestError(SynapseError):
    """An unknown endpoint (404) or a known endpoint with the wrong method (405)."""

    def __init__(self, msg: str = "Unrecognized request", code: int = 404) -> None:
        super().__init__(code, msg, Codes.UNRECOGNIZED)


class AuthError(SynapseError):
    """The request is not allowed (403 by default)."""

    def __init__(
        self,
        code: int,
        msg: str,
        errcode: str = Codes.FORBIDDEN,
        additional_fields: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code, msg, errcode, additional_fields)


class InvalidClientCredentialsError(SynapseError):
    """The access token is missing (M_MISSING_TOKEN) or not valid (M_UNKNOWN_TOKEN)."""

    def __init__(self, msg: str, errcode: str) -> None:
        super().__init__(HTTPStatus.UNAUTHORIZED, msg, errcode)


class MissingClientTokenError(InvalidClientCredentialsError):
    def __init__(self, msg: str = "Missing access token") -> None:
        super().__init__(msg, Codes.MISSING_TOKEN)


class InvalidClientTokenError(InvalidClientCredentialsError):
    def __init__(
        self, msg: str = "Invalid access token passed.", soft_logout: bool = False
    ) -> None:
        super().__init__(msg, Codes.UNKNOWN_TOKEN)
        self._soft_logout = soft_logout

    def error_dict(self) -> dict[str, Any]:
        d = super().error_dict()
        d["soft_logout"] = self._soft_logout
        return d


class LimitExceededError(SynapseError):
    """Rate limited: 429 M_LIMIT_EXCEEDED with retry_after_ms."""

    def __init__(self, retry_after_ms: int | None = None, msg: str = "Too Many Requests") -> None:
        headers = None
        if retry_after_ms is not None:
            headers = {"Retry-After": str((retry_after_ms + 999) // 1000)}
        super().__init__(HTTPStatus.TOO_MANY_REQUESTS, msg, Codes.LIMIT_EXCEEDED, headers=headers)
        self.retry_after_ms = retry_after_ms

    def error_dict(self) -> dict[str, Any]:
        d = super().error_dict()
        if self.retry_after_ms is not None:
            d["retry_after_ms"] = self.retry_after_ms
        return d


class InteractiveAuthIncompleteError(Exception):
    """User-interactive auth must go on: the 401 body carries flows, params and session."""

    def __init__(self, session_id: str, result: dict[str, Any]) -> None:
        super().__init__("Interactive auth not yet complete")
        self.session_id = session_id
        self.result = result


class UnsupportedRoomVersionError(SynapseError):
    def __init__(self, msg: str = "Homeserver does not support this room version") -> None:
        super().__init__(HTTPStatus.BAD_REQUEST, msg, Codes.UNSUPPORTED_ROOM_VERSION)


class IncompatibleRoomVersionError(SynapseError):
    def __init__(self, room_version: str) -> None:
        super().__init__(
            HTTPStatus.BAD_REQUEST,
            f"Your homeserver does not support the features required to interact with this room ({room_version})",
            Codes.INCOMPATIBLE_ROOM_VERSION,
            {"room_version": room_version},
        )


class StoreError(SynapseError):
    """A storage-level failure (e.g. a row that must exist does not)."""


class ConfigError(Exception):
    """A setting is missing or invalid; start-up stops with this message."""

    def __init__(self, msg: str, path: list[str] | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.path = path

    def __str__(self) -> str:
        if self.path:
            return f"Error in configuration at '{'.'.join(self.path)}': {self.msg}"
        return self.msg


class EventSizeError(SynapseError):
    """An event is larger than the spec allows."""

    def __init__(self, msg: str) -> None:
        super().__init__(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, msg, Codes.TOO_LARGE)


class FederationError(RuntimeError):
    """A failure in handling a federation request or its response."""

    def __init__(
        self, level: str, code: int, reason: str, affected: str, source: str | None = None
    ) -> None:
        super().__init__(f"{level}: {code}: {reason} ({affected})")
        self.level = level
        self.code = code
        self.reason = reason
        self.affected = affected
        self.source = source


class HttpResponseException(Exception):
    """A remote server answered a request with a non-2xx status."""

    def __init__(self, code: int, msg: str, response: bytes) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.response = response

    def to_synapse_error(self) -> SynapseError:
        """The error to pass on to our own caller.

        A body with a Matrix ``errcode`` keeps its code, message and extra fields;
        anything else is the remote status with ``M_UNKNOWN``.
        """
        try:
            body = json.loads(self.response)
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("errcode"), str):
            return SynapseError(self.code, self.msg, Codes.UNKNOWN)
        errcode = body["errcode"]
        message = body.get("error")
        extra = {k: v for k, v in body.items() if k not in ("errcode", "error")}
        return SynapseError(
            self.code, message if isinstance(message, str) else self.msg, errcode, extra
        )


class RequestSendFailed(RuntimeError):
    """A request to another server could not be sent, or no response came back.

    ``can_retry`` is False where trying again soon cannot help (e.g. the name does not
    resolve, or resolves only to refused addresses).
    """

    def __init__(self, inner_exception: BaseException, can_retry: bool) -> None:
        super().__init__(
            f"Failed to send request: {type(inner_exception).__name__}: {inner_exception}"
        )
        self.inner_exception = inner_exception
        self.can_retry = can_retry


class FederationDeniedError(SynapseError):
    """Federation with this server is not allowed (``federation_domain_whitelist``)."""

    def __init__(self, destination: str) -> None:
        super().__init__(
            HTTPStatus.FORBIDDEN, f"Federation denied with {destination}.", Codes.FORBIDDEN
        )
        self.destination = destination
