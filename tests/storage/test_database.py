"""DatabasePool: transactions, rollback, retries, callbacks, metrics and the simple_* helpers."""

from __future__ import annotations

import sqlite3
import tempfile
from typing import Any
from unittest import mock

from prometheus_client import REGISTRY

from synapse.api.errors import StoreError
from synapse.storage.database import DatabasePool, LoggingDatabaseConnection, LoggingTransaction
from synapse.storage.engines import create_engine
from tests.storage._base import DatabaseTestCase
from tests.utils import DatabaseConfigStandIn


class DatabasePoolTestCase(DatabaseTestCase):
    def setUp(self) -> None:
        super().setUp()

        def _create(txn: LoggingTransaction) -> None:
            txn.execute(
                "CREATE TABLE things (id BIGINT NOT NULL PRIMARY KEY, name TEXT, counter BIGINT, note TEXT)"
            )
            txn.execute(
                "CREATE TABLE pairs (a TEXT NOT NULL, b TEXT NOT NULL, v TEXT, UNIQUE (a, b))"
            )

        self.get_success(self.db.runInteraction("create", _create))

    def _names(self) -> list[tuple[Any, ...]]:
        return self.get_success(self.db.execute("names", "SELECT id, name FROM things ORDER BY id"))

    # --- transactions -------------------------------------------------------------------

    def test_commit(self) -> None:
        def _insert(txn: LoggingTransaction, id: int, name: str) -> int:
            txn.execute("INSERT INTO things (id, name) VALUES (?, ?)", (id, name))
            return txn.rowcount

        self.assertEqual(
            self.get_success(self.db.runInteraction("insert", _insert, 1, name="one")), 1
        )
        self.assertEqual(self._names(), [(1, "one")])

    def test_exception_rolls_back_and_runs_exception_callbacks(self) -> None:
        after: list[str] = []
        failed: list[str] = []

        def _insert_then_fail(txn: LoggingTransaction) -> None:
            txn.call_after(after.append, "after")
            txn.call_on_exception(failed.append, "failed")
            txn.execute("INSERT INTO things (id, name) VALUES (?, ?)", (1, "one"))
            raise ValueError("boom")

        self.get_failure(self.db.runInteraction("fail", _insert_then_fail), ValueError)
        self.assertEqual(self._names(), [])
        self.assertEqual(after, [])
        self.assertEqual(failed, ["failed"])

    def test_sql_error_rolls_back_whole_transaction(self) -> None:
        def _two_inserts(txn: LoggingTransaction) -> None:
            txn.execute("INSERT INTO things (id, name) VALUES (?, ?)", (1, "one"))
            txn.execute("INSERT INTO things (id, name) VALUES (?, ?)", (1, "duplicate"))

        self.get_failure(
            self.db.runInteraction("dup", _two_inserts), self.db.engine.module.IntegrityError
        )
        self.assertEqual(self._names(), [])
        # The connection is usable again afterwards.
        self.get_success(self.db.simple_insert("things", {"id": 2, "name": "two"}))
        self.assertEqual(self._names(), [(2, "two")])

    def test_call_after_runs_after_commit(self) -> None:
        seen: list[list[tuple[Any, ...]]] = []

        def _insert(txn: LoggingTransaction) -> None:
            txn.execute("INSERT INTO things (id, name) VALUES (?, ?)", (1, "one"))
            txn.call_after(lambda: seen.append(self._names()))

        self.get_success(self.db.runInteraction("insert", _insert))
        self.assertEqual(seen, [[(1, "one")]])

    def _retryable_error(self) -> BaseException:
        if self.is_postgres:
            import psycopg2.errors

            return psycopg2.errors.SerializationFailure("could not serialize access")
        return sqlite3.OperationalError("database is locked")

    def test_retries_retryable_errors(self) -> None:
        attempts: list[int] = []
        failed: list[int] = []

        def _flaky(txn: LoggingTransaction) -> str:
            attempts.append(len(attempts))
            txn.call_on_exception(failed.append, len(attempts))
            txn.execute("INSERT INTO things (id, name) VALUES (?, ?)", (len(attempts), "x"))
            if len(attempts) < 3:
                raise self._retryable_error()
            return "done"

        self.assertEqual(self.get_success(self.db.runInteraction("flaky", _flaky)), "done")
        self.assertEqual(len(attempts), 3)
        # Only the last attempt's insert survives; the failed attempts' callbacks ran.
        self.assertEqual(self._names(), [(3, "x")])
        self.assertEqual(failed, [1, 2])

    def test_gives_up_after_retry_limit(self) -> None:
        attempts: list[int] = []

        def _always_fails(txn: LoggingTransaction) -> None:
            attempts.append(1)
            raise self._retryable_error()

        self.get_failure(
            self.db.runInteraction("always", _always_fails), self.db.engine.module.Error
        )
        self.assertEqual(len(attempts), self.db.retry_limit + 1)

    def test_other_errors_are_not_retried(self) -> None:
        attempts: list[int] = []

        def _fails(txn: LoggingTransaction) -> None:
            attempts.append(1)
            raise KeyError("no")

        self.get_failure(self.db.runInteraction("fails", _fails), KeyError)
        self.assertEqual(attempts, [1])

    def test_real_serialization_failure_is_retried(self) -> None:
        """Two PostgreSQL transactions update one row: the loser runs again and wins."""
        if not self.is_postgres:
            self.skipTest("PostgreSQL only")
        self.get_success(self.db.simple_insert("things", {"id": 1, "counter": 0}))
        attempts: list[int] = []

        def _increment(txn: LoggingTransaction) -> None:
            attempts.append(1)
            txn.execute("SELECT counter FROM things WHERE id = 1")
            row = txn.fetchone()
            assert row is not None
            if len(attempts) == 1:
                # Another connection commits an increment after our snapshot was taken.
                with self.db.startup_connection() as other:
                    cur = other.cursor(txn_name="interloper")
                    cur.execute("UPDATE things SET counter = counter + 1 WHERE id = 1")
                    other.commit()
                    cur.close()
            txn.execute("UPDATE things SET counter = ? WHERE id = 1", (row[0] + 1,))

        self.get_success(self.db.runInteraction("increment", _increment))
        self.assertEqual(len(attempts), 2)
        self.assertEqual(
            self.get_success(self.db.simple_select_one_onecol("things", {"id": 1}, "counter")), 2
        )

    def test_run_autocommit_commits_each_statement(self) -> None:
        after: list[str] = []

        def _insert_then_fail(txn: LoggingTransaction) -> None:
            txn.call_after(after.append, "after")
            txn.execute("INSERT INTO things (id, name) VALUES (?, ?)", (1, "one"))
            raise ValueError("boom")

        self.get_failure(self.db.run_autocommit("autocommit", _insert_then_fail), ValueError)
        # No transaction to roll back: the insert stays.
        self.assertEqual(self._names(), [(1, "one")])
        self.assertEqual(after, [])

        def _insert(txn: LoggingTransaction) -> None:
            txn.call_after(after.append, "after")
            txn.execute("INSERT INTO things (id, name) VALUES (?, ?)", (2, "two"))

        self.get_success(self.db.run_autocommit("autocommit", _insert))
        self.assertEqual(after, ["after"])
        # The connection is back to transactions afterwards.
        self.get_failure(
            self.db.runInteraction("fail", _insert_then_fail), self.db.engine.module.IntegrityError
        )
        self.assertEqual(self._names(), [(1, "one"), (2, "two")])

    def test_run_with_connection(self) -> None:
        def _with_conn(conn: LoggingDatabaseConnection, value: int) -> int:
            cur = conn.cursor(txn_name="with_conn")
            cur.execute("SELECT ? + 1", (value,))
            row = cur.fetchone()
            cur.close()
            assert row is not None
            return int(row[0])

        self.assertEqual(self.get_success(self.db.runWithConnection(_with_conn, 41)), 42)

    def test_placeholders_percent_and_quoted_question_marks(self) -> None:
        self.get_success(self.db.simple_insert("things", {"id": 1, "name": "50%?"}))
        rows = self.get_success(
            self.db.execute(
                "like",
                "SELECT name, '?', 'a%' FROM things WHERE name LIKE '%\\%?' ESCAPE '\\' AND id = ?",
                1,
            )
        )
        self.assertEqual(rows, [("50%?", "?", "a%")])

    def test_nul_in_text_is_refused_on_both_engines(self) -> None:
        err = self.get_failure(
            self.db.simple_insert("things", {"id": 1, "name": "a\x00b"}), StoreError
        )
        self.assertEqual((err.code, err.errcode), (400, "M_INVALID_PARAM"))
        self.get_failure(
            self.db.simple_insert_many("things", ("id", "name"), [(2, "ok"), (3, "\x00")]),
            StoreError,
        )
        self.assertEqual(self._names(), [])
        self.get_success(self.db.simple_insert("things", {"id": 4, "name": "fine"}))
        self.assertEqual(self._names(), [(4, "fine")])

    def test_execute_batch_and_description(self) -> None:
        def _txn(txn: LoggingTransaction) -> list[str]:
            txn.execute_batch("INSERT INTO things (id, name) VALUES (?, ?)", [(1, "a"), (2, "b")])
            txn.execute("SELECT id, name FROM things")
            return [d[0] for d in txn.description]

        self.assertEqual(self.get_success(self.db.runInteraction("batch", _txn)), ["id", "name"])
        self.assertEqual(self._names(), [(1, "a"), (2, "b")])

    def test_transactions_are_counted_and_slow_ones_logged(self) -> None:
        labels = {"desc": "counted_txn"}
        before = REGISTRY.get_sample_value("synapse_storage_transactions_total", labels) or 0.0
        with mock.patch("synapse.storage.database.SLOW_TRANSACTION_SECONDS", -1.0):
            with self.assertLogs("synapse.storage.txn", "WARNING") as logs:
                self.get_success(self.db.runInteraction("counted_txn", lambda txn: None))
        self.assertEqual(
            REGISTRY.get_sample_value("synapse_storage_transactions_total", labels), before + 1
        )
        self.assertIn("counted_txn", logs.output[0])

    def test_closed_pool_refuses_work(self) -> None:
        self.db.close()
        self.get_failure(self.db.runInteraction("closed", lambda txn: None), RuntimeError)

    # --- simple_* helpers ---------------------------------------------------------------

    def test_simple_insert_and_selects(self) -> None:
        self.get_success(self.db.simple_insert("things", {"id": 1, "name": "one", "counter": 10}))
        self.get_success(self.db.simple_insert("things", {"id": 2, "name": "two", "counter": 10}))
        self.assertEqual(
            self.get_success(self.db.simple_select_one("things", {"id": 1}, ("name", "counter"))),
            ("one", 10),
        )
        self.assertIsNone(
            self.get_success(
                self.db.simple_select_one("things", {"id": 3}, ("name",), allow_none=True)
            )
        )
        err = self.get_failure(
            self.db.simple_select_one("things", {"id": 3}, ("name",)), StoreError
        )
        self.assertEqual(err.code, 404)
        self.assertEqual(
            self.get_success(self.db.simple_select_one_onecol("things", {"id": 2}, "name")), "two"
        )
        self.assertIsNone(
            self.get_success(
                self.db.simple_select_one_onecol("things", {"id": 9}, "name", allow_none=True)
            )
        )
        self.assertEqual(
            sorted(
                self.get_success(self.db.simple_select_onecol("things", {"counter": 10}, "name"))
            ),
            ["one", "two"],
        )
        self.assertEqual(
            sorted(self.get_success(self.db.simple_select_list("things", None, ("id", "name")))),
            [(1, "one"), (2, "two")],
        )
        self.assertEqual(
            self.get_success(self.db.simple_select_list("things", {"id": 2}, ("name",))), [("two",)]
        )

    def test_none_in_keyvalues_matches_null(self) -> None:
        self.get_success(self.db.simple_insert("things", {"id": 1, "name": "one", "note": None}))
        self.get_success(self.db.simple_insert("things", {"id": 2, "name": "two", "note": "x"}))
        self.assertEqual(
            self.get_success(self.db.simple_select_onecol("things", {"note": None}, "id")), [1]
        )

    def test_simple_insert_or_ignore(self) -> None:
        self.assertTrue(
            self.get_success(
                self.db.simple_insert("things", {"id": 1, "name": "one"}, or_ignore=True)
            )
        )
        self.assertFalse(
            self.get_success(
                self.db.simple_insert("things", {"id": 1, "name": "uno"}, or_ignore=True)
            )
        )
        self.get_failure(
            self.db.simple_insert("things", {"id": 1, "name": "uno"}),
            self.db.engine.module.IntegrityError,
        )
        self.assertEqual(self._names(), [(1, "one")])

    def test_simple_insert_many(self) -> None:
        self.get_success(
            self.db.simple_insert_many("things", ("id", "name"), [(1, "a"), (2, "b"), (3, "c")])
        )
        self.get_success(self.db.simple_insert_many("things", ("id", "name"), []))
        self.assertEqual(self._names(), [(1, "a"), (2, "b"), (3, "c")])

    def test_simple_upsert(self) -> None:
        keys = {"a": "x", "b": "y"}
        self.get_success(self.db.simple_upsert("pairs", keys, {"v": "first"}))
        self.get_success(self.db.simple_upsert("pairs", keys, {"v": "second"}))
        self.assertEqual(
            self.get_success(self.db.simple_select_list("pairs", None, ("a", "b", "v"))),
            [("x", "y", "second")],
        )
        # insertion_values only apply to a new row; empty values leave a row as it is.
        self.get_success(
            self.db.simple_upsert("pairs", keys, {}, insertion_values={"v": "ignored"})
        )
        self.get_success(
            self.db.simple_upsert("pairs", {"a": "x", "b": "z"}, {}, insertion_values={"v": "new"})
        )
        self.assertEqual(
            sorted(self.get_success(self.db.simple_select_list("pairs", None, ("b", "v")))),
            [("y", "second"), ("z", "new")],
        )

    def test_simple_update(self) -> None:
        self.get_success(
            self.db.simple_insert_many("things", ("id", "counter"), [(1, 0), (2, 0), (3, 5)])
        )
        self.assertEqual(
            self.get_success(self.db.simple_update("things", {"counter": 0}, {"counter": 1})), 2
        )
        self.get_success(self.db.simple_update_one("things", {"id": 3}, {"name": "three"}))
        err = self.get_failure(
            self.db.simple_update_one("things", {"id": 4}, {"name": "four"}), StoreError
        )
        self.assertEqual(err.code, 404)
        err = self.get_failure(
            self.db.simple_update_one("things", {"counter": 1}, {"name": "many"}), StoreError
        )
        self.assertEqual(err.code, 500)
        # The failed update_one changed nothing.
        self.assertEqual(
            self.get_success(self.db.simple_select_onecol("things", {"name": "many"}, "id")), []
        )
        self.assertEqual(
            self.get_success(self.db.simple_select_one_onecol("things", {"id": 3}, "name")), "three"
        )

    def test_simple_delete(self) -> None:
        self.get_success(
            self.db.simple_insert_many("things", ("id", "counter"), [(1, 0), (2, 0), (3, 5)])
        )
        self.assertEqual(self.get_success(self.db.simple_delete("things", {"counter": 0})), 2)
        self.get_success(self.db.simple_delete_one("things", {"id": 3}))
        err = self.get_failure(self.db.simple_delete_one("things", {"id": 3}), StoreError)
        self.assertEqual(err.code, 404)
        self.get_failure(self.db.simple_delete("things", {}), ValueError)

    def test_simple_select_and_delete_many(self) -> None:
        rows = [(i, f"n{i}", i % 2) for i in range(1200)]
        self.get_success(self.db.simple_insert_many("things", ("id", "name", "counter"), rows))
        wanted = list(range(0, 1200, 2)) + [5000]
        got = self.get_success(
            self.db.simple_select_many("things", "id", wanted, {}, ("id", "name"))
        )
        self.assertEqual(sorted(got), [(i, f"n{i}") for i in range(0, 1200, 2)])
        odd = self.get_success(
            self.db.simple_select_many("things", "id", range(10), {"counter": 1}, ("id",))
        )
        self.assertEqual(sorted(odd), [(1,), (3,), (5,), (7,), (9,)])
        self.assertEqual(
            self.get_success(self.db.simple_select_many("things", "id", [], {}, ("id",))), []
        )
        self.assertEqual(
            self.get_success(self.db.simple_delete_many("things", "id", wanted, {"counter": 0})),
            600,
        )
        self.assertEqual(
            self.get_success(self.db.execute("count", "SELECT COUNT(*) FROM things")), [(600,)]
        )


class TxnLimitTestCase(DatabaseTestCase):
    def test_connection_replaced_after_txn_limit(self) -> None:
        if self.is_postgres:
            config = {**self.db_config, "txn_limit": 2}
        else:
            tmp = tempfile.TemporaryDirectory()
            self.addCleanup(tmp.cleanup)
            config = {"name": "sqlite3", "args": {"database": f"{tmp.name}/t.db"}, "txn_limit": 2}
        pool = DatabasePool(
            self.hs, DatabaseConfigStandIn(config["name"], config), create_engine(config)
        )
        self.addCleanup(pool.close)

        def _connection(txn: LoggingTransaction) -> Any:
            return txn.txn.connection  # type: ignore[attr-defined]

        # Holding the connections keeps them distinct objects.
        conns = [self.get_success(pool.runInteraction("which", _connection)) for _ in range(5)]
        self.assertIs(conns[0], conns[1])
        self.assertIsNot(conns[1], conns[2])
        self.assertIs(conns[2], conns[3])
        self.assertIsNot(conns[3], conns[4])


class IsolationTestCase(DatabaseTestCase):
    def test_postgres_transactions_are_repeatable_read(self) -> None:
        if not self.is_postgres:
            self.skipTest("PostgreSQL only")

        def _isolation(txn: LoggingTransaction) -> str:
            txn.execute("SHOW transaction_isolation")
            row = txn.fetchone()
            assert row is not None
            return row[0]

        self.assertEqual(
            self.get_success(self.db.runInteraction("iso", _isolation)), "repeatable read"
        )
        self.assertEqual(
            self.get_success(self.db.run_autocommit("iso", _isolation)), "repeatable read"
        )
