"""Schema preparation: deltas found, ordered, applied once each, atomically; newer schemas refused."""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path
from typing import Any

from synapse.storage.database import LoggingDatabaseConnection, make_conn
from synapse.storage.engines import BaseDatabaseEngine, create_engine
from synapse.storage.prepare_database import (
    PrepareDatabaseException,
    find_deltas,
    get_applied_deltas,
    prepare_database,
)
from synapse.storage.schema import SCHEMA_VERSION
from tests.utils import cleanup_test_database, setup_test_database_config


class PrepareDatabaseTestCase(unittest.TestCase):
    def setUp(self) -> None:
        config = setup_test_database_config()
        self.addCleanup(cleanup_test_database, config)
        self.engine: BaseDatabaseEngine = create_engine(config)
        self.conn: LoggingDatabaseConnection = make_conn(self.engine, "test")
        self.addCleanup(self.conn.close)
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.root = Path(tmp.name)

    def _write(self, relpath: str, text: str) -> None:
        path = self.root / "main" / "delta" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor(txn_name="query")
        try:
            cur.execute(sql, args)
            return cur.fetchall()
        finally:
            cur.close()
            self.conn.rollback()

    def _prepare(self, version: int) -> None:
        prepare_database(self.conn, self.engine, schema_root=self.root, schema_version=version)

    def _tables(self) -> set[str]:
        if self.engine.name == "psycopg2":
            rows = self._query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        else:
            rows = self._query("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows}

    def test_code_schema_applies(self) -> None:
        prepare_database(self.conn, self.engine)
        self.assertIn("1/00_bookkeeping.sql", get_applied_deltas(self.conn))
        self.assertEqual(self._query("SELECT version FROM schema_version"), [(SCHEMA_VERSION,)])
        self.assertTrue({"background_updates", "stream_positions"} <= self._tables())

    def test_deltas_applied_in_order_and_once(self) -> None:
        # Later files depend on earlier ones, across files and across version directories.
        self._write(
            "1/10_first.sql",
            "-- a comment; with a semicolon\n"
            "CREATE TABLE t1 (id BIGINT PRIMARY KEY, note TEXT);\n"
            "/* block; comment */\n"
            "INSERT INTO t1 (id, note) VALUES (1, 'semi; colon and 100% and a ?');\n",
        )
        self._write("1/15_second.sql", "INSERT INTO t1 (id, note) VALUES (2, 'second');")
        self._write("1/20_engine.sql.sqlite", "INSERT INTO t1 (id, note) VALUES (3, 'engine');")
        self._write("1/20_engine.sql.postgres", "INSERT INTO t1 (id, note) VALUES (3, 'engine');")
        self._write(
            "2/01_py.py",
            "def run_upgrade(txn, engine):\n    txn.execute('INSERT INTO t1 (id, note) VALUES (?, ?)', (4, engine.name))\n",
        )
        self._write("2/README.md", "not a delta")
        self._prepare(2)

        rows = self._query("SELECT id, note FROM t1 ORDER BY id")
        self.assertEqual(
            rows,
            [
                (1, "semi; colon and 100% and a ?"),
                (2, "second"),
                (3, "engine"),
                (4, self.engine.name),
            ],
        )
        suffix = "postgres" if self.engine.name == "psycopg2" else "sqlite"
        applied = [
            d
            for d in get_applied_deltas(self.conn)
            if d in {"1/10_first.sql", "1/15_second.sql", f"1/20_engine.sql.{suffix}", "2/01_py.py"}
        ]
        self.assertEqual(len(applied), 4)
        self.assertEqual(self._query("SELECT version FROM schema_version"), [(2,)])

        # Run again: nothing is applied twice (the inserts would clash).
        self._prepare(2)
        self.assertEqual(len(self._query("SELECT id FROM t1")), 4)

        # A delta added later to an old directory is still picked up.
        self._write("1/30_late.sql", "INSERT INTO t1 (id, note) VALUES (5, 'late');")
        self._prepare(2)
        self.assertEqual(self._query("SELECT note FROM t1 WHERE id = 5"), [("late",)])

    def test_order_is_by_directory_number_then_name(self) -> None:
        for rel in (
            "10/01_a.sql",
            "2/01_a.sql",
            "2/00_b.sql",
            "1/99_z.sql.sqlite",
            "1/99_z.sql.postgres",
        ):
            self._write(rel, "SELECT 1;")
        deltas = find_deltas(self.root / "main" / "delta", self.engine, 10)
        suffix = "postgres" if self.engine.name == "psycopg2" else "sqlite"
        self.assertEqual(
            [d.record_name for d in deltas],
            [f"1/99_z.sql.{suffix}", "2/00_b.sql", "2/01_a.sql", "10/01_a.sql"],
        )

    def test_failing_delta_leaves_nothing_behind(self) -> None:
        self._write("1/01_ok.sql", "CREATE TABLE ok_table (id BIGINT);")
        self._write(
            "1/02_bad.sql",
            "CREATE TABLE half_done (id BIGINT);\nINSERT INTO no_such_table VALUES (1);",
        )
        with self.assertRaises(self.engine.module.Error):
            self._prepare(1)
        tables = self._tables()
        self.assertIn("ok_table", tables)
        self.assertNotIn("half_done", tables)
        applied = get_applied_deltas(self.conn)
        self.assertIn("1/01_ok.sql", applied)
        self.assertNotIn("1/02_bad.sql", applied)

        # Once fixed, the delta applies on the next start-up.
        self._write("1/02_bad.sql", "CREATE TABLE half_done (id BIGINT);")
        self._prepare(1)
        self.assertIn("half_done", self._tables())

    def test_refuses_newer_database(self) -> None:
        self._write("1/01_a.sql", "CREATE TABLE a (id BIGINT);")
        self._write("3/01_b.sql", "CREATE TABLE b (id BIGINT);")
        self._prepare(3)
        with self.assertRaises(PrepareDatabaseException) as cm:
            prepare_database(
                self.conn, self.engine, schema_root=self.root / "elsewhere", schema_version=2
            )
        self.assertIn("newer", str(cm.exception))

    def test_refuses_delta_directory_beyond_schema_version(self) -> None:
        self._write("1/01_a.sql", "CREATE TABLE a (id BIGINT);")
        self._write("2/01_b.sql", "CREATE TABLE b (id BIGINT);")
        with self.assertRaises(PrepareDatabaseException) as cm:
            self._prepare(1)
        self.assertIn("SCHEMA_VERSION", str(cm.exception))

    def test_no_code_delta_directory_is_beyond_schema_version(self) -> None:
        deltas = find_deltas(
            Path(__file__).parents[2] / "synapse" / "storage" / "schema" / "main" / "delta",
            self.engine,
            SCHEMA_VERSION,
        )
        self.assertTrue(deltas)
