"""``synapse_port_db``: copy a homeserver's SQLite database into a PostgreSQL database.

    synapse_port_db --sqlite-database homeserver.db --postgres-config homeserver-postgres.yaml

The PostgreSQL database gets the code's own schema (``prepare_database``), then every
table's rows from SQLite, in batches, in rowid (or primary key) order, converted where the
engines differ; last, every sequence is moved past the rows that use it, so that the
homeserver carries on with the right stream positions and state group ids.

An interrupted port resumes where it stopped: the position reached in each table is
recorded in ``port_progress`` in the PostgreSQL database, in the transaction that copies
the batch. Without ``port_progress``, a target that holds data is refused.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TextIO, cast

import yaml

from synapse.api.errors import ConfigError
from synapse.config.database import DatabaseConfig, DatabaseConnectionConfig
from synapse.storage.database import LoggingDatabaseConnection, LoggingTransaction, make_conn
from synapse.storage.engines import Sqlite3Engine, create_engine
from synapse.storage.prepare_database import SCHEMA_ROOT, find_deltas, prepare_database
from synapse.storage.schema import SCHEMA_VERSION

logger = logging.getLogger("synapse_port_db")

#: Tables that ``prepare_database`` fills itself on the target: never copied.
BOOKKEEPING_TABLES = frozenset({"schema_version", "applied_schema_deltas"})

#: Kept as ``prepare_database`` fills it on the target, not copied: the background
#: updates of the schema, which the homeserver then runs on PostgreSQL (e.g. to build an
#: index that the SQLite database has already built for itself).
TARGET_TABLES = frozenset({"background_updates"})

#: Where the port has got to, per table (in the PostgreSQL database).
PROGRESS_TABLE = "port_progress"

#: Sequences taken from directly rather than through a ``StreamIdGenerator`` of a store:
#: sequence -> (table, column). The generators' sequences are found from the stores.
OTHER_SEQUENCES: dict[str, tuple[str, str]] = {
    "state_group_id_seq": ("state_groups", "id"),
}

#: Seconds between two progress lines of one table.
_REPORT_EVERY = 2.0

#: How many offending rows a NUL report names.
_MAX_REPORTED = 20


class PortError(Exception):
    """The port cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class SequenceUse:
    """A PostgreSQL sequence and the column whose values it hands out (``step`` -1: negative)."""

    sequence: str
    table: str
    column: str
    step: int = 1


@dataclass
class TableCopy:
    """How one table is read from SQLite and written to PostgreSQL."""

    name: str
    columns: list[str]
    #: ``["rowid"]``, or the primary key columns of a WITHOUT ROWID table.
    key: list[str]
    #: PostgreSQL type (``information_schema`` data_type) of each column.
    pg_types: dict[str, str]

    @property
    def key_sql(self) -> str:
        """The key columns for SQL (``rowid`` bare: quoted, it could read as a string)."""
        return ", ".join(k if k == "rowid" else f'"{k}"' for k in self.key)


@dataclass
class PortSummary:
    """What a port did, for the final report."""

    rows_by_table: dict[str, int] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)
    resumed: bool = False
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows_by_table.values())


def _load_config(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except OSError as e:
        raise PortError(f"Cannot read the config file {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise PortError(f"The config file {path} is not valid YAML: {e}") from e


def read_postgres_config(path: str) -> DatabaseConnectionConfig:
    """The PostgreSQL database of a homeserver config file (``database`` or ``databases.main``)."""
    config = _load_config(path)
    if not isinstance(config, dict) or ("database" not in config and "databases" not in config):
        raise PortError(
            f"The config file {path} must have a 'database' (or 'databases') section"
            " describing the PostgreSQL database"
        )
    section = DatabaseConfig()
    try:
        section.read_config(config, os.path.dirname(os.path.abspath(path)), "")
    except ConfigError as e:
        raise PortError(f"The database config in {path} is invalid: {e}") from e
    databases = section.databases
    main = next((d for d in databases if "main" in d.data_stores), databases[0])
    if main.name != "psycopg2":
        raise PortError(
            f"The database configured in {path} uses {main.name!r}: it must be 'psycopg2' (PostgreSQL)"
        )
    return main


class Porter:
    """One port from a SQLite file into a PostgreSQL database; ``run()`` does it all."""

    def __init__(
        self,
        sqlite_path: str,
        pg_config: DatabaseConnectionConfig,
        *,
        batch_size: int = 1000,
        out: TextIO | None = None,
        server_name: str = "localhost",
    ) -> None:
        self.sqlite_path = sqlite_path
        self.pg_config = pg_config
        self.batch_size = batch_size
        #: Where progress goes (stdout when None).
        self.out = out
        self.server_name = server_name
        #: Called after each batch is committed (tests use it to interrupt a port).
        self.after_batch: Callable[[str, int], None] | None = None

    def say(self, message: str) -> None:
        print(message, file=self.out or sys.stdout, flush=True)

    def run(self) -> PortSummary:
        start = time.monotonic()
        summary = PortSummary()
        sqlite_conn = self._open_sqlite()
        try:
            self._check_sqlite_schema(sqlite_conn)
            self._refuse_pending_background_updates(sqlite_conn)
            engine = create_engine(self.pg_config.config)
            try:
                pg = make_conn(engine, "port_db")
            except engine.module.Error as e:
                raise PortError(f"Cannot connect to PostgreSQL: {str(e).strip()}") from e
            try:
                engine.check_database(pg)
                # Each batch commits with its progress, so a commit lost in a crash of
                # the server is redone on resume: no need to wait for each to reach disk.
                # The last commit (the sequences) is made durable, and everything with it.
                _run(pg, lambda txn: txn.execute("SET synchronous_commit TO off"))
                summary.resumed = _table_exists(pg, PROGRESS_TABLE)
                if not summary.resumed:
                    self._refuse_non_empty_target(pg)
                self.say("Preparing the PostgreSQL schema...")
                prepare_database(pg, engine)
                _run(pg, _create_progress_table)
                sequences = self._find_sequences(pg)
                tables = self._plan_tables(sqlite_conn, pg)
                self._refuse_nul_text(sqlite_conn, tables)
                if summary.resumed:
                    self.say("Resuming the port recorded in port_progress.")
                self.say(f"Copying {len(tables)} tables in batches of {self.batch_size} rows...")
                for table in tables:
                    summary.rows_by_table[table.name] = self._copy_table(sqlite_conn, pg, table)
                summary.sequences = self._reset_sequences(pg, sequences)
            finally:
                pg.close()
        finally:
            sqlite_conn.close()
        summary.seconds = time.monotonic() - start
        return summary

    # --- checks ---------------------------------------------------------------------------

    def _open_sqlite(self) -> sqlite3.Connection:
        if not os.path.isfile(self.sqlite_path):
            raise PortError(f"The SQLite database {self.sqlite_path} does not exist")
        try:
            conn = sqlite3.connect(
                f"file:{os.path.abspath(self.sqlite_path)}?mode=ro", uri=True, isolation_level=None
            )
            # One read transaction for the whole port: every table is read as of one
            # moment, even if something writes to the file meanwhile (WAL mode).
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as e:
            raise PortError(f"Cannot read the SQLite database {self.sqlite_path}: {e}") from e
        return conn

    def _check_sqlite_schema(self, conn: sqlite3.Connection) -> None:
        """Refuse a SQLite database whose schema is not exactly the code's."""
        names = _sqlite_table_names(conn)
        if not BOOKKEEPING_TABLES <= names:
            raise PortError(
                f"{self.sqlite_path} is not a homeserver database (it has no schema_version table)"
            )
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = None if row is None else int(row[0])
        if version != SCHEMA_VERSION:
            raise PortError(
                f"The SQLite database's schema is at version {version}, but this code's is"
                f" {SCHEMA_VERSION}: start the homeserver of this release on the SQLite database"
                " once (or use the release that matches it) and port again"
            )
        engine = Sqlite3Engine({"name": "sqlite3", "args": {"database": ":memory:"}})
        wanted = {
            d.record_name
            for d in find_deltas(SCHEMA_ROOT / "main" / "delta", engine, SCHEMA_VERSION)
        }
        applied = {r[0] for r in conn.execute("SELECT file FROM applied_schema_deltas")}
        if wanted - applied:
            raise PortError(
                "The SQLite database lacks schema deltas of this code ("
                + ", ".join(sorted(wanted - applied))
                + "): start the homeserver of this release on it once, stop it, and port again"
            )
        if applied - wanted:
            raise PortError(
                "The SQLite database has schema deltas this code does not know ("
                + ", ".join(sorted(applied - wanted))
                + "): it was used by a newer release; port it with that release"
            )

    def _refuse_pending_background_updates(self, conn: sqlite3.Connection) -> None:
        """Refuse a SQLite database whose data is half-way through a background update."""
        if "background_updates" not in _sqlite_table_names(conn):
            return
        names = [r[0] for r in conn.execute("SELECT update_name FROM background_updates")]
        if names:
            raise PortError(
                f"Background updates are still pending in the SQLite database ({', '.join(names)}):"
                " start the homeserver on it, wait until they have finished"
                " (GET /_synapse/admin/v1/background_updates/status), stop it and port again"
            )

    def _refuse_non_empty_target(self, pg: LoggingDatabaseConnection) -> None:
        """Refuse a target with rows beyond those the schema deltas insert themselves."""
        seeded = _rows_seeded_by_schema()
        tables = _pg_table_names(pg) - BOOKKEEPING_TABLES
        full = []
        for table in sorted(tables):
            count = _pg_scalar(pg, f'SELECT COUNT(*) FROM "{table}"')
            if count > seeded.get(table, 0):
                full.append(f"{table} ({_rows(count)})")
        if full:
            raise PortError(
                "The PostgreSQL database already holds data ("
                + ", ".join(full[:10])
                + (", ..." if len(full) > 10 else "")
                + "): port into a new, empty database (see docs/postgres.md)"
            )

    def _plan_tables(
        self, conn: sqlite3.Connection, pg: LoggingDatabaseConnection
    ) -> list[TableCopy]:
        """The tables to copy, checked against the PostgreSQL schema before anything is copied."""
        pg_tables = _pg_table_names(pg)
        skipped = _sqlite_virtual_tables(conn)
        plans = []
        problems = []
        for name in sorted(_sqlite_table_names(conn)):
            if (
                name in BOOKKEEPING_TABLES
                or name in TARGET_TABLES
                or name in skipped
                or name.startswith("sqlite_")
            ):
                continue
            if name not in pg_tables:
                problems.append(f"table {name} exists only in the SQLite database")
                continue
            info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
            columns = [r[1] for r in info]
            pg_types = _pg_column_types(pg, name)
            missing = [c for c in columns if c not in pg_types]
            if missing:
                problems.append(f"columns {', '.join(missing)} of {name} exist only in SQLite")
                continue
            if _has_rowid(conn, name):
                key = ["rowid"]
            else:
                key = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5] > 0]
            plans.append(TableCopy(name, columns, key, pg_types))
        if problems:
            raise PortError(
                "The SQLite database's tables do not match this code's PostgreSQL schema: "
                + "; ".join(problems)
            )
        return plans

    def _refuse_nul_text(self, conn: sqlite3.Connection, tables: list[TableCopy]) -> None:
        """Refuse, before copying anything, text holding NUL characters (PostgreSQL cannot store them)."""
        found: list[str] = []
        total = 0
        for table in tables:
            for column in table.columns:
                if not _is_text_type(table.pg_types[column]):
                    continue
                key_sql = table.key_sql
                rows = conn.execute(
                    f'SELECT {key_sql} FROM "{table.name}"'
                    f" WHERE typeof(\"{column}\") IN ('text', 'blob')"
                    f" AND instr(CAST(\"{column}\" AS BLOB), x'00') > 0"
                ).fetchall()
                total += len(rows)
                for row in rows[: max(0, _MAX_REPORTED - len(found))]:
                    found.append(f"{table.name}.{column} at {_describe_key(table.key, row)}")
        if found:
            raise PortError(
                f"{total} text value(s) hold NUL (U+0000) characters, which PostgreSQL cannot"
                " store: "
                + "; ".join(found)
                + (" ..." if total > len(found) else "")
                + ". Remove the NUL characters from these rows of the SQLite database and port again"
            )

    # --- sequences ------------------------------------------------------------------------

    def _find_sequences(self, pg: LoggingDatabaseConnection) -> list[SequenceUse]:
        """Every sequence of the PostgreSQL schema with the column it numbers; refuse unknown ones."""
        known = {use.sequence: use for use in self._stream_generator_sequences()}
        for sequence, (table, column) in OTHER_SEQUENCES.items():
            known.setdefault(sequence, SequenceUse(sequence, table, column))
        txn = pg.cursor(txn_name="list_sequences")
        try:
            txn.execute(
                "SELECT sequence_name FROM information_schema.sequences"
                " WHERE sequence_schema = current_schema() ORDER BY sequence_name"
            )
            names = [r[0] for r in txn.fetchall()]
        finally:
            txn.close()
            pg.rollback()
        unknown = [n for n in names if n not in known]
        if unknown:
            raise PortError(
                f"Cannot tell which column the sequence(s) {', '.join(unknown)} number, so they"
                " could not be moved past the ported rows: use them through a StreamIdGenerator"
                " or add them to OTHER_SEQUENCES in synapse/_scripts/synapse_port_db.py"
            )
        return [known[n] for n in names]

    def _stream_generator_sequences(self) -> list[SequenceUse]:
        """The sequences of the stores' ``StreamIdGenerator``s, found by building the stores
        on the PostgreSQL database (so a new stream needs no change here)."""
        from synapse.server import HomeServer
        from synapse.storage.util.id_generators import StreamIdGenerator

        config = _DatabaseOnlyConfig(self.pg_config)
        hs = HomeServer(self.server_name, cast(Any, config))
        datastores = hs.get_datastores()
        try:
            uses = []
            for store in vars(datastores.main).values():
                for value in vars(store).values() if hasattr(store, "__dict__") else ():
                    if isinstance(value, StreamIdGenerator) and value._sequence_name:
                        uses.append(
                            SequenceUse(
                                value._sequence_name, value._table, value._column, value._step
                            )
                        )
            return uses
        finally:
            datastores.close()

    def _reset_sequences(
        self, pg: LoggingDatabaseConnection, sequences: list[SequenceUse]
    ) -> dict[str, int]:
        """Move each sequence so that its next value is above every ported row; the next values."""
        self.say("Resetting sequences...")
        result: dict[str, int] = {}

        def reset(txn: LoggingTransaction) -> None:
            txn.execute("SET LOCAL synchronous_commit TO on")
            for use in sequences:
                txn.execute(f'SELECT MAX("{use.column}" * ?) FROM "{use.table}"', (use.step,))
                row = txn.fetchone()
                highest = int(row[0]) if row and row[0] is not None and row[0] > 0 else 0
                if highest > 0:
                    txn.execute("SELECT setval(?, ?, true)", (use.sequence, highest))
                else:
                    txn.execute("SELECT setval(?, 1, false)", (use.sequence,))
                result[use.sequence] = highest + 1
                self.say(
                    f"  {use.sequence}: next {use.step * (highest + 1)} ({use.table}.{use.column})"
                )

        _run(pg, reset)
        return result

    # --- copying --------------------------------------------------------------------------

    def _copy_table(
        self, conn: sqlite3.Connection, pg: LoggingDatabaseConnection, table: TableCopy
    ) -> int:
        """Copy the rows of ``table`` beyond its recorded position; the rows copied in all."""
        position, copied = _read_progress(pg, table.name)
        if position is None and copied == 0:

            def start(txn: LoggingTransaction) -> None:
                # Rows that schema deltas put in the target are replaced by the SQLite ones.
                txn.execute(f'DELETE FROM "{table.name}"')
                txn.execute(
                    f"INSERT INTO {PROGRESS_TABLE} (table_name, position, rows_copied)"
                    " VALUES (?, NULL, 0) ON CONFLICT (table_name) DO NOTHING",
                    (table.name,),
                )

            _run(pg, start)
        total = conn.execute(f'SELECT COUNT(*) FROM "{table.name}"').fetchone()[0]
        columns_sql = ", ".join(f'"{c}"' for c in table.columns)
        key_sql = table.key_sql
        insert_sql = f'INSERT INTO "{table.name}" ({columns_sql}) VALUES ?'
        converters = [_converter(table.pg_types[c]) for c in table.columns]
        nkey = len(table.key)
        last_report = time.monotonic()
        while True:
            if position is None:
                where, args = "", []
            else:
                marks = ", ".join("?" for _ in position)
                where, args = f" WHERE ({key_sql}) > ({marks})", list(position)
            rows = conn.execute(
                f'SELECT {key_sql}, {columns_sql} FROM "{table.name}"{where}'
                f" ORDER BY {key_sql} LIMIT ?",
                [*args, self.batch_size],
            ).fetchall()
            if not rows:
                break
            values = [
                tuple(
                    _convert(table.name, col, conv, v)
                    for col, conv, v in zip(table.columns, converters, row[nkey:], strict=True)
                )
                for row in rows
            ]
            position = list(rows[-1][:nkey])
            copied += len(rows)

            def write(
                txn: LoggingTransaction,
                values: list[tuple[Any, ...]] = values,
                position: list[Any] = position,
                copied: int = copied,
            ) -> None:
                txn.execute_values(insert_sql, values, fetch=False)
                txn.execute(
                    f"UPDATE {PROGRESS_TABLE} SET position = ?, rows_copied = ? WHERE table_name = ?",
                    (json.dumps(position), copied, table.name),
                )

            try:
                _run(pg, write)
            except pg.engine.module.Error as e:
                raise PortError(
                    f"Cannot copy rows of {table.name} into PostgreSQL: {str(e).strip()}"
                ) from e
            now = time.monotonic()
            if now - last_report >= _REPORT_EVERY:
                last_report = now
                self.say(f"  {table.name}: {copied}/{max(total, copied)} rows...")
            if self.after_batch is not None:
                self.after_batch(table.name, copied)
        self.say(f"  {table.name}: {_rows(copied)}" if copied else f"  {table.name}: empty")
        return copied


class _DatabaseOnlyConfig:
    """The part of the homeserver config that building the stores reads."""

    def __init__(self, db_config: DatabaseConnectionConfig) -> None:
        self.database = _Databases([db_config])


@dataclass
class _Databases:
    databases: list[DatabaseConnectionConfig]


# --- conversions --------------------------------------------------------------------------

_TEXT_TYPES = ("text", "character varying", "character")


def _is_text_type(pg_type: str) -> bool:
    return pg_type in _TEXT_TYPES


_Converter = Callable[[Any], Any]


def _to_bool(value: Any) -> Any:
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("0", "1", "t", "f", "true", "false"):
        return value.lower() in ("1", "t", "true")
    raise ValueError(f"{value!r} is not a boolean")


def _to_bytes(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def _to_text(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text holds NUL (U+0000) characters")
    return value


def _converter(pg_type: str) -> _Converter | None:
    if pg_type == "boolean":
        return _to_bool
    if pg_type == "bytea":
        return _to_bytes
    if _is_text_type(pg_type):
        return _to_text
    return None


def _convert(table: str, column: str, conv: _Converter | None, value: Any) -> Any:
    if value is None or conv is None:
        return value
    try:
        return conv(value)
    except (ValueError, UnicodeDecodeError) as e:
        raise PortError(f"Cannot convert a value of {table}.{column} for PostgreSQL: {e}") from e


# --- database helpers ---------------------------------------------------------------------


def _run(pg: LoggingDatabaseConnection, func: Callable[[LoggingTransaction], None]) -> None:
    """Run ``func(txn)`` in one PostgreSQL transaction."""
    txn = pg.cursor()
    try:
        func(txn)
        pg.commit()
    except BaseException:
        pg.rollback()
        raise
    finally:
        txn.close()


def _create_progress_table(txn: LoggingTransaction) -> None:
    txn.execute(
        f"CREATE TABLE IF NOT EXISTS {PROGRESS_TABLE} ("
        " table_name TEXT NOT NULL PRIMARY KEY,"
        " position TEXT,"
        " rows_copied BIGINT NOT NULL)"
    )


def _read_progress(pg: LoggingDatabaseConnection, table: str) -> tuple[list[Any] | None, int]:
    txn = pg.cursor(txn_name="read_progress")
    try:
        txn.execute(
            f"SELECT position, rows_copied FROM {PROGRESS_TABLE} WHERE table_name = ?", (table,)
        )
        row = txn.fetchone()
    finally:
        txn.close()
        pg.rollback()
    if row is None:
        return None, 0
    return (None if row[0] is None else json.loads(row[0])), int(row[1])


def _pg_scalar(pg: LoggingDatabaseConnection, sql: str, args: Sequence[Any] = ()) -> Any:
    txn = pg.cursor()
    try:
        txn.execute(sql, args)
        row = txn.fetchone()
    finally:
        txn.close()
        pg.rollback()
    return None if row is None else row[0]


def _table_exists(pg: LoggingDatabaseConnection, table: str) -> bool:
    return table in _pg_table_names(pg)


def _pg_table_names(pg: LoggingDatabaseConnection) -> set[str]:
    txn = pg.cursor(txn_name="list_tables")
    try:
        txn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        return {r[0] for r in txn.fetchall()}
    finally:
        txn.close()
        pg.rollback()


def _pg_column_types(pg: LoggingDatabaseConnection, table: str) -> dict[str, str]:
    txn = pg.cursor(txn_name="list_columns")
    try:
        txn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
        return {r[0]: r[1] for r in txn.fetchall()}
    finally:
        txn.close()
        pg.rollback()


def _sqlite_table_names(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _sqlite_virtual_tables(conn: sqlite3.Connection) -> set[str]:
    """Virtual tables (full-text search) and their shadow tables: SQLite's own machinery."""
    virtual = {
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
        )
    }
    try:
        shadow = {r[1] for r in conn.execute("PRAGMA table_list") if r[2] in ("virtual", "shadow")}
    except sqlite3.Error:
        shadow = set()
    return virtual | shadow


def _has_rowid(conn: sqlite3.Connection, table: str) -> bool:
    try:
        conn.execute(f'SELECT rowid FROM "{table}" LIMIT 0')
    except sqlite3.OperationalError:
        return False
    return True


def _describe_key(key: list[str], row: Iterable[Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in zip(key, row, strict=False))


def _rows_seeded_by_schema() -> dict[str, int]:
    """Rows per table that the schema deltas insert into a new database (on SQLite in memory)."""
    engine = Sqlite3Engine({"name": "sqlite3", "args": {"database": ":memory:"}})
    conn = make_conn(engine, "seeded")
    try:
        prepare_database(conn, engine)
        txn = conn.cursor()
        try:
            txn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            names = [r[0] for r in txn.fetchall()]
            counts = {}
            for name in names:
                txn.execute(f'SELECT COUNT(*) FROM "{name}"')
                row = txn.fetchone()
                counts[name] = int(row[0]) if row else 0
            return counts
        finally:
            txn.close()
    finally:
        conn.close()


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


# --- command line -------------------------------------------------------------------------


def _print_summary(summary: PortSummary, out: TextIO) -> None:
    tables = len(summary.rows_by_table)
    print(
        f"Port complete: {_rows(summary.total_rows)} in {tables} tables"
        f"{' (resumed)' if summary.resumed else ''}, {len(summary.sequences)} sequences reset,"
        f" in {summary.seconds:.1f} s.",
        file=out,
    )
    print(
        "Point the homeserver's 'database' config at PostgreSQL and start it.",
        file=out,
    )


class _ArgumentParser(argparse.ArgumentParser):
    """Usage errors end with status 1 and one line, like every other problem."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> None:
    parser = _ArgumentParser(
        prog="synapse_port_db",
        description="Port a homeserver's SQLite database to a PostgreSQL database.",
    )
    parser.add_argument("-v", action="store_true", help="Log debug messages.")
    parser.add_argument(
        "--sqlite-database",
        required=True,
        help="The SQLite database file to read. No homeserver may be using it meanwhile.",
    )
    parser.add_argument(
        "--postgres-config",
        required=True,
        help="A homeserver config file whose 'database' section names the PostgreSQL database.",
    )
    parser.add_argument(
        "--curses", action="store_true", help="Accepted for compatibility; progress is plain text."
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1000,
        help="Rows copied per transaction (default 1000).",
    )
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    logging.basicConfig(
        level=logging.DEBUG if args.v else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The stores built to find the sequences warn of what the port is about to fix (a
    # sequence behind its column, on resuming); the outcome is reported instead.
    synapse_logger = logging.getLogger("synapse")
    previous_level = synapse_logger.level
    if not args.v:
        synapse_logger.setLevel(logging.ERROR)
    try:
        _port(args)
    finally:
        synapse_logger.setLevel(previous_level)


def _port(args: argparse.Namespace) -> NoReturn:
    """Run the port for the parsed command line; exit 0, or 1 with one message."""
    try:
        pg_config = read_postgres_config(args.postgres_config)
        server_name = str(_load_config(args.postgres_config).get("server_name") or "localhost")
        porter = Porter(
            args.sqlite_database, pg_config, batch_size=args.batch_size, server_name=server_name
        )
        summary = porter.run()
    except KeyboardInterrupt:
        print(
            "synapse_port_db: interrupted; run it again with the same arguments to resume",
            file=sys.stderr,
        )
        sys.exit(1)
    except PortError as e:
        print(f"synapse_port_db: {e}", file=sys.stderr)
        sys.exit(1)
    except ConfigError as e:
        # The engine's database checks and prepare_database explain themselves.
        print(f"synapse_port_db: {e}", file=sys.stderr)
        sys.exit(1)
    except (sqlite3.Error, OSError) as e:
        print(f"synapse_port_db: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:
        if type(e).__module__.startswith("psycopg2"):
            print(f"synapse_port_db: PostgreSQL error: {str(e).strip()}", file=sys.stderr)
            sys.exit(1)
        raise
    _print_summary(summary, sys.stdout)
    sys.exit(0)


if __name__ == "__main__":
    main()
