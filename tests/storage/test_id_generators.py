"""StreamIdGenerator: ids in order, and a current token held back by unfinished ids."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from synapse.storage.database import LoggingTransaction
from synapse.storage.util.id_generators import StreamIdGenerator
from tests.storage._base import DatabaseTestCase


class StreamIdGeneratorTestCase(DatabaseTestCase):
    def setUp(self) -> None:
        super().setUp()

        def _create(txn: LoggingTransaction) -> None:
            txn.execute("CREATE TABLE gen_test (stream_id BIGINT NOT NULL PRIMARY KEY)")
            if self.is_postgres:
                txn.execute("CREATE SEQUENCE gen_test_seq")
                txn.execute("CREATE SEQUENCE gen_test_back_seq")

        self.get_success(self.db.runInteraction("create", _create))

    def _insert(self, *ids: int) -> None:
        self.get_success(
            self.db.simple_insert_many("gen_test", ("stream_id",), [(i,) for i in ids])
        )

    def _gen(self, **kwargs: Any) -> StreamIdGenerator:
        return StreamIdGenerator(None, self.db, "gen_test", "stream_id", "gen_test_seq", **kwargs)

    def _enter(self, cm: AbstractAsyncContextManager[Any]) -> Any:
        return self.get_success(cm.__aenter__())

    def _exit(self, cm: AbstractAsyncContextManager[Any]) -> None:
        self.get_success(cm.__aexit__(None, None, None))

    def test_empty_table(self) -> None:
        gen = self._gen()
        self.assertEqual(gen.get_current_token(), 0)

        async def _take() -> int:
            async with gen.get_next() as stream_id:
                return stream_id

        self.assertEqual(self.get_success(_take()), 1)
        self.assertEqual(gen.get_current_token(), 1)

    def test_starts_after_existing_rows_and_counts_up(self) -> None:
        self._insert(1, 2, 7)
        gen = self._gen()
        self.assertEqual(gen.get_current_token(), 7)
        taken = []
        for _ in range(3):
            cm = gen.get_next()
            taken.append(self._enter(cm))
            self._exit(cm)
        self.assertEqual(taken, [8, 9, 10])
        self.assertEqual(gen.get_current_token(), 10)

    def test_token_held_back_by_unfinished_ids(self) -> None:
        self._insert(3)
        gen = self._gen()
        first, second, third = gen.get_next(), gen.get_next(), gen.get_next()
        self.assertEqual([self._enter(first), self._enter(second), self._enter(third)], [4, 5, 6])
        self.assertEqual(gen.get_current_token(), 3)

        self._exit(second)
        self.assertEqual(gen.get_current_token(), 3)
        self._exit(first)
        self.assertEqual(gen.get_current_token(), 5)
        self._exit(third)
        self.assertEqual(gen.get_current_token(), 6)

    def test_failed_writer_does_not_hold_the_token(self) -> None:
        gen = self._gen()

        async def _fail() -> None:
            async with gen.get_next():
                raise ValueError("write failed")

        self.get_failure(_fail(), ValueError)
        self.assertEqual(gen.get_current_token(), 1)

    def test_get_next_mult(self) -> None:
        self._insert(10)
        gen = self._gen()
        cm = gen.get_next_mult(3)
        ids = self._enter(cm)
        self.assertEqual(ids, [11, 12, 13])
        self.assertEqual(gen.get_current_token(), 10)
        self._exit(cm)
        self.assertEqual(gen.get_current_token(), 13)

    def test_get_next_txn_finishes_with_the_transaction(self) -> None:
        gen = self._gen()
        advances: list[int] = []
        gen.add_advance_listener(advances.append)
        seen_inside: list[int] = []

        def _write(txn: LoggingTransaction) -> int:
            stream_id = gen.get_next_txn(txn)
            txn.execute("INSERT INTO gen_test (stream_id) VALUES (?)", (stream_id,))
            seen_inside.append(gen.get_current_token())
            return stream_id

        self.assertEqual(self.get_success(self.db.runInteraction("write", _write)), 1)
        self.assertEqual(seen_inside, [0])
        self.assertEqual(gen.get_current_token(), 1)
        self.assertEqual(advances, [1])

        def _write_and_fail(txn: LoggingTransaction) -> None:
            _write(txn)
            raise ValueError("rolled back")

        self.get_failure(self.db.runInteraction("fail", _write_and_fail), ValueError)
        self.assertEqual(gen.get_current_token(), 2)
        self.assertEqual(
            self.get_success(self.db.simple_select_onecol("gen_test", {}, "stream_id")), [1]
        )

    def test_backwards_stream(self) -> None:
        self._insert(5, -1, -4)
        gen = StreamIdGenerator(
            None, self.db, "gen_test", "stream_id", "gen_test_back_seq", step=-1
        )
        self.assertEqual(gen.get_current_token(), -4)
        first, second = gen.get_next(), gen.get_next()
        self.assertEqual([self._enter(first), self._enter(second)], [-5, -6])
        self._exit(second)
        self.assertEqual(gen.get_current_token(), -4)
        self._exit(first)
        self.assertEqual(gen.get_current_token(), -6)

    def test_sequence_behind_the_table_is_moved_on(self) -> None:
        if not self.is_postgres:
            self.skipTest("PostgreSQL only")
        self._insert(1, 2, 3)
        gen = self._gen()
        cm = gen.get_next()
        self.assertEqual(self._enter(cm), 4)
        self._exit(cm)

    def test_missing_sequence_is_reported(self) -> None:
        if not self.is_postgres:
            self.skipTest("PostgreSQL only")
        with self.assertRaisesRegex(RuntimeError, "no_such_seq"):
            StreamIdGenerator(None, self.db, "gen_test", "stream_id", "no_such_seq")
