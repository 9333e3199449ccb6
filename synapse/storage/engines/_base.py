"""What the storage layer needs to know about a database engine, and nothing more."""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from synapse.api.errors import ConfigError

if TYPE_CHECKING:
    from synapse.storage.database import LoggingDatabaseConnection, LoggingTransaction
    from synapse.storage.types import Connection


class IncorrectDatabaseSetup(ConfigError):
    """The database cannot be used as it is set up (encoding, locale, version); start-up stops."""


class BaseDatabaseEngine(abc.ABC):
    """One database engine: how to connect, and where its SQL and its errors differ.

    Both engines accept ``INSERT ... ON CONFLICT (...) DO UPDATE/DO NOTHING``, so upserts
    are written once. SQL is written with ``?`` placeholders; :meth:`convert_param_style`
    turns them into what the driver wants.
    """

    #: The DB-API module (``sqlite3`` or ``psycopg2``): its ``IntegrityError`` etc.
    module: ModuleType

    def __init__(self, database_config: Mapping[str, Any]) -> None:
        self.config: dict[str, Any] = dict(database_config)

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The engine's name in the config: ``sqlite3`` or ``psycopg2``."""

    @property
    @abc.abstractmethod
    def single_connection(self) -> bool:
        """Whether every transaction must share one connection (and so run one at a time)."""

    @property
    @abc.abstractmethod
    def supports_returning(self) -> bool:
        """Whether ``INSERT/UPDATE/DELETE ... RETURNING`` works."""

    @property
    @abc.abstractmethod
    def supports_sequences(self) -> bool:
        """Whether the database has sequences (``nextval``)."""

    @property
    @abc.abstractmethod
    def server_version(self) -> str:
        """The database server's version, for logs."""

    def connection_args(self) -> dict[str, Any]:
        """The keyword arguments for the driver's ``connect``: ``args`` without the pool's ``cp_*``."""
        args = self.config.get("args") or {}
        return {k: v for k, v in args.items() if not k.startswith("cp_")}

    @abc.abstractmethod
    def connect(self) -> Connection:
        """Open a new driver connection (not yet set up: see :meth:`on_new_connection`)."""

    @abc.abstractmethod
    def on_new_connection(self, db_conn: LoggingDatabaseConnection) -> None:
        """Set up a freshly opened connection (pragmas, session settings)."""

    @abc.abstractmethod
    def check_database(self, db_conn: LoggingDatabaseConnection) -> None:
        """Check at start-up that the database can be used; raise :class:`IncorrectDatabaseSetup`."""

    @abc.abstractmethod
    def begin_transaction(self, txn: LoggingTransaction) -> None:
        """Open a transaction on the cursor's connection (a no-op where the driver does it)."""

    @abc.abstractmethod
    def convert_param_style(self, sql: str) -> str:
        """Turn SQL with ``?`` placeholders into the driver's parameter style."""

    @abc.abstractmethod
    def is_retryable_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a serialization failure or deadlock, so the transaction may be retried."""

    @abc.abstractmethod
    def is_connection_closed(self, conn: Connection) -> bool:
        """Whether the connection is broken and must be replaced."""

    @abc.abstractmethod
    def set_autocommit(self, conn: Connection, autocommit: bool) -> None:
        """Switch the connection in or out of autocommit mode."""

    @abc.abstractmethod
    def execute_script(self, txn: LoggingTransaction, script: str) -> None:
        """Run SQL holding several statements inside the current transaction."""

    @abc.abstractmethod
    def in_list_clause(self, column: str, values: Collection[Any]) -> tuple[str, list[Any]]:
        """``column IN (...)`` for these values: the SQL and its arguments."""
