"""Databases: the container built by hs.get_datastores(), which prepares the schema first."""

from __future__ import annotations

import tempfile
import unittest
from typing import Any, cast

from twisted.internet import defer

from synapse.api.errors import ConfigError
from synapse.server import HomeServer
from synapse.storage.database import LoggingTransaction
from synapse.storage.prepare_database import PrepareDatabaseException
from synapse.storage.schema import SCHEMA_VERSION
from tests.storage._base import DatabaseTestCase
from tests.utils import (
    DatabaseConfigStandIn,
    ThreadedMemoryReactorClock,
    cleanup_test_database,
    setup_test_database_config,
    stand_in_homeserver_config,
)


class DatabasesTestCase(DatabaseTestCase):
    def test_schema_is_prepared(self) -> None:
        self.assertIs(self.hs.get_database_pools()[0], self.db)
        rows = self.get_success(self.db.execute("version", "SELECT version FROM schema_version"))
        self.assertEqual(rows, [(SCHEMA_VERSION,)])
        # The tables of the deltas are there.
        self.get_success(self.db.execute("bookkeeping", "SELECT COUNT(*) FROM background_updates"))


class StartUpTestCase(unittest.TestCase):
    def _config(self) -> dict[str, Any]:
        config = setup_test_database_config()
        self.addCleanup(cleanup_test_database, config)
        if config["name"] == "sqlite3":
            # A database that outlives its first server.
            tmp = tempfile.TemporaryDirectory()
            self.addCleanup(tmp.cleanup)
            config = {"name": "sqlite3", "args": {"database": f"{tmp.name}/homeserver.db"}}
        return config

    def _homeserver(self, config: dict[str, Any]) -> HomeServer:
        return HomeServer(
            "test",
            stand_in_homeserver_config(config),
            reactor=cast(Any, ThreadedMemoryReactorClock()),
        )

    def test_newer_database_is_refused_at_start_up(self) -> None:
        config = self._config()
        first = self._homeserver(config)
        first.setup()
        db = first.get_datastores().main.db_pool

        def _from_the_future(txn: LoggingTransaction) -> None:
            txn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))

        d = defer.ensureDeferred(db.runInteraction("future", _from_the_future))
        self.assertTrue(d.called)
        first.get_datastores().close()

        with self.assertRaisesRegex(PrepareDatabaseException, "newer"):
            self._homeserver(config).setup()

    def test_second_start_applies_nothing(self) -> None:
        config = self._config()
        first = self._homeserver(config)
        first.setup()
        first.get_datastores().close()
        with self.assertNoLogs("synapse.storage.prepare_database", "INFO"):
            self._homeserver(config).setup()


class DatabaseConfigTestCase(unittest.TestCase):
    def test_only_one_database(self) -> None:
        config = setup_test_database_config()
        self.addCleanup(cleanup_test_database, config)
        hs_config = stand_in_homeserver_config(config)
        hs_config.database.databases.append(DatabaseConfigStandIn(config["name"], config))
        hs = HomeServer("test", hs_config, reactor=cast(Any, ThreadedMemoryReactorClock()))
        with self.assertRaisesRegex(ConfigError, "only one database"):
            hs.get_datastores()
