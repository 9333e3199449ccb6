"""Unread notification counts per room, as ``/sync`` reports them.

Until push rules are evaluated (``synapse/push/``), no event notifies anyone, so every
count is zero. The push rule work stores what each event does for each user and
answers ``get_unread_counts_for_rooms`` from it; ``/sync`` needs nothing else.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import attr

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool


@attr.s(slots=True, frozen=True, auto_attribs=True)
class NotifCounts:
    """Unread notifications of one timeline (a room's main timeline or one thread)."""

    notify_count: int = 0
    highlight_count: int = 0


@attr.s(slots=True, frozen=True, auto_attribs=True)
class RoomNotifCounts:
    """The unread notifications of a user in one room.

    With ``thread_counts`` asked for, ``main_timeline`` counts the main timeline only
    and ``threads`` each thread with notifications (by thread root); otherwise
    ``main_timeline`` counts the whole room and ``threads`` is empty.
    """

    main_timeline: NotifCounts = NotifCounts()
    threads: dict[str, NotifCounts] = attr.Factory(dict)


class EventPushActionsStore:
    """What events do for users' notification counts."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs

    async def get_unread_counts_for_rooms(
        self, user_id: str, room_ids: Collection[str], thread_counts: bool
    ) -> dict[str, RoomNotifCounts]:
        """The user's unread counts in each of ``room_ids`` (since their latest read
        receipt, ``m.read`` or ``m.read.private``); rooms left out have none."""
        return {}
