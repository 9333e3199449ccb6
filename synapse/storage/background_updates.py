"""Background updates: long rewrites of existing rows, run in small batches after start-up.

A schema delta that must rewrite or index a big table does not do it at start-up: it
inserts a row into ``background_updates``::

    INSERT INTO background_updates (update_name, progress_json, depends_on, ordering)
        VALUES ('foo_rewrite', '{}', NULL, 0);

and the store that owns the table registers what to do for that name::

    db.updates.register_background_update_handler("foo_rewrite", self._foo_rewrite)

    async def _foo_rewrite(self, progress: JsonDict, batch_size: int) -> int:
        # process up to batch_size items after progress["last"], then either
        await self.db_pool.updates.update_progress("foo_rewrite", {"last": last})
        # or, when nothing is left,
        await self.db_pool.updates.end_background_update("foo_rewrite")
        return items_processed

or, for an index, ``register_background_index_update(...)``. Updates run one batch at a
time, oldest ``ordering`` first and never before the update they ``depends_on``; batches
are sized to take about ``BATCH_TARGET_SECONDS``, with a pause between them so that the
server keeps serving. They start once the reactor runs (so not in tests, which call
:meth:`BackgroundUpdater.run_background_updates` themselves).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING

from twisted.internet import defer

from synapse.storage.database import DatabasePool, LoggingDatabaseConnection, LoggingTransaction
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

BackgroundUpdateHandler = Callable[[JsonDict, int], Awaitable[int]]

#: How long one batch should take.
BATCH_TARGET_SECONDS = 0.1
#: The pause between batches.
BATCH_INTERVAL_SECONDS = 1.0
DEFAULT_BATCH_SIZE = 100
MIN_BATCH_SIZE = 1
MAX_BATCH_SIZE = 10_000


class BackgroundUpdater:
    """Runs the pending background updates of one database, batch by batch."""

    def __init__(self, hs: HomeServer, database: DatabasePool) -> None:
        self._clock = hs.get_clock()
        self.db_pool = database
        self._handlers: dict[str, BackgroundUpdateHandler] = {}
        self._batch_sizes: dict[str, int] = {}
        self._all_done = False
        self._running = False
        # Paused by the admin API (POST /_synapse/admin/v1/background_updates/enabled).
        self.enabled = True
        # Per update run in this process: (items done, seconds spent).
        self.progress: dict[str, tuple[int, float]] = {}
        self.current_update: str | None = None

    # --- registration -------------------------------------------------------------------

    def register_background_update_handler(
        self, update_name: str, handler: BackgroundUpdateHandler
    ) -> None:
        """``handler(progress, batch_size) -> items processed`` does one batch of the update."""
        self._handlers[update_name] = handler

    def register_background_index_update(
        self,
        update_name: str,
        index_name: str,
        table: str,
        columns: Collection[str],
        where_clause: str | None = None,
        unique: bool = False,
    ) -> None:
        """An update that creates an index; on PostgreSQL without locking the table."""

        async def _create_index(progress: JsonDict, batch_size: int) -> int:
            await self.db_pool.runWithConnection(
                self._create_index, index_name, table, columns, where_clause, unique
            )
            await self.end_background_update(update_name)
            return 1

        self.register_background_update_handler(update_name, _create_index)

    def _create_index(
        self,
        conn: LoggingDatabaseConnection,
        index_name: str,
        table: str,
        columns: Collection[str],
        where_clause: str | None,
        unique: bool,
    ) -> None:
        engine = self.db_pool.engine
        where = f" WHERE {where_clause}" if where_clause else ""
        kind = "UNIQUE INDEX" if unique else "INDEX"
        cur = conn.cursor(txn_name=f"create_index_{index_name}")
        try:
            if engine.name == "psycopg2":
                # CONCURRENTLY cannot run in a transaction. A build that failed half-way
                # leaves an invalid index behind: drop it and start again.
                engine.set_autocommit(conn.conn, True)
                try:
                    cur.execute(f"DROP INDEX IF EXISTS {index_name}")
                    cur.execute(
                        f"CREATE {kind} CONCURRENTLY {index_name} ON {table} ({', '.join(columns)}){where}"
                    )
                finally:
                    engine.set_autocommit(conn.conn, False)
            else:
                cur.execute(
                    f"CREATE {kind} IF NOT EXISTS {index_name} ON {table} ({', '.join(columns)}){where}"
                )
        finally:
            cur.close()

    # --- progress -----------------------------------------------------------------------

    async def update_progress(self, update_name: str, progress: JsonDict) -> None:
        """Record how far the update has got (in its own transaction)."""
        await self.db_pool.runInteraction(
            "background_update_progress", self.update_progress_txn, update_name, progress
        )

    @staticmethod
    def update_progress_txn(txn: LoggingTransaction, update_name: str, progress: JsonDict) -> None:
        """Record how far the update has got, in the transaction that did the batch."""
        DatabasePool.simple_update_one_txn(
            txn,
            "background_updates",
            {"update_name": update_name},
            {"progress_json": json.dumps(progress)},
        )

    async def end_background_update(self, update_name: str) -> None:
        """Mark the update done."""
        await self.db_pool.simple_delete_one(
            "background_updates", {"update_name": update_name}, desc="end_background_update"
        )

    async def has_completed_background_update(self, update_name: str) -> bool:
        if self._all_done:
            return True
        row = await self.db_pool.simple_select_one_onecol(
            "background_updates",
            {"update_name": update_name},
            "update_name",
            allow_none=True,
            desc="has_completed_background_update",
        )
        return row is None

    async def has_completed_background_updates(self) -> bool:
        if self._all_done:
            return True
        rows = await self.db_pool.simple_select_onecol(
            "background_updates", {}, "update_name", desc="has_completed_background_updates"
        )
        if not rows:
            self._all_done = True
        return self._all_done

    # --- running ------------------------------------------------------------------------

    def start_doing_background_updates(self) -> None:
        """Run the pending updates in the background, pausing between batches."""
        if self._running or self._all_done:
            return
        d = defer.ensureDeferred(self.run_background_updates(sleep=True))
        d.addErrback(lambda f: logger.error("Background updates stopped: %s", f.getTraceback()))

    def set_enabled(self, enabled: bool) -> None:
        """Pause the updates, or let them run again."""
        self.enabled = enabled
        if enabled and not self._all_done:
            self.start_doing_background_updates()

    async def run_background_updates(self, sleep: bool = False) -> None:
        """Run batches until no update is left (or none that can run)."""
        if self._running:
            return
        self._running = True
        try:
            while True:
                if sleep:
                    await self._clock.sleep(BATCH_INTERVAL_SECONDS)
                if not self.enabled:
                    return
                if await self.do_next_background_update():
                    return
        finally:
            self._running = False

    async def do_next_background_update(self) -> bool:
        """Run one batch of the next update; true when no update is left that can run."""
        rows = await self.db_pool.simple_select_list(
            "background_updates",
            None,
            ("update_name", "progress_json", "depends_on", "ordering"),
            desc="get_background_updates",
        )
        if not rows:
            if not self._all_done:
                logger.info("No background updates left to run")
            self._all_done = True
            return True
        pending = {row[0] for row in rows}
        runnable = sorted(
            (row for row in rows if row[2] not in pending and row[0] in self._handlers),
            key=lambda row: (row[3], row[0]),
        )
        if not runnable:
            missing = sorted(name for name in pending if name not in self._handlers)
            logger.error(
                "Background updates cannot run: %s",
                f"no handler for {missing}" if missing else "they depend on each other",
            )
            return True

        update_name, progress_json = runnable[0][0], runnable[0][1]
        self.current_update = update_name
        batch_size = self._batch_sizes.get(update_name, DEFAULT_BATCH_SIZE)
        start = time.perf_counter()
        items = await self._handlers[update_name](json.loads(progress_json), batch_size)
        duration = time.perf_counter() - start
        done_items, done_duration = self.progress.get(update_name, (0, 0.0))
        self.progress[update_name] = (done_items + items, done_duration + duration)
        self._batch_sizes[update_name] = _next_batch_size(batch_size, items, duration)
        logger.info(
            "Background update %r: %d items in %.3f s (next batch %d)",
            update_name,
            items,
            duration,
            self._batch_sizes[update_name],
        )
        return False


def _next_batch_size(batch_size: int, items: int, duration: float) -> int:
    """A batch size that should take about ``BATCH_TARGET_SECONDS``, at most doubling."""
    if items <= 0 or duration <= 0:
        return batch_size
    wanted = int(items * BATCH_TARGET_SECONDS / duration)
    return max(MIN_BATCH_SIZE, min(MAX_BATCH_SIZE, 2 * batch_size, wanted))
