"""Reports of events, rooms and users (``event_reports``, ``room_reports``, ``user_reports``).

Written here, listed by the admin API. Each table's IDs come from its own generator
(a sequence on PostgreSQL), so that concurrent reports never clash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.storage.databases.main._events_sql import encode_json
from synapse.storage.util.id_generators import StreamIdGenerator
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction


class ReportStore:
    """The three report tables."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self._event_ids = StreamIdGenerator(
            None, database, "event_reports", "id", "event_reports_sequence"
        )
        self._room_ids = StreamIdGenerator(
            None, database, "room_reports", "id", "room_reports_sequence"
        )
        self._user_ids = StreamIdGenerator(
            None, database, "user_reports", "id", "user_reports_sequence"
        )

    async def add_event_report(
        self,
        room_id: str,
        event_id: str,
        user_id: str,
        reason: str | None,
        content: JsonDict,
        received_ts: int,
    ) -> int:
        """Store a report of an event; its ID."""

        def _txn(txn: LoggingTransaction) -> int:
            report_id = self._event_ids.get_next_txn(txn)
            self.db_pool.simple_insert_txn(
                txn,
                "event_reports",
                {
                    "id": report_id,
                    "received_ts": received_ts,
                    "room_id": room_id,
                    "event_id": event_id,
                    "user_id": user_id,
                    "reason": reason,
                    "content": encode_json(content),
                },
            )
            return report_id

        return await self.db_pool.runInteraction("add_event_report", _txn)

    async def add_room_report(
        self, room_id: str, user_id: str, reason: str, received_ts: int
    ) -> int:
        """Store a report of a room; its ID."""

        def _txn(txn: LoggingTransaction) -> int:
            report_id = self._room_ids.get_next_txn(txn)
            self.db_pool.simple_insert_txn(
                txn,
                "room_reports",
                {
                    "id": report_id,
                    "received_ts": received_ts,
                    "room_id": room_id,
                    "user_id": user_id,
                    "reason": reason,
                },
            )
            return report_id

        return await self.db_pool.runInteraction("add_room_report", _txn)

    async def add_user_report(
        self, target_user_id: str, user_id: str, reason: str, received_ts: int
    ) -> int:
        """Store a report of a user; its ID."""

        def _txn(txn: LoggingTransaction) -> int:
            report_id = self._user_ids.get_next_txn(txn)
            self.db_pool.simple_insert_txn(
                txn,
                "user_reports",
                {
                    "id": report_id,
                    "received_ts": received_ts,
                    "target_user_id": target_user_id,
                    "user_id": user_id,
                    "reason": reason,
                },
            )
            return report_id

        return await self.db_pool.runInteraction("add_user_report", _txn)
