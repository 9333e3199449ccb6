"""JSON resources: dispatch by method and path regex, JSON responses and errors, CORS.

Every response written here carries the CORS headers the Client-Server API recommends,
and every error is the spec's ``{"errcode", "error"}`` body with its HTTP status.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar

import attr
from canonicaljson import encode_canonical_json
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from synapse.api.errors import (
    Codes,
    InteractiveAuthIncompleteError,
    SynapseError,
    UnrecognizedRequestError,
)

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

CORS_ALLOWED_METHODS = b"GET, HEAD, POST, PUT, DELETE, OPTIONS"
CORS_ALLOWED_HEADERS = b"X-Requested-With, Content-Type, Authorization, Date"

# A servlet callback: ``async def on_GET(request, **path_args) -> (code, json)``, or
# ``None`` when the callback has written the response itself.
ServletCallback = Callable[..., Awaitable[tuple[int, Any] | None]]


def set_cors_headers(request: Request) -> None:
    """Add the CORS headers of the Client-Server API to the response."""
    request.setHeader(b"Access-Control-Allow-Origin", b"*")
    request.setHeader(b"Access-Control-Allow-Methods", CORS_ALLOWED_METHODS)
    request.setHeader(b"Access-Control-Allow-Headers", CORS_ALLOWED_HEADERS)


def _request_is_gone(request: Request) -> bool:
    return bool(getattr(request, "_disconnected", False) or request.finished)


def encode_json_response(json_object: Any, canonical_json: bool = False) -> bytes:
    """Encode a response body once: canonical JSON, or compact UTF-8 JSON."""
    if canonical_json:
        return encode_canonical_json(json_object)
    return json.dumps(
        json_object, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def respond_with_json_bytes(
    request: Request,
    code: int,
    json_bytes: bytes,
    send_cors: bool = True,
    headers: dict[str, str] | None = None,
) -> None:
    """Write an already encoded JSON body with ``code`` and finish the request."""
    if _request_is_gone(request):
        logger.info("Not sending response to request %r: connection already closed", request)
        return
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"application/json")
    request.setHeader(b"Content-Length", str(len(json_bytes)).encode("ascii"))
    request.setHeader(b"Cache-Control", b"no-cache, no-store, must-revalidate")
    for name, value in (headers or {}).items():
        request.setHeader(name, value)
    if send_cors:
        set_cors_headers(request)
    request.write(json_bytes)
    request.finish()


def respond_with_json(
    request: Request,
    code: int,
    json_object: Any,
    send_cors: bool = True,
    canonical_json: bool = False,
    headers: dict[str, str] | None = None,
) -> None:
    """Encode ``json_object`` and send it with ``code``."""
    if _request_is_gone(request):
        logger.info("Not sending response to request %r: connection already closed", request)
        return
    respond_with_json_bytes(
        request, code, encode_json_response(json_object, canonical_json), send_cors, headers
    )


def respond_with_text(
    request: Request, code: int, text: str, content_type: bytes = b"text/plain"
) -> None:
    """Send a plain-text body (with CORS headers) and finish the request."""
    if _request_is_gone(request):
        return
    body = text.encode("utf-8")
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", content_type + b"; charset=utf-8")
    request.setHeader(b"Content-Length", str(len(body)).encode("ascii"))
    set_cors_headers(request)
    request.write(body)
    request.finish()


def return_json_error(f: Failure, request: Request) -> None:
    """Send the JSON error response for the exception in ``f``.

    ``SynapseError`` becomes its own status and body; anything else is logged with its
    traceback and answered 500 M_UNKNOWN.
    """
    exc = f.value
    headers: dict[str, str] | None = None
    if isinstance(exc, SynapseError):
        code = exc.code
        body: Any = exc.error_dict()
        headers = exc.headers
        logger.info("%r: %d %s: %s", request, code, exc.errcode, exc.msg)
    elif isinstance(exc, InteractiveAuthIncompleteError):
        code = HTTPStatus.UNAUTHORIZED
        body = exc.result
    elif f.check(defer.CancelledError) and _request_is_gone(request):
        logger.info("%r: handler cancelled because the client disconnected", request)
        return
    else:
        code = HTTPStatus.INTERNAL_SERVER_ERROR
        body = {"errcode": Codes.UNKNOWN, "error": "Internal server error"}
        logger.error(
            "Failed to handle request %r",
            request,
            exc_info=(f.type, f.value, f.getTracebackObject()),  # type: ignore[arg-type]
        )

    if _request_is_gone(request):
        logger.info("Not sending error %d to %r: connection already closed", code, request)
        return
    if request.startedWriting:
        # Part of a response is out already: all we can do is drop the connection.
        logger.error("Error after the response to %r started; closing the connection", request)
        request.loseConnection()
        return
    respond_with_json(request, code, body, headers=headers)


_CANCELLABLE_ATTR = "_synapse_cancellable"
# Methods whose handlers are cancelled when the client disconnects, unless marked otherwise.
_CANCELLABLE_BY_DEFAULT = frozenset({"GET", "HEAD"})

C = TypeVar("C", bound=Callable[..., Any])


def cancellable(handler: C) -> C:
    """Mark a write handler (``on_POST``, ...) as safe to cancel when its client disconnects.

    GET handlers are cancelled by default. Other methods are not, so that a client that
    goes away cannot interrupt a change half-way (e.g. between persisting an event and
    recording its transaction ID).
    """
    setattr(handler, _CANCELLABLE_ATTR, True)
    return handler


def not_cancellable(handler: C) -> C:
    """Mark a GET handler that changes state as not to be cancelled on disconnect."""
    setattr(handler, _CANCELLABLE_ATTR, False)
    return handler


def is_cancellable(method: str, handler: Callable[..., Any]) -> bool:
    marked = getattr(handler, _CANCELLABLE_ATTR, None)
    if marked is not None:
        return bool(marked)
    return method in _CANCELLABLE_BY_DEFAULT


def _set_cancellable(request: Request, method: str, handler: Callable[..., Any]) -> None:
    if hasattr(request, "is_render_cancellable"):
        request.is_render_cancellable = is_cancellable(method, handler)


def _set_metrics_name(request: Request, name: str) -> None:
    if hasattr(request, "request_metrics_name"):
        request.request_metrics_name = name


class DirectServeJsonResource(Resource):
    """A leaf resource whose ``async def on_<METHOD>(request)`` methods answer in JSON.

    Return ``(code, json)`` from the method, or ``None`` after writing the response.
    OPTIONS is answered 200 ``{}``; a method without a handler is 405 M_UNRECOGNIZED.
    """

    isLeaf = True

    def __init__(self, canonical_json: bool = False) -> None:
        super().__init__()
        self.canonical_json = canonical_json

    def render(self, request: Request) -> Any:
        d = defer.ensureDeferred(self._async_render_wrapper(request))
        # Lets SynapseRequest cancel the handler if the client goes away.
        if hasattr(request, "render_deferred"):
            request.render_deferred = d
        return NOT_DONE_YET

    async def _async_render_wrapper(self, request: Request) -> None:
        _set_metrics_name(request, self.__class__.__name__)
        try:
            result = await self._async_render(request)
            if result is not None:
                code, body = result
                self._send_response(request, code, body)
        except Exception:
            self._send_error_response(Failure(), request)

    async def _async_render(self, request: Request) -> tuple[int, Any] | None:
        method = request.method.decode("ascii", errors="replace")
        if method == "HEAD":
            method = "GET"
        handler = getattr(self, f"on_{method}", None)
        if handler is None:
            if method == "OPTIONS":
                return HTTPStatus.OK, {}
            raise UnrecognizedRequestError(
                f"Unrecognized request: {method}", code=HTTPStatus.METHOD_NOT_ALLOWED
            )
        _set_cancellable(request, method, handler)
        return await handler(request)

    def _send_response(self, request: Request, code: int, body: Any) -> None:
        respond_with_json(request, code, body, canonical_json=self.canonical_json)

    def _send_error_response(self, f: Failure, request: Request) -> None:
        return_json_error(f, request)


@attr.s(slots=True, frozen=True, auto_attribs=True)
class _PathEntry:
    callback: ServletCallback
    servlet_classname: str


class JsonResource(DirectServeJsonResource):
    """Dispatches each request to the callback registered for its method and path regex.

    Mounted as a leaf, it matches the regexes against the whole request path (still
    percent-encoded); named groups are URL-decoded and passed as keyword arguments.
    """

    def __init__(self, hs: HomeServer, canonical_json: bool = False) -> None:
        super().__init__(canonical_json)
        self.hs = hs
        self._routes: dict[re.Pattern[str], dict[str, _PathEntry]] = {}

    def register_paths(
        self,
        method: str,
        path_patterns: Iterable[re.Pattern[str]],
        callback: ServletCallback,
        servlet_classname: str,
    ) -> None:
        """Route ``method`` requests whose path matches one of ``path_patterns`` to ``callback``."""
        method = method.upper()
        for pattern in path_patterns:
            methods = self._routes.setdefault(pattern, {})
            if method in methods:
                raise ValueError(f"{method} {pattern.pattern} is already registered")
            methods[method] = _PathEntry(callback, servlet_classname)

    def _find_handler(self, request: Request) -> tuple[_PathEntry, dict[str, str | None]] | None:
        """The entry and path arguments for the request; raises 404/405 when there is none.

        Returns ``None`` for an OPTIONS request, which is answered by the caller.
        """
        method = request.method.decode("ascii", errors="replace")
        lookup = "GET" if method == "HEAD" else method
        try:
            path = request.path.decode("ascii")
        except UnicodeDecodeError:
            raise UnrecognizedRequestError("Unrecognized request")
        allowed: set[str] = set()
        for pattern, methods in self._routes.items():
            match = pattern.match(path)
            if not match:
                continue
            entry = methods.get(lookup)
            if entry is not None:
                return entry, match.groupdict()
            allowed.update(methods)
        if method == "OPTIONS":
            return None
        if allowed:
            if "GET" in allowed:
                allowed.add("HEAD")
            allowed.add("OPTIONS")
            raise SynapseError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"Unrecognized request: {method}",
                Codes.UNRECOGNIZED,
                headers={"Allow": ", ".join(sorted(allowed))},
            )
        raise UnrecognizedRequestError("Unrecognized request")

    async def _async_render(self, request: Request) -> tuple[int, Any] | None:
        found = self._find_handler(request)
        if found is None:
            return HTTPStatus.OK, {}
        entry, groups = found
        _set_metrics_name(request, entry.servlet_classname)
        kwargs: dict[str, str | None] = {}
        for name, value in groups.items():
            if value is None:
                kwargs[name] = None
                continue
            try:
                decoded = urllib.parse.unquote(value, errors="strict")
            except UnicodeDecodeError:
                raise SynapseError(
                    HTTPStatus.BAD_REQUEST,
                    f"Invalid UTF-8 in path parameter {name}",
                    Codes.INVALID_PARAM,
                )
            if "\x00" in decoded:
                # No Matrix identifier contains NUL, and PostgreSQL cannot store it.
                raise SynapseError(
                    HTTPStatus.BAD_REQUEST,
                    f"NUL character in path parameter {name}",
                    Codes.INVALID_PARAM,
                )
            kwargs[name] = decoded
        _set_cancellable(request, request.method.decode("ascii", errors="replace"), entry.callback)
        return await entry.callback(request, **kwargs)


class OptionsResource(Resource):
    """Answers OPTIONS (CORS preflight) with 200 ``{}`` and anything else with 404 M_UNRECOGNIZED.

    It is the fallback for every path of the tree that no resource serves.
    """

    isLeaf = True

    def render(self, request: Request) -> Any:
        _set_metrics_name(request, self.__class__.__name__)
        if request.method == b"OPTIONS":
            respond_with_json(request, HTTPStatus.OK, {})
        else:
            respond_with_json(
                request,
                HTTPStatus.NOT_FOUND,
                {"errcode": Codes.UNRECOGNIZED, "error": "Unrecognized request"},
            )
        return NOT_DONE_YET


class UnrecognizedRequestResource(OptionsResource):
    """The 404 M_UNRECOGNIZED resource (with CORS preflight support) for unknown paths."""


class RootFallbackResource(Resource):
    """An inner node of the resource tree: children by path segment, 404 JSON for the rest."""

    def getChild(self, path: bytes, request: Request) -> Resource:
        return UnrecognizedRequestResource()

    def render(self, request: Request) -> Any:
        return UnrecognizedRequestResource().render(request)
