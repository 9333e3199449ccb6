"""SRV lookups (RFC 2782) for server discovery, cached for their TTL.

``SrvResolver.resolve_service(b"_matrix-fed._tcp.example.com")`` gives the targets in
the order to try them: lowest priority first, and within one priority a random order
weighted by the records' weights. A name without SRV records gives ``[]``; so does a
single record whose target is ``.`` (the service is explicitly not offered).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import attr
from twisted.internet import defer
from twisted.names import client, dns
from twisted.names.error import DNSNameError, DomainError

logger = logging.getLogger(__name__)

# TTLs are honoured between these bounds (seconds).
MIN_SRV_CACHE_SECONDS = 60
MAX_SRV_CACHE_SECONDS = 24 * 3600


@attr.s(slots=True, frozen=True, auto_attribs=True)
class Server:
    """One SRV record: where to connect, and its place in the order."""

    host: bytes
    port: int
    priority: int = 0
    weight: int = 0
    expires: float = 0


def order_servers(servers: list[Server], rng: random.Random | None = None) -> list[Server]:
    """The order to try ``servers`` in: by priority, weighted-random within a priority."""
    rng = rng or random.Random()
    ordered: list[Server] = []
    for priority in sorted({s.priority for s in servers}):
        remaining = [s for s in servers if s.priority == priority]
        while remaining:
            total = sum(s.weight for s in remaining)
            if total == 0:
                pick = remaining[0]
            else:
                point = rng.randint(1, total)
                running = 0
                pick = remaining[-1]
                for s in remaining:
                    running += s.weight
                    if running >= point:
                        pick = s
                        break
            ordered.append(pick)
            remaining.remove(pick)
    return ordered


LookupService = Callable[[bytes], "defer.Deferred[tuple[list[Any], list[Any], list[Any]]]"]


def _default_lookup(name: bytes) -> defer.Deferred[tuple[list[Any], list[Any], list[Any]]]:
    return client.lookupService(name.decode("ascii"))


class SrvResolver:
    """Looks SRV records up through ``lookup_service`` (``twisted.names`` by default).

    Answers are cached for their TTL; when a lookup fails for a reason other than the
    name not existing, the last answer is used, however old.
    """

    def __init__(
        self,
        get_time: Callable[[], float],
        lookup_service: LookupService | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._get_time = get_time
        self._lookup = lookup_service or _default_lookup
        self._rng = rng or random.Random()
        self._cache: dict[bytes, list[Server]] = {}

    async def resolve_service(self, service_name: bytes) -> list[Server]:
        """The targets of ``service_name`` in the order to try them (``[]`` if none)."""
        now = self._get_time()
        cached = self._cache.get(service_name)
        if cached is not None and all(s.expires > now for s in cached):
            return order_servers(cached, self._rng)

        try:
            answers, _authority, _additional = await self._lookup(service_name)
        except DomainError as e:
            if isinstance(e, DNSNameError) or type(e) is DomainError:
                # The name does not exist, or has no records.
                self._cache.pop(service_name, None)
                return []
            if cached is not None:
                logger.info("SRV lookup of %r failed (%s); using the last answer", service_name, e)
                return order_servers(cached, self._rng)
            raise
        except Exception as e:
            if cached is not None:
                logger.info("SRV lookup of %r failed (%s); using the last answer", service_name, e)
                return order_servers(cached, self._rng)
            raise

        servers: list[Server] = []
        for answer in answers:
            if answer.type != dns.SRV or not answer.payload:
                continue
            payload = answer.payload
            target = str(payload.target).encode("ascii")
            if target in (b"", b"."):
                if len(answers) == 1:
                    # RFC 2782: a lone "." target means the service is not available.
                    return []
                continue
            ttl = min(max(int(answer.ttl), MIN_SRV_CACHE_SECONDS), MAX_SRV_CACHE_SECONDS)
            servers.append(
                Server(
                    host=target,
                    port=int(payload.port),
                    priority=int(payload.priority),
                    weight=int(payload.weight),
                    expires=now + ttl,
                )
            )
        if servers:
            self._cache[service_name] = servers
        else:
            self._cache.pop(service_name, None)
        return order_servers(servers, self._rng)
