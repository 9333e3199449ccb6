"""Relations between events (``event_relations``) and threads (``threads``).

A child counts only while it is valid: accepted, not soft-failed, in the room of its
parent, and not redacted (a redaction breaks the relation). Aggregations for a batch of
parents are read in one transaction with one query per relation type.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import attr

from synapse.api.constants import RelationTypes
from synapse.events import EventBase
from synapse.storage.databases.main._events_sql import batch_iter, in_list
from synapse.types import RoomStreamToken

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

# SQL conditions for a valid child ``e`` of a parent ``p``, joins of ``_CHILDREN_FROM`` included.
_VALID_CHILD = (
    "e.event_id = r.event_id AND p.event_id = r.relates_to_id"
    " AND e.outlier = 0 AND e.soft_failed = 0 AND e.rejected_reason IS NULL"
    " AND e.room_id = p.room_id"
    " AND NOT EXISTS (SELECT 1 FROM redactions AS rd"
    " INNER JOIN events AS re ON re.event_id = rd.event_id"
    " WHERE rd.redacts = e.event_id AND re.room_id = e.room_id AND re.rejected_reason IS NULL)"
)

# Every query names its parents (r.relates_to_id), so the relation rows drive the join.
# SQLite keeps the order of a CROSS JOIN; without table statistics its planner would
# otherwise walk every event of the parent's room (through e.room_id = p.room_id) for
# each parent. PostgreSQL plans a CROSS JOIN with these conditions as an inner join.
_CHILDREN_FROM = "event_relations AS r CROSS JOIN events AS e CROSS JOIN events AS p"


@attr.s(slots=True, frozen=True, auto_attribs=True)
class ThreadSummary:
    """The m.thread children of a root: how many, and the latest (topologically)."""

    count: int
    latest_event_id: str


@attr.s(slots=True, auto_attribs=True)
class RelationSummaries:
    """What bundled aggregations need for a batch of parents, read in one transaction."""

    # parent -> its edits by the same sender with the same type, most recent first.
    edits: dict[str, list[str]] = attr.Factory(dict)
    threads: dict[str, ThreadSummary] = attr.Factory(dict)
    # Parents with an m.thread child sent by the user.
    participated: set[str] = attr.Factory(set)
    # parent -> its m.reference children, oldest first.
    references: dict[str, list[str]] = attr.Factory(dict)


@attr.s(slots=True, frozen=True, auto_attribs=True)
class RelationsPage:
    event_ids: list[str]
    # Where the next page starts; None when there is nothing more.
    next_token: RoomStreamToken | None


@attr.s(slots=True, frozen=True, auto_attribs=True)
class ThreadsPage:
    thread_ids: list[str]
    next_token: RoomStreamToken | None


def _not_in(column: str, values: Collection[str]) -> tuple[str, list[Any]]:
    if not values:
        return "", []
    clause, args = in_list(column, list(values))
    return f" AND NOT {clause}", args


def _bound(
    alias: str, token: RoomStreamToken, direction: str, inclusive: bool
) -> tuple[str, list[Any]]:
    """Rows of ``alias`` before (``b``) or after (``f``) a topological token."""
    assert token.topological is not None
    t, s = token.topological, token.stream
    if direction == "b":
        op = "<=" if inclusive else "<"
        return (
            f"({alias}.topological_ordering < ? OR ({alias}.topological_ordering = ?"
            f" AND {alias}.stream_ordering {op} ?))",
            [t, t, s],
        )
    op = ">=" if inclusive else ">"
    return (
        f"({alias}.topological_ordering > ? OR ({alias}.topological_ordering = ?"
        f" AND {alias}.stream_ordering {op} ?))",
        [t, t, s],
    )


def thread_parent(event: EventBase) -> str | None:
    """The thread root an event belongs to (its ``m.thread`` relation), if any."""
    relation = event.content.get("m.relates_to") if isinstance(event.content, dict) else None
    if not isinstance(relation, dict) or relation.get("rel_type") != RelationTypes.THREAD:
        return None
    parent = relation.get("event_id")
    # No identifier has a NUL, and PostgreSQL cannot store one in a text column.
    return parent if isinstance(parent, str) and "\x00" not in parent else None


class RelationsStore:
    """Reads of ``event_relations`` and the ``threads`` table."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs

    # --- checks on new relations ------------------------------------------------------
    async def has_user_annotated_event(
        self, parent_id: str, event_type: str, aggregation_key: str, sender: str
    ) -> bool:
        """Whether ``sender`` already has a valid annotation of the parent with that
        event type and key."""
        rows = await self.db_pool.execute(
            "has_user_annotated_event",
            f"SELECT 1 FROM {_CHILDREN_FROM} WHERE r.relates_to_id = ? AND r.relation_type = ?"
            f" AND r.aggregation_key = ? AND e.sender = ? AND e.type = ? AND {_VALID_CHILD}"
            " LIMIT 1",
            parent_id,
            RelationTypes.ANNOTATION,
            aggregation_key,
            sender,
            event_type,
        )
        return bool(rows)

    async def event_is_target_of_relation(self, parent_id: str) -> bool:
        """Whether any stored event relates to ``parent_id`` (known or not)."""
        rows = await self.db_pool.execute(
            "event_is_target_of_relation",
            "SELECT 1 FROM event_relations WHERE relates_to_id = ? LIMIT 1",
            parent_id,
        )
        return bool(rows)

    async def events_have_relations(
        self,
        parent_ids: Collection[str],
        senders: Collection[str] | None,
        rel_types: Collection[str] | None,
    ) -> set[str]:
        """The parents of ``parent_ids`` with a valid child from one of ``senders`` and
        of one of ``rel_types`` (None: any)."""
        if not parent_ids or senders == [] or rel_types == []:
            return set()
        return await self.db_pool.runInteraction(
            "events_have_relations",
            self._events_have_relations_txn,
            list(parent_ids),
            list(senders) if senders is not None else None,
            list(rel_types) if rel_types is not None else None,
        )

    @staticmethod
    def _events_have_relations_txn(
        txn: LoggingTransaction,
        parent_ids: list[str],
        senders: list[str] | None,
        rel_types: list[str] | None,
    ) -> set[str]:
        extra = ""
        extra_args: list[Any] = []
        if senders is not None:
            clause, args = in_list("e.sender", senders)
            extra += f" AND {clause}"
            extra_args += args
        if rel_types is not None:
            clause, args = in_list("r.relation_type", rel_types)
            extra += f" AND {clause}"
            extra_args += args
        found: set[str] = set()
        for chunk in batch_iter(parent_ids):
            clause, args = in_list("r.relates_to_id", chunk)
            txn.execute(
                f"SELECT DISTINCT r.relates_to_id FROM {_CHILDREN_FROM}"
                f" WHERE {clause} AND {_VALID_CHILD}{extra}",
                [*args, *extra_args],
            )
            found.update(row[0] for row in txn.fetchall())
        return found

    # --- aggregations ---------------------------------------------------------------------
    async def get_relation_summaries(
        self, parent_ids: Collection[str], user_id: str, ignored_users: Collection[str] = ()
    ) -> RelationSummaries:
        """Edits, thread summaries, the user's participation and references of a batch of
        parents; children sent by ``ignored_users`` are left out (edits are the parent
        sender's own)."""
        if not parent_ids:
            return RelationSummaries()
        return await self.db_pool.runInteraction(
            "get_relation_summaries",
            self._get_relation_summaries_txn,
            list(dict.fromkeys(parent_ids)),
            user_id,
            list(ignored_users),
        )

    @staticmethod
    def _get_relation_summaries_txn(
        txn: LoggingTransaction, parent_ids: list[str], user_id: str, ignored: list[str]
    ) -> RelationSummaries:
        out = RelationSummaries()
        not_ignored, ignored_args = _not_in("e.sender", ignored)
        for chunk in batch_iter(parent_ids):
            clause, args = in_list("r.relates_to_id", chunk)
            txn.execute(
                f"SELECT r.relates_to_id, e.event_id FROM {_CHILDREN_FROM}"
                f" WHERE {clause} AND r.relation_type = ? AND {_VALID_CHILD}"
                " AND e.sender = p.sender AND e.type = p.type"
                " ORDER BY e.origin_server_ts DESC, e.event_id DESC",
                [*args, RelationTypes.REPLACE],
            )
            for parent, child in txn.fetchall():
                out.edits.setdefault(parent, []).append(child)

            txn.execute(
                "SELECT relates_to_id, event_id, cnt FROM ("
                " SELECT r.relates_to_id, e.event_id,"
                " COUNT(*) OVER (PARTITION BY r.relates_to_id) AS cnt,"
                " ROW_NUMBER() OVER (PARTITION BY r.relates_to_id"
                " ORDER BY e.topological_ordering DESC, e.stream_ordering DESC) AS rn"
                f" FROM {_CHILDREN_FROM}"
                f" WHERE {clause} AND r.relation_type = ? AND {_VALID_CHILD}{not_ignored}"
                ") AS thread_children WHERE rn = 1",
                [*args, RelationTypes.THREAD, *ignored_args],
            )
            for parent, latest, count in txn.fetchall():
                out.threads[parent] = ThreadSummary(int(count), latest)

            if out.threads:
                txn.execute(
                    f"SELECT DISTINCT r.relates_to_id FROM {_CHILDREN_FROM}"
                    f" WHERE {clause} AND r.relation_type = ? AND e.sender = ? AND {_VALID_CHILD}",
                    [*args, RelationTypes.THREAD, user_id],
                )
                out.participated.update(row[0] for row in txn.fetchall())

            txn.execute(
                f"SELECT r.relates_to_id, e.event_id FROM {_CHILDREN_FROM}"
                f" WHERE {clause} AND r.relation_type = ? AND {_VALID_CHILD}{not_ignored}"
                " ORDER BY e.topological_ordering, e.stream_ordering",
                [*args, RelationTypes.REFERENCE, *ignored_args],
            )
            for parent, child in txn.fetchall():
                out.references.setdefault(parent, []).append(child)
        return out

    # --- pagination ------------------------------------------------------------------------
    async def get_relations_for_event(
        self,
        room_id: str,
        event_id: str,
        relation_type: str | None = None,
        event_type: str | None = None,
        from_token: RoomStreamToken | None = None,
        to_token: RoomStreamToken | None = None,
        direction: str = "b",
        limit: int = 5,
        max_depth: int = 1,
    ) -> RelationsPage:
        """A page of the valid children of ``event_id`` in topological order (newest
        first for ``b``), following relations ``max_depth`` levels down; the type filters
        apply at every level. Tokens are topological; ``from_token`` is a position just
        after an event, as in ``/messages``."""
        return await self.db_pool.runInteraction(
            "get_relations_for_event",
            self._get_relations_txn,
            room_id,
            event_id,
            relation_type,
            event_type,
            from_token,
            to_token,
            direction,
            limit,
            max_depth,
        )

    @staticmethod
    def _get_relations_txn(
        txn: LoggingTransaction,
        room_id: str,
        event_id: str,
        relation_type: str | None,
        event_type: str | None,
        from_token: RoomStreamToken | None,
        to_token: RoomStreamToken | None,
        direction: str,
        limit: int,
        max_depth: int,
    ) -> RelationsPage:
        step = ""
        step_args: list[Any] = []
        if relation_type is not None:
            step += " AND r.relation_type = ?"
            step_args.append(relation_type)
        if event_type is not None:
            step += " AND c.type = ?"
            step_args.append(event_type)
        cte = (
            "WITH RECURSIVE related(event_id, depth) AS ("
            " SELECT r.event_id, 1 FROM event_relations AS r"
            " INNER JOIN events AS c ON c.event_id = r.event_id"
            f" WHERE r.relates_to_id = ?{step}"
            " UNION ALL"
            " SELECT r.event_id, related.depth + 1 FROM event_relations AS r"
            " INNER JOIN related ON r.relates_to_id = related.event_id"
            " INNER JOIN events AS c ON c.event_id = r.event_id"
            f" WHERE related.depth < ?{step}"
            ")"
        )
        args: list[Any] = [event_id, *step_args, max_depth, *step_args]
        where = (
            "e.room_id = ? AND e.outlier = 0 AND e.soft_failed = 0 AND e.rejected_reason IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM redactions AS rd"
            " INNER JOIN events AS re ON re.event_id = rd.event_id"
            " WHERE rd.redacts = e.event_id AND re.room_id = e.room_id"
            " AND re.rejected_reason IS NULL)"
        )
        args.append(room_id)
        if from_token is not None:
            clause, bargs = _bound("e", from_token, direction, inclusive=direction == "b")
            where += f" AND {clause}"
            args += bargs
        if to_token is not None:
            other = "f" if direction == "b" else "b"
            clause, bargs = _bound("e", to_token, other, inclusive=direction == "f")
            where += f" AND {clause}"
            args += bargs
        order = "DESC" if direction == "b" else "ASC"
        txn.execute(
            f"{cte} SELECT DISTINCT e.event_id, e.topological_ordering, e.stream_ordering"
            f" FROM related INNER JOIN events AS e ON e.event_id = related.event_id"
            f" WHERE {where}"
            f" ORDER BY e.topological_ordering {order}, e.stream_ordering {order} LIMIT ?",
            [*args, limit + 1],
        )
        rows = [(r[0], int(r[1]), int(r[2])) for r in txn.fetchall()]
        next_token = None
        if len(rows) > limit:
            rows = rows[:limit]
            _, topo, stream = rows[-1]
            next_token = RoomStreamToken(
                stream=stream - 1 if direction == "b" else stream, topological=topo
            )
        return RelationsPage([r[0] for r in rows], next_token)

    async def get_threads(
        self,
        room_id: str,
        participant: str | None = None,
        from_token: RoomStreamToken | None = None,
        limit: int = 5,
    ) -> ThreadsPage:
        """Thread roots of the room, the most recently active first; with
        ``participant``, only threads that user started or replied to. ``from_token`` is
        the ``next_token`` of a previous page."""
        return await self.db_pool.runInteraction(
            "get_threads", self._get_threads_txn, room_id, participant, from_token, limit
        )

    @staticmethod
    def _get_threads_txn(
        txn: LoggingTransaction,
        room_id: str,
        participant: str | None,
        from_token: RoomStreamToken | None,
        limit: int,
    ) -> ThreadsPage:
        where = "t.room_id = ?"
        args: list[Any] = [room_id]
        if from_token is not None:
            clause, bargs = _bound("t", from_token, "b", inclusive=False)
            where += f" AND {clause}"
            args += bargs
        if participant is not None:
            where += (
                " AND (EXISTS (SELECT 1 FROM events AS root"
                " WHERE root.event_id = t.thread_id AND root.sender = ?)"
                f" OR EXISTS (SELECT 1 FROM {_CHILDREN_FROM}"
                " WHERE r.relates_to_id = t.thread_id AND r.relation_type = ? AND e.sender = ?"
                f" AND {_VALID_CHILD}))"
            )
            args += [participant, RelationTypes.THREAD, participant]
        txn.execute(
            "SELECT t.thread_id, t.topological_ordering, t.stream_ordering FROM threads AS t"
            f" WHERE {where}"
            " ORDER BY t.topological_ordering DESC, t.stream_ordering DESC LIMIT ?",
            [*args, limit + 1],
        )
        rows = [(r[0], int(r[1]), int(r[2])) for r in txn.fetchall()]
        next_token = None
        if len(rows) > limit:
            rows = rows[:limit]
            _, topo, stream = rows[-1]
            next_token = RoomStreamToken(stream=stream, topological=topo)
        return ThreadsPage([r[0] for r in rows], next_token)

    # --- writes, within the persist transaction ------------------------------------------
    @staticmethod
    def update_threads_txn(txn: LoggingTransaction, events: Sequence[EventBase]) -> None:
        """Move each thread that ``events`` (accepted ones) reply to up to its newest reply."""
        rows = []
        for event in events:
            meta = event.internal_metadata
            if meta.is_outlier() or meta.soft_failed or meta.stream_ordering is None:
                continue
            parent = thread_parent(event)
            if parent is None:
                continue
            rows.append((event.room_id, parent, event.event_id, event.depth, meta.stream_ordering))
        if not rows:
            return
        txn.executemany(
            "INSERT INTO threads"
            " (room_id, thread_id, latest_event_id, topological_ordering, stream_ordering)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (room_id, thread_id) DO UPDATE SET"
            " latest_event_id = excluded.latest_event_id,"
            " topological_ordering = excluded.topological_ordering,"
            " stream_ordering = excluded.stream_ordering"
            " WHERE excluded.topological_ordering > threads.topological_ordering"
            " OR (excluded.topological_ordering = threads.topological_ordering"
            " AND excluded.stream_ordering > threads.stream_ordering)",
            rows,
        )
