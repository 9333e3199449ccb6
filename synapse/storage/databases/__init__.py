"""The databases of the homeserver: their pools, and the stores that use them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from synapse.api.errors import ConfigError
from synapse.storage.database import DatabasePool, make_conn
from synapse.storage.databases.main import MainStores
from synapse.storage.engines import create_engine
from synapse.storage.prepare_database import prepare_database

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)


class Databases:
    """``main``: the stores of the main database; ``databases``: every ``DatabasePool``.

    Built by ``hs.get_datastores()``. Construction prepares each database's schema on a
    direct connection, synchronously, before the pool (which adopts that connection)
    serves any transaction.
    """

    def __init__(self, hs: HomeServer) -> None:
        configs = list(hs.config.database.databases)
        if len(configs) != 1:
            raise ConfigError(
                f"{len(configs)} databases are configured, but only one database is supported for now",
                ["databases"],
            )
        self.databases: list[DatabasePool] = []
        for database_config in configs:
            engine = create_engine(database_config.config)
            db_conn = make_conn(engine, "startup")
            try:
                prepare_database(db_conn, engine)
            except BaseException:
                db_conn.close()
                raise
            logger.info(
                "Prepared the %s database (%s %s)",
                database_config.name,
                engine.name,
                engine.server_version,
            )
            pool = DatabasePool(hs, database_config, engine, db_conn=db_conn)
            # Test reactors never run, so background updates start only in a real server.
            hs.get_reactor().callWhenRunning(pool.updates.start_doing_background_updates)
            self.databases.append(pool)

        self.main = MainStores(self.databases[0], hs)

    def close(self) -> None:
        """Close every pool's connections (tests call this before dropping a database)."""
        for pool in self.databases:
            pool.close()
