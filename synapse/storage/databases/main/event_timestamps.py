"""Finding a room's event nearest to a point in time (``/timestamp_to_event``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool


class EventTimestampStore:
    """Reads of ``events`` by ``origin_server_ts`` (index ``events_room_origin_ts``)."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs

    async def get_event_id_for_timestamp(
        self, room_id: str, timestamp: int, direction: str
    ) -> tuple[str, int] | None:
        """``(event_id, origin_server_ts)`` of the room's first event at or after
        ``timestamp`` (``f``), or last at or before it (``b``); None if there is none."""
        if direction == "f":
            cond, order = "origin_server_ts >= ?", "ASC"
        else:
            cond, order = "origin_server_ts <= ?", "DESC"
        rows = await self.db_pool.execute(
            "get_event_id_for_timestamp",
            "SELECT event_id, origin_server_ts FROM events"
            f" WHERE room_id = ? AND {cond} AND outlier = 0 AND soft_failed = 0"
            " AND rejected_reason IS NULL"
            f" ORDER BY origin_server_ts {order}, stream_ordering {order} LIMIT 1",
            room_id,
            timestamp,
        )
        if not rows:
            return None
        return rows[0][0], int(rows[0][1])
