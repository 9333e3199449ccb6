"""Room memberships: who is in which room, now and in every membership event."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

import attr

from synapse.api.constants import EventTypes, Membership
from synapse.events import EventBase
from synapse.storage.databases.main._events_sql import batch_iter, in_list
from synapse.util.caches.lrucache import LruCache
from synapse.util.caches.stream_change_cache import StreamChangeCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction


@attr.s(slots=True, frozen=True, auto_attribs=True)
class RoomsForUser:
    """A local user's current membership of one room."""

    room_id: str
    sender: str
    membership: str
    event_id: str
    stream_ordering: int
    room_version_id: str


@attr.s(slots=True, frozen=True, auto_attribs=True)
class MembershipChange:
    """One membership event of a user, at its stream position."""

    room_id: str
    event_id: str
    membership: str
    sender: str
    stream_ordering: int


@attr.s(slots=True, frozen=True, auto_attribs=True)
class ProfileInfo:
    display_name: str | None
    avatar_url: str | None


class RoomMemberStore:
    """``room_memberships``, ``local_current_membership`` and the member rows of current state."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._users_in_room_cache: LruCache[str, tuple[str, ...]] = LruCache(10_000)
        self._rooms_for_user_cache: LruCache[str, frozenset[str]] = LruCache(50_000)
        # Users whose membership events (of any room) changed, by stream ordering.
        self._membership_change_cache = StreamChangeCache(
            "membership_changes", self._max_membership_stream()
        )

    def _max_membership_stream(self) -> int:
        with self.db_pool.startup_connection() as conn:
            txn = conn.cursor(txn_name="max_membership_stream")
            try:
                txn.execute("SELECT COALESCE(MAX(event_stream_ordering), 0) FROM room_memberships")
                row = txn.fetchone()
            finally:
                txn.close()
        return int(row[0]) if row else 0

    # --- reads ---------------------------------------------------------------------
    async def get_users_in_room(self, room_id: str) -> list[str]:
        """The users (local and remote) whose current membership of the room is join."""
        cached = self._users_in_room_cache.get(room_id)
        if cached is None:
            users = await self.db_pool.simple_select_onecol(
                "current_state_events",
                {"room_id": room_id, "type": EventTypes.Member, "membership": Membership.JOIN},
                "state_key",
                desc="get_users_in_room",
            )
            cached = tuple(users)
            self._users_in_room_cache.set(room_id, cached)
        return list(cached)

    async def get_rooms_for_user(self, user_id: str) -> frozenset[str]:
        """The rooms the user is joined to now."""
        cached = self._rooms_for_user_cache.get(user_id)
        if cached is None:
            rooms = await self.db_pool.simple_select_onecol(
                "current_state_events",
                {"type": EventTypes.Member, "state_key": user_id, "membership": Membership.JOIN},
                "room_id",
                desc="get_rooms_for_user",
            )
            cached = frozenset(rooms)
            self._rooms_for_user_cache.set(user_id, cached)
        return cached

    async def is_host_joined(self, room_id: str, host: str) -> bool:
        users = await self.get_users_in_room(room_id)
        suffix = ":" + host
        return any(u.endswith(suffix) for u in users)

    async def get_current_hosts_in_room(self, room_id: str) -> set[str]:
        """The servers with at least one joined user in the room."""
        return {u.split(":", 1)[1] for u in await self.get_users_in_room(room_id)}

    async def get_local_current_membership_for_user_in_room(
        self, user_id: str, room_id: str
    ) -> tuple[str | None, str | None]:
        """``(membership, event_id)`` of a local user in a room, or ``(None, None)``."""
        row = await self.db_pool.simple_select_one(
            "local_current_membership",
            {"user_id": user_id, "room_id": room_id},
            ("membership", "event_id"),
            allow_none=True,
            desc="get_local_current_membership_for_user_in_room",
        )
        if row is None:
            return None, None
        return row[0], row[1]

    async def get_rooms_for_local_user_where_membership_is(
        self, user_id: str, membership_list: Collection[str]
    ) -> list[RoomsForUser]:
        """The local user's rooms whose current membership is one of ``membership_list``."""
        if not membership_list:
            return []
        return await self.db_pool.runInteraction(
            "get_rooms_for_local_user_where_membership_is",
            self._get_rooms_for_local_user_txn,
            user_id,
            list(membership_list),
        )

    @staticmethod
    def _get_rooms_for_local_user_txn(
        txn: LoggingTransaction, user_id: str, memberships: list[str]
    ) -> list[RoomsForUser]:
        clause, args = in_list("c.membership", memberships)
        txn.execute(
            "SELECT c.room_id, m.sender, c.membership, c.event_id, c.event_stream_ordering, j.room_version"
            " FROM local_current_membership AS c"
            " INNER JOIN room_memberships AS m ON m.event_id = c.event_id"
            # The event's own room version: a remote invite's room may not be in ``rooms``.
            " INNER JOIN event_json AS j ON j.event_id = c.event_id"
            f" WHERE c.user_id = ? AND {clause}"
            " ORDER BY c.event_stream_ordering",
            [user_id, *args],
        )
        return [RoomsForUser(*row) for row in txn.fetchall()]

    async def get_membership_changes_for_user(
        self, user_id: str, from_stream: int, to_stream: int
    ) -> list[MembershipChange]:
        """The user's membership events with a stream ordering in ``(from_stream,
        to_stream]``, oldest first (for ``/sync``: rooms joined, left, invited to).

        Answered from memory, without a query, when the user's memberships did not change.
        """
        if not self._membership_change_cache.has_entity_changed(user_id, from_stream):
            return []
        rows = await self.db_pool.runInteraction(
            "get_membership_changes_for_user",
            self._get_membership_changes_txn,
            user_id,
            from_stream,
            to_stream,
        )
        return [MembershipChange(*r) for r in rows]

    @staticmethod
    def _get_membership_changes_txn(
        txn: LoggingTransaction, user_id: str, from_stream: int, to_stream: int
    ) -> list[tuple[str, str, str, str, int]]:
        txn.execute(
            "SELECT room_id, event_id, membership, sender, event_stream_ordering FROM room_memberships"
            " WHERE user_id = ? AND event_stream_ordering > ? AND event_stream_ordering <= ?"
            " ORDER BY event_stream_ordering",
            (user_id, from_stream, to_stream),
        )
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in txn.fetchall()]

    async def get_membership_changes_in_rooms(
        self, room_ids: Collection[str], from_stream: int, to_stream: int
    ) -> list[tuple[str, str, str, str]]:
        """``(room, user, membership, event ID)`` of every membership event of the rooms
        with a stream ordering in ``(from_stream, to_stream]``, oldest first per room."""
        if not room_ids or from_stream >= to_stream:
            return []

        def _txn(txn: LoggingTransaction) -> list[tuple[str, str, str, str]]:
            out: list[tuple[str, str, str, str]] = []
            for chunk in batch_iter(sorted(room_ids)):
                clause, args = in_list("room_id", chunk)
                txn.execute(
                    "SELECT room_id, user_id, membership, event_id FROM room_memberships"
                    f" WHERE {clause} AND event_stream_ordering > ? AND event_stream_ordering <= ?"
                    " ORDER BY event_stream_ordering",
                    [*args, from_stream, to_stream],
                )
                out.extend((r[0], r[1], r[2], r[3]) for r in txn.fetchall())
            return out

        return await self.db_pool.runInteraction("get_membership_changes_in_rooms", _txn)

    async def get_membership_event_ids_for_user(self, user_id: str, room_id: str) -> list[str]:
        """Every membership event of the user in the room, oldest first."""
        rows = await self.db_pool.simple_select_list(
            "room_memberships",
            {"user_id": user_id, "room_id": room_id},
            ("event_id", "event_stream_ordering"),
            desc="get_membership_event_ids_for_user",
        )
        return [r[0] for r in sorted(rows, key=lambda r: r[1])]

    async def get_member_counts(self, room_ids: Collection[str]) -> dict[str, dict[str, int]]:
        """For each room, how many users have each membership now (``/sync``'s summary)."""
        if not room_ids:
            return {}
        return await self.db_pool.runInteraction(
            "get_member_counts", self._get_member_counts_txn, list(room_ids)
        )

    @staticmethod
    def _get_member_counts_txn(
        txn: LoggingTransaction, room_ids: list[str]
    ) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for chunk in batch_iter(room_ids):
            clause, args = in_list("room_id", chunk)
            txn.execute(
                "SELECT room_id, membership, COUNT(*) FROM current_state_events"
                f" WHERE type = ? AND {clause} GROUP BY room_id, membership",
                [EventTypes.Member, *args],
            )
            for room_id, membership, count in txn.fetchall():
                out.setdefault(room_id, {})[membership] = int(count)
        return out

    async def get_heroes(
        self, room_ids: Collection[str], exclude_user_id: str, limit: int = 5
    ) -> dict[str, list[str]]:
        """For each room, its first ``limit`` joined or invited members by the order of
        their membership events, leaving out ``exclude_user_id``; where there are none,
        its first members who left or were banned (``/sync``'s ``m.heroes``)."""
        if not room_ids:
            return {}
        return await self.db_pool.runInteraction(
            "get_heroes", self._get_heroes_txn, list(room_ids), exclude_user_id, limit
        )

    @staticmethod
    def _get_heroes_txn(
        txn: LoggingTransaction, room_ids: list[str], exclude_user_id: str, limit: int
    ) -> dict[str, list[str]]:
        sql = (
            "SELECT c.state_key FROM current_state_events AS c"
            " INNER JOIN events AS e ON e.event_id = c.event_id"
            " WHERE c.room_id = ? AND c.type = ? AND c.state_key != ? AND c.membership IN (?, ?)"
            " ORDER BY e.stream_ordering LIMIT ?"
        )
        out: dict[str, list[str]] = {}
        for room_id in room_ids:
            heroes: list[str] = []
            for memberships in (
                (Membership.JOIN, Membership.INVITE),
                (Membership.LEAVE, Membership.BAN),
            ):
                txn.execute(sql, (room_id, EventTypes.Member, exclude_user_id, *memberships, limit))
                heroes = [r[0] for r in txn.fetchall()]
                if heroes:
                    break
            out[room_id] = heroes
        return out

    async def get_users_in_room_with_profiles(self, room_id: str) -> dict[str, ProfileInfo]:
        """The joined users with the display name and avatar of their join event."""
        rows = await self.db_pool.runInteraction(
            "get_users_in_room_with_profiles", self._get_users_with_profiles_txn, room_id
        )
        return {user_id: ProfileInfo(name, avatar) for user_id, name, avatar in rows}

    @staticmethod
    def _get_users_with_profiles_txn(
        txn: LoggingTransaction, room_id: str
    ) -> list[tuple[str, str | None, str | None]]:
        txn.execute(
            "SELECT c.state_key, m.display_name, m.avatar_url FROM current_state_events AS c"
            " INNER JOIN room_memberships AS m ON m.event_id = c.event_id"
            " WHERE c.room_id = ? AND c.type = ? AND c.membership = ?",
            (room_id, EventTypes.Member, Membership.JOIN),
        )
        return [tuple(r) for r in txn.fetchall()]  # type: ignore[misc]

    # --- writes, within the persist transaction -------------------------------------
    def store_membership_events_txn(
        self, txn: LoggingTransaction, events: Iterable[EventBase]
    ) -> None:
        """Record membership events in ``room_memberships`` (current or not)."""
        rows: list[tuple[Any, ...]] = []
        for event in events:
            content = event.content
            name = content.get("displayname")
            avatar = content.get("avatar_url")
            rows.append(
                (
                    event.event_id,
                    event.state_key,
                    event.sender,
                    event.room_id,
                    content.get("membership", ""),
                    _text_column(name),
                    _text_column(avatar),
                    event.internal_metadata.stream_ordering,
                )
            )
        if rows:
            changes = [(r[1], r[7]) for r in rows if r[7] is not None and r[7] > 0]
            txn.call_after(self._record_membership_changes, changes)
            txn.execute_batch(
                "INSERT INTO room_memberships (event_id, user_id, sender, room_id, membership,"
                " display_name, avatar_url, event_stream_ordering) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def update_local_current_membership_txn(
        self,
        txn: LoggingTransaction,
        room_id: str,
        changes: Iterable[tuple[str, str | None, str | None, int | None]],
    ) -> None:
        """Set each local ``(user_id, event_id, membership, stream_ordering)``; a None
        membership removes the row."""
        changes = list(changes)
        if not changes:
            return
        txn.execute_batch(
            "DELETE FROM local_current_membership WHERE room_id = ? AND user_id = ?",
            [(room_id, user_id) for user_id, _, _, _ in changes],
        )
        rows = [(room_id, u, e, m, s) for u, e, m, s in changes if m is not None]
        if rows:
            txn.execute_batch(
                "INSERT INTO local_current_membership (room_id, user_id, event_id, membership, event_stream_ordering)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def invalidate_membership_caches_txn(
        self, txn: LoggingTransaction, room_id: str, user_ids: Collection[str]
    ) -> None:
        """Drop the cached member lists that a change to ``user_ids`` in ``room_id`` affects."""
        txn.call_after(self._invalidate_membership_caches, room_id, list(user_ids))

    def _record_membership_changes(self, changes: list[tuple[str, int]]) -> None:
        for user_id, stream in changes:
            self._membership_change_cache.entity_has_changed(user_id, stream)

    def _invalidate_membership_caches(self, room_id: str, user_ids: list[str]) -> None:
        self._users_in_room_cache.invalidate(room_id)
        self._rooms_for_user_cache.invalidate_many(user_ids)


def _text_column(value: Any) -> str | None:
    """A profile value fit for a TEXT column: PostgreSQL cannot store NUL characters.

    The event's JSON keeps the exact value; these columns are only a denormalised copy.
    """
    if not isinstance(value, str):
        return None
    return value.replace("\x00", "")
