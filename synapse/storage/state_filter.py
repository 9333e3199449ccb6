"""``StateFilter``: which part of a room's state a caller wants."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

import attr

from synapse.types import StateKey, StateMap

T = TypeVar("T")


@attr.s(slots=True, frozen=True, auto_attribs=True)
class StateFilter:
    """Event types to keep, each with the state keys to keep (None: all of that type).

    ``include_others`` keeps every type not named in ``types`` as well.
    """

    types: Mapping[str, frozenset[str] | None]
    include_others: bool = False

    @classmethod
    def all(cls) -> StateFilter:
        return _ALL

    @classmethod
    def none(cls) -> StateFilter:
        return _NONE

    @classmethod
    def from_types(cls, types: Iterable[tuple[str, str | None]]) -> StateFilter:
        """A filter from ``(type, state_key)`` pairs; a None state key means every key."""
        out: dict[str, set[str] | None] = {}
        for typ, state_key in types:
            if state_key is None:
                out[typ] = None
                continue
            keys = out.setdefault(typ, set())
            if keys is not None:
                keys.add(state_key)
        return cls({t: (frozenset(k) if k is not None else None) for t, k in out.items()})

    def is_full(self) -> bool:
        return self.include_others and not self.types

    def is_empty(self) -> bool:
        return not self.include_others and not self.types

    def matches(self, key: StateKey) -> bool:
        typ, state_key = key
        if typ not in self.types:
            return self.include_others
        keys = self.types[typ]
        return keys is None or state_key in keys

    def filter_state(self, state: StateMap[T]) -> dict[StateKey, T]:
        """The entries of ``state`` that the filter keeps."""
        if self.is_full():
            return dict(state)
        if not self.include_others and all(keys is not None for keys in self.types.values()):
            # Look up the wanted keys rather than scanning a possibly huge map.
            out: dict[StateKey, T] = {}
            for typ, keys in self.types.items():
                for sk in keys or ():
                    value = state.get((typ, sk))
                    if value is not None:
                        out[(typ, sk)] = value
            return out
        return {k: v for k, v in state.items() if self.matches(k)}


_ALL = StateFilter({}, include_others=True)
_NONE = StateFilter({}, include_others=False)
