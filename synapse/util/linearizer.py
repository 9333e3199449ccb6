"""``Linearizer``: run async critical sections one at a time per key."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator, Hashable

from twisted.internet import defer


class Linearizer:
    """At most ``max_count`` holders of each key at once; the others wait in order.

    async with linearizer.queue(room_id):
        ...
    """

    def __init__(self, name: str, max_count: int = 1) -> None:
        self.name = name
        self.max_count = max_count
        # key -> (holders, waiters)
        self._entries: dict[Hashable, tuple[int, deque[defer.Deferred[None]]]] = {}

    def is_queued(self, key: Hashable) -> bool:
        entry = self._entries.get(key)
        return entry is not None and bool(entry[1])

    @contextlib.asynccontextmanager
    async def queue(self, key: Hashable) -> AsyncIterator[None]:
        entry = self._entries.get(key)
        if entry is None:
            entry = (0, deque())
        holders, waiters = entry
        if holders < self.max_count and not waiters:
            self._entries[key] = (holders + 1, waiters)
        else:
            d: defer.Deferred[None] = defer.Deferred()
            waiters.append(d)
            self._entries[key] = (holders, waiters)
            try:
                await d
            except defer.CancelledError:
                if d in waiters:
                    waiters.remove(d)
                raise
        try:
            yield
        finally:
            self._release(key)

    def _release(self, key: Hashable) -> None:
        holders, waiters = self._entries[key]
        if waiters:
            # Hand our slot straight to the next waiter.
            nxt = waiters.popleft()
            nxt.callback(None)
            return
        if holders <= 1:
            del self._entries[key]
        else:
            self._entries[key] = (holders - 1, waiters)
