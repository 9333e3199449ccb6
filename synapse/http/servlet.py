"""Servlets and the helpers they use to parse and validate requests.

Every helper raises a ``SynapseError`` with the spec's errcode, so a bad value never
reaches a handler: M_NOT_JSON / M_BAD_JSON for bodies, M_MISSING_PARAM / M_INVALID_PARAM
for query parameters.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast, overload

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from twisted.web.server import Request

from synapse.api.errors import Codes, SynapseError
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource

logger = logging.getLogger(__name__)

_HTTP_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH")


class RestServlet:
    """A group of handlers (``on_GET``, ``on_POST``, ...) for the paths in ``PATTERNS``.

    ``register`` routes each ``on_<METHOD>`` defined on the class to the JSON resource.
    """

    PATTERNS: Iterable[re.Pattern[str]] = ()

    def register(self, http_server: JsonResource) -> None:
        patterns = list(self.PATTERNS)
        if not patterns:
            raise NotImplementedError(f"{self.__class__.__name__} has no PATTERNS")
        for method in _HTTP_METHODS:
            handler = getattr(self, f"on_{method}", None)
            if handler is not None:
                http_server.register_paths(method, patterns, handler, self.__class__.__name__)


# --- query parameters -------------------------------------------------------------


def _arg_values(args: Mapping[bytes, Sequence[bytes]], name: str) -> Sequence[bytes] | None:
    return args.get(name.encode("ascii"))


def _decode_arg(name: str, value: bytes) -> str:
    if b"\x00" in value:
        raise SynapseError(
            HTTPStatus.BAD_REQUEST,
            f"Query parameter {name!r} contains a NUL character",
            Codes.INVALID_PARAM,
        )
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise SynapseError(
            HTTPStatus.BAD_REQUEST,
            f"Query parameter {name!r} is not valid UTF-8",
            Codes.INVALID_PARAM,
        )


def _missing(name: str) -> SynapseError:
    return SynapseError(
        HTTPStatus.BAD_REQUEST, f"Missing required query parameter {name!r}", Codes.MISSING_PARAM
    )


@overload
def parse_integer_from_args(
    args: Mapping[bytes, Sequence[bytes]],
    name: str,
    default: int,
    required: bool = ...,
    negative: bool = ...,
) -> int: ...


@overload
def parse_integer_from_args(
    args: Mapping[bytes, Sequence[bytes]],
    name: str,
    default: int | None = ...,
    required: bool = ...,
    negative: bool = ...,
) -> int | None: ...


def parse_integer_from_args(
    args: Mapping[bytes, Sequence[bytes]],
    name: str,
    default: int | None = None,
    required: bool = False,
    negative: bool = False,
) -> int | None:
    """An integer query parameter; negative values are refused unless ``negative``."""
    values = _arg_values(args, name)
    if not values:
        if required:
            raise _missing(name)
        return default
    text = _decode_arg(name, values[0])
    if not re.fullmatch(r"-?[0-9]{1,18}", text):
        raise SynapseError(
            HTTPStatus.BAD_REQUEST,
            f"Query parameter {name!r} must be an integer",
            Codes.INVALID_PARAM,
        )
    value = int(text)
    if value < 0 and not negative:
        raise SynapseError(
            HTTPStatus.BAD_REQUEST,
            f"Query parameter {name!r} must not be negative",
            Codes.INVALID_PARAM,
        )
    return value


@overload
def parse_integer(
    request: Request, name: str, default: int, required: bool = ..., negative: bool = ...
) -> int: ...


@overload
def parse_integer(
    request: Request,
    name: str,
    default: int | None = ...,
    required: bool = ...,
    negative: bool = ...,
) -> int | None: ...


def parse_integer(
    request: Request,
    name: str,
    default: int | None = None,
    required: bool = False,
    negative: bool = False,
) -> int | None:
    """An integer query parameter of the request (M_MISSING_PARAM / M_INVALID_PARAM)."""
    return parse_integer_from_args(request.args or {}, name, default, required, negative)


def parse_boolean_from_args(
    args: Mapping[bytes, Sequence[bytes]],
    name: str,
    default: bool | None = None,
    required: bool = False,
) -> bool | None:
    """A ``true``/``false`` query parameter."""
    values = _arg_values(args, name)
    if not values:
        if required:
            raise _missing(name)
        return default
    text = _decode_arg(name, values[0])
    if text == "true":
        return True
    if text == "false":
        return False
    raise SynapseError(
        HTTPStatus.BAD_REQUEST,
        f"Query parameter {name!r} must be 'true' or 'false'",
        Codes.INVALID_PARAM,
    )


@overload
def parse_boolean(request: Request, name: str, default: bool, required: bool = ...) -> bool: ...


@overload
def parse_boolean(
    request: Request, name: str, default: bool | None = ..., required: bool = ...
) -> bool | None: ...


def parse_boolean(
    request: Request, name: str, default: bool | None = None, required: bool = False
) -> bool | None:
    return parse_boolean_from_args(request.args or {}, name, default, required)


def _check_allowed(name: str, value: str, allowed_values: Iterable[str] | None) -> None:
    if allowed_values is not None and value not in allowed_values:
        allowed = ", ".join(repr(v) for v in allowed_values)
        raise SynapseError(
            HTTPStatus.BAD_REQUEST,
            f"Query parameter {name!r} must be one of [{allowed}]",
            Codes.INVALID_PARAM,
        )


def parse_strings_from_args(
    args: Mapping[bytes, Sequence[bytes]],
    name: str,
    default: list[str] | None = None,
    required: bool = False,
    allowed_values: Iterable[str] | None = None,
) -> list[str] | None:
    """Every value of a repeated query parameter (``?a=1&a=2``)."""
    values = _arg_values(args, name)
    if not values:
        if required:
            raise _missing(name)
        return default
    result = [_decode_arg(name, v) for v in values]
    for value in result:
        _check_allowed(name, value, allowed_values)
    return result


def parse_string_from_args(
    args: Mapping[bytes, Sequence[bytes]],
    name: str,
    default: str | None = None,
    required: bool = False,
    allowed_values: Iterable[str] | None = None,
) -> str | None:
    values = parse_strings_from_args(args, name, None, required, allowed_values)
    if values is None:
        return default
    return values[0]


@overload
def parse_string(
    request: Request,
    name: str,
    default: str,
    required: bool = ...,
    allowed_values: Iterable[str] | None = ...,
) -> str: ...


@overload
def parse_string(
    request: Request,
    name: str,
    default: str | None = ...,
    required: bool = ...,
    allowed_values: Iterable[str] | None = ...,
) -> str | None: ...


def parse_string(
    request: Request,
    name: str,
    default: str | None = None,
    required: bool = False,
    allowed_values: Iterable[str] | None = None,
) -> str | None:
    """A string query parameter of the request, optionally one of ``allowed_values``."""
    return parse_string_from_args(request.args or {}, name, default, required, allowed_values)


# --- JSON bodies ---------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


# An escaped UTF-16 surrogate: only a pair of them makes a character.
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a decoded JSON value holds a string (or key) that is not valid Unicode."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_json_value_from_request(request: Request, allow_empty_body: bool = False) -> Any:
    """The request body as JSON; M_NOT_JSON unless it is valid UTF-8 JSON.

    Also refused: ``NaN``/``Infinity``, numbers too big for a float, and strings with
    an unpaired UTF-16 surrogate escape, none of which can be sent back as JSON.

    With ``allow_empty_body`` an empty body gives ``None``.
    """
    content = request.content.read() if request.content is not None else b""
    if not content and allow_empty_body:
        return None
    try:
        text = content.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SynapseError(HTTPStatus.BAD_REQUEST, "Content not JSON.", Codes.NOT_JSON)
    if _SURROGATE_ESCAPE_RE.search(text) and _has_lone_surrogate(value):
        raise SynapseError(
            HTTPStatus.BAD_REQUEST, "Content not JSON: unpaired surrogate.", Codes.NOT_JSON
        )
    return value


def parse_json_object_from_request(request: Request, allow_empty_body: bool = False) -> JsonDict:
    """The request body as a JSON object (M_NOT_JSON / M_BAD_JSON); ``{}`` for an allowed empty body."""
    content = parse_json_value_from_request(request, allow_empty_body)
    if content is None and allow_empty_body:
        return {}
    if not isinstance(content, dict):
        raise SynapseError(HTTPStatus.BAD_REQUEST, "Content must be a JSON object.", Codes.BAD_JSON)
    return content


_validators: dict[int, tuple[Mapping[str, Any], Draft202012Validator]] = {}


def _validator_for(schema: Mapping[str, Any]) -> Draft202012Validator:
    cached = _validators.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    _validators[id(schema)] = (schema, validator)
    return validator


def _field_name(path: Iterable[Any]) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<body>"


def schema_error_to_synapse_error(
    error: ValidationError, invalid_errcode: str = Codes.BAD_JSON
) -> SynapseError:
    """The client-facing error for one jsonschema failure, naming the field."""
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in cast(list[str], error.validator_value) if k not in error.instance]
        field = _field_name(path + missing[:1])
        return SynapseError(
            HTTPStatus.BAD_REQUEST, f"Missing required parameter: {field}", Codes.MISSING_PARAM
        )
    return SynapseError(
        HTTPStatus.BAD_REQUEST,
        f"Invalid value for {_field_name(path)}: {error.message}",
        invalid_errcode,
    )


def validate_json_object(
    content: Any, schema: Mapping[str, Any], invalid_errcode: str = Codes.BAD_JSON
) -> None:
    """Check ``content`` against a JSON schema; raise the first error as a ``SynapseError``.

    A missing required key is M_MISSING_PARAM; any other mismatch ``invalid_errcode``
    (M_BAD_JSON for bodies).
    """
    error = best_match(_validator_for(schema).iter_errors(content))
    if error is not None:
        raise schema_error_to_synapse_error(error, invalid_errcode)


def parse_and_validate_json_object_from_request(
    request: Request, schema: Mapping[str, Any], allow_empty_body: bool = False
) -> JsonDict:
    """The body as a JSON object that matches ``schema`` (a JSON Schema 2020-12 dict)."""
    content = parse_json_object_from_request(request, allow_empty_body)
    validate_json_object(content, schema)
    return content


def assert_params_in_dict(body: Mapping[str, Any], required: Iterable[str]) -> None:
    """M_MISSING_PARAM naming the keys of ``required`` absent from ``body``."""
    absent = [k for k in required if k not in body]
    if absent:
        raise SynapseError(
            HTTPStatus.BAD_REQUEST, f"Missing params: {absent!r}", Codes.MISSING_PARAM
        )
