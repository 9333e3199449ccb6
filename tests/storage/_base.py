"""A test case with a prepared test database (SQLite, or PostgreSQL with SYNAPSE_POSTGRES=1)."""

from __future__ import annotations

import unittest
from collections.abc import Awaitable
from typing import Any, TypeVar, cast

from twisted.internet import defer
from twisted.python.failure import Failure

from synapse.server import HomeServer
from synapse.storage.database import DatabasePool
from synapse.storage.databases import Databases
from tests.utils import (
    ThreadedMemoryReactorClock,
    cleanup_test_database,
    setup_test_database_config,
    stand_in_homeserver_config,
)

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


class DatabaseTestCase(unittest.TestCase):
    """``self.hs`` on a fake reactor whose database work runs synchronously; ``self.db``
    is the main ``DatabasePool``."""

    def setUp(self) -> None:
        self.reactor = ThreadedMemoryReactorClock()
        self.db_config = setup_test_database_config()
        self.addCleanup(cleanup_test_database, self.db_config)
        self.hs = HomeServer(
            "test", stand_in_homeserver_config(self.db_config), reactor=cast(Any, self.reactor)
        )
        self.databases: Databases = self.hs.get_datastores()
        self.addCleanup(self.databases.close)
        self.db: DatabasePool = self.databases.main.db_pool
        self.db.retry_delay = 0

    @property
    def is_postgres(self) -> bool:
        return self.db.is_postgres

    def get_success(self, awaitable: Awaitable[T]) -> T:
        d: defer.Deferred[T] = defer.ensureDeferred(awaitable)  # type: ignore[arg-type]
        self.reactor.advance(0)
        self.assertTrue(d.called, "the awaitable did not complete")
        result: Any = d.result
        if isinstance(result, Failure):
            result.raiseException()
        return result

    def get_failure(self, awaitable: Awaitable[Any], exc_type: type[E]) -> E:
        d: defer.Deferred[Any] = defer.ensureDeferred(awaitable)  # type: ignore[arg-type]
        self.reactor.advance(0)
        self.assertTrue(d.called, "the awaitable did not complete")
        result = d.result
        d.addErrback(lambda _: None)
        if not isinstance(result, Failure):
            self.fail(f"expected {exc_type.__name__}, got {result!r}")
        self.assertIsInstance(result.value, exc_type)
        return result.value  # type: ignore[return-value]
