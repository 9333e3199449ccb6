"""What events do for local users' notifications, and the unread counts of ``/sync``.

``event_push_actions`` holds one row per (event, user) that the user's push rules made
notify, written in the same transaction as the event (see
``synapse/push/bulk_push_rule_evaluator.py``), so that a new event and the count it
raises are always seen together. A user has read a thread of a room up to the latest of:

- their unthreaded ``m.read`` / ``m.read.private`` receipt in the room (it covers every
  thread),
- their threaded receipt for that thread (``main`` or a thread root),
- their own latest event in that thread (``event_push_last_sent``): sending an event
  marks what came before it as read.

An unread count is the number of notifying rows after that position. Counts are never
kept as running totals: a receipt moves the position, and the next read counts again.
The reads of one ``/sync`` are one transaction: the read positions of all its rooms, then
one grouped count that joins the rows with those positions.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attr

from synapse.api.constants import ReceiptTypes
from synapse.events import EventBase
from synapse.storage.databases.main._events_sql import batch_iter, encode_json, in_list
from synapse.storage.databases.main.receipts import ReceiptsStore

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

# The thread ID of the main timeline.
MAIN_TIMELINE = "main"

# Receipts that mark notifications as read.
_READ_RECEIPT_TYPES = [ReceiptTypes.READ, ReceiptTypes.READ_PRIVATE]

# Bound parameters per count statement: below SQLite's historical limit of 999.
_MAX_PARAMS = 900


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


@attr.s(slots=True, frozen=True, auto_attribs=True)
class UserNotification:
    """What one event does for one user: the actions of the push rule that matched."""

    actions: list[Any]
    highlight: bool


@attr.s(slots=True, auto_attribs=True)
class EventPushActions:
    """What one event being persisted does for local users, written with the event (its
    stream ordering is read from the event when the transaction runs)."""

    event: EventBase
    # "main" or the thread root's event ID.
    thread_id: str
    # Users the event notifies.
    notifications: dict[str, UserNotification] = attr.Factory(dict)
    # The sender, when local: the event marks their notifications before it as read.
    local_sender: str | None = None
    # The event a redaction redacts: its notifications are dropped.
    redacts: str | None = None


class EventPushActionsStore:
    """``event_push_actions`` and ``event_push_last_sent``."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs

    # --- writes, within the persist transaction -------------------------------------
    def persist_push_actions_txn(
        self, txn: LoggingTransaction, room_id: str, items: Sequence[EventPushActions]
    ) -> None:
        """Store the notifications of a batch of one room's events."""
        rows: list[tuple[Any, ...]] = []
        last_sent: dict[tuple[str, str], int] = {}
        redacted: list[tuple[str, str]] = []
        # Users notified alike share their actions list: encode each list once.
        encoded: dict[int, tuple[list[Any], str]] = {}
        for item in items:
            ordering = item.event.internal_metadata.stream_ordering
            assert ordering is not None, "push actions are written with their event"
            event_id = item.event.event_id
            for user_id, notification in item.notifications.items():
                entry = encoded.get(id(notification.actions))
                if entry is None or entry[0] is not notification.actions:
                    entry = (notification.actions, encode_json(notification.actions))
                    encoded[id(notification.actions)] = entry
                rows.append(
                    (
                        user_id,
                        room_id,
                        event_id,
                        ordering,
                        item.thread_id,
                        entry[1],
                        1,
                        1 if notification.highlight else 0,
                    )
                )
            if item.local_sender is not None:
                key = (item.local_sender, item.thread_id)
                last_sent[key] = max(ordering, last_sent.get(key, ordering))
            if item.redacts is not None:
                redacted.append((item.redacts, room_id))
        if rows:
            txn.execute_batch(
                "INSERT INTO event_push_actions (user_id, room_id, event_id, stream_ordering,"
                " thread_id, actions, notif, highlight) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (event_id, user_id) DO NOTHING",
                rows,
            )
        if last_sent:
            txn.execute_batch(
                "INSERT INTO event_push_last_sent (user_id, room_id, thread_id, stream_ordering)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (user_id, room_id, thread_id) DO UPDATE"
                " SET stream_ordering = EXCLUDED.stream_ordering"
                " WHERE event_push_last_sent.stream_ordering < EXCLUDED.stream_ordering",
                [(u, room_id, t, s) for (u, t), s in last_sent.items()],
            )
        if redacted:
            txn.execute_batch(
                "DELETE FROM event_push_actions WHERE event_id = ? AND room_id = ?", redacted
            )

    # --- reads -----------------------------------------------------------------------
    async def get_push_actions_for_event(self, event_id: str) -> dict[str, UserNotification]:
        """The users an event notifies, with the actions of the rule that matched."""
        rows = await self.db_pool.simple_select_list(
            "event_push_actions",
            {"event_id": event_id},
            ("user_id", "actions", "highlight"),
            desc="get_push_actions_for_event",
        )
        return {u: UserNotification(json.loads(a), bool(h)) for u, a, h in rows}

    async def get_unread_counts_for_rooms(
        self, user_id: str, room_ids: Collection[str], thread_counts: bool
    ) -> dict[str, RoomNotifCounts]:
        """The user's unread counts in each of ``room_ids`` (since their latest read
        receipt, ``m.read`` or ``m.read.private``); rooms left out have none."""
        if not room_ids:
            return {}
        return await self.db_pool.runInteraction(
            "get_unread_counts_for_rooms",
            self._get_unread_counts_txn,
            user_id,
            sorted(set(room_ids)),
            thread_counts,
        )

    def _get_unread_counts_txn(
        self, txn: LoggingTransaction, user_id: str, room_ids: list[str], thread_counts: bool
    ) -> dict[str, RoomNotifCounts]:
        positions = self._read_positions_txn(txn, user_id, room_ids)
        counts: dict[str, dict[str, tuple[int, int]]] = {}
        for rooms, threads in _chunks(room_ids, positions):
            sql, args = _count_sql(user_id, rooms, threads)
            txn.execute(sql, args)
            for room_id, thread_id, notifs, highlights in txn.fetchall():
                counts.setdefault(room_id, {})[thread_id] = (int(notifs), int(highlights or 0))
        return {
            room_id: _room_counts(by_thread, thread_counts) for room_id, by_thread in counts.items()
        }

    def _read_positions_txn(
        self, txn: LoggingTransaction, user_id: str, room_ids: list[str]
    ) -> dict[str, tuple[int, dict[str, int]]]:
        """Per room: the unthreaded read position, and the threads read further."""
        receipts = ReceiptsStore.get_read_positions_txn(txn, user_id, room_ids, _READ_RECEIPT_TYPES)
        sent: dict[str, dict[str, int]] = {}
        for chunk in batch_iter(room_ids):
            clause, args = in_list("room_id", chunk)
            txn.execute(
                "SELECT room_id, thread_id, stream_ordering FROM event_push_last_sent"
                f" WHERE user_id = ? AND {clause}",
                [user_id, *args],
            )
            for room_id, thread_id, ordering in txn.fetchall():
                sent.setdefault(room_id, {})[thread_id] = int(ordering)
        out: dict[str, tuple[int, dict[str, int]]] = {}
        for room_id in room_ids:
            by_thread = receipts.get(room_id, {})
            base = by_thread.get(None, 0)
            threads: dict[str, int] = {}
            for source in (by_thread, sent.get(room_id, {})):
                for thread_id, ordering in source.items():
                    if thread_id is not None and ordering > max(base, threads.get(thread_id, 0)):
                        threads[thread_id] = ordering
            out[room_id] = (base, threads)
        return out


def _chunks(
    room_ids: list[str], positions: dict[str, tuple[int, dict[str, int]]]
) -> Iterator[tuple[list[tuple[str, int]], list[tuple[str, str, int]]]]:
    """The rooms (with their unthreaded position) and thread positions to count, in
    groups small enough for one statement each."""
    rooms: list[tuple[str, int]] = []
    threads: list[tuple[str, str, int]] = []
    params = 0
    for room_id in room_ids:
        base, by_thread = positions[room_id]
        needed = 2 + 3 * len(by_thread)
        if rooms and params + needed > _MAX_PARAMS:
            yield rooms, threads
            rooms, threads, params = [], [], 0
        rooms.append((room_id, base))
        threads.extend((room_id, t, o) for t, o in by_thread.items())
        params += needed
    if rooms:
        yield rooms, threads


def _count_sql(
    user_id: str, rooms: list[tuple[str, int]], threads: list[tuple[str, str, int]]
) -> tuple[str, list[Any]]:
    """One grouped count of the notifications after each room's (and thread's) read
    position. ``VALUES`` columns are named ``column1``, ... on both engines."""
    args: list[Any] = []
    sql = (
        "SELECT a.room_id, a.thread_id, COUNT(*), SUM(a.highlight)"
        " FROM event_push_actions AS a"
        f" INNER JOIN (VALUES {', '.join('(?, ?)' for _ in rooms)}) AS r"
        " ON a.room_id = r.column1"
    )
    for room in rooms:
        args.extend(room)
    where = " WHERE a.user_id = ? AND a.stream_ordering > r.column2"
    if threads:
        sql += (
            f" LEFT JOIN (VALUES {', '.join('(?, ?, ?)' for _ in threads)}) AS t"
            " ON a.room_id = t.column1 AND a.thread_id = t.column2"
        )
        for thread in threads:
            args.extend(thread)
        where += " AND (t.column3 IS NULL OR a.stream_ordering > t.column3)"
    args.append(user_id)
    return sql + where + " GROUP BY a.room_id, a.thread_id", args


def _room_counts(by_thread: dict[str, tuple[int, int]], thread_counts: bool) -> RoomNotifCounts:
    if not thread_counts:
        notifs = sum(n for n, _ in by_thread.values())
        highlights = sum(h for _, h in by_thread.values())
        return RoomNotifCounts(NotifCounts(notifs, highlights))
    main = by_thread.get(MAIN_TIMELINE, (0, 0))
    threads = {
        thread_id: NotifCounts(n, h)
        for thread_id, (n, h) in by_thread.items()
        if thread_id != MAIN_TIMELINE
    }
    return RoomNotifCounts(NotifCounts(*main), threads)
