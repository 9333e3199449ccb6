"""Small SQL helpers shared by the event stores."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

T = TypeVar("T")

# Bound parameters per statement: well under SQLite's limit, small enough for PostgreSQL.
IN_LIST_CHUNK = 500


def batch_iter(iterable: Iterable[T], size: int = IN_LIST_CHUNK) -> Iterator[tuple[T, ...]]:
    """The items of ``iterable`` in tuples of at most ``size``."""
    it = iter(iterable)
    while chunk := tuple(islice(it, size)):
        yield chunk


def in_list(column: str, values: Collection[Any]) -> tuple[str, list[Any]]:
    """``column IN (?, ?, ...)`` and its arguments."""
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


def encode_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def rows_as_tuples(rows: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in rows]
