"""A bounded least-recently-used cache.

Stores put one in front of hot reads and invalidate entries from the writes that change
them (usually with ``txn.call_after`` so that a rolled-back write invalidates nothing).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Generic, TypeVar, overload

KT = TypeVar("KT")
VT = TypeVar("VT")
T = TypeVar("T")

_SENTINEL = object()


class LruCache(Generic[KT, VT]):
    """A dict of at most ``max_size`` entries that drops the least recently used one."""

    __slots__ = ("_data", "max_size", "hits", "misses")

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._data: OrderedDict[KT, VT] = OrderedDict()
        self.max_size = max_size
        self.hits = 0
        self.misses = 0

    @overload
    def get(self, key: KT) -> VT | None: ...

    @overload
    def get(self, key: KT, default: T) -> VT | T: ...

    def get(self, key: KT, default: object = None) -> object:
        try:
            value = self._data[key]
        except KeyError:
            self.misses += 1
            return default
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def get_many(self, keys: Iterable[KT]) -> dict[KT, VT]:
        """The cached values of those ``keys`` that are present."""
        out: dict[KT, VT] = {}
        data = self._data
        for key in keys:
            value = data.get(key, _SENTINEL)
            if value is _SENTINEL:
                self.misses += 1
                continue
            data.move_to_end(key)
            self.hits += 1
            out[key] = value  # type: ignore[assignment]
        return out

    def set(self, key: KT, value: VT) -> None:
        data = self._data
        data[key] = value
        data.move_to_end(key)
        while len(data) > self.max_size:
            data.popitem(last=False)

    def pop(self, key: KT, default: VT | None = None) -> VT | None:
        return self._data.pop(key, default)

    def invalidate(self, key: KT) -> None:
        self._data.pop(key, None)

    def invalidate_many(self, keys: Iterable[KT]) -> None:
        data = self._data
        for key in keys:
            data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)
