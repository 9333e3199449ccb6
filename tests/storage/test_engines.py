"""Database engines: creation from config, SQL conversion, connection set-up, start-up checks."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import unittest
import uuid

from synapse.api.errors import ConfigError
from synapse.storage.database import make_conn
from synapse.storage.engines import IncorrectDatabaseSetup, Sqlite3Engine, create_engine
from synapse.storage.engines.sqlite import split_sqlite_statements
from tests.utils import USE_POSTGRES, _admin_execute, _postgres_config


class CreateEngineTestCase(unittest.TestCase):
    def test_engines_by_name(self) -> None:
        self.assertIsInstance(
            create_engine({"name": "sqlite3", "args": {"database": ":memory:"}}), Sqlite3Engine
        )
        from synapse.storage.engines import PostgresEngine

        engine = create_engine({"name": "psycopg2", "args": {"database": "x", "cp_min": 1}})
        self.assertIsInstance(engine, PostgresEngine)
        self.assertEqual(engine.connection_args(), {"database": "x"})
        self.assertTrue(engine.supports_returning)

    def test_unknown_engine(self) -> None:
        with self.assertRaisesRegex(ConfigError, "mysql"):
            create_engine({"name": "mysql", "args": {}})


class PostgresParamStyleTestCase(unittest.TestCase):
    def test_convert(self) -> None:
        from synapse.storage.engines.postgres import PostgresEngine

        convert = PostgresEngine({"name": "psycopg2"}).convert_param_style
        self.assertEqual(
            convert("SELECT a FROM t WHERE b = ? AND c = ?"),
            "SELECT a FROM t WHERE b = %s AND c = %s",
        )
        self.assertEqual(
            convert("SELECT '?', \"q?\", 'it''s ?' FROM t WHERE a LIKE 'x%' AND b = ? -- what?\n"),
            "SELECT '?', \"q?\", 'it''s ?' FROM t WHERE a LIKE 'x%%' AND b = %s -- what?\n",
        )
        self.assertEqual(convert("SELECT 5 % ?"), "SELECT 5 %% %s")

    def test_retryable_errors(self) -> None:
        import psycopg2.errors

        from synapse.storage.engines.postgres import PostgresEngine

        engine = PostgresEngine({"name": "psycopg2"})
        self.assertTrue(engine.is_retryable_error(psycopg2.errors.SerializationFailure()))
        self.assertTrue(engine.is_retryable_error(psycopg2.errors.DeadlockDetected()))
        self.assertFalse(engine.is_retryable_error(psycopg2.errors.UniqueViolation()))
        self.assertFalse(engine.is_retryable_error(ValueError()))


class SqliteEngineTestCase(unittest.TestCase):
    def test_split_statements(self) -> None:
        script = """
            -- leading comment; with a semicolon
            CREATE TABLE a (x TEXT DEFAULT 'semi;colon');
            /* block; comment */
            CREATE TRIGGER tr AFTER INSERT ON a BEGIN
                UPDATE a SET x = 'y;z';
            END;
            INSERT INTO a VALUES ('--not a comment;')  -- trailing
        """
        statements = split_sqlite_statements(script)
        self.assertEqual(len(statements), 3)
        self.assertIn("END;", statements[1])
        conn = sqlite3.connect(":memory:")
        for statement in statements:
            conn.execute(statement)
        self.assertEqual(conn.execute("SELECT x FROM a").fetchall(), [("y;z",)])

    def test_incomplete_statement_is_an_error(self) -> None:
        with self.assertRaises(ValueError):
            split_sqlite_statements(
                "CREATE TABLE a (x TEXT); INSERT INTO a VALUES ('unterminated);"
            )

    def test_memory_database(self) -> None:
        engine = create_engine({"name": "sqlite3", "args": {"database": ":memory:"}})
        assert isinstance(engine, Sqlite3Engine)
        self.assertTrue(engine.is_in_memory)
        conn = make_conn(engine, "test")
        cur = conn.cursor()
        cur.execute("PRAGMA foreign_keys")
        self.assertEqual(cur.fetchone(), (1,))
        engine.check_database(conn)
        conn.close()

    def test_file_database_uses_wal_and_foreign_keys(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            engine = create_engine(
                {"name": "sqlite3", "args": {"database": os.path.join(tmp, "h.db"), "cp_max": 3}}
            )
            self.assertEqual(engine.connection_args(), {"database": os.path.join(tmp, "h.db")})
            conn = make_conn(engine, "test")
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode")
            self.assertEqual(cur.fetchone(), ("wal",))
            cur.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            cur.execute("CREATE TABLE child (p INTEGER REFERENCES parent (id))")
            with self.assertRaises(sqlite3.IntegrityError):
                cur.execute("INSERT INTO child VALUES (1)")
            conn.close()


@unittest.skipUnless(USE_POSTGRES, "needs SYNAPSE_POSTGRES=1")
class PostgresCheckDatabaseTestCase(unittest.TestCase):
    def _make_database(self, locale: str) -> str:
        name = f"synapse_test_locale_{uuid.uuid4().hex[:12]}"
        _admin_execute(
            f"CREATE DATABASE {name} ENCODING 'UTF8' LC_COLLATE '{locale}' LC_CTYPE '{locale}' TEMPLATE template0"
        )
        self.addCleanup(_admin_execute, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        return name

    def test_rejects_unsafe_locale_with_fix(self) -> None:
        name = self._make_database("C.UTF-8")
        engine = create_engine(_postgres_config(name))
        conn = make_conn(engine, "test")
        self.addCleanup(conn.close)
        with self.assertRaises(IncorrectDatabaseSetup) as cm:
            engine.check_database(conn)
        message = str(cm.exception)
        self.assertIn("LC_COLLATE='C'", message)
        self.assertIn(name, message)
        self.assertIn("allow_unsafe_locale", message)

        permissive = create_engine({**_postgres_config(name), "allow_unsafe_locale": True})
        permissive.check_database(conn)

    def test_accepts_c_locale(self) -> None:
        name = self._make_database("C")
        engine = create_engine(_postgres_config(name))
        conn = make_conn(engine, "test")
        self.addCleanup(conn.close)
        engine.check_database(conn)
        self.assertRegex(engine.server_version, r"^\d+\.\d+$")
