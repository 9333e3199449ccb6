"""Presence (``presence_stream``): each user's latest presence state and its position.

A change clients must hear about takes the next position of the presence stream; the
user's one row moves there. ``/sync`` asks which users changed between two positions,
which a ``StreamChangeCache`` of users answers from memory for recent positions.
Timestamp refreshes that nobody is told about are written without a new position.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from synapse.api.constants import PresenceState
from synapse.api.presence import UserPresenceState
from synapse.storage.databases.main._events_sql import batch_iter, in_list
from synapse.storage.util.id_generators import AbstractStreamIdGenerator, StreamIdGenerator
from synapse.util.caches.stream_change_cache import StreamChangeCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

_COLUMNS = (
    "user_id",
    "state",
    "last_active_ts",
    "last_federation_update_ts",
    "last_user_sync_ts",
    "status_msg",
    "currently_active",
)


def _row_to_state(row: tuple[Any, ...]) -> UserPresenceState:
    return UserPresenceState(
        user_id=row[0],
        state=row[1],
        last_active_ts=int(row[2]),
        last_federation_update_ts=int(row[3]),
        last_user_sync_ts=int(row[4]),
        status_msg=row[5],
        currently_active=bool(row[6]),
    )


class PresenceStore:
    """The ``presence_stream`` table and the presence stream."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._id_gen = StreamIdGenerator(
            None, database, "presence_stream", "stream_id", "presence_stream_sequence"
        )
        self._user_change_cache = StreamChangeCache(
            "presence_users", self._id_gen.get_current_token()
        )
        # Everyone not offline when the server starts, for the handler to time out.
        self._presence_on_startup: list[UserPresenceState] | None = self._load_not_offline()

    def _load_not_offline(self) -> list[UserPresenceState]:
        with self.db_pool.startup_connection() as conn:
            txn = conn.cursor(txn_name="presence_on_startup")
            try:
                txn.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM presence_stream WHERE state != ?",
                    (PresenceState.OFFLINE,),
                )
                rows = txn.fetchall()
            finally:
                txn.close()
        return [_row_to_state(tuple(r)) for r in rows]

    def take_presence_startup_info(self) -> list[UserPresenceState]:
        """The states loaded at start-up (once: the handler keeps them from then on)."""
        states, self._presence_on_startup = self._presence_on_startup or [], None
        return states

    # --- positions -----------------------------------------------------------------
    @property
    def stream_id_generator(self) -> AbstractStreamIdGenerator:
        return self._id_gen

    def get_current_presence_token(self) -> int:
        """The position up to which every presence change is persisted."""
        return self._id_gen.get_current_token()

    # --- writes ----------------------------------------------------------------------
    async def update_presence(self, states: Collection[UserPresenceState]) -> int:
        """Store ``states``, each at a new stream position; the highest position."""
        return await self.db_pool.runInteraction(
            "update_presence", self._update_presence_txn, list(states)
        )

    def _update_presence_txn(self, txn: LoggingTransaction, states: list[UserPresenceState]) -> int:
        max_id = 0
        changed: list[tuple[str, int]] = []
        for state in states:
            stream_id = self._id_gen.get_next_txn(txn)
            self.db_pool.simple_upsert_txn(
                txn,
                "presence_stream",
                {"user_id": state.user_id},
                {
                    "stream_id": stream_id,
                    "state": state.state,
                    "last_active_ts": state.last_active_ts,
                    "last_federation_update_ts": state.last_federation_update_ts,
                    "last_user_sync_ts": state.last_user_sync_ts,
                    "status_msg": state.status_msg,
                    "currently_active": 1 if state.currently_active else 0,
                },
            )
            changed.append((state.user_id, stream_id))
            max_id = max(max_id, stream_id)
        txn.call_after(self._record_changes, changed)
        return max_id

    def _record_changes(self, changed: list[tuple[str, int]]) -> None:
        for user_id, stream_id in changed:
            self._user_change_cache.entity_has_changed(user_id, stream_id)

    async def update_presence_timestamps(self, states: Collection[UserPresenceState]) -> None:
        """Write the timestamps of ``states`` (of users that have a row) in place,
        without a new stream position: nothing clients are told about changed."""
        rows = [
            (s.last_active_ts, s.last_federation_update_ts, s.last_user_sync_ts, s.user_id)
            for s in states
        ]
        if not rows:
            return

        def _txn(txn: LoggingTransaction) -> None:
            txn.execute_batch(
                "UPDATE presence_stream SET last_active_ts = ?, last_federation_update_ts = ?,"
                " last_user_sync_ts = ? WHERE user_id = ?",
                rows,
            )

        await self.db_pool.runInteraction("update_presence_timestamps", _txn)

    # --- reads -----------------------------------------------------------------------
    async def get_presence_for_users(self, user_ids: Iterable[str]) -> dict[str, UserPresenceState]:
        """The stored states of those of ``user_ids`` that have one."""
        user_ids = list(user_ids)
        if not user_ids:
            return {}

        def _txn(txn: LoggingTransaction) -> dict[str, UserPresenceState]:
            out: dict[str, UserPresenceState] = {}
            for chunk in batch_iter(user_ids):
                clause, args = in_list("user_id", chunk)
                txn.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM presence_stream WHERE {clause}", args
                )
                for row in txn.fetchall():
                    state = _row_to_state(tuple(row))
                    out[state.user_id] = state
            return out

        return await self.db_pool.runInteraction("get_presence_for_users", _txn)

    async def get_users_with_presence_changes(self, from_key: int, to_key: int) -> set[str]:
        """The users whose presence changed at a position in ``(from_key, to_key]``.

        Users who changed after ``to_key`` may be included too (a user's one row only
        keeps their last position): readers send current states, so this only sends a
        state once more. Answered from memory when the cache reaches back to ``from_key``.
        """
        if from_key >= to_key:
            return set()
        changed = self._user_change_cache.get_all_entities_changed(from_key)
        if changed is not None:
            return changed
        rows = await self.db_pool.execute(
            "get_users_with_presence_changes",
            "SELECT user_id FROM presence_stream WHERE stream_id > ?",
            from_key,
        )
        return {r[0] for r in rows}
