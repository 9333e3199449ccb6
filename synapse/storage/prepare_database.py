"""Bring a database's schema up to date at start-up by applying the missing delta files.

Deltas live in ``synapse/storage/schema/<database>/delta/<N>/`` (see
``synapse/storage/schema/__init__.py``). Each missing delta runs in its own transaction,
which also records it in ``applied_schema_deltas``; ``schema_version`` holds the version
the database was last brought up to. A database whose version is newer than the code is
refused: older code cannot know what a newer schema means.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from synapse.api.errors import ConfigError
from synapse.storage.database import LoggingDatabaseConnection, LoggingTransaction
from synapse.storage.engines import BaseDatabaseEngine
from synapse.storage.schema import SCHEMA_VERSION

logger = logging.getLogger(__name__)

SCHEMA_ROOT = Path(__file__).parent / "schema"

_DELTA_DIR_RE = re.compile(r"^[0-9]+$")

_BOOKKEEPING_TABLES = """
CREATE TABLE IF NOT EXISTS schema_version (
    lock CHAR(1) NOT NULL DEFAULT 'X' UNIQUE,
    version INTEGER NOT NULL,
    upgraded BOOLEAN NOT NULL,
    CHECK (lock = 'X')
);
CREATE TABLE IF NOT EXISTS applied_schema_deltas (
    version INTEGER NOT NULL,
    file TEXT NOT NULL,
    UNIQUE (version, file)
);
"""


class PrepareDatabaseException(ConfigError):
    """The database's schema cannot be used by this code; start-up stops."""


@dataclass(frozen=True, order=True)
class Delta:
    """One delta file: applied in ``(version, name)`` order, recorded as ``<version>/<name>``."""

    version: int
    name: str
    path: Path

    @property
    def record_name(self) -> str:
        return f"{self.version}/{self.name}"


def prepare_database(
    db_conn: LoggingDatabaseConnection,
    engine: BaseDatabaseEngine,
    database_name: str = "main",
    *,
    schema_root: Path = SCHEMA_ROOT,
    schema_version: int = SCHEMA_VERSION,
) -> None:
    """Check the database, then apply every delta of ``database_name`` it has not had yet.

    ``schema_root``/``schema_version`` default to the code's own; tests pass others.
    Raises :class:`PrepareDatabaseException` for a database newer than the code.
    """
    engine.check_database(db_conn)
    _run_in_transaction(
        db_conn,
        engine,
        "create_schema_tables",
        lambda txn: engine.execute_script(txn, _BOOKKEEPING_TABLES),
    )

    current = _read_schema_version(db_conn)
    if current is not None and current > schema_version:
        raise PrepareDatabaseException(
            f"The database's schema is at version {current}, newer than this code's {schema_version}:"
            " it has been used by a newer release. Run that release (or newer), or restore a backup"
            " taken before the upgrade."
        )

    deltas = find_deltas(schema_root / database_name / "delta", engine, schema_version)
    applied = _applied_deltas(db_conn)
    pending = [d for d in deltas if d.record_name not in applied]
    if pending:
        logger.info(
            "Applying %d schema delta(s) to the %s database (%s): %s",
            len(pending),
            database_name,
            engine.name,
            ", ".join(d.record_name for d in pending),
        )
    for delta in pending:
        _run_in_transaction(
            db_conn, engine, f"delta {delta.record_name}", _apply_delta, delta, engine
        )

    _run_in_transaction(
        db_conn, engine, "set_schema_version", _set_schema_version, schema_version, current
    )


def find_deltas(delta_root: Path, engine: BaseDatabaseEngine, schema_version: int) -> list[Delta]:
    """The delta files for this engine, in the order they must be applied.

    ``NN_x.sql`` and ``NN_x.py`` apply to both engines, ``NN_x.sql.postgres`` and
    ``NN_x.sql.sqlite`` to one.
    """
    if not delta_root.is_dir():
        return []
    engine_suffix = ".sql.postgres" if engine.name == "psycopg2" else ".sql.sqlite"
    other_suffix = ".sql.sqlite" if engine.name == "psycopg2" else ".sql.postgres"
    deltas = []
    for version_dir in delta_root.iterdir():
        if not version_dir.is_dir() or not _DELTA_DIR_RE.match(version_dir.name):
            continue
        version = int(version_dir.name)
        if version > schema_version:
            raise PrepareDatabaseException(
                f"Schema delta directory {version_dir} is beyond SCHEMA_VERSION {schema_version}:"
                " bump SCHEMA_VERSION in synapse/storage/schema/__init__.py"
            )
        for path in version_dir.iterdir():
            name = path.name
            if not path.is_file() or name.startswith(".") or name == "__init__.py":
                continue
            if name.endswith((".sql", engine_suffix)) or (
                name.endswith(".py") and not name.startswith("_")
            ):
                deltas.append(Delta(version, name, path))
            elif not name.endswith((other_suffix, ".pyc", ".md")):
                logger.warning("Ignoring schema delta %s: unknown file type", path)
    return sorted(deltas)


def _apply_delta(txn: LoggingTransaction, delta: Delta, engine: BaseDatabaseEngine) -> None:
    if engine.name == "psycopg2":
        # Several processes may start at once: one applies each delta, the others wait
        # here and then see it recorded.
        txn.execute("LOCK TABLE applied_schema_deltas IN EXCLUSIVE MODE")
        txn.execute(
            "SELECT 1 FROM applied_schema_deltas WHERE version = ? AND file = ?",
            (delta.version, delta.record_name),
        )
        if txn.fetchone() is not None:
            return
    logger.info("Applying schema delta %s", delta.record_name)
    if delta.name.endswith(".py"):
        _run_python_delta(txn, delta, engine)
    else:
        engine.execute_script(txn, delta.path.read_text(encoding="utf-8"))
    txn.execute(
        "INSERT INTO applied_schema_deltas (version, file) VALUES (?, ?)",
        (delta.version, delta.record_name),
    )


def _run_python_delta(txn: LoggingTransaction, delta: Delta, engine: BaseDatabaseEngine) -> None:
    module_name = f"synapse.storage.schema._delta_{delta.version}_{delta.path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, delta.path)
    if spec is None or spec.loader is None:
        raise PrepareDatabaseException(f"Cannot load the schema delta {delta.path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run_upgrade = getattr(module, "run_upgrade", None)
    if run_upgrade is None:
        raise PrepareDatabaseException(
            f"The schema delta {delta.path} has no run_upgrade(txn, engine)"
        )
    run_upgrade(txn, engine)


def _read_schema_version(db_conn: LoggingDatabaseConnection) -> int | None:
    txn = db_conn.cursor(txn_name="read_schema_version")
    try:
        txn.execute("SELECT version FROM schema_version")
        row = txn.fetchone()
    finally:
        txn.close()
        db_conn.rollback()
    return None if row is None else int(row[0])


def _applied_deltas(db_conn: LoggingDatabaseConnection) -> set[str]:
    txn = db_conn.cursor(txn_name="read_applied_deltas")
    try:
        txn.execute("SELECT file FROM applied_schema_deltas")
        rows = txn.fetchall()
    finally:
        txn.close()
        db_conn.rollback()
    return {row[0] for row in rows}


def _set_schema_version(txn: LoggingTransaction, schema_version: int, previous: int | None) -> None:
    if previous is None:
        txn.execute(
            "INSERT INTO schema_version (version, upgraded) VALUES (?, ?) ON CONFLICT (lock) DO NOTHING",
            (schema_version, False),
        )
    elif previous < schema_version:
        # Raise the version, but never lower one that another process has raised meanwhile.
        txn.execute(
            "UPDATE schema_version SET version = ?, upgraded = ? WHERE version < ?",
            (schema_version, True, schema_version),
        )


def _run_in_transaction(
    db_conn: LoggingDatabaseConnection,
    engine: BaseDatabaseEngine,
    name: str,
    func: Callable[..., object],
    *args: object,
) -> None:
    """Run ``func(txn, *args)`` in one transaction on ``db_conn``; roll back on error."""
    txn = db_conn.cursor(txn_name=name)
    try:
        engine.begin_transaction(txn)
        func(txn, *args)
        db_conn.commit()
    except BaseException:
        db_conn.rollback()
        raise
    finally:
        txn.close()


def get_applied_deltas(db_conn: LoggingDatabaseConnection) -> list[str]:
    """The deltas recorded as applied (``<version>/<file>``), sorted."""
    return sorted(_applied_deltas(db_conn))
