"""Test helpers for the database: a per-test database config, and a thread pool that runs
database work at once in the calling thread under a fake reactor.

SQLite ``:memory:`` is the default. With ``SYNAPSE_POSTGRES=1`` each test gets a fresh
PostgreSQL database cloned from a template prepared once per process (host and user from
``SYNAPSE_POSTGRES_HOST``/``SYNAPSE_POSTGRES_USER``, password and port from
``SYNAPSE_POSTGRES_PASSWORD``/``SYNAPSE_POSTGRES_PORT``); drop it with
:func:`cleanup_test_database`.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import hashlib
import itertools
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

USE_POSTGRES = os.environ.get("SYNAPSE_POSTGRES", "") not in ("", "0")
POSTGRES_HOST = os.environ.get("SYNAPSE_POSTGRES_HOST", "127.0.0.1")
POSTGRES_USER = os.environ.get("SYNAPSE_POSTGRES_USER", "postgres")
POSTGRES_PASSWORD = os.environ.get("SYNAPSE_POSTGRES_PASSWORD")
POSTGRES_PORT = os.environ.get("SYNAPSE_POSTGRES_PORT")

#: Unique per process (pytest-xdist runs workers side by side) and per run.
#: The host is part of the name so that only this machine's leftovers are cleaned up
#: (process ids mean nothing on another machine or container sharing the server).
_HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_RUN_ID = f"{_HOST_TAG}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
_TEMPLATE_NAME = f"synapse_test_tmpl_{_RUN_ID}"
_counter = itertools.count()
_lock = threading.Lock()
_template_ready = False
# Background threads clone the next test's database while a test runs, and drops
# finished ones, so that a test rarely waits for either.
_admin_thread: concurrent.futures.ThreadPoolExecutor | None = None
_next_database: concurrent.futures.Future[str] | None = None


def setup_test_database_config() -> dict[str, Any]:
    """A database config dict for one test: a new SQLite ``:memory:`` database, or with
    ``SYNAPSE_POSTGRES=1`` a new PostgreSQL database with the current schema."""
    if not USE_POSTGRES:
        return {"name": "sqlite3", "args": {"database": ":memory:"}}
    global _next_database
    with _lock:
        executor = _ensure_template()
        future = _next_database or executor.submit(_clone_template)
        _next_database = executor.submit(_clone_template)
    return _postgres_config(future.result())


def cleanup_test_database(database_config: Mapping[str, Any]) -> None:
    """Drop a test database made by :func:`setup_test_database_config` (a no-op for SQLite).

    The drop happens in the background; connections still open to the database are
    ended, so a forgotten pool cannot keep it alive.
    """
    if database_config.get("name") != "psycopg2":
        return
    name = database_config["args"]["database"]
    with _lock:
        executor = _ensure_template()
        executor.submit(_admin_execute, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _clone_template() -> str:
    name = f"synapse_test_{_RUN_ID}_{next(_counter)}"
    _admin_execute(f"CREATE DATABASE {name} WITH TEMPLATE {_TEMPLATE_NAME}")
    return name


def _postgres_config(database: str) -> dict[str, Any]:
    args: dict[str, Any] = {
        "database": database,
        "user": POSTGRES_USER,
        "host": POSTGRES_HOST,
        # No test needs its commits to survive a crash of the server.
        "options": "-c synchronous_commit=off",
        "cp_min": 1,
        "cp_max": 5,
    }
    if POSTGRES_PASSWORD:
        args["password"] = POSTGRES_PASSWORD
    if POSTGRES_PORT:
        args["port"] = int(POSTGRES_PORT)
    return {"name": "psycopg2", "args": args}


def _admin_execute(sql: str) -> None:
    """Run a statement that cannot run in a transaction, on the ``postgres`` database."""
    import psycopg2

    args = _postgres_config("postgres")["args"]
    conn = psycopg2.connect(**{k: v for k, v in args.items() if not k.startswith("cp_")})
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _ensure_template() -> concurrent.futures.ThreadPoolExecutor:
    """Create and prepare this process's template database, once (call with ``_lock``)."""
    global _template_ready, _admin_thread
    if _admin_thread is not None and _template_ready:
        return _admin_thread
    from synapse.storage.database import make_conn
    from synapse.storage.engines import create_engine
    from synapse.storage.prepare_database import prepare_database

    _drop_databases_of_dead_processes()
    _admin_execute(
        f"CREATE DATABASE {_TEMPLATE_NAME} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
    )
    atexit.register(_drop_leftovers)
    engine = create_engine(_postgres_config(_TEMPLATE_NAME))
    db_conn = make_conn(engine, "prepare_template")
    try:
        prepare_database(db_conn, engine)
    finally:
        db_conn.close()
    _admin_thread = concurrent.futures.ThreadPoolExecutor(
        max_workers=2, thread_name_prefix="test-db-admin"
    )
    _template_ready = True
    return _admin_thread


def _drop_databases_of_dead_processes() -> None:
    """Drop the test databases of test runs on this machine that were killed before they
    could clean up (their names carry the host and the process id)."""
    if POSTGRES_HOST not in ("127.0.0.1", "localhost", "::1") and not POSTGRES_HOST.startswith("/"):
        return
    import psycopg2

    args = _postgres_config("postgres")["args"]
    conn = psycopg2.connect(**{k: v for k, v in args.items() if not k.startswith("cp_")})
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'synapse\\_test\\_%'")
            names = [row[0] for row in cur.fetchall()]
    finally:
        conn.close()
    for name in names:
        match = re.fullmatch(
            rf"synapse_test_(?:tmpl_)?{_HOST_TAG}_([0-9]+)_[0-9a-f]{{8}}(?:_[0-9]+)?", name
        )
        if match is None or _process_alive(int(match.group(1))):
            continue
        try:
            _admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except Exception:
            pass  # another process is dropping it too


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drop_leftovers() -> None:
    """At exit: drop the database cloned for a test that never came, and the template."""
    if _admin_thread is not None:
        _admin_thread.shutdown(wait=True)
    if _next_database is not None and _next_database.exception() is None:
        _admin_execute(f"DROP DATABASE IF EXISTS {_next_database.result()} WITH (FORCE)")
    _admin_execute(f"DROP DATABASE IF EXISTS {_TEMPLATE_NAME} WITH (FORCE)")


@dataclass
class DatabaseConfigStandIn:
    """What the storage layer reads of ``synapse.config.database.DatabaseConnectionConfig``."""

    name: str
    config: dict[str, Any]


def stand_in_homeserver_config(database_config: dict[str, Any]) -> Any:
    """A config object with only ``database.databases``: enough for ``HomeServer`` to
    build its databases in storage tests that need no other section."""
    return SimpleNamespace(
        database=SimpleNamespace(
            databases=[DatabaseConfigStandIn(database_config["name"], database_config)]
        )
    )


class FakeThreadPool:
    """Stands in for ``twisted.python.threadpool.ThreadPool``: runs every job at once in
    the calling thread, so database work finishes before ``runInteraction`` returns."""

    def __init__(self) -> None:
        self.max = 1
        self.started = True

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def callInThread(self, func: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        func(*args, **kwargs)

    def callInThreadWithCallback(
        self,
        onResult: Callable[[bool, Any], object] | None,
        func: Callable[..., object],
        *args: Any,
        **kwargs: Any,
    ) -> None:
        try:
            result: Any = func(*args, **kwargs)
            ok = True
        except BaseException:
            result = Failure()
            ok = False
        if onResult is not None:
            onResult(ok, result)


class ThreadedMemoryReactorClock(MemoryReactorClock):
    """A ``MemoryReactorClock`` with the thread API the database pool uses:
    ``getThreadPool()`` gives a :class:`FakeThreadPool` and ``callFromThread`` calls at once."""

    def __init__(self) -> None:
        super().__init__()
        self.threadpool = FakeThreadPool()

    def getThreadPool(self) -> FakeThreadPool:
        return self.threadpool

    def callFromThread(self, callable: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        callable(*args, **kwargs)

    def callInThread(self, callable: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        callable(*args, **kwargs)

    def suggestThreadPoolSize(self, size: int) -> None:
        pass
