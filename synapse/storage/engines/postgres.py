"""PostgreSQL through psycopg2: the production database."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from synapse.storage.engines._base import BaseDatabaseEngine, IncorrectDatabaseSetup

if TYPE_CHECKING:
    from synapse.storage.database import LoggingDatabaseConnection, LoggingTransaction
    from synapse.storage.types import Connection

MIN_SERVER_VERSION = 110000

#: SQLSTATEs of errors after which the whole transaction may simply be run again.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected

_SAFE_LOCALES = frozenset({"C", "POSIX"})


class PostgresEngine(BaseDatabaseEngine):
    """PostgreSQL, one connection per concurrent transaction.

    Transactions run at REPEATABLE READ: every statement of a transaction sees the same
    snapshot, and two transactions that update the same row do not silently lose one of
    the updates; the loser gets a serialization failure instead, which the pool retries.
    READ COMMITTED would make read-then-write transactions racy for little gain.
    """

    module = psycopg2

    isolation_level = "REPEATABLE READ"

    def __init__(self, database_config: Mapping[str, Any]) -> None:
        super().__init__(database_config)
        self._version: int | None = None
        self.allow_unsafe_locale = bool(self.config.get("allow_unsafe_locale", False))

    @property
    def name(self) -> str:
        return "psycopg2"

    @property
    def single_connection(self) -> bool:
        return False

    @property
    def supports_returning(self) -> bool:
        return True

    @property
    def supports_sequences(self) -> bool:
        return True

    @property
    def server_version(self) -> str:
        if self._version is None:
            return "unknown"
        return f"{self._version // 10000}.{self._version % 10000}"

    def connect(self) -> Connection:
        return psycopg2.connect(**self.connection_args())

    def on_new_connection(self, db_conn: LoggingDatabaseConnection) -> None:
        raw = db_conn.conn
        assert isinstance(raw, psycopg2.extensions.connection)
        self._version = raw.server_version
        raw.set_client_encoding("UTF8")
        # The isolation level is set on the server session rather than through
        # psycopg2's set_session: then switching autocommit on and off (run_autocommit)
        # costs no round trip, and the implicit BEGIN stays a plain one.
        raw.autocommit = True
        with raw.cursor() as cur:
            cur.execute(
                f"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL {self.isolation_level}"
            )
        raw.autocommit = False

    def check_database(self, db_conn: LoggingDatabaseConnection) -> None:
        raw = db_conn.conn
        assert isinstance(raw, psycopg2.extensions.connection)
        if raw.server_version < MIN_SERVER_VERSION:
            raise IncorrectDatabaseSetup(
                f"PostgreSQL {self.server_version} is too old: version "
                f"{MIN_SERVER_VERSION // 10000} or later is needed."
            )
        cur = db_conn.cursor(txn_name="check_database")
        try:
            cur.execute(
                "SELECT current_database(), pg_encoding_to_char(encoding), datcollate, datctype"
                " FROM pg_database WHERE datname = current_database()"
            )
            row = cur.fetchone()
        finally:
            cur.close()
            db_conn.rollback()
        assert row is not None
        dbname, encoding, collate, ctype = row
        problems = []
        if encoding != "UTF8":
            problems.append(f"its encoding is {encoding!r}, not 'UTF8'")
        if not self.allow_unsafe_locale:
            if collate not in _SAFE_LOCALES:
                problems.append(f"its collation (LC_COLLATE) is {collate!r}, not 'C'")
            if ctype not in _SAFE_LOCALES:
                problems.append(f"its character type (LC_CTYPE) is {ctype!r}, not 'C'")
        if problems:
            raise IncorrectDatabaseSetup(
                f"The PostgreSQL database {dbname!r} cannot be used: {'; '.join(problems)}. "
                "Other locales sort text differently from one library version to the next, "
                "which corrupts indexes. Create the database with, for example:\n"
                f"    CREATE DATABASE {dbname} ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C'"
                " TEMPLATE template0 OWNER <user>;\n"
                "or, if you understand the risk, set 'allow_unsafe_locale: true' in the database config."
            )

    def begin_transaction(self, txn: LoggingTransaction) -> None:
        # psycopg2 opens a transaction before the first statement.
        pass

    def convert_param_style(self, sql: str) -> str:
        return _convert_param_style(sql)

    def is_retryable_error(self, exc: BaseException) -> bool:
        if isinstance(
            exc, (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected)
        ):
            return True
        return isinstance(exc, psycopg2.Error) and exc.pgcode in _RETRYABLE_SQLSTATES

    def is_connection_closed(self, conn: Connection) -> bool:
        return bool(getattr(conn, "closed", 0))

    def set_autocommit(self, conn: Connection, autocommit: bool) -> None:
        assert isinstance(conn, psycopg2.extensions.connection)
        conn.autocommit = autocommit

    def execute_script(self, txn: LoggingTransaction, script: str) -> None:
        # The server runs every statement of one query string, in the open transaction;
        # its own parser copes with dollar-quoted function bodies and the like. No
        # arguments, so psycopg2 leaves ``%`` and ``?`` in the script alone.
        txn.txn.execute(script)

    def in_list_clause(self, column: str, values: Collection[Any]) -> tuple[str, list[Any]]:
        # One array parameter: the same prepared SQL whatever the number of values.
        return f"{column} = ANY(?)", [list(values)]


@functools.lru_cache(maxsize=4096)
def _convert_param_style(sql: str) -> str:
    """``?`` outside quotes and comments becomes ``%s``; every ``%`` becomes ``%%``.

    The arguments are always passed to psycopg2 (an empty tuple at least), so it always
    interprets ``%``: a literal percent sign (as in ``LIKE 'a%'``) must be doubled.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":
            end = i + 1
            while True:
                end = sql.find(c, end)
                if end == -1:
                    end = n
                    break
                if end + 1 < n and sql[end + 1] == c:
                    end += 2
                    continue
                end += 1
                break
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end == -1 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)
