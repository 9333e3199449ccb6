"""DatabasePool on real threads: bounded concurrency, a shared SQLite connection, context vars."""

from __future__ import annotations

import contextvars
import queue
import threading
import time
import unittest
from collections.abc import Callable
from typing import Any, cast

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from synapse.server import HomeServer
from synapse.storage.database import DatabasePool, LoggingTransaction
from tests.utils import (
    cleanup_test_database,
    setup_test_database_config,
    stand_in_homeserver_config,
)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


class QueueReactor:
    """Just the reactor API the pool uses, with a real thread pool; calls from threads
    wait in a queue until the test runs them in the main thread."""

    def __init__(self) -> None:
        self.threadpool = ThreadPool(minthreads=1, maxthreads=8, name="test-db")
        self.threadpool.start()
        self.calls: queue.Queue[tuple[Callable[..., object], tuple[Any, ...]]] = queue.Queue()

    def getThreadPool(self) -> ThreadPool:
        return self.threadpool

    def callWhenRunning(self, f: Callable[..., object], *args: Any) -> None:
        """Never running: nothing to call."""

    def callFromThread(self, f: Callable[..., object], *args: Any) -> None:
        self.calls.put((f, args))

    def run_until(self, d: defer.Deferred[Any], timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while not d.called:
            f, args = self.calls.get(timeout=max(0.0, deadline - time.monotonic()))
            f(*args)
        result = d.result
        if isinstance(result, Failure):
            result.raiseException()
        return result


class ThreadedPoolTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.reactor = QueueReactor()
        self.addCleanup(self.reactor.threadpool.stop)
        config = setup_test_database_config()
        if config["name"] == "psycopg2":
            config["args"]["cp_max"] = 2
        self.addCleanup(cleanup_test_database, config)
        hs = HomeServer("test", stand_in_homeserver_config(config), reactor=cast(Any, self.reactor))
        databases = hs.get_datastores()
        self.addCleanup(databases.close)
        self.db: DatabasePool = databases.main.db_pool
        d = defer.ensureDeferred(
            self.db.runInteraction(
                "create", lambda txn: txn.execute("CREATE TABLE t (id BIGINT, who TEXT)")
            )
        )
        self.reactor.run_until(d)

    def test_concurrent_transactions(self) -> None:
        lock = threading.Lock()
        running = 0
        most = 0

        def _txn(txn: LoggingTransaction, i: int) -> str:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                txn.execute("INSERT INTO t (id, who) VALUES (?, ?)", (i, request_id.get()))
                time.sleep(0.05)
                return threading.current_thread().name
            finally:
                with lock:
                    running -= 1

        async def _one(i: int) -> str:
            request_id.set(f"req-{i}")
            return await self.db.runInteraction("concurrent", _txn, i)

        ds = [defer.ensureDeferred(_one(i)) for i in range(8)]
        thread_names = self.reactor.run_until(defer.gatherResults(ds))
        self.assertTrue(all(name != threading.current_thread().name for name in thread_names))

        rows = self.reactor.run_until(
            defer.ensureDeferred(self.db.execute("read", "SELECT id, who FROM t"))
        )
        # Every transaction committed, and saw the context of the request that started it.
        self.assertEqual(sorted(rows), [(i, f"req-{i}") for i in range(8)])
        # SQLite runs one transaction at a time on its one connection; PostgreSQL at most cp_max.
        self.assertLessEqual(most, 2 if self.db.is_postgres else 1)
        if self.db.is_postgres:
            self.assertEqual(most, 2)

    def test_cancelled_caller_still_gets_callbacks_run(self) -> None:
        started = threading.Event()
        release = threading.Event()
        after: list[str] = []

        def _slow(txn: LoggingTransaction) -> None:
            txn.execute("INSERT INTO t (id, who) VALUES (?, ?)", (1, "slow"))
            txn.call_after(after.append, "committed")
            started.set()
            release.wait(10)

        d = defer.ensureDeferred(self.db.runInteraction("slow", _slow))
        self.assertTrue(started.wait(10))
        d.cancel()
        result = d.result
        assert isinstance(result, Failure)
        self.assertTrue(result.check(defer.CancelledError))
        d.addErrback(lambda _: None)

        release.set()
        rows = self.reactor.run_until(
            defer.ensureDeferred(self.db.execute("read", "SELECT who FROM t"))
        )
        # The transaction went on and committed, and its callbacks ran.
        self.assertEqual(rows, [("slow",)])
        self.assertEqual(after, ["committed"])

    def test_cancelled_id_allocation_does_not_hold_the_token(self) -> None:
        if not self.db.is_postgres:
            self.skipTest("ids are taken without the database on SQLite")
        from synapse.storage.util.id_generators import StreamIdGenerator

        self.reactor.run_until(
            defer.ensureDeferred(
                self.db.runInteraction("seq", lambda txn: txn.execute("CREATE SEQUENCE t_seq"))
            )
        )
        gen = StreamIdGenerator(None, self.db, "t", "id", "t_seq")
        cm = gen.get_next()
        d = defer.ensureDeferred(cm.__aenter__())
        d.cancel()
        d.addErrback(lambda _: None)

        async def _next() -> int:
            async with gen.get_next() as stream_id:
                return stream_id

        second = self.reactor.run_until(defer.ensureDeferred(_next()))
        self.assertEqual(second, 2)
        self.assertEqual(gen.get_current_token(), 2)
