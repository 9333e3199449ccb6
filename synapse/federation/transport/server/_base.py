"""Authentication of inbound federation requests, and the servlet base class.

``parse_x_matrix_header`` reads one ``Authorization: X-Matrix ...`` value (RFC 9110
auth-params: case-insensitive names, quoted or bare values, backslash escapes, commas
with optional whitespace). ``Authenticator.authenticate_request`` rebuilds the signed
JSON (``method``, ``uri``, ``origin``, ``destination``, ``content``) and checks the
origin's signature with the keyring.

``BaseFederationServlet`` subclasses set ``PATH`` (a regex under ``PREFIX``) and define
``on_<METHOD>(origin, content, query, **path_args) -> (code, json)``; ``origin`` is the
authenticated server name (None when ``REQUIRE_AUTH`` is False).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

import attr
from twisted.web.server import Request

from synapse.api.errors import Codes, FederationDeniedError, SynapseError
from synapse.http.servlet import parse_json_object_from_request
from synapse.types import JsonDict, is_valid_server_name

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

FEDERATION_PREFIX = "/_matrix/federation"
FEDERATION_V1_PREFIX = FEDERATION_PREFIX + "/v1"
FEDERATION_V2_PREFIX = FEDERATION_PREFIX + "/v2"

# RFC 9110 tchar.
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_WHITESPACE = " \t"


class AuthenticationError(SynapseError):
    """401 M_UNAUTHORIZED: the request's signature is missing, malformed or wrong."""

    def __init__(self, msg: str) -> None:
        super().__init__(HTTPStatus.UNAUTHORIZED, msg, Codes.UNAUTHORIZED)


@attr.s(slots=True, frozen=True, auto_attribs=True)
class XMatrixAuth:
    """The parameters of one ``X-Matrix`` Authorization header."""

    origin: str
    key: str
    sig: str
    destination: str | None = None


def _parse_auth_params(params: str) -> dict[str, str]:
    """``name=value`` pairs of an auth-param list; names lower-cased, quoted values unescaped."""
    result: dict[str, str] = {}
    i, n = 0, len(params)
    while True:
        while i < n and (params[i] in _WHITESPACE or params[i] == ","):
            i += 1
        if i >= n:
            return result
        start = i
        while i < n and params[i] in _TOKEN_CHARS:
            i += 1
        name = params[start:i].lower()
        if not name:
            raise ValueError(f"expected a parameter name at {start}")
        while i < n and params[i] in _WHITESPACE:
            i += 1
        if i >= n or params[i] != "=":
            raise ValueError(f"expected '=' after {name!r}")
        i += 1
        while i < n and params[i] in _WHITESPACE:
            i += 1
        if i < n and params[i] == '"':
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise ValueError(f"unterminated quoted value of {name!r}")
                c = params[i]
                if c == "\\":
                    if i + 1 >= n:
                        raise ValueError(f"dangling escape in {name!r}")
                    chars.append(params[i + 1])
                    i += 2
                    continue
                i += 1
                if c == '"':
                    break
                chars.append(c)
            value = "".join(chars)
        else:
            # A bare token; colons are allowed too, as older servers send them unquoted.
            start = i
            while i < n and (params[i] in _TOKEN_CHARS or params[i] == ":"):
                i += 1
            value = params[start:i]
            if not value:
                raise ValueError(f"empty value of {name!r}")
        while i < n and params[i] in _WHITESPACE:
            i += 1
        if i < n and params[i] != ",":
            raise ValueError(f"unexpected {params[i]!r} after the value of {name!r}")
        if name in result:
            raise ValueError(f"parameter {name!r} given twice")
        result[name] = value


def is_x_matrix_header(value: bytes) -> bool:
    scheme = value.split(b" ", 1)[0]
    return scheme.lower() == b"x-matrix"


def parse_x_matrix_header(value: bytes) -> XMatrixAuth:
    """The parameters of an ``X-Matrix`` Authorization header; ``ValueError`` if malformed."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("header is not UTF-8")
    scheme, sep, params = text.partition(" ")
    if scheme.lower() != "x-matrix" or not sep:
        raise ValueError("not an X-Matrix header")
    parsed = _parse_auth_params(params)
    for required in ("origin", "key", "sig"):
        if required not in parsed:
            raise ValueError(f"missing {required!r}")
    return XMatrixAuth(
        origin=parsed["origin"],
        key=parsed["key"],
        sig=parsed["sig"],
        destination=parsed.get("destination"),
    )


class Authenticator:
    """Checks the ``X-Matrix`` signatures of inbound federation requests."""

    def __init__(self, hs: HomeServer) -> None:
        self._clock = hs.get_clock()
        self._server_name = hs.hostname
        self._keyring = hs.get_keyring()
        self._domain_whitelist = hs.config.federation.federation_domain_whitelist

    async def authenticate_request(self, request: Request, content: Any | None) -> str:
        """The origin server of a correctly signed request.

        Raises:
            AuthenticationError: 401 M_UNAUTHORIZED for a missing, malformed, misaddressed
                or badly signed request.
            FederationDeniedError: 403 M_FORBIDDEN for an origin not in
                ``federation_domain_whitelist``.
        """
        headers = request.requestHeaders.getRawHeaders(b"Authorization") or []
        auths: list[XMatrixAuth] = []
        for header in headers:
            if not is_x_matrix_header(header):
                continue
            try:
                auths.append(parse_x_matrix_header(header))
            except ValueError as e:
                raise AuthenticationError(f"Malformed X-Matrix Authorization header: {e}")
        if not auths:
            raise AuthenticationError("Missing X-Matrix Authorization header")

        origin = auths[0].origin
        if any(a.origin != origin for a in auths):
            raise AuthenticationError("X-Matrix headers name different origins")
        if not is_valid_server_name(origin):
            raise AuthenticationError(f"Invalid origin {origin!r}")
        for auth in auths:
            if auth.destination is not None and auth.destination != self._server_name:
                raise AuthenticationError(
                    f"Request is for {auth.destination!r}, not for this server"
                )

        if self._domain_whitelist is not None and origin not in self._domain_whitelist:
            raise FederationDeniedError(origin)

        try:
            uri = request.uri.decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationError("Request target is not ASCII")
        method = request.method.decode("ascii", "replace")
        signed: JsonDict = {
            "method": method,
            "uri": uri,
            "origin": origin,
            "destination": self._server_name,
            "signatures": {origin: {a.key: a.sig for a in auths}},
        }
        if content is not None:
            signed["content"] = content

        try:
            await self._keyring.verify_json_for_server(origin, signed, self._clock.time_msec())
        except SynapseError as e:
            logger.info("Request from %s failed authentication: %s", origin, e.msg)
            raise AuthenticationError(e.msg)

        setattr(request, "requester", origin)  # noqa: B010
        return origin


FederationHandler = Callable[..., Awaitable[tuple[int, Any]]]

_METHODS = ("GET", "PUT", "POST", "DELETE")


class BaseFederationServlet:
    """A federation endpoint: ``PREFIX + PATH`` (a regex with named groups), handled by
    ``on_<METHOD>(origin, content, query, **path_args)``.

    ``content`` is the JSON body of PUT and POST requests (None for others), ``query``
    the request's query arguments (``request.args``: bytes to lists of bytes).
    """

    PREFIX: ClassVar[str] = FEDERATION_V1_PREFIX
    PATH: ClassVar[str] = ""
    REQUIRE_AUTH: ClassVar[bool] = True

    def __init__(self, hs: HomeServer, authenticator: Authenticator) -> None:
        self.hs = hs
        self.authenticator = authenticator
        self.server_name = hs.hostname

    def register(self, server: JsonResource) -> None:
        pattern = re.compile(f"^{self.PREFIX}{self.PATH}$")
        for method in _METHODS:
            handler: FederationHandler | None = getattr(self, f"on_{method}", None)
            if handler is not None:
                server.register_paths(
                    method, [pattern], self._wrap(method, handler), type(self).__name__
                )

    def _wrap(self, method: str, handler: FederationHandler) -> FederationHandler:
        @functools.wraps(handler)
        async def callback(request: Request, **path_args: Any) -> tuple[int, Any]:
            content = None
            if method in ("PUT", "POST"):
                content = parse_json_object_from_request(request)
            origin = None
            if self.REQUIRE_AUTH:
                origin = await self.authenticator.authenticate_request(request, content)
            return await handler(origin, content, request.args or {}, **path_args)

        return callback
