"""SQLite: the embedded default, one connection shared by every transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from synapse.storage.engines._base import BaseDatabaseEngine, IncorrectDatabaseSetup

if TYPE_CHECKING:
    from synapse.storage.database import LoggingDatabaseConnection, LoggingTransaction
    from synapse.storage.types import Connection

#: ``INSERT ... ON CONFLICT ... DO UPDATE`` needs 3.24; window functions 3.25; 3.27 is Debian 10's.
MIN_SQLITE_VERSION = (3, 27, 0)

#: How long a connection waits on a lock held by another process before "database is locked".
BUSY_TIMEOUT_MS = 10_000


class Sqlite3Engine(BaseDatabaseEngine):
    """SQLite through the standard library's ``sqlite3``.

    Connections are opened in autocommit mode (``isolation_level=None``) and transactions
    are begun explicitly with ``BEGIN``, so that DDL in a schema delta is transactional too
    (the module would otherwise only open transactions before DML).
    """

    module = sqlite3

    def __init__(self, database_config: Mapping[str, Any]) -> None:
        super().__init__(database_config)
        database = self.connection_args().get("database", ":memory:")
        self.database: str = database
        self.is_in_memory = database == ":memory:" or (
            database.startswith("file:")
            and ("mode=memory" in database or database.startswith("file::memory:"))
        )

    @property
    def name(self) -> str:
        return "sqlite3"

    @property
    def single_connection(self) -> bool:
        # One writer at a time in SQLite, and a ":memory:" database exists only on the
        # connection that created it.
        return True

    @property
    def supports_returning(self) -> bool:
        return sqlite3.sqlite_version_info >= (3, 35, 0)

    @property
    def supports_sequences(self) -> bool:
        return False

    @property
    def server_version(self) -> str:
        return sqlite3.sqlite_version

    def connect(self) -> Connection:
        args = self.connection_args()
        args.setdefault("database", ":memory:")
        if args["database"].startswith("file:"):
            args["uri"] = True
        # The one connection is used from the pool's threads in turn, never at once.
        args["check_same_thread"] = False
        args["isolation_level"] = None
        return sqlite3.connect(**args)

    def on_new_connection(self, db_conn: LoggingDatabaseConnection) -> None:
        cur = db_conn.cursor(txn_name="sqlite_setup")
        try:
            if not self.is_in_memory:
                # WAL lets readers in other processes (e.g. sqlite3 CLI, backups) work
                # alongside the server's writes.
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
        finally:
            cur.close()

    def check_database(self, db_conn: LoggingDatabaseConnection) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            wanted = ".".join(map(str, MIN_SQLITE_VERSION))
            raise IncorrectDatabaseSetup(
                f"SQLite {sqlite3.sqlite_version} is too old: version {wanted} or later is needed."
            )

    def begin_transaction(self, txn: LoggingTransaction) -> None:
        txn.execute("BEGIN")

    def convert_param_style(self, sql: str) -> str:
        return sql

    def is_retryable_error(self, exc: BaseException) -> bool:
        # Another process holds the write lock for longer than the busy timeout.
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)

    def is_connection_closed(self, conn: Connection) -> bool:
        return False

    def set_autocommit(self, conn: Connection, autocommit: bool) -> None:
        # Always in autocommit mode outside an explicit BEGIN.
        pass

    def execute_script(self, txn: LoggingTransaction, script: str) -> None:
        # ``executescript`` would commit the open transaction first, so split the script
        # into statements (``complete_statement`` knows strings, comments and triggers).
        for statement in split_sqlite_statements(script):
            txn.execute(statement)

    def in_list_clause(self, column: str, values: Collection[Any]) -> tuple[str, list[Any]]:
        if not values:
            return "1 = 0", []
        return f"{column} IN ({', '.join('?' for _ in values)})", list(values)


def split_sqlite_statements(script: str) -> list[str]:
    """Split SQL text into complete statements, leaving out blanks and comment-only parts."""
    statements = []
    current = ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if _has_code(current):
                statements.append(current.strip())
            current = ""
    if _has_code(current[:-1]):
        raise ValueError(f"SQL script ends with an incomplete statement: {current[:-1].strip()!r}")
    return statements


def _has_code(sql: str) -> bool:
    """Whether the SQL has anything besides whitespace, ``;`` and comments."""
    i, n = 0, len(sql)
    while i < n:
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
        elif sql[i].isspace() or sql[i] == ";":
            i += 1
        else:
            return True
    return False
