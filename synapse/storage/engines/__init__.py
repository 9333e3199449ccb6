"""Database engines: what differs between SQLite and PostgreSQL, in one object each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from synapse.api.errors import ConfigError
from synapse.storage.engines._base import BaseDatabaseEngine, IncorrectDatabaseSetup
from synapse.storage.engines.sqlite import Sqlite3Engine

if TYPE_CHECKING:
    from synapse.storage.engines.postgres import PostgresEngine

__all__ = [
    "BaseDatabaseEngine",
    "IncorrectDatabaseSetup",
    "PostgresEngine",
    "Sqlite3Engine",
    "create_engine",
]


def create_engine(database_config: Mapping[str, Any]) -> BaseDatabaseEngine:
    """The engine for a database config dict (``{"name": "sqlite3" | "psycopg2", "args": {...}}``)."""
    name = database_config.get("name")
    if name == "sqlite3":
        return Sqlite3Engine(database_config)
    if name == "psycopg2":
        try:
            from synapse.storage.engines.postgres import PostgresEngine
        except ImportError as e:
            raise ConfigError(
                "PostgreSQL needs the psycopg2 module: pip install 'matrix-synapse-py[postgres]'"
            ) from e
        return PostgresEngine(database_config)
    raise ConfigError(
        f"Unsupported database engine {name!r}: use 'sqlite3' or 'psycopg2'", ["database", "name"]
    )


def __getattr__(name: str) -> Any:
    # PostgresEngine is imported lazily, so that psycopg2 is needed only when used.
    if name == "PostgresEngine":
        from synapse.storage.engines.postgres import PostgresEngine

        return PostgresEngine
    raise AttributeError(name)
