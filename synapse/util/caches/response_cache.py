"""``ResponseCache``: one computation for identical concurrent requests, kept a while.

A client that times out and retries the same request (the same ``/sync`` with the same
``since``) gets the result of the computation already running, or of the one that
just finished, instead of starting another. A caller that goes away does not cancel
the computation the others wait for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

import attr
from twisted.internet import defer
from twisted.python.failure import Failure

from synapse.util.clock import Clock

KV = TypeVar("KV", bound=Hashable)
RV = TypeVar("RV")


@attr.s(slots=True, auto_attribs=True)
class ResponseCacheContext(Generic[KV]):
    """Given to the computation: it may decide its result is not worth keeping."""

    cache_key: KV
    should_cache: bool = True


class _Entry:
    __slots__ = ("done", "result", "observers")

    def __init__(self) -> None:
        self.done = False
        self.result: Any = None
        self.observers: list[defer.Deferred[Any]] = []

    def observe(self) -> defer.Deferred[Any]:
        """A Deferred of the result; cancelling it leaves the computation running."""
        if self.done:
            if isinstance(self.result, Failure):
                return defer.fail(self.result)
            return defer.succeed(self.result)

        def _cancel(d: defer.Deferred[Any]) -> None:
            if d in self.observers:
                self.observers.remove(d)

        d: defer.Deferred[Any] = defer.Deferred(_cancel)
        self.observers.append(d)
        return d

    def resolve(self, result: Any) -> None:
        self.done = True
        self.result = result
        observers, self.observers = self.observers, []
        for d in observers:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)


class ResponseCache(Generic[KV]):
    """Results by request key; a result stays ``timeout_ms`` after it is ready."""

    def __init__(self, clock: Clock, name: str, timeout_ms: int = 0) -> None:
        self.name = name
        self._clock = clock
        self._timeout_s = timeout_ms / 1000.0
        self._entries: dict[KV, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def wrap(
        self,
        key: KV,
        callback: Callable[[ResponseCacheContext[KV]], Awaitable[RV]],
    ) -> RV:
        """The result of ``callback(context)``, shared by every caller with ``key``.

        A failed computation is not kept; nor is one whose callback set
        ``context.should_cache = False`` (it is still shared while running).
        """
        entry = self._entries.get(key)
        if entry is None:
            entry = _Entry()
            self._entries[key] = entry
            context: ResponseCacheContext[KV] = ResponseCacheContext(key)
            computation: defer.Deferred[Any] = defer.ensureDeferred(
                callback(context)  # type: ignore[arg-type]
            )
            computation.addBoth(self._finished, key, entry, context)
        return await entry.observe()

    def _finished(
        self, result: Any, key: KV, entry: _Entry, context: ResponseCacheContext[KV]
    ) -> None:
        entry.resolve(result)
        if isinstance(result, Failure) or not context.should_cache or self._timeout_s <= 0:
            self._forget(key, entry)
        else:
            self._clock.call_later(self._timeout_s, self._forget, key, entry)

    def _forget(self, key: KV, entry: _Entry) -> None:
        if self._entries.get(key) is entry:
            del self._entries[key]
