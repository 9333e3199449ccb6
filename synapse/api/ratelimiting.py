"""Token-bucket rate limiting, keyed by user ID or by any string (e.g. a client IP).

Each key has a bucket that holds up to ``burst_count`` actions and drains at
``per_second`` actions a second; an action is allowed if it fits in the bucket.
Admins and application services are not exempt yet: the ``store`` argument is where
their per-user overrides will be read from.
"""

from __future__ import annotations

import math
from typing import Any

from synapse.api.errors import LimitExceededError
from synapse.config.ratelimiting import RatelimitSettings
from synapse.types import Requester

# How often buckets that have drained completely are dropped.
_PRUNE_INTERVAL_MS = 60 * 1000


class Ratelimiter:
    """A set of token buckets sharing one default rate (``cfg``)."""

    def __init__(self, store: Any, clock: Any, cfg: RatelimitSettings) -> None:
        self.store = store
        self.clock = clock
        self.rate_hz = cfg.per_second
        self.burst_count = cfg.burst_count
        # key -> (actions in the bucket, when that was measured (seconds), rate_hz)
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._pruner = clock.looping_call(self._prune, _PRUNE_INTERVAL_MS)

    @staticmethod
    def _key(requester: Requester | None, key: str | None) -> str:
        if key is not None:
            return key
        if requester is None:
            raise ValueError("A rate limit needs a requester or a key")
        return requester.user.to_string()

    def _level(self, key: str, now: float) -> float:
        """The number of actions in ``key``'s bucket at ``now``, after draining."""
        entry = self._buckets.get(key)
        if entry is None:
            return 0.0
        count, measured_at, rate_hz = entry
        return max(0.0, count - (now - measured_at) * rate_hz)

    async def can_do_action(
        self,
        requester: Requester | None,
        key: str | None = None,
        rate_hz: float | None = None,
        burst_count: float | None = None,
        update: bool = True,
        n_actions: int = 1,
    ) -> tuple[bool, float]:
        """Whether ``n_actions`` more actions are allowed now, and when they will be.

        Returns ``(allowed, time_allowed)``: ``time_allowed`` is the time (seconds since
        the epoch) at which the actions would be allowed; now if they are. With
        ``update`` an allowed action is counted.
        """
        bucket_key = self._key(requester, key)
        rate = self.rate_hz if rate_hz is None else rate_hz
        burst = self.burst_count if burst_count is None else burst_count
        now = self.clock.time()

        level = self._level(bucket_key, now)
        allowed = level + n_actions <= burst
        if allowed:
            time_allowed = now
            if update:
                self._buckets[bucket_key] = (level + n_actions, now, rate)
        elif rate > 0:
            time_allowed = now + (level + n_actions - burst) / rate
        else:
            time_allowed = math.inf
        return allowed, time_allowed

    async def ratelimit(
        self,
        requester: Requester | None,
        key: str | None = None,
        rate_hz: float | None = None,
        burst_count: float | None = None,
        update: bool = True,
        n_actions: int = 1,
    ) -> None:
        """Count the action, or raise ``LimitExceededError`` (429, retry_after_ms) if it is not allowed."""
        allowed, time_allowed = await self.can_do_action(
            requester, key, rate_hz, burst_count, update, n_actions
        )
        if not allowed:
            wait_s = time_allowed - self.clock.time()
            retry_after_ms = math.ceil(wait_s * 1000) if math.isfinite(wait_s) else None
            raise LimitExceededError(retry_after_ms=retry_after_ms)

    def record_action(
        self, requester: Requester | None, key: str | None = None, n_actions: int = 1
    ) -> None:
        """Count actions whether or not they fit (e.g. failed logins checked later)."""
        bucket_key = self._key(requester, key)
        now = self.clock.time()
        entry = self._buckets.get(bucket_key)
        rate = entry[2] if entry is not None else self.rate_hz
        self._buckets[bucket_key] = (self._level(bucket_key, now) + n_actions, now, rate)

    def _prune(self) -> None:
        now = self.clock.time()
        for key in [k for k in self._buckets if self._level(k, now) <= 0]:
            del self._buckets[key]
