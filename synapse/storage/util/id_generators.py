"""Stream id generators: positions in a stream, and how far the stream is persisted.

A writer takes the next id, writes its rows, then finishes the id::

    async with gen.get_next() as stream_id:
        await store.persist_something(stream_id, ...)

or, inside a transaction, ``stream_id = gen.get_next_txn(txn)`` (finished when the
transaction commits or fails). ``get_current_token()`` is the highest id such that every
id up to it is finished: readers may use it as a position, knowing nothing at or below it
is still being written.

:class:`AbstractStreamIdGenerator` is the interface readers and writers use; today's
:class:`StreamIdGenerator` serves one writer process per stream. A generator for several
writer processes (workers over Redis) implements the same interface, keeping each
writer's position in the ``stream_positions`` table and learning the others' from
replication.
"""

from __future__ import annotations

import abc
import contextlib
import heapq
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager as AsyncContextManager

from twisted.internet import defer

from synapse.storage.database import (
    DatabasePool,
    LoggingDatabaseConnection,
    LoggingTransaction,
    shield_from_cancellation,
)

logger = logging.getLogger(__name__)


class AbstractStreamIdGenerator(abc.ABC):
    """Hands out stream ids and knows the position up to which the stream is complete."""

    @abc.abstractmethod
    def get_next(self) -> AsyncContextManager[int]:
        """``async with gen.get_next() as stream_id``: the id is finished on exit."""

    @abc.abstractmethod
    def get_next_mult(self, n: int) -> AsyncContextManager[list[int]]:
        """Like :meth:`get_next` for ``n`` ids, in increasing stream order."""

    @abc.abstractmethod
    def get_next_txn(self, txn: LoggingTransaction) -> int:
        """An id finished when ``txn`` commits or fails (call inside ``runInteraction``)."""

    @abc.abstractmethod
    def get_current_token(self) -> int:
        """The highest id such that every id at or below it has been persisted."""

    @abc.abstractmethod
    def get_current_token_for_writer(self, instance_name: str) -> int:
        """The current token of one writer process."""

    @abc.abstractmethod
    def add_advance_listener(self, callback: Callable[[int], object]) -> None:
        """Call ``callback(new_token)`` (in the reactor thread) whenever the token advances."""


class StreamIdGenerator(AbstractStreamIdGenerator):
    """Ids for a stream with one writer process.

    On PostgreSQL the ids come from ``sequence_name`` (create it in a ``.sql.postgres``
    delta), so that a later multi-writer generator shares the sequence; on SQLite they are
    ``max(column) + 1`` counted in process. ``step=-1`` makes a backwards stream (ids
    -1, -2, ...; e.g. backfilled events), which on PostgreSQL needs its own sequence.

    ``db_conn`` is a connection to read the start position on; ``None`` borrows one from
    ``db`` (``DatabasePool.startup_connection()``). Thread-safe: ids may be taken in
    database threads (``get_next_txn``) while the reactor thread reads the token.
    """

    def __init__(
        self,
        db_conn: LoggingDatabaseConnection | None,
        db: DatabasePool,
        table: str,
        column: str,
        sequence_name: str | None = None,
        *,
        step: int = 1,
    ) -> None:
        if step not in (1, -1):
            raise ValueError("step must be 1 or -1")
        self._db = db
        self._table = table
        self._column = column
        self._step = step
        self._use_sequence = db.engine.supports_sequences
        if self._use_sequence and not sequence_name:
            raise ValueError(
                f"A sequence is needed for the stream {table}.{column} on {db.engine.name}"
            )
        self._sequence_name = sequence_name

        # Held while an id is taken and registered, so ids are registered in order.
        self._alloc_lock = threading.Lock()
        # Guards the fields below; held only briefly.
        self._state_lock = threading.Lock()
        # All internal positions are positive: the id handed out is ``step * position``.
        self._max_allocated = 0
        self._unfinished: list[int] = []  # a heap
        self._finished_early: set[int] = set()
        self._listeners: list[Callable[[int], object]] = []

        if db_conn is None:
            with db.startup_connection() as conn:
                self._max_allocated = self._load_position(conn)
        else:
            self._max_allocated = self._load_position(db_conn)

    def _load_position(self, db_conn: LoggingDatabaseConnection) -> int:
        txn = db_conn.cursor(txn_name=f"stream_id_gen_{self._table}")
        try:
            txn.execute(f"SELECT MAX({self._column} * ?) FROM {self._table}", (self._step,))
            row = txn.fetchone()
            position = max(0, int(row[0])) if row and row[0] is not None else 0
            if self._use_sequence:
                self._check_sequence(txn, position)
            db_conn.commit()
        except BaseException:
            db_conn.rollback()
            raise
        finally:
            txn.close()
        return position

    def _check_sequence(self, txn: LoggingTransaction, position: int) -> None:
        """Move the sequence past ``position`` if it is behind (e.g. rows written without it)."""
        txn.execute("SELECT to_regclass(?) IS NOT NULL", (self._sequence_name,))
        row = txn.fetchone()
        if not row or not row[0]:
            raise RuntimeError(
                f"The sequence {self._sequence_name!r} for {self._table}.{self._column} does not exist:"
                " create it in a .sql.postgres schema delta"
            )
        txn.execute(f"SELECT last_value, is_called FROM {self._sequence_name}")
        seq_row = txn.fetchone()
        assert seq_row is not None
        last_value, is_called = seq_row
        next_value = last_value + 1 if is_called else last_value
        if next_value <= position:
            logger.warning(
                "Sequence %s is behind %s.%s (next %d, max %d): moving it on",
                self._sequence_name,
                self._table,
                self._column,
                next_value,
                position,
            )
            txn.execute("SELECT setval(?, ?)", (self._sequence_name, position))

    # --- handing out ids ----------------------------------------------------------------

    def get_next(self) -> AsyncContextManager[int]:
        return self._get_next_one()

    @contextlib.asynccontextmanager
    async def _get_next_one(self) -> AsyncIterator[int]:
        positions = await self._allocate_async(1)
        try:
            yield self._step * positions[0]
        finally:
            self._mark_finished(positions)

    def get_next_mult(self, n: int) -> AsyncContextManager[list[int]]:
        return self._get_next_mult(n)

    @contextlib.asynccontextmanager
    async def _get_next_mult(self, n: int) -> AsyncIterator[list[int]]:
        positions = await self._allocate_async(n) if n > 0 else []
        try:
            yield [self._step * p for p in positions]
        finally:
            self._mark_finished(positions)

    def get_next_txn(self, txn: LoggingTransaction) -> int:
        positions = self._allocate(txn, 1)
        txn.call_after(self._mark_finished, positions)
        txn.call_on_exception(self._mark_finished, positions)
        return self._step * positions[0]

    async def _allocate_async(self, n: int) -> list[int]:
        if not self._use_sequence:
            return self._allocate(None, n)
        desc = f"stream_id_gen_{self._table}"
        d = defer.ensureDeferred(self._db.run_autocommit(desc, self._allocate, n))
        # Ids taken for a caller that was cancelled meanwhile are finished at once, lest
        # they hold the current token back for ever.
        return await shield_from_cancellation(d, desc, on_abandoned=self._mark_finished)

    def _allocate(self, txn: LoggingTransaction | None, n: int) -> list[int]:
        """Take ``n`` positions and register them as unfinished, in increasing order."""
        with self._alloc_lock:
            if self._use_sequence:
                assert txn is not None
                txn.execute(
                    "SELECT nextval(?) FROM generate_series(1, ?)", (self._sequence_name, n)
                )
                positions = sorted(int(row[0]) for row in txn.fetchall())
            else:
                with self._state_lock:
                    start = self._max_allocated + 1
                positions = list(range(start, start + n))
            with self._state_lock:
                for p in positions:
                    heapq.heappush(self._unfinished, p)
                self._max_allocated = max(self._max_allocated, positions[-1])
        return positions

    def _mark_finished(self, positions: list[int]) -> None:
        with self._state_lock:
            before = self._current_position_locked()
            self._finished_early.update(positions)
            while self._unfinished and self._unfinished[0] in self._finished_early:
                self._finished_early.discard(heapq.heappop(self._unfinished))
            after = self._current_position_locked()
            listeners = list(self._listeners) if after != before else []
        for listener in listeners:
            try:
                listener(self._step * after)
            except Exception:
                logger.exception("Stream %s.%s: listener failed", self._table, self._column)

    # --- reading the position -----------------------------------------------------------

    def _current_position_locked(self) -> int:
        if self._unfinished:
            return self._unfinished[0] - 1
        return self._max_allocated

    def get_current_token(self) -> int:
        with self._state_lock:
            return self._step * self._current_position_locked()

    def get_current_token_for_writer(self, instance_name: str) -> int:
        return self.get_current_token()

    def add_advance_listener(self, callback: Callable[[int], object]) -> None:
        self._listeners.append(callback)
