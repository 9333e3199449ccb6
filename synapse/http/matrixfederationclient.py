"""``MatrixFederationHttpClient``: signed JSON requests to other homeservers.

Every request carries an ``Authorization: X-Matrix`` header: this server's signature
over ``{method, uri, origin, destination, content}`` (the spec's "Request
Authentication"). Requests go through an ``IAgent`` for ``matrix-federation://`` URIs,
``MatrixFederationAgent`` unless one is given (tests give an in-memory one).

Failures:

- ``FederationDeniedError`` (403): the destination is not in ``federation_domain_whitelist``;
- ``RequestSendFailed``: no response (connection refused, timeout, a name that does not
  resolve or resolves to a blacklisted address, a body too large or not JSON);
- ``HttpResponseException``: a non-2xx response (``to_synapse_error()`` keeps the remote
  ``M_*`` errcode).

Connection failures and 5xx responses are retried, a few times with short waits, or,
with ``long_retries``, more times with longer ones.
"""

from __future__ import annotations

import json
import logging
import random
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attr
from canonicaljson import encode_canonical_json
from signedjson.sign import sign_json
from twisted.internet import defer
from twisted.internet.error import DNSLookupError
from twisted.web.http_headers import Headers

from synapse import __version__
from synapse.api.errors import (
    FederationDeniedError,
    HttpResponseException,
    RequestSendFailed,
)
from synapse.http.client_helpers import (
    BodyExceededMaxSize,
    BytesBodyProducer,
    read_body_with_max_size,
    with_timeout,
)
from synapse.types import JsonDict, is_valid_server_name

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# Responses larger than this are refused unless the caller allows more.
DEFAULT_MAX_RESPONSE_SIZE = 100 * 1024 * 1024

QueryArgs = Mapping[str, str | Iterable[str]]


def encode_query_args(args: QueryArgs | None) -> bytes:
    """``a=1&b=2&b=3`` for ``{"a": "1", "b": ["2", "3"]}`` (keys in order given)."""
    if not args:
        return b""
    pairs: list[tuple[str, str]] = []
    for name, value in args.items():
        if isinstance(value, str):
            pairs.append((name, value))
        else:
            pairs.extend((name, v) for v in value)
    return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote).encode("ascii")


@attr.s(slots=True, frozen=True, auto_attribs=True)
class MatrixFederationRequest:
    """One request: ``path`` is already percent-encoded (``/_matrix/federation/v1/...``)."""

    method: str
    destination: str
    path: str
    query: QueryArgs | None = None
    json: JsonDict | list[Any] | None = None

    @property
    def target(self) -> bytes:
        """The request target: path and query, as signed and sent."""
        query = encode_query_args(self.query)
        target = self.path.encode("ascii")
        return target + b"?" + query if query else target

    @property
    def uri(self) -> bytes:
        return b"matrix-federation://" + self.destination.encode("ascii") + self.target


class MatrixFederationHttpClient:
    """Signed JSON requests to other homeservers; see the module docstring."""

    def __init__(self, hs: HomeServer, agent: Any | None = None) -> None:
        self.hs = hs
        self.server_name = hs.hostname
        self.signing_key = hs.config.key.signing_key[0]
        self.clock = hs.get_clock()
        federation = hs.config.federation
        self._domain_whitelist: Mapping[str, bool] | None = federation.federation_domain_whitelist
        self.default_timeout_seconds = federation.client_timeout_ms / 1000
        self._max_short_retries = federation.max_short_retries
        self._max_long_retries = federation.max_long_retries
        self._max_short_retry_delay = federation.max_short_retry_delay_ms / 1000
        self._max_long_retry_delay = federation.max_long_retry_delay_ms / 1000
        self._rng = random.Random()

        suffix = hs.config.server.user_agent_suffix
        user_agent = f"Synapse/{__version__}" + (f" {suffix}" if suffix else "")
        self.user_agent = user_agent.encode("ascii", "replace")

        if agent is None:
            agent = self._make_agent()
        # An IAgent for matrix-federation:// URIs.
        self.agent: Any = agent

    def _make_agent(self) -> Any:
        from synapse.crypto.context_factory import FederationPolicyForHTTPS
        from synapse.http.federation.matrix_federation_agent import MatrixFederationAgent

        federation = self.hs.config.federation
        return MatrixFederationAgent(
            self.hs.get_reactor(),
            self.clock,
            FederationPolicyForHTTPS(self.hs.config),
            self.user_agent,
            ip_blacklist=federation.federation_ip_range_blacklist,
            ip_whitelist=federation.federation_ip_range_whitelist,
        )

    # --- signing -----------------------------------------------------------------------

    def build_auth_headers(
        self,
        destination: str,
        method: str | bytes,
        url_bytes: bytes,
        content: JsonDict | list[Any] | None = None,
    ) -> list[bytes]:
        """The ``X-Matrix`` Authorization header values for a request (one per key)."""
        if isinstance(method, bytes):
            method = method.decode("ascii")
        request_json: JsonDict = {
            "method": method,
            "uri": url_bytes.decode("ascii"),
            "origin": self.server_name,
            "destination": destination,
        }
        if content is not None:
            request_json["content"] = content
        signed = sign_json(request_json, self.server_name, self.signing_key)
        return [
            (
                f'X-Matrix origin="{self.server_name}",destination="{destination}",'
                f'key="{key_id}",sig="{sig}"'
            ).encode("ascii")
            for key_id, sig in signed["signatures"][self.server_name].items()
        ]

    # --- the JSON requests -------------------------------------------------------------

    async def get_json(
        self,
        destination: str,
        path: str,
        args: QueryArgs | None = None,
        timeout: int | None = None,
        long_retries: bool = False,
        max_response_size: int | None = None,
    ) -> Any:
        """GET ``path`` on ``destination`` and return the JSON response.

        ``timeout`` is in milliseconds (default ``federation.client_timeout``), per attempt.
        """
        request = MatrixFederationRequest("GET", destination, path, query=args)
        return await self._send_json_request(request, timeout, long_retries, max_response_size)

    async def put_json(
        self,
        destination: str,
        path: str,
        args: QueryArgs | None = None,
        data: JsonDict | list[Any] | None = None,
        timeout: int | None = None,
        long_retries: bool = False,
        max_response_size: int | None = None,
    ) -> Any:
        """PUT ``data`` (``{}`` when None) to ``path`` on ``destination``; the JSON response."""
        request = MatrixFederationRequest(
            "PUT", destination, path, query=args, json=data if data is not None else {}
        )
        return await self._send_json_request(request, timeout, long_retries, max_response_size)

    async def post_json(
        self,
        destination: str,
        path: str,
        data: JsonDict | list[Any] | None = None,
        args: QueryArgs | None = None,
        timeout: int | None = None,
        long_retries: bool = False,
        max_response_size: int | None = None,
    ) -> Any:
        """POST ``data`` (``{}`` when None) to ``path`` on ``destination``; the JSON response."""
        request = MatrixFederationRequest(
            "POST", destination, path, query=args, json=data if data is not None else {}
        )
        return await self._send_json_request(request, timeout, long_retries, max_response_size)

    async def delete_json(
        self,
        destination: str,
        path: str,
        args: QueryArgs | None = None,
        timeout: int | None = None,
        long_retries: bool = False,
        max_response_size: int | None = None,
    ) -> Any:
        """DELETE ``path`` on ``destination``; the JSON response."""
        request = MatrixFederationRequest("DELETE", destination, path, query=args)
        return await self._send_json_request(request, timeout, long_retries, max_response_size)

    async def _send_json_request(
        self,
        request: MatrixFederationRequest,
        timeout: int | None,
        long_retries: bool,
        max_response_size: int | None,
    ) -> Any:
        body = await self.send_request(
            request,
            timeout=timeout,
            long_retries=long_retries,
            max_response_size=max_response_size,
        )
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            logger.info("%s %s: response is not JSON", request.method, request.destination)
            raise RequestSendFailed(e, can_retry=False)

    # --- sending, with retries -----------------------------------------------------------

    async def send_request(
        self,
        request: MatrixFederationRequest,
        timeout: int | None = None,
        long_retries: bool = False,
        max_response_size: int | None = None,
    ) -> bytes:
        """Send ``request`` (retrying as the module docstring says); the 2xx response body."""
        if not is_valid_server_name(request.destination):
            raise RequestSendFailed(
                ValueError(f"Invalid destination {request.destination!r}"), can_retry=False
            )
        if self._domain_whitelist is not None and request.destination not in self._domain_whitelist:
            raise FederationDeniedError(request.destination)

        timeout_seconds = timeout / 1000 if timeout is not None else self.default_timeout_seconds
        max_size = max_response_size if max_response_size is not None else DEFAULT_MAX_RESPONSE_SIZE
        max_retries = self._max_long_retries if long_retries else self._max_short_retries
        attempt = 0
        while True:
            failure: Exception
            try:
                code, phrase, body = await self._attempt(request, timeout_seconds, max_size)
            except RequestSendFailed as e:
                if not e.can_retry or attempt >= max_retries:
                    raise
                failure = e
            else:
                if 200 <= code < 300:
                    return body
                error = HttpResponseException(code, phrase, body)
                if code < 500 or attempt >= max_retries:
                    raise error
                failure = error
            delay = self._retry_delay(attempt, long_retries)
            logger.info(
                "%s %s%s failed (%s); retrying in %.1fs",
                request.method,
                request.destination,
                request.path,
                failure,
                delay,
            )
            attempt += 1
            await self.clock.sleep(delay)

    def _retry_delay(self, attempt: int, long_retries: bool) -> float:
        """Seconds before retry ``attempt + 1``: growing exponentially, with some jitter."""
        if long_retries:
            delay = min(4.0 * 4**attempt, self._max_long_retry_delay)
        else:
            delay = min(0.5 * 2**attempt, self._max_short_retry_delay)
        return delay * self._rng.uniform(0.8, 1.2)

    async def _attempt(
        self, request: MatrixFederationRequest, timeout_seconds: float, max_size: int
    ) -> tuple[int, str, bytes]:
        """One try: ``(status, reason phrase, body)``, or ``RequestSendFailed``."""
        target = request.target
        headers = Headers(
            {
                b"User-Agent": [self.user_agent],
                b"Authorization": self.build_auth_headers(
                    request.destination, request.method, target, request.json
                ),
            }
        )
        producer = None
        if request.json is not None:
            headers.setRawHeaders(b"Content-Type", [b"application/json"])
            producer = BytesBodyProducer(encode_canonical_json(request.json))

        logger.debug("Sending %s %s%s", request.method, request.destination, target.decode())
        try:
            response: Any = await with_timeout(
                self.agent.request(request.method.encode("ascii"), request.uri, headers, producer),
                timeout_seconds,
                self.clock,
            )
            body = await with_timeout(
                read_body_with_max_size(response, max_size), timeout_seconds, self.clock
            )
        except defer.CancelledError:
            raise
        except (DNSLookupError, BodyExceededMaxSize) as e:
            raise RequestSendFailed(e, can_retry=False)
        except Exception as e:
            raise RequestSendFailed(e, can_retry=True)

        phrase = response.phrase
        if isinstance(phrase, bytes):
            phrase = phrase.decode("ascii", "replace")
        logger.debug(
            "%s %s%s: %d", request.method, request.destination, target.decode(), response.code
        )
        return int(response.code), str(phrase), body
