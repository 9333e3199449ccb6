"""Queries of the admin API: user and room listings, blocked rooms, rate-limit overrides,
event reports, registration tokens, purges.

Most read tables of other domains for listings only admins see; the purges are named
transaction functions that remove a room's rows, or old events, wherever they are.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import attr

from synapse.storage.database import DatabasePool, LoggingTransaction
from synapse.util.caches.lrucache import LruCache

if TYPE_CHECKING:
    from synapse.server import HomeServer

# Columns GET /_synapse/admin/v2/users may sort on, and the SQL each stands for.
USER_ORDER_COLUMNS: dict[str, str] = {
    "name": "u.name",
    "is_guest": "u.is_guest",
    "admin": "u.admin",
    "user_type": "u.user_type",
    "deactivated": "u.deactivated",
    "shadow_banned": "u.shadow_banned",
    "displayname": "p.displayname",
    "avatar_url": "p.avatar_url",
    "creation_ts": "u.creation_ts",
    "last_seen_ts": "last_seen_ts",
    "locked": "u.locked",
}

# The room state the room list shows, by (type, state_key).
_ROOM_STATE_FIELDS: dict[str, tuple[str, str]] = {
    "m.room.create": ("type", "room_type"),
    "m.room.name": ("name", "name"),
    "m.room.canonical_alias": ("alias", "canonical_alias"),
    "m.room.join_rules": ("join_rule", "join_rules"),
    "m.room.guest_access": ("guest_access", "guest_access"),
    "m.room.history_visibility": ("history_visibility", "history_visibility"),
    "m.room.encryption": ("algorithm", "encryption"),
    "m.room.topic": ("topic", "topic"),
    "m.room.avatar": ("url", "avatar"),
}

# Tables keyed by event ID only, emptied of a purged event's rows before the events go.
_EVENT_ID_TABLES = (
    "event_json",
    "event_edges",
    "event_auth",
    "event_to_state_groups",
    "redactions",
    "event_relations",
    "event_push_actions",
    "room_memberships",
    "event_forward_extremities",
    "event_backward_extremities",
    "partial_state_events",
    "event_txn_id",
)

# Tables with a room_id column that outlive a room's purge.
_KEPT_ON_PURGE = frozenset({"blocked_rooms", "event_reports"})


@attr.s(auto_attribs=True, frozen=True, slots=True)
class RatelimitOverride:
    messages_per_second: int
    burst_count: int


class AdminStore:
    """Admin-only queries; see the module docstring."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._clock = hs.get_clock()
        # Read at every message sent: user -> override, or None for "no override".
        self._ratelimit_cache: LruCache[str, tuple[RatelimitOverride | None]] = LruCache(50_000)

    # --- users -------------------------------------------------------------------
    async def get_users_paginate(
        self,
        start: int,
        limit: int,
        user_id: str | None = None,
        name: str | None = None,
        guests: bool = True,
        deactivated: bool = False,
        order_by: str = "name",
        direction: str = "f",
        admins: bool | None = None,
        locked: bool = False,
        not_user_types: Collection[str] = (),
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of users with their profile, and how many match in all. Locked users
        are left out unless ``locked``; ``admins`` keeps only admins, or only others;
        ``not_user_types`` leaves out those types (``""`` for users of no type)."""
        clauses: list[str] = []
        args: list[Any] = []
        if user_id:
            clauses.append("u.name LIKE ?")
            args.append(f"%{user_id}%")
        if name:
            clauses.append("(u.name LIKE ? OR p.displayname LIKE ?)")
            args.extend([f"%{name}%", f"%{name}%"])
        if not guests:
            clauses.append("u.is_guest = 0")
        if not deactivated:
            clauses.append("u.deactivated = 0")
        if not locked:
            clauses.append("u.locked = 0")
        if admins is not None:
            clauses.append("u.admin <> 0" if admins else "u.admin = 0")
        types = [t for t in not_user_types if t]
        if types:
            clauses.append(
                "(u.user_type IS NULL OR u.user_type NOT IN (" + ",".join("?" * len(types)) + "))"
            )
            args.extend(types)
        if "" in not_user_types:
            clauses.append("u.user_type IS NOT NULL")
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        column = USER_ORDER_COLUMNS[order_by]
        order = "DESC" if direction == "b" else "ASC"

        def _txn(txn: LoggingTransaction) -> tuple[list[dict[str, Any]], int]:
            base = (
                " FROM users AS u LEFT JOIN profiles AS p ON p.user_id = u.name"
                " LEFT JOIN (SELECT user_id, MAX(last_seen) AS last_seen_ts FROM user_ips"
                " GROUP BY user_id) AS ls ON ls.user_id = u.name "
            )
            txn.execute("SELECT COUNT(*)" + base + where, args)
            row = txn.fetchone()
            total = int(row[0]) if row else 0
            txn.execute(
                "SELECT u.name, u.is_guest, u.admin, u.user_type, u.deactivated,"
                " u.shadow_banned, p.displayname, p.avatar_url, u.creation_ts, last_seen_ts,"
                " u.locked, u.suspended, u.appservice_id, (SELECT 1 FROM erased_users AS e"
                " WHERE e.user_id = u.name)" + base + where + f" ORDER BY {column} {order},"
                f" u.name {order} LIMIT ? OFFSET ?",
                [*args, limit, start],
            )
            users = [_user_row(r) for r in txn.fetchall()]
            return users, total

        return await self.db_pool.runInteraction("get_users_paginate", _txn)

    async def get_user_details(self, user_id: str) -> dict[str, Any] | None:
        """One user as the list shows it, or None."""

        def _txn(txn: LoggingTransaction) -> dict[str, Any] | None:
            txn.execute(
                "SELECT u.name, u.is_guest, u.admin, u.user_type, u.deactivated,"
                " u.shadow_banned, p.displayname, p.avatar_url, u.creation_ts,"
                " (SELECT MAX(last_seen) FROM user_ips AS i WHERE i.user_id = u.name),"
                " u.locked, u.suspended, u.appservice_id, (SELECT 1 FROM erased_users AS e"
                " WHERE e.user_id = u.name)"
                " FROM users AS u LEFT JOIN profiles AS p ON p.user_id = u.name"
                " WHERE u.name = ?",
                (user_id,),
            )
            row = txn.fetchone()
            return _user_row(row) if row else None

        return await self.db_pool.runInteraction("get_user_details", _txn)

    async def get_users_media_usage_paginate(
        self,
        start: int,
        limit: int,
        from_ts: int | None,
        until_ts: int | None,
        order_by: str,
        direction: str,
        search_term: str | None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Local media count and bytes per uploader, and how many uploaders in all."""
        clauses = ["m.user_id IS NOT NULL"]
        args: list[Any] = []
        if from_ts is not None:
            clauses.append("m.created_ts >= ?")
            args.append(from_ts)
        if until_ts is not None:
            clauses.append("m.created_ts <= ?")
            args.append(until_ts)
        if search_term:
            clauses.append("(m.user_id LIKE ? OR p.displayname LIKE ?)")
            args.extend([f"%{search_term}%", f"%{search_term}%"])
        columns = {
            "user_id": "m.user_id",
            "displayname": "p.displayname",
            "media_count": "media_count",
            "media_length": "media_length",
        }
        order = "DESC" if direction == "b" else "ASC"
        base = (
            " FROM local_media_repository AS m LEFT JOIN profiles AS p ON p.user_id = m.user_id"
            " WHERE " + " AND ".join(clauses) + " GROUP BY m.user_id, p.displayname"
        )

        def _txn(txn: LoggingTransaction) -> tuple[list[dict[str, Any]], int]:
            txn.execute("SELECT COUNT(*) FROM (SELECT m.user_id" + base + ") AS s", args)
            row = txn.fetchone()
            total = int(row[0]) if row else 0
            txn.execute(
                "SELECT m.user_id, p.displayname, COUNT(*) AS media_count,"
                " COALESCE(SUM(m.media_length), 0) AS media_length"
                + base
                + f" ORDER BY {columns[order_by]} {order}, m.user_id {order} LIMIT ? OFFSET ?",
                [*args, limit, start],
            )
            users = [
                {
                    "user_id": r[0],
                    "displayname": r[1],
                    "media_count": int(r[2]),
                    "media_length": int(r[3]),
                }
                for r in txn.fetchall()
            ]
            return users, total

        return await self.db_pool.runInteraction("get_users_media_usage_paginate", _txn)

    # --- rate-limit overrides -------------------------------------------------------
    async def get_ratelimit_override(self, user_id: str) -> RatelimitOverride | None:
        cached = self._ratelimit_cache.get(user_id)
        if cached is not None:
            return cached[0]
        row = await self.db_pool.simple_select_one(
            "ratelimit_override",
            {"user_id": user_id},
            ("messages_per_second", "burst_count"),
            allow_none=True,
            desc="get_ratelimit_override",
        )
        override = RatelimitOverride(int(row[0] or 0), int(row[1] or 0)) if row else None
        self._ratelimit_cache.set(user_id, (override,))
        return override

    async def set_ratelimit_override(
        self, user_id: str, messages_per_second: int, burst_count: int
    ) -> None:
        await self.db_pool.simple_upsert(
            "ratelimit_override",
            {"user_id": user_id},
            {"messages_per_second": messages_per_second, "burst_count": burst_count},
            desc="set_ratelimit_override",
        )
        self._ratelimit_cache.invalidate(user_id)

    async def delete_ratelimit_override(self, user_id: str) -> None:
        await self.db_pool.simple_delete(
            "ratelimit_override", {"user_id": user_id}, desc="delete_ratelimit_override"
        )
        self._ratelimit_cache.invalidate(user_id)

    # --- rooms ---------------------------------------------------------------------
    async def get_rooms_details(
        self, room_ids: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """Every known room (or those of ``room_ids``) with the fields of the admin room
        list, read from the current state."""
        server_suffix = ":" + self.hs.hostname

        def _txn(txn: LoggingTransaction) -> list[dict[str, Any]]:
            room_filter = ""
            args: list[Any] = []
            if room_ids is not None:
                if not room_ids:
                    return []
                room_filter = " WHERE room_id IN (" + ",".join("?" * len(room_ids)) + ")"
                args = list(room_ids)
            txn.execute(
                "SELECT room_id, room_version, creator, is_public FROM rooms" + room_filter, args
            )
            rooms: dict[str, dict[str, Any]] = {}
            for room_id, version, creator, is_public in txn.fetchall():
                rooms[room_id] = {
                    "room_id": room_id,
                    "name": None,
                    "canonical_alias": None,
                    "joined_members": 0,
                    "joined_local_members": 0,
                    "version": version,
                    "creator": creator,
                    "encryption": None,
                    "federatable": True,
                    "public": bool(is_public),
                    "join_rules": None,
                    "guest_access": None,
                    "history_visibility": None,
                    "state_events": 0,
                    "room_type": None,
                    "topic": None,
                    "avatar": None,
                }
            cs_filter = room_filter.replace("WHERE", "AND").replace("room_id", "c.room_id")
            types = list(_ROOM_STATE_FIELDS)
            txn.execute(
                "SELECT c.room_id, c.type, j.json FROM current_state_events AS c"
                " INNER JOIN event_json AS j ON j.event_id = c.event_id"
                " WHERE c.state_key = '' AND c.type IN ("
                + ",".join("?" * len(types))
                + ")"
                + cs_filter,
                [*types, *args],
            )
            for room_id, event_type, event_json in txn.fetchall():
                room = rooms.get(room_id)
                if room is None:
                    continue
                content = json.loads(event_json).get("content", {})
                if not isinstance(content, dict):
                    continue
                key, field = _ROOM_STATE_FIELDS[event_type]
                value = content.get(key)
                room[field] = value if isinstance(value, str) else None
                if event_type == "m.room.create":
                    room["federatable"] = content.get("m.federate", True) is not False
                    if room["creator"] is None:
                        creator = json.loads(event_json).get("sender")
                        room["creator"] = content.get("creator", creator)
            txn.execute(
                "SELECT room_id, COUNT(*) FROM current_state_events"
                + room_filter
                + " GROUP BY room_id",
                args,
            )
            for room_id, count in txn.fetchall():
                if room_id in rooms:
                    rooms[room_id]["state_events"] = int(count)
            txn.execute(
                "SELECT c.room_id, COUNT(*), SUM(CASE WHEN c.state_key LIKE ? THEN 1 ELSE 0 END)"
                " FROM current_state_events AS c WHERE c.type = 'm.room.member'"
                " AND c.membership = 'join'" + cs_filter + " GROUP BY c.room_id",
                [f"%{server_suffix}", *args],
            )
            for room_id, joined, local in txn.fetchall():
                if room_id in rooms:
                    rooms[room_id]["joined_members"] = int(joined)
                    rooms[room_id]["joined_local_members"] = int(local or 0)
            return list(rooms.values())

        return await self.db_pool.runInteraction("get_rooms_details", _txn)

    async def count_local_devices_in_room(self, room_id: str) -> int:
        rows = await self.db_pool.execute(
            "count_local_devices_in_room",
            "SELECT COUNT(*) FROM local_current_membership AS m INNER JOIN devices AS d"
            " ON d.user_id = m.user_id WHERE m.room_id = ? AND m.membership = 'join'",
            room_id,
        )
        return int(rows[0][0]) if rows else 0

    async def get_local_users_related_to_room(self, room_id: str) -> list[tuple[str, str]]:
        """(user, membership) of every local user joined, invited or knocking."""
        rows = await self.db_pool.execute(
            "get_local_users_related_to_room",
            "SELECT user_id, membership FROM local_current_membership WHERE room_id = ?"
            " AND membership IN ('join', 'invite', 'knock') ORDER BY user_id",
            room_id,
        )
        return [(r[0], r[1]) for r in rows]

    async def get_forward_extremities_details(self, room_id: str) -> list[dict[str, Any]]:
        rows = await self.db_pool.execute(
            "get_forward_extremities_details",
            "SELECT f.event_id, g.state_group, e.topological_ordering, e.received_ts"
            " FROM event_forward_extremities AS f"
            " LEFT JOIN events AS e ON e.event_id = f.event_id"
            " LEFT JOIN event_to_state_groups AS g ON g.event_id = f.event_id"
            " WHERE f.room_id = ? ORDER BY e.stream_ordering",
            room_id,
        )
        return [
            {"event_id": r[0], "state_group": r[1], "depth": r[2], "received_ts": r[3]}
            for r in rows
        ]

    # --- blocked rooms ---------------------------------------------------------------
    async def get_room_blocker(self, room_id: str) -> str | None:
        """Who blocked the room, or None if it is not blocked."""
        return await self.db_pool.simple_select_one_onecol(
            "blocked_rooms", {"room_id": room_id}, "user_id", allow_none=True, desc="is_blocked"
        )

    async def block_room(self, room_id: str, user_id: str) -> None:
        await self.db_pool.simple_upsert(
            "blocked_rooms", {"room_id": room_id}, {}, {"user_id": user_id}, desc="block_room"
        )

    async def unblock_room(self, room_id: str) -> None:
        await self.db_pool.simple_delete("blocked_rooms", {"room_id": room_id}, desc="unblock")

    # --- purges --------------------------------------------------------------------
    async def purge_room(self, room_id: str) -> tuple[list[str], list[str]]:
        """Remove every row of the room from every table with a room ID (but the blocked
        rooms and the reports), in one transaction. Returns the event IDs and members
        that were removed, for the caches."""

        def _txn(txn: LoggingTransaction) -> tuple[list[str], list[str]]:
            txn.execute("SELECT event_id FROM events WHERE room_id = ?", (room_id,))
            event_ids = [r[0] for r in txn.fetchall()]
            txn.execute(
                "SELECT DISTINCT user_id FROM room_memberships WHERE room_id = ?", (room_id,)
            )
            members = [r[0] for r in txn.fetchall()]
            txn.execute(
                "DELETE FROM state_group_edges WHERE state_group IN"
                " (SELECT id FROM state_groups WHERE room_id = ?)",
                (room_id,),
            )
            for table in _EVENT_ID_TABLES:
                txn.execute(
                    f"DELETE FROM {table} WHERE event_id IN"
                    " (SELECT event_id FROM events WHERE room_id = ?)",
                    (room_id,),
                )
            for table in tables_with_room_id(txn):
                if table not in _KEPT_ON_PURGE and table != "events":
                    txn.execute(f"DELETE FROM {table} WHERE room_id = ?", (room_id,))
            txn.execute("DELETE FROM events WHERE room_id = ?", (room_id,))
            return event_ids, members

        return await self.db_pool.runInteraction("purge_room", _txn)

    async def purge_history(
        self, room_id: str, topological_ordering: int, stream_ordering: int, delete_local: bool
    ) -> list[str]:
        """Remove the room's message events before ``(topological, stream)`` ordering.

        State events stay (the room's state and auth chains refer to them), as do the
        forward extremities and, unless ``delete_local``, events sent by local users.
        Returns the removed event IDs.
        """
        local_suffix = "%:" + self.hs.hostname

        def _txn(txn: LoggingTransaction) -> list[str]:
            sql = (
                "SELECT e.event_id FROM events AS e WHERE e.room_id = ? AND e.state_key IS NULL"
                " AND (e.topological_ordering < ? OR (e.topological_ordering = ?"
                " AND e.stream_ordering < ?))"
                " AND NOT EXISTS (SELECT 1 FROM event_forward_extremities AS f"
                " WHERE f.event_id = e.event_id)"
            )
            args: list[Any] = [room_id, topological_ordering, topological_ordering, stream_ordering]
            if not delete_local:
                sql += " AND e.sender NOT LIKE ?"
                args.append(local_suffix)
            txn.execute(sql, args)
            event_ids = [r[0] for r in txn.fetchall()]
            for i in range(0, len(event_ids), 500):
                batch = event_ids[i : i + 500]
                marks = ",".join("?" * len(batch))
                for table in (*_EVENT_ID_TABLES, "events"):
                    if table in ("room_memberships", "event_forward_extremities"):
                        continue
                    txn.execute(f"DELETE FROM {table} WHERE event_id IN ({marks})", batch)
            return event_ids

        return await self.db_pool.runInteraction("purge_history", _txn)

    # --- event reports -------------------------------------------------------------
    async def get_event_reports_paginate(
        self,
        start: int,
        limit: int,
        direction: str = "b",
        user_id: str | None = None,
        room_id: str | None = None,
        event_sender_user_id: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of reports, newest first unless ``direction`` is ``f``."""
        clauses: list[str] = []
        args: list[Any] = []
        if user_id:
            clauses.append("r.user_id LIKE ?")
            args.append(f"%{user_id}%")
        if room_id:
            clauses.append("r.room_id LIKE ?")
            args.append(f"%{room_id}%")
        if event_sender_user_id:
            clauses.append("e.sender = ?")
            args.append(event_sender_user_id)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        order = "ASC" if direction == "f" else "DESC"
        base = " FROM event_reports AS r LEFT JOIN events AS e ON e.event_id = r.event_id "

        def _txn(txn: LoggingTransaction) -> tuple[list[dict[str, Any]], int]:
            txn.execute("SELECT COUNT(*)" + base + where, args)
            row = txn.fetchone()
            total = int(row[0]) if row else 0
            txn.execute(
                "SELECT r.id, r.received_ts, r.room_id, r.event_id, r.user_id, r.reason,"
                " r.content, e.sender" + base + where + f" ORDER BY r.received_ts {order},"
                f" r.id {order} LIMIT ? OFFSET ?",
                [*args, limit, start],
            )
            reports = []
            for r in txn.fetchall():
                content = _json_object(r[6])
                reports.append(
                    {
                        "id": int(r[0]),
                        "received_ts": int(r[1]),
                        "room_id": r[2],
                        "event_id": r[3],
                        "user_id": r[4],
                        "reason": r[5],
                        "score": content.get("score"),
                        "sender": r[7],
                    }
                )
            return reports, total

        return await self.db_pool.runInteraction("get_event_reports_paginate", _txn)

    async def get_event_report(self, report_id: int) -> dict[str, Any] | None:
        """One report with its raw content, or None."""
        row = await self.db_pool.simple_select_one(
            "event_reports",
            {"id": report_id},
            ("id", "received_ts", "room_id", "event_id", "user_id", "reason", "content"),
            allow_none=True,
            desc="get_event_report",
        )
        if row is None:
            return None
        content = _json_object(row[6])
        return {
            "id": int(row[0]),
            "received_ts": int(row[1]),
            "room_id": row[2],
            "event_id": row[3],
            "user_id": row[4],
            "reason": row[5],
            "score": content.get("score"),
        }

    async def delete_event_report(self, report_id: int) -> bool:
        return (
            await self.db_pool.simple_delete(
                "event_reports", {"id": report_id}, desc="delete_event_report"
            )
            > 0
        )

    # --- registration tokens -------------------------------------------------------
    async def get_registration_tokens(self, valid: bool | None) -> list[dict[str, Any]]:
        """Every token; with ``valid``, only those that are (or are not) usable now."""
        rows = await self.db_pool.simple_select_list(
            "registration_tokens",
            None,
            ("token", "uses_allowed", "pending", "completed", "expiry_time"),
            desc="get_registration_tokens",
        )
        now = self._clock.time_msec()
        tokens = [_token_dict(r) for r in sorted(rows)]
        if valid is None:
            return tokens
        return [t for t in tokens if _token_is_valid(t, now) == valid]

    async def get_registration_token(self, token: str) -> dict[str, Any] | None:
        row = await self.db_pool.simple_select_one(
            "registration_tokens",
            {"token": token},
            ("token", "uses_allowed", "pending", "completed", "expiry_time"),
            allow_none=True,
            desc="get_registration_token",
        )
        return _token_dict(row) if row else None

    async def update_registration_token(
        self, token: str, values: dict[str, int | None]
    ) -> dict[str, Any] | None:
        """Set ``uses_allowed`` and/or ``expiry_time``; the token after, or None."""

        def _txn(txn: LoggingTransaction) -> dict[str, Any] | None:
            if values:
                DatabasePool.simple_update_txn(txn, "registration_tokens", {"token": token}, values)
            row = DatabasePool.simple_select_one_txn(
                txn,
                "registration_tokens",
                {"token": token},
                ("token", "uses_allowed", "pending", "completed", "expiry_time"),
                allow_none=True,
            )
            return _token_dict(row) if row else None

        return await self.db_pool.runInteraction("update_registration_token", _txn)

    async def delete_registration_token(self, token: str) -> bool:
        deleted = await self.db_pool.simple_delete(
            "registration_tokens", {"token": token}, desc="delete_registration_token"
        )
        return deleted > 0


def tables_with_room_id(txn: LoggingTransaction) -> list[str]:
    """The tables of the database that have a ``room_id`` column."""
    if txn.database_engine.name == "psycopg2":
        txn.execute(
            "SELECT c.table_name FROM information_schema.columns AS c"
            " INNER JOIN information_schema.tables AS t ON t.table_name = c.table_name"
            " AND t.table_schema = c.table_schema"
            " WHERE c.column_name = 'room_id' AND c.table_schema = current_schema()"
            " AND t.table_type = 'BASE TABLE'"
        )
        return sorted({r[0] for r in txn.fetchall()})
    txn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    tables = [r[0] for r in txn.fetchall()]
    found = []
    for table in tables:
        txn.execute(f"SELECT name FROM pragma_table_info('{table}')")
        if any(r[0] == "room_id" for r in txn.fetchall()):
            found.append(table)
    return sorted(found)


def _user_row(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "name": r[0],
        "is_guest": bool(r[1]),
        "admin": bool(r[2]),
        "user_type": r[3],
        "deactivated": bool(r[4]),
        "shadow_banned": bool(r[5]),
        "displayname": r[6],
        "avatar_url": r[7],
        # Stored in seconds; the admin API speaks milliseconds.
        "creation_ts": int(r[8]) * 1000,
        "last_seen_ts": int(r[9]) if r[9] is not None else None,
        "locked": bool(r[10]),
        "suspended": bool(r[11]),
        "appservice_id": r[12],
        "erased": bool(r[13]),
        "approved": True,
    }


def _token_dict(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "token": r[0],
        "uses_allowed": r[1],
        "pending": int(r[2]),
        "completed": int(r[3]),
        "expiry_time": r[4],
    }


def _token_is_valid(token: dict[str, Any], now: int) -> bool:
    if token["expiry_time"] is not None and token["expiry_time"] < now:
        return False
    uses = token["uses_allowed"]
    return uses is None or token["pending"] + token["completed"] < uses


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
