"""Background updates: batches with progress, ordering and dependencies, index builds."""

from __future__ import annotations

from synapse.storage.background_updates import (
    BATCH_INTERVAL_SECONDS,
    BackgroundUpdateHandler,
    BackgroundUpdater,
    _next_batch_size,
)
from synapse.storage.database import LoggingTransaction
from synapse.types import JsonDict
from tests.storage._base import DatabaseTestCase


class BackgroundUpdatesTestCase(DatabaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.updates: BackgroundUpdater = self.db.updates

        def _create(txn: LoggingTransaction) -> None:
            txn.execute("CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, doubled BIGINT)")

        self.get_success(self.db.runInteraction("create", _create))
        self.get_success(
            self.db.simple_insert_many("items", ("id",), [(i,) for i in range(1, 251)])
        )
        self.order: list[str] = []

    def _add_update(self, name: str, depends_on: str | None = None, ordering: int = 0) -> None:
        self.get_success(
            self.db.simple_insert(
                "background_updates",
                {
                    "update_name": name,
                    "progress_json": "{}",
                    "depends_on": depends_on,
                    "ordering": ordering,
                },
            )
        )

    async def _double(self, progress: JsonDict, batch_size: int) -> int:
        """Fill in ``doubled``, ``batch_size`` rows at a time, recording the last id done."""
        self.order.append("double")
        last = progress.get("last", 0)

        def _batch(txn: LoggingTransaction) -> int:
            txn.execute("SELECT id FROM items WHERE id > ? ORDER BY id LIMIT ?", (last, batch_size))
            ids = [row[0] for row in txn.fetchall()]
            for i in ids:
                txn.execute("UPDATE items SET doubled = ? WHERE id = ?", (2 * i, i))
            if ids:
                self.updates.update_progress_txn(txn, "double", {"last": ids[-1]})
            return len(ids)

        done = await self.db.runInteraction("double_batch", _batch)
        if done == 0:
            await self.updates.end_background_update("double")
        return done

    def test_runs_in_batches_until_done(self) -> None:
        self._add_update("double")
        self.updates.register_background_update_handler("double", self._double)
        self.assertFalse(self.get_success(self.updates.has_completed_background_updates()))

        self.assertFalse(self.get_success(self.updates.do_next_background_update()))
        progress = self.get_success(
            self.db.simple_select_one_onecol(
                "background_updates", {"update_name": "double"}, "progress_json"
            )
        )
        self.assertEqual(progress, '{"last": 100}')

        self.get_success(self.updates.run_background_updates())
        self.assertTrue(self.get_success(self.updates.has_completed_background_updates()))
        self.assertTrue(self.get_success(self.updates.has_completed_background_update("double")))
        rows = self.get_success(
            self.db.execute("check", "SELECT COUNT(*) FROM items WHERE doubled = 2 * id")
        )
        self.assertEqual(rows, [(250,)])

    def test_dependencies_and_ordering(self) -> None:
        async def _record(name: str) -> int:
            self.order.append(name)
            await self.updates.end_background_update(name)
            return 1

        def _handler(name: str) -> BackgroundUpdateHandler:
            return lambda progress, batch_size: _record(name)

        for name in ("a", "b", "c"):
            self.updates.register_background_update_handler(name, _handler(name))
        self._add_update("b", depends_on="c", ordering=1)
        self._add_update("a", ordering=2)
        self._add_update("c", ordering=3)
        self.get_success(self.updates.run_background_updates())
        # "b" comes first by ordering but must wait for "c".
        self.assertEqual(self.order, ["a", "c", "b"])

    def test_update_without_handler_stops_the_run(self) -> None:
        self._add_update("nobody_handles_this")
        with self.assertLogs("synapse.storage.background_updates", "ERROR"):
            self.get_success(self.updates.run_background_updates())
        self.assertFalse(self.get_success(self.updates.has_completed_background_updates()))

    def test_index_update(self) -> None:
        self._add_update("items_doubled_idx")
        self.updates.register_background_index_update(
            "items_doubled_idx",
            "items_doubled",
            "items",
            ("doubled",),
            where_clause="doubled IS NOT NULL",
        )
        self.get_success(self.updates.run_background_updates())
        if self.is_postgres:
            sql = "SELECT indexname FROM pg_indexes WHERE tablename = 'items' AND indexname = ?"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND name = ?"
        self.assertEqual(
            self.get_success(self.db.execute("idx", sql, "items_doubled")), [("items_doubled",)]
        )
        self.assertTrue(
            self.get_success(self.updates.has_completed_background_update("items_doubled_idx"))
        )

    def test_started_updates_pause_between_batches(self) -> None:
        self._add_update("double")
        self.updates.register_background_update_handler("double", self._double)
        self.updates.start_doing_background_updates()
        self.assertEqual(self.order, [])
        self.reactor.advance(BATCH_INTERVAL_SECONDS)
        self.assertEqual(self.order, ["double"])
        for _ in range(10):
            self.reactor.advance(BATCH_INTERVAL_SECONDS)
        self.assertTrue(self.get_success(self.updates.has_completed_background_updates()))

    def test_batch_size_follows_duration(self) -> None:
        # Fast batches grow (at most doubling), slow ones shrink, empty ones stay.
        self.assertEqual(_next_batch_size(100, 100, 0.001), 200)
        self.assertEqual(_next_batch_size(100, 100, 1.0), 10)
        self.assertEqual(_next_batch_size(100, 0, 1.0), 100)
        self.assertEqual(_next_batch_size(5, 5, 100.0), 1)
