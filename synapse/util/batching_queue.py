"""``BatchingQueue``: callers add values; one callback handles everything queued together.

Values added in the same reactor tick, or while the previous batch of the same key is
being handled, are handled as one batch. Every caller gets the batch's result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure

if TYPE_CHECKING:
    from synapse.util.clock import Clock

V = TypeVar("V")
R = TypeVar("R")


class BatchingQueue(Generic[V, R]):
    """Batches of values per key, handed to ``process_batch_callback`` one batch at a time.

    At most one batch per key is being processed at any time; values added meanwhile wait
    for the next batch. A failure of the callback fails every caller of that batch.
    """

    def __init__(
        self,
        name: str,
        clock: Clock,
        process_batch_callback: Callable[[list[V]], Awaitable[R]],
    ) -> None:
        self._name = name
        self._clock = clock
        self._process_batch_callback = process_batch_callback
        self._next_values: dict[Hashable, list[tuple[V, defer.Deferred[R]]]] = {}
        self._processing_keys: set[Hashable] = set()

    def __len__(self) -> int:
        """The number of values waiting for a batch to start."""
        return sum(len(values) for values in self._next_values.values())

    async def add_to_queue(self, value: V, key: Hashable = ()) -> R:
        """Queue ``value`` under ``key`` and return the result of the batch it ends up in."""
        d: defer.Deferred[R] = defer.Deferred()
        self._next_values.setdefault(key, []).append((value, d))
        if key not in self._processing_keys:
            self._processing_keys.add(key)
            defer.ensureDeferred(self._process_queue(key))
        return await d

    async def _process_queue(self, key: Hashable) -> None:
        try:
            # Let the other callers of this tick join the first batch.
            await self._clock.sleep(0)
            while True:
                batch = self._next_values.pop(key, [])
                if not batch:
                    return
                try:
                    result = await self._process_batch_callback([value for value, _ in batch])
                except Exception:
                    failure = Failure()
                    for _, d in batch:
                        if not d.called:
                            d.errback(failure)
                    continue
                for _, d in batch:
                    if not d.called:
                        d.callback(result)
        finally:
            self._processing_keys.discard(key)
