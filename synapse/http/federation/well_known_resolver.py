"""``/.well-known/matrix/server`` lookups for server discovery, with the spec's caching.

A valid answer (``{"m.server": "<host>[:<port>]"}``) is cached for as long as its
``Cache-Control: max-age`` or ``Expires`` says, 24 hours without either, and never more
than 48 hours. An answer that is not valid (not 200, not JSON, no valid ``m.server``)
means "no delegation" and is cached for an hour. When the server cannot be reached
(or answers 5xx) that is cached for two minutes, doubling with each further failure up
to an hour; meanwhile a delegation seen before is still used.
"""

from __future__ import annotations

import email.utils
import json
import logging
from typing import TYPE_CHECKING, Any

import attr
from twisted.internet import defer
from twisted.web.client import BrowserLikeRedirectAgent, ResponseFailed
from twisted.web.error import InfiniteRedirection
from twisted.web.http_headers import Headers

from synapse.http.client_helpers import (
    BodyExceededMaxSize,
    read_body_with_max_size,
    with_timeout,
)
from synapse.types import is_valid_server_name
from synapse.util.linearizer import Linearizer

if TYPE_CHECKING:
    from synapse.util.clock import Clock

logger = logging.getLogger(__name__)

WELL_KNOWN_DEFAULT_CACHE_SECONDS = 24 * 3600
WELL_KNOWN_MAX_CACHE_SECONDS = 48 * 3600
WELL_KNOWN_MIN_CACHE_SECONDS = 5 * 60
WELL_KNOWN_INVALID_CACHE_SECONDS = 3600
WELL_KNOWN_DOWN_CACHE_SECONDS = 2 * 60
WELL_KNOWN_MAX_DOWN_CACHE_SECONDS = 3600
WELL_KNOWN_MAX_SIZE = 50 * 1024
WELL_KNOWN_TIMEOUT_SECONDS = 30
WELL_KNOWN_MAX_REDIRECTS = 5


@attr.s(slots=True, frozen=True, auto_attribs=True)
class WellKnownLookupResult:
    """``delegated_server``: the ``m.server`` value, or None when there is no delegation."""

    delegated_server: bytes | None


@attr.s(slots=True, auto_attribs=True)
class _CacheEntry:
    result: bytes | None
    expires: float
    # Consecutive failures to reach the server, for the back-off.
    failures: int = 0
    # The last valid delegation, kept to ride out failures.
    last_valid: bytes | None = None


class _TransientError(Exception):
    """The server could not be asked (connection failure, timeout, 5xx)."""


class _InvalidResponse(Exception):
    """The server answered, but not with a valid delegation."""


def cache_period_from_headers(headers: Headers, now: float) -> float | None:
    """Seconds to cache for, from ``Cache-Control`` (``max-age``, ``no-store``) or ``Expires``."""
    cache_control: dict[str, str | None] = {}
    for value in headers.getRawHeaders(b"cache-control") or []:
        for directive in value.split(b","):
            name, _, arg = directive.strip().partition(b"=")
            cache_control[name.strip().lower().decode("ascii", "replace")] = (
                arg.strip().strip(b'"').decode("ascii", "replace") if arg else None
            )
    if "no-store" in cache_control or "no-cache" in cache_control:
        return 0
    max_age = cache_control.get("max-age")
    if max_age is not None:
        try:
            return max(0, int(max_age))
        except ValueError:
            pass
    expires = headers.getRawHeaders(b"expires")
    if expires:
        try:
            when = email.utils.parsedate_to_datetime(expires[0].decode("ascii"))
            return max(0.0, when.timestamp() - now)
        except (TypeError, ValueError, UnicodeDecodeError):
            return 0
    return None


def parse_well_known_body(body: bytes) -> bytes:
    """The ``m.server`` of a well-known document; ``_InvalidResponse`` if there is none."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _InvalidResponse("response is not JSON")
    if not isinstance(parsed, dict):
        raise _InvalidResponse("response is not a JSON object")
    server = parsed.get("m.server")
    if not isinstance(server, str):
        raise _InvalidResponse("no m.server string")
    if not is_valid_server_name(server):
        raise _InvalidResponse(f"m.server {server!r} is not a server name")
    return server.encode("ascii")


class WellKnownResolver:
    """Asks ``https://<host>/.well-known/matrix/server`` through ``agent`` (following up to
    five redirects), and caches the answers."""

    def __init__(self, clock: Clock, agent: Any, user_agent: bytes) -> None:
        # ``agent`` is an ``IAgent`` for https:// URIs.
        self._clock = clock
        self._agent = BrowserLikeRedirectAgent(agent, redirectLimit=WELL_KNOWN_MAX_REDIRECTS)
        self._user_agent = user_agent
        self._cache: dict[bytes, _CacheEntry] = {}
        self._linearizer = Linearizer("well_known_lookup")

    async def get_well_known(self, server_name: bytes) -> WellKnownLookupResult:
        """The delegation of ``server_name`` (a hostname without port), from cache or fetched."""
        async with self._linearizer.queue(server_name):
            now = self._clock.time()
            entry = self._cache.get(server_name)
            if entry is not None and entry.expires > now:
                return WellKnownLookupResult(entry.result)
            entry = await self._refresh(server_name, entry)
            return WellKnownLookupResult(entry.result)

    async def _refresh(self, server_name: bytes, old: _CacheEntry | None) -> _CacheEntry:
        now = self._clock.time()
        last_valid = old.last_valid if old is not None else None
        try:
            delegated, period = await self._fetch(server_name)
        except _InvalidResponse as e:
            logger.info("No valid .well-known for %s: %s", server_name.decode(), e)
            entry = _CacheEntry(None, now + WELL_KNOWN_INVALID_CACHE_SECONDS)
        except _TransientError as e:
            failures = (old.failures if old is not None else 0) + 1
            backoff = min(
                WELL_KNOWN_DOWN_CACHE_SECONDS * 2 ** (failures - 1),
                WELL_KNOWN_MAX_DOWN_CACHE_SECONDS,
            )
            logger.info(
                "Could not fetch .well-known for %s (%s); %s for %ds",
                server_name.decode(),
                e,
                "keeping the last delegation" if last_valid else "no delegation",
                backoff,
            )
            entry = _CacheEntry(last_valid, now + backoff, failures, last_valid)
        else:
            entry = _CacheEntry(delegated, now + period, 0, delegated)
        self._cache[server_name] = entry
        return entry

    async def _fetch(self, server_name: bytes) -> tuple[bytes, float]:
        """The delegated server and how long to cache it."""
        uri = b"https://" + server_name + b"/.well-known/matrix/server"
        headers = Headers({b"User-Agent": [self._user_agent]})
        try:
            response: Any = await with_timeout(
                self._agent.request(b"GET", uri, headers),
                WELL_KNOWN_TIMEOUT_SECONDS,
                self._clock,
            )
            body = await with_timeout(
                read_body_with_max_size(response, WELL_KNOWN_MAX_SIZE),
                WELL_KNOWN_TIMEOUT_SECONDS,
                self._clock,
            )
        except defer.CancelledError:
            raise
        except BodyExceededMaxSize:
            raise _InvalidResponse("response too large")
        except ResponseFailed as e:
            if any(r.check(InfiniteRedirection) for r in e.reasons):
                raise _InvalidResponse("too many redirects")
            raise _TransientError(f"{type(e).__name__}: {e}")
        except Exception as e:
            raise _TransientError(f"{type(e).__name__}: {e}")
        if response.code >= 500:
            raise _TransientError(f"HTTP {response.code}")
        if response.code != 200:
            raise _InvalidResponse(f"HTTP {response.code}")
        delegated = parse_well_known_body(body)
        period = cache_period_from_headers(response.headers, self._clock.time())
        if period is None:
            period = WELL_KNOWN_DEFAULT_CACHE_SECONDS
        period = min(max(period, WELL_KNOWN_MIN_CACHE_SECONDS), WELL_KNOWN_MAX_CACHE_SECONDS)
        return delegated, period
