"""Which entities (rooms, users) changed after a stream position, answered from memory.

``/sync`` asks "did anything happen in these 500 rooms since position N?" on every
request; this cache answers without touching the database for every position newer than
the oldest it remembers.
"""

from __future__ import annotations

from collections.abc import Collection

from sortedcontainers import SortedDict


class StreamChangeCache:
    """The last position at which each entity changed, for positions after ``earliest_known``."""

    def __init__(self, name: str, current_stream_pos: int, max_size: int = 10000) -> None:
        self.name = name
        self._max_size = max_size
        self._earliest_known_stream_pos = current_stream_pos
        self._entity_to_key: dict[str, int] = {}
        self._cache: SortedDict = SortedDict()  # position -> set of entities

    def has_entity_changed(self, entity: str, stream_pos: int) -> bool:
        """False only when the entity surely did not change after ``stream_pos``."""
        if stream_pos < self._earliest_known_stream_pos:
            return True
        latest = self._entity_to_key.get(entity)
        return latest is not None and latest > stream_pos

    def get_entities_changed(self, entities: Collection[str], stream_pos: int) -> set[str]:
        """The subset of ``entities`` that may have changed after ``stream_pos``."""
        if stream_pos < self._earliest_known_stream_pos:
            return set(entities)
        known = self._entity_to_key
        return {e for e in entities if known.get(e, stream_pos) > stream_pos}

    def get_all_entities_changed(self, stream_pos: int) -> set[str] | None:
        """Every entity that changed after ``stream_pos``; None if the cache cannot tell."""
        if stream_pos < self._earliest_known_stream_pos:
            return None
        changed: set[str] = set()
        for key in self._cache.irange(minimum=stream_pos, inclusive=(False, True)):
            changed.update(self._cache[key])
        return changed

    def has_any_entity_changed(self, stream_pos: int) -> bool:
        if stream_pos < self._earliest_known_stream_pos:
            return True
        return bool(self._cache) and self._cache.peekitem(-1)[0] > stream_pos

    def entity_has_changed(self, entity: str, stream_pos: int) -> None:
        """Record that ``entity`` changed at ``stream_pos``."""
        if stream_pos <= self._earliest_known_stream_pos:
            return
        old = self._entity_to_key.get(entity)
        if old is not None:
            if old >= stream_pos:
                return
            entities = self._cache[old]
            entities.discard(entity)
            if not entities:
                del self._cache[old]
        self._cache.setdefault(stream_pos, set()).add(entity)
        self._entity_to_key[entity] = stream_pos
        while len(self._entity_to_key) > self._max_size:
            pos, dropped = self._cache.popitem(0)
            for e in dropped:
                del self._entity_to_key[e]
            self._earliest_known_stream_pos = max(self._earliest_known_stream_pos, pos)

    def get_max_pos_of_last_change(self, entity: str) -> int:
        return self._entity_to_key.get(entity, self._earliest_known_stream_pos)
