"""The database pool: transactions on a thread pool, with retries, logging and metrics.

Stores do ``await db.runInteraction("desc", func, *args)``: ``func(txn, *args)`` runs in a
thread, in one transaction, on a pooled connection; the ``simple_*`` helpers cover the
common single-table statements. SQL is written with ``?`` placeholders for both engines.

Running the database synchronously under a fake reactor (tests)
----------------------------------------------------------------
Blocking work goes through ``twisted.internet.threads.deferToThreadPool`` with the pool
returned by ``reactor.getThreadPool()`` of ``hs.get_reactor()``, looked up at every call.
A test reactor whose ``getThreadPool()`` returns a pool that runs each job at once in
the calling thread, and whose ``callFromThread(f, *args)`` calls ``f`` at once, makes
every ``runInteraction`` complete before it returns: ``tests.utils.FakeThreadPool`` and
``tests.utils.ThreadedMemoryReactorClock`` are exactly that. No other hook is needed.

On a real reactor the transactions share the reactor's thread pool, whose size is
raised by ``cp_max``; a ``DeferredSemaphore`` bounds the transactions in flight (and so
the connections) to ``cp_max``. SQLite always uses one connection, shared in turn.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

from prometheus_client import Counter, Histogram
from twisted.internet import defer, threads
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from synapse.api.errors import Codes, StoreError
from synapse.metrics import observe_db_transaction
from synapse.storage.engines import BaseDatabaseEngine
from synapse.util.cancellation import shield_from_cancellation as _shield_from_cancellation

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.types import Connection, Cursor

logger = logging.getLogger(__name__)
sql_logger = logging.getLogger("synapse.storage.SQL")
transaction_logger = logging.getLogger("synapse.storage.txn")

P = ParamSpec("P")
R = TypeVar("R")

#: Transactions slower than this are logged as a warning.
SLOW_TRANSACTION_SECONDS = 1.0

#: Rows per statement in ``simple_select_many``/``simple_delete_many``.
MANY_BATCH_SIZE = 500

transaction_retries = Counter(
    "synapse_storage_transaction_retries",
    "Database transactions run again after a serialization failure or deadlock, by description",
    ["desc"],
)
schedule_time = Histogram(
    "synapse_storage_schedule_time_seconds",
    "Time a transaction waited for a database connection",
)
query_time = Histogram(
    "synapse_storage_query_time_seconds",
    "Time spent in single SQL statements, by verb",
    ["verb"],
)


def _reject_nul(args: tuple[Any, ...]) -> None:
    """Refuse text holding NUL characters, which PostgreSQL cannot store, on both engines
    alike: a client that sends one gets a 400 instead of a failure deep in the driver."""
    for arg in args:
        if type(arg) is str and "\x00" in arg:
            raise StoreError(
                400, "Text may not contain NUL (U+0000) characters", Codes.INVALID_PARAM
            )


def _rows(args: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    rows = [tuple(a) for a in args]
    for row in rows:
        _reject_nul(row)
    return rows


@functools.lru_cache(maxsize=2048)
def _query_timer(sql: str) -> Any:
    """The ``query_time`` child for a statement's verb (statements are mostly constants)."""
    words = sql.split(None, 1)
    return query_time.labels(words[0].upper() if words else "EMPTY")


class ConnectionConfig(Protocol):
    """What the pool reads of a database's config (``synapse.config.database``)."""

    @property
    def name(self) -> str: ...

    @property
    def config(self) -> Mapping[str, Any]: ...


_Callback = tuple[Callable[..., object], tuple[Any, ...], dict[str, Any]]


class LoggingTransaction:
    """A cursor in one transaction: logs and times each statement, converts ``?``.

    ``call_after`` callbacks run in the reactor thread once the transaction has committed;
    ``call_on_exception`` callbacks when this attempt of it failed and was rolled back.
    """

    __slots__ = ("txn", "name", "database_engine", "after_callbacks", "exception_callbacks")

    def __init__(
        self,
        txn: Cursor,
        name: str,
        database_engine: BaseDatabaseEngine,
        after_callbacks: list[_Callback] | None = None,
        exception_callbacks: list[_Callback] | None = None,
    ) -> None:
        self.txn = txn
        self.name = name
        self.database_engine = database_engine
        self.after_callbacks = after_callbacks
        self.exception_callbacks = exception_callbacks

    def call_after(self, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Call ``callback(*args, **kwargs)`` in the reactor thread after a successful commit."""
        if self.after_callbacks is None:
            raise RuntimeError("call_after is only available inside runInteraction")
        self.after_callbacks.append((callback, args, kwargs))

    def call_on_exception(self, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Call ``callback(*args, **kwargs)`` in the reactor thread if this attempt fails."""
        if self.exception_callbacks is None:
            raise RuntimeError("call_on_exception is only available inside runInteraction")
        self.exception_callbacks.append((callback, args, kwargs))

    def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        """Run one statement with ``?`` placeholders."""
        converted = self.database_engine.convert_param_style(sql)
        self._log(sql, args)
        args = tuple(args)
        _reject_nul(args)
        self._timed(sql, self.txn.execute, converted, args)

    def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per argument sequence."""
        converted = self.database_engine.convert_param_style(sql)
        self._log(sql, None)
        self._timed(sql, self.txn.executemany, converted, _rows(args))

    def execute_batch(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        """Like ``executemany``, in few round trips on PostgreSQL (``psycopg2.extras.execute_batch``)."""
        if self.database_engine.name != "psycopg2":
            self.executemany(sql, args)
            return
        from psycopg2.extras import execute_batch

        converted = self.database_engine.convert_param_style(sql)
        self._log(sql, None)
        self._timed(sql, execute_batch, self.txn, converted, _rows(args))

    def execute_values(
        self,
        sql: str,
        values: Iterable[Sequence[Any]],
        template: str | None = None,
        fetch: bool = True,
    ) -> list[tuple[Any, ...]]:
        """PostgreSQL only: ``INSERT ... VALUES ?`` with all the rows in one statement.

        The single ``?`` after ``VALUES`` stands for the whole list of rows. Returns the
        rows of a ``RETURNING`` clause when ``fetch`` is true.
        """
        if self.database_engine.name != "psycopg2":
            raise NotImplementedError("execute_values is only available on PostgreSQL")
        from psycopg2.extras import execute_values

        converted = self.database_engine.convert_param_style(sql)
        self._log(sql, None)
        rows = self._timed(
            sql,
            execute_values,
            self.txn,
            converted,
            _rows(values),
            template=template,
            fetch=fetch,
        )
        return list(rows) if fetch and rows is not None else []

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.txn.fetchone()

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        return self.txn.fetchmany(size)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.txn.fetchall()

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.txn)

    @property
    def rowcount(self) -> int:
        return self.txn.rowcount

    @property
    def description(self) -> Any:
        return self.txn.description

    def close(self) -> None:
        self.txn.close()

    def _log(self, sql: str, args: Sequence[Any] | None) -> None:
        if sql_logger.isEnabledFor(logging.DEBUG):
            sql_logger.debug("[SQL] {%s} %s", self.name, " ".join(sql.split()))
            if args:
                sql_logger.debug("[SQL values] {%s} %r", self.name, args)

    def _timed(self, sql: str, f: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        start = time.perf_counter()
        try:
            return f(*args, **kwargs)
        except Exception as e:
            sql_logger.debug("[SQL FAIL] {%s} %s", self.name, e)
            raise
        finally:
            _query_timer(sql).observe(time.perf_counter() - start)


class LoggingDatabaseConnection:
    """A driver connection with the engine it belongs to; its cursors are :class:`LoggingTransaction`."""

    __slots__ = ("conn", "engine", "default_txn_name", "transactions")

    def __init__(self, conn: Connection, engine: BaseDatabaseEngine, default_txn_name: str) -> None:
        self.conn = conn
        self.engine = engine
        self.default_txn_name = default_txn_name
        #: Transactions run on this connection (for ``txn_limit``).
        self.transactions = 0

    def cursor(
        self,
        *,
        txn_name: str | None = None,
        after_callbacks: list[_Callback] | None = None,
        exception_callbacks: list[_Callback] | None = None,
    ) -> LoggingTransaction:
        return LoggingTransaction(
            self.conn.cursor(),
            txn_name or self.default_txn_name,
            self.engine,
            after_callbacks,
            exception_callbacks,
        )

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


def make_conn(engine: BaseDatabaseEngine, default_txn_name: str) -> LoggingDatabaseConnection:
    """Open and set up a new connection to the engine's database."""
    db_conn = LoggingDatabaseConnection(engine.connect(), engine, default_txn_name)
    try:
        engine.on_new_connection(db_conn)
    except BaseException:
        db_conn.close()
        raise
    return db_conn


def pool_limits(database_config: Mapping[str, Any], engine: BaseDatabaseEngine) -> tuple[int, int]:
    """``(cp_min, cp_max)`` from ``args`` (or the top level) of a database config dict."""
    if engine.single_connection:
        return 1, 1
    args = database_config.get("args") or {}
    cp_max = max(1, int(args.get("cp_max", database_config.get("cp_max", 10))))
    cp_min = min(cp_max, max(0, int(args.get("cp_min", database_config.get("cp_min", 5)))))
    return cp_min, cp_max


def _where_clause(keyvalues: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """``WHERE a = ? AND b IS NULL`` for ``{"a": 1, "b": None}`` (empty when no keys)."""
    if not keyvalues:
        return "", []
    clauses = []
    args = []
    for column, value in keyvalues.items():
        if value is None:
            clauses.append(f"{column} IS NULL")
        else:
            clauses.append(f"{column} = ?")
            args.append(value)
    return " WHERE " + " AND ".join(clauses), args


class DatabasePool:
    """Connections to one database, and transactions run on them in threads.

    Table and column names given to the ``simple_*`` helpers are put into the SQL as they
    are: they must come from the code, never from users. ``None`` in ``keyvalues`` matches
    ``IS NULL``.
    """

    #: How many times a transaction is run again after a serialization failure/deadlock.
    retry_limit = 5
    #: Seconds slept before the n-th retry, times n.
    retry_delay = 0.01

    def __init__(
        self,
        hs: HomeServer,
        database_config: ConnectionConfig,
        engine: BaseDatabaseEngine,
        *,
        db_conn: LoggingDatabaseConnection | None = None,
    ) -> None:
        """``db_conn``, if given, is an open connection (e.g. the one the schema was
        prepared on) that the pool adopts; a SQLite ``:memory:`` database lives on it."""
        self.hs = hs
        self._reactor = hs.get_reactor()
        self.database_config = database_config
        self.engine = engine
        self.is_postgres = engine.name == "psycopg2"
        self.name = database_config.name
        self._cp_min, self._cp_max = pool_limits(database_config.config, engine)
        # Replace a connection after this many transactions (0: never), which bounds
        # what a driver or server may hold per connection. A ":memory:" database cannot.
        self._txn_limit = int(database_config.config.get("txn_limit") or 0)
        if getattr(engine, "is_in_memory", False):
            self._txn_limit = 0

        self._conn_lock = threading.Lock()
        self._idle: list[LoggingDatabaseConnection] = []
        self._open_connections = 0
        self._closed = False
        self._limiter = defer.DeferredSemaphore(self._cp_max)
        self._txn_ids = itertools.count(1)

        if db_conn is not None:
            self._idle.append(db_conn)
            self._open_connections = 1
        while self._open_connections < self._cp_min:
            self._idle.append(make_conn(engine, "pool"))
            self._open_connections += 1

        from synapse.storage.background_updates import BackgroundUpdater

        self.updates: BackgroundUpdater = BackgroundUpdater(hs, self)

        threadpool = self._reactor.getThreadPool()
        if isinstance(threadpool, ThreadPool) and hasattr(self._reactor, "suggestThreadPoolSize"):
            self._reactor.suggestThreadPoolSize(threadpool.max + self._cp_max)

    # --- running work -------------------------------------------------------------------

    async def runInteraction(
        self,
        desc: str,
        func: Callable[Concatenate[LoggingTransaction, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run ``func(txn, *args, **kwargs)`` in one transaction, retrying it on
        serialization failures and deadlocks; any exception rolls it back."""
        return await self._run_interaction(desc, False, func, *args, **kwargs)

    async def run_autocommit(
        self,
        desc: str,
        func: Callable[Concatenate[LoggingTransaction, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Like :meth:`runInteraction`, but each statement commits at once, saving the
        round trips of ``BEGIN``/``COMMIT`` on PostgreSQL: only for a single statement,
        or statements that need not be atomic together."""
        return await self._run_interaction(desc, True, func, *args, **kwargs)

    async def _run_interaction(
        self,
        desc: str,
        autocommit: bool,
        func: Callable[Concatenate[LoggingTransaction, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        after_callbacks: list[_Callback] = []
        exception_callbacks: list[_Callback] = []

        def _finished(result: Any) -> Any:
            if not isinstance(result, Failure):
                _run_callbacks(desc, after_callbacks)
            # Those of the failed transaction, or of attempts that were retried.
            _run_callbacks(desc, exception_callbacks)
            return result

        work: defer.Deferred[R] = defer.ensureDeferred(
            self.runWithConnection(
                self._new_transaction,
                desc,
                autocommit,
                after_callbacks,
                exception_callbacks,
                func,
                *args,
                **kwargs,
            )
        )
        # The callbacks run when the transaction ends, even if the caller has been
        # cancelled meanwhile: a committed transaction's cache invalidations and stream
        # positions must not be lost.
        work.addBoth(_finished)
        return await shield_from_cancellation(work, desc)

    async def runWithConnection(
        self,
        func: Callable[Concatenate[LoggingDatabaseConnection, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run ``func(conn, *args, **kwargs)`` in a thread with a connection of the pool."""
        if self._closed:
            raise RuntimeError(f"The database pool {self.name!r} is closed")
        queued_at = time.perf_counter()
        context = contextvars.copy_context()

        def in_thread() -> R:
            schedule_time.observe(time.perf_counter() - queued_at)
            conn = self._take_connection()
            try:
                return func(conn, *args, **kwargs)
            finally:
                self._return_connection(conn)

        async with self._limiter:
            return await threads.deferToThreadPool(
                self._reactor, self._reactor.getThreadPool(), context.run, in_thread
            )

    def new_transaction(
        self,
        conn: LoggingDatabaseConnection,
        desc: str,
        after_callbacks: list[_Callback],
        exception_callbacks: list[_Callback],
        func: Callable[Concatenate[LoggingTransaction, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run ``func`` in a transaction on ``conn`` (in the calling thread), with retries."""
        return self._new_transaction(
            conn, desc, False, after_callbacks, exception_callbacks, func, *args, **kwargs
        )

    def _new_transaction(
        self,
        conn: LoggingDatabaseConnection,
        desc: str,
        autocommit: bool,
        after_callbacks: list[_Callback],
        exception_callbacks: list[_Callback],
        func: Callable[Concatenate[LoggingTransaction, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        if autocommit:
            self.engine.set_autocommit(conn.conn, True)
        try:
            return self._run_with_retries(
                conn, desc, autocommit, after_callbacks, exception_callbacks, func, *args, **kwargs
            )
        finally:
            if autocommit and not self.engine.is_connection_closed(conn.conn):
                self.engine.set_autocommit(conn.conn, False)

    def _run_with_retries(
        self,
        conn: LoggingDatabaseConnection,
        desc: str,
        autocommit: bool,
        after_callbacks: list[_Callback],
        exception_callbacks: list[_Callback],
        func: Callable[Concatenate[LoggingTransaction, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        name = f"{desc}-{next(self._txn_ids)}"
        conn.transactions += 1
        start = time.perf_counter()
        try:
            for attempt in itertools.count():
                attempt_after: list[_Callback] = []
                attempt_exception: list[_Callback] = []
                txn = conn.cursor(
                    txn_name=name,
                    after_callbacks=attempt_after,
                    exception_callbacks=attempt_exception,
                )
                try:
                    if not autocommit:
                        self.engine.begin_transaction(txn)
                    result = func(txn, *args, **kwargs)
                    conn.commit()
                    after_callbacks.extend(attempt_after)
                    return result
                except BaseException as e:
                    exception_callbacks.extend(attempt_exception)
                    try:
                        conn.rollback()
                    except Exception:
                        transaction_logger.warning(
                            "[TXN] {%s} rollback failed", name, exc_info=True
                        )
                    if attempt < self.retry_limit and self.engine.is_retryable_error(e):
                        transaction_logger.warning(
                            "[TXN RETRY] {%s} %s (attempt %d)", name, e, attempt + 1
                        )
                        transaction_retries.labels(desc).inc()
                        time.sleep(self.retry_delay * (attempt + 1))
                        continue
                    raise
                finally:
                    _close_cursor_quietly(txn)
            raise AssertionError("unreachable")
        finally:
            duration = time.perf_counter() - start
            observe_db_transaction(desc, duration)
            if duration > SLOW_TRANSACTION_SECONDS:
                transaction_logger.warning("[TXN SLOW] {%s} took %.3f s", name, duration)
            else:
                transaction_logger.debug("[TXN END] {%s} %.3f s", name, duration)

    async def execute(self, desc: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Run one statement (committed at once) and return all its rows."""

        def _execute(txn: LoggingTransaction) -> list[tuple[Any, ...]]:
            txn.execute(sql, args)
            return txn.fetchall()

        return await self.run_autocommit(desc, _execute)

    @contextlib.contextmanager
    def startup_connection(self) -> Iterator[LoggingDatabaseConnection]:
        """Borrow a connection synchronously, in the calling thread, for start-up reads
        (e.g. an id generator's current position) before the pool serves transactions."""
        conn = self._take_connection()
        try:
            yield conn
        finally:
            self._return_connection(conn)

    def close(self) -> None:
        """Close the idle connections now, and the busy ones when they are given back."""
        with self._conn_lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open_connections -= len(idle)
        for conn in idle:
            _close_quietly(conn)

    def _take_connection(self) -> LoggingDatabaseConnection:
        with self._conn_lock:
            if self._idle:
                return self._idle.pop()
            if self._closed:
                raise RuntimeError(f"The database pool {self.name!r} is closed")
            if self.engine.single_connection and self._open_connections:
                # A second connection to a ":memory:" database would be another database.
                raise RuntimeError(
                    f"The one connection of the database pool {self.name!r} is in use"
                )
            self._open_connections += 1
        try:
            return make_conn(self.engine, "pool")
        except BaseException:
            with self._conn_lock:
                self._open_connections -= 1
            raise

    def _return_connection(self, conn: LoggingDatabaseConnection) -> None:
        broken = self.engine.is_connection_closed(conn.conn)
        if self._txn_limit and conn.transactions >= self._txn_limit:
            broken = True
        if not broken:
            try:
                # Leave no transaction open (a no-op after a commit).
                conn.rollback()
            except Exception:
                logger.warning("A database connection failed to roll back", exc_info=True)
                # The only connection of a SQLite database is kept: for ":memory:" it
                # is the database.
                broken = not self.engine.single_connection
        with self._conn_lock:
            if not broken and not self._closed:
                self._idle.append(conn)
                return
            self._open_connections -= 1
        _close_quietly(conn)

    # --- simple single-table helpers ----------------------------------------------------

    async def simple_insert(
        self,
        table: str,
        values: Mapping[str, Any],
        desc: str = "simple_insert",
        or_ignore: bool = False,
    ) -> bool:
        """Insert one row. With ``or_ignore``, a row that clashes with a unique key is
        skipped instead of raising ``IntegrityError``. Returns whether a row was inserted."""
        return await self.run_autocommit(desc, self.simple_insert_txn, table, values, or_ignore)

    @staticmethod
    def simple_insert_txn(
        txn: LoggingTransaction, table: str, values: Mapping[str, Any], or_ignore: bool = False
    ) -> bool:
        columns = ", ".join(values)
        placeholders = ", ".join("?" for _ in values)
        suffix = " ON CONFLICT DO NOTHING" if or_ignore else ""
        txn.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders}){suffix}",
            list(values.values()),
        )
        return txn.rowcount != 0

    async def simple_insert_many(
        self,
        table: str,
        keys: Collection[str],
        values: Collection[Iterable[Any]],
        desc: str = "simple_insert_many",
    ) -> None:
        """Insert many rows: ``values`` holds one sequence per row, in the order of ``keys``."""
        if not values:
            return
        await self.runInteraction(desc, self.simple_insert_many_txn, table, keys, values)

    @staticmethod
    def simple_insert_many_txn(
        txn: LoggingTransaction, table: str, keys: Collection[str], values: Iterable[Iterable[Any]]
    ) -> None:
        rows = [tuple(row) for row in values]
        if not rows:
            return
        columns = ", ".join(keys)
        if txn.database_engine.name == "psycopg2":
            txn.execute_values(f"INSERT INTO {table} ({columns}) VALUES ?", rows, fetch=False)
        else:
            placeholders = ", ".join("?" for _ in keys)
            txn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows)

    async def simple_upsert(
        self,
        table: str,
        keyvalues: Mapping[str, Any],
        values: Mapping[str, Any],
        insertion_values: Mapping[str, Any] | None = None,
        desc: str = "simple_upsert",
    ) -> None:
        """Insert the row, or update ``values`` of the row matching ``keyvalues``.

        ``keyvalues`` must be the columns of a unique index or primary key.
        ``insertion_values`` are only written when the row is new.
        """
        await self.run_autocommit(
            desc, self.simple_upsert_txn, table, keyvalues, values, insertion_values
        )

    @staticmethod
    def simple_upsert_txn(
        txn: LoggingTransaction,
        table: str,
        keyvalues: Mapping[str, Any],
        values: Mapping[str, Any],
        insertion_values: Mapping[str, Any] | None = None,
    ) -> None:
        row = {**keyvalues, **(insertion_values or {}), **values}
        columns = ", ".join(row)
        placeholders = ", ".join("?" for _ in row)
        if values:
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in values)
            action = f"DO UPDATE SET {updates}"
        else:
            action = "DO NOTHING"
        txn.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) ON CONFLICT ({', '.join(keyvalues)}) {action}",
            list(row.values()),
        )

    async def simple_select_one(
        self,
        table: str,
        keyvalues: Mapping[str, Any],
        retcols: Collection[str],
        allow_none: bool = False,
        desc: str = "simple_select_one",
    ) -> tuple[Any, ...] | None:
        """The ``retcols`` of the row matching ``keyvalues``; ``StoreError(404)`` if there is
        none, unless ``allow_none`` (then ``None``)."""
        return await self.run_autocommit(
            desc, self.simple_select_one_txn, table, keyvalues, retcols, allow_none
        )

    @staticmethod
    def simple_select_one_txn(
        txn: LoggingTransaction,
        table: str,
        keyvalues: Mapping[str, Any],
        retcols: Collection[str],
        allow_none: bool = False,
    ) -> tuple[Any, ...] | None:
        where, args = _where_clause(keyvalues)
        txn.execute(f"SELECT {', '.join(retcols)} FROM {table}{where}", args)
        row = txn.fetchone()
        if row is None and not allow_none:
            raise StoreError(404, "No row found")
        return None if row is None else tuple(row)

    async def simple_select_one_onecol(
        self,
        table: str,
        keyvalues: Mapping[str, Any],
        retcol: str,
        allow_none: bool = False,
        desc: str = "simple_select_one_onecol",
    ) -> Any:
        """One column of the row matching ``keyvalues`` (``StoreError(404)``/``None`` as above)."""
        return await self.run_autocommit(
            desc, self.simple_select_one_onecol_txn, table, keyvalues, retcol, allow_none
        )

    @staticmethod
    def simple_select_one_onecol_txn(
        txn: LoggingTransaction,
        table: str,
        keyvalues: Mapping[str, Any],
        retcol: str,
        allow_none: bool = False,
    ) -> Any:
        row = DatabasePool.simple_select_one_txn(txn, table, keyvalues, (retcol,), allow_none)
        return None if row is None else row[0]

    async def simple_select_onecol(
        self,
        table: str,
        keyvalues: Mapping[str, Any],
        retcol: str,
        desc: str = "simple_select_onecol",
    ) -> list[Any]:
        """One column of every row matching ``keyvalues``."""
        return await self.run_autocommit(
            desc, self.simple_select_onecol_txn, table, keyvalues, retcol
        )

    @staticmethod
    def simple_select_onecol_txn(
        txn: LoggingTransaction, table: str, keyvalues: Mapping[str, Any], retcol: str
    ) -> list[Any]:
        where, args = _where_clause(keyvalues)
        txn.execute(f"SELECT {retcol} FROM {table}{where}", args)
        return [row[0] for row in txn.fetchall()]

    async def simple_select_list(
        self,
        table: str,
        keyvalues: Mapping[str, Any] | None,
        retcols: Collection[str],
        desc: str = "simple_select_list",
    ) -> list[tuple[Any, ...]]:
        """The ``retcols`` of every row matching ``keyvalues`` (every row if ``None``)."""
        return await self.run_autocommit(
            desc, self.simple_select_list_txn, table, keyvalues, retcols
        )

    @staticmethod
    def simple_select_list_txn(
        txn: LoggingTransaction,
        table: str,
        keyvalues: Mapping[str, Any] | None,
        retcols: Collection[str],
    ) -> list[tuple[Any, ...]]:
        where, args = _where_clause(keyvalues or {})
        txn.execute(f"SELECT {', '.join(retcols)} FROM {table}{where}", args)
        return [tuple(row) for row in txn.fetchall()]

    async def simple_select_many(
        self,
        table: str,
        column: str,
        values: Collection[Any],
        keyvalues: Mapping[str, Any],
        retcols: Collection[str],
        desc: str = "simple_select_many",
    ) -> list[tuple[Any, ...]]:
        """The ``retcols`` of the rows whose ``column`` is one of ``values`` and that match ``keyvalues``."""
        if not values:
            return []
        return await self.runInteraction(
            desc, self.simple_select_many_txn, table, column, values, keyvalues, retcols
        )

    @staticmethod
    def simple_select_many_txn(
        txn: LoggingTransaction,
        table: str,
        column: str,
        values: Collection[Any],
        keyvalues: Mapping[str, Any],
        retcols: Collection[str],
    ) -> list[tuple[Any, ...]]:
        results: list[tuple[Any, ...]] = []
        values = list(values)
        for i in range(0, len(values), MANY_BATCH_SIZE):
            in_sql, in_args = txn.database_engine.in_list_clause(
                column, values[i : i + MANY_BATCH_SIZE]
            )
            where, args = _where_clause(keyvalues)
            where = f"{where} AND {in_sql}" if where else f" WHERE {in_sql}"
            txn.execute(f"SELECT {', '.join(retcols)} FROM {table}{where}", [*args, *in_args])
            results.extend(tuple(row) for row in txn.fetchall())
        return results

    async def simple_update(
        self,
        table: str,
        keyvalues: Mapping[str, Any],
        updatevalues: Mapping[str, Any],
        desc: str = "simple_update",
    ) -> int:
        """Set ``updatevalues`` on the rows matching ``keyvalues``; returns how many rows."""
        return await self.run_autocommit(
            desc, self.simple_update_txn, table, keyvalues, updatevalues
        )

    @staticmethod
    def simple_update_txn(
        txn: LoggingTransaction,
        table: str,
        keyvalues: Mapping[str, Any],
        updatevalues: Mapping[str, Any],
    ) -> int:
        if not keyvalues:
            raise ValueError("simple_update needs keyvalues; write the SQL to update a whole table")
        if not updatevalues:
            raise ValueError("simple_update needs updatevalues")
        where, args = _where_clause(keyvalues)
        sets = ", ".join(f"{c} = ?" for c in updatevalues)
        txn.execute(f"UPDATE {table} SET {sets}{where}", [*updatevalues.values(), *args])
        return txn.rowcount

    async def simple_update_one(
        self,
        table: str,
        keyvalues: Mapping[str, Any],
        updatevalues: Mapping[str, Any],
        desc: str = "simple_update_one",
    ) -> None:
        """Update exactly one row: ``StoreError(404)`` if none matches (and nothing changes
        if several do: ``StoreError(500)``)."""
        await self.runInteraction(desc, self.simple_update_one_txn, table, keyvalues, updatevalues)

    @staticmethod
    def simple_update_one_txn(
        txn: LoggingTransaction,
        table: str,
        keyvalues: Mapping[str, Any],
        updatevalues: Mapping[str, Any],
    ) -> None:
        count = DatabasePool.simple_update_txn(txn, table, keyvalues, updatevalues)
        if count == 0:
            raise StoreError(404, "No row found")
        if count > 1:
            raise StoreError(500, f"More than one row matched ({table})")

    async def simple_delete(
        self, table: str, keyvalues: Mapping[str, Any], desc: str = "simple_delete"
    ) -> int:
        """Delete the rows matching ``keyvalues``; returns how many."""
        return await self.run_autocommit(desc, self.simple_delete_txn, table, keyvalues)

    @staticmethod
    def simple_delete_txn(txn: LoggingTransaction, table: str, keyvalues: Mapping[str, Any]) -> int:
        if not keyvalues:
            raise ValueError("simple_delete needs keyvalues; write the SQL to empty a whole table")
        where, args = _where_clause(keyvalues)
        txn.execute(f"DELETE FROM {table}{where}", args)
        return txn.rowcount

    async def simple_delete_one(
        self, table: str, keyvalues: Mapping[str, Any], desc: str = "simple_delete_one"
    ) -> None:
        """Delete exactly one row: ``StoreError(404)`` if none matches, ``500`` if several."""
        await self.runInteraction(desc, self.simple_delete_one_txn, table, keyvalues)

    @staticmethod
    def simple_delete_one_txn(
        txn: LoggingTransaction, table: str, keyvalues: Mapping[str, Any]
    ) -> None:
        count = DatabasePool.simple_delete_txn(txn, table, keyvalues)
        if count == 0:
            raise StoreError(404, "No row found")
        if count > 1:
            raise StoreError(500, f"More than one row matched ({table})")

    async def simple_delete_many(
        self,
        table: str,
        column: str,
        values: Collection[Any],
        keyvalues: Mapping[str, Any],
        desc: str = "simple_delete_many",
    ) -> int:
        """Delete the rows whose ``column`` is one of ``values`` and that match ``keyvalues``."""
        if not values:
            return 0
        return await self.runInteraction(
            desc, self.simple_delete_many_txn, table, column, values, keyvalues
        )

    @staticmethod
    def simple_delete_many_txn(
        txn: LoggingTransaction,
        table: str,
        column: str,
        values: Collection[Any],
        keyvalues: Mapping[str, Any],
    ) -> int:
        deleted = 0
        values = list(values)
        for i in range(0, len(values), MANY_BATCH_SIZE):
            in_sql, in_args = txn.database_engine.in_list_clause(
                column, values[i : i + MANY_BATCH_SIZE]
            )
            where, args = _where_clause(keyvalues)
            where = f"{where} AND {in_sql}" if where else f" WHERE {in_sql}"
            txn.execute(f"DELETE FROM {table}{where}", [*args, *in_args])
            deleted += txn.rowcount
        return deleted


def shield_from_cancellation(
    d: defer.Deferred[R], desc: str, on_abandoned: Callable[[R], object] | None = None
) -> defer.Deferred[R]:
    """A Deferred with ``d``'s result, whose cancellation leaves ``d`` running.

    A transaction already handed to a thread cannot be stopped. If the waiter is
    cancelled, ``d``'s eventual result goes to ``on_abandoned`` (a failure is logged).
    """

    def _abandoned(result: R | Failure) -> None:
        if isinstance(result, Failure):
            logger.info(
                "Transaction %r failed after its caller was cancelled: %s", desc, result.value
            )
        elif on_abandoned is not None:
            on_abandoned(result)

    return _shield_from_cancellation(d, _abandoned)


def _run_callbacks(desc: str, callbacks: list[_Callback]) -> None:
    for callback, args, kwargs in callbacks:
        try:
            callback(*args, **kwargs)
        except Exception:
            logger.exception("Callback of transaction %r failed", desc)


def _close_cursor_quietly(txn: LoggingTransaction) -> None:
    try:
        txn.close()
    except Exception:
        logger.debug("Error closing a cursor", exc_info=True)


def _close_quietly(conn: LoggingDatabaseConnection) -> None:
    try:
        conn.close()
    except Exception:
        logger.debug("Error closing a database connection", exc_info=True)
