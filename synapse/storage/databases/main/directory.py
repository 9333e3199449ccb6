"""Room aliases (``room_aliases``, ``room_alias_servers``) and forgotten rooms."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import attr

from synapse.util.caches.lrucache import LruCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction


@attr.s(slots=True, frozen=True, auto_attribs=True)
class RoomAliasMapping:
    room_id: str
    room_alias: str
    servers: list[str]


class RoomAliasStore:
    """Aliases of this server's namespace and the rooms they point to."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._alias_cache: LruCache[str, RoomAliasMapping | None] = LruCache(10_000)

    async def get_association_from_room_alias(self, room_alias: str) -> RoomAliasMapping | None:
        """The room an alias points to (with its servers), or None."""
        cached = self._alias_cache.get(room_alias, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        mapping = await self.db_pool.runInteraction(
            "get_association_from_room_alias", self._get_association_txn, room_alias
        )
        self._alias_cache.set(room_alias, mapping)
        return mapping

    @staticmethod
    def _get_association_txn(txn: LoggingTransaction, room_alias: str) -> RoomAliasMapping | None:
        txn.execute("SELECT room_id FROM room_aliases WHERE room_alias = ?", (room_alias,))
        row = txn.fetchone()
        if row is None:
            return None
        txn.execute("SELECT server FROM room_alias_servers WHERE room_alias = ?", (room_alias,))
        servers = sorted({r[0] for r in txn.fetchall()})
        return RoomAliasMapping(row[0], room_alias, servers)

    async def create_room_alias_association(
        self, room_alias: str, room_id: str, servers: Collection[str], creator: str | None = None
    ) -> bool:
        """Point ``room_alias`` at ``room_id``; False (and nothing written) if the alias exists."""
        created = await self.db_pool.runInteraction(
            "create_room_alias_association",
            self._create_association_txn,
            room_alias,
            room_id,
            list(servers),
            creator,
        )
        self._alias_cache.invalidate(room_alias)
        return created

    @staticmethod
    def _create_association_txn(
        txn: LoggingTransaction,
        room_alias: str,
        room_id: str,
        servers: list[str],
        creator: str | None,
    ) -> bool:
        txn.execute(
            "INSERT INTO room_aliases (room_alias, room_id, creator) VALUES (?, ?, ?)"
            " ON CONFLICT (room_alias) DO NOTHING",
            (room_alias, room_id, creator),
        )
        if txn.rowcount == 0:
            return False
        txn.executemany(
            "INSERT INTO room_alias_servers (room_alias, server) VALUES (?, ?)",
            [(room_alias, s) for s in dict.fromkeys(servers)],
        )
        return True

    async def delete_room_alias(self, room_alias: str) -> str | None:
        """Remove an alias; return the room it pointed to (None if it did not exist)."""
        room_id = await self.db_pool.runInteraction(
            "delete_room_alias", self._delete_alias_txn, room_alias
        )
        self._alias_cache.invalidate(room_alias)
        return room_id

    @staticmethod
    def _delete_alias_txn(txn: LoggingTransaction, room_alias: str) -> str | None:
        txn.execute("SELECT room_id FROM room_aliases WHERE room_alias = ?", (room_alias,))
        row = txn.fetchone()
        if row is None:
            return None
        txn.execute("DELETE FROM room_aliases WHERE room_alias = ?", (room_alias,))
        txn.execute("DELETE FROM room_alias_servers WHERE room_alias = ?", (room_alias,))
        return row[0]

    async def get_room_alias_creator(self, room_alias: str) -> str | None:
        return await self.db_pool.simple_select_one_onecol(
            "room_aliases",
            {"room_alias": room_alias},
            "creator",
            allow_none=True,
            desc="get_room_alias_creator",
        )

    async def get_aliases_for_room(self, room_id: str) -> list[str]:
        """The local aliases that point to the room, sorted."""
        aliases = await self.db_pool.simple_select_onecol(
            "room_aliases", {"room_id": room_id}, "room_alias", desc="get_aliases_for_room"
        )
        return sorted(aliases)

    async def update_aliases_for_room(
        self, old_room_id: str, new_room_id: str, creator: str | None = None
    ) -> list[str]:
        """Point every alias of ``old_room_id`` at ``new_room_id`` (a room upgrade);
        return the aliases moved."""
        moved = await self.db_pool.runInteraction(
            "update_aliases_for_room", self._move_aliases_txn, old_room_id, new_room_id, creator
        )
        self._alias_cache.invalidate_many(moved)
        return moved

    @staticmethod
    def _move_aliases_txn(
        txn: LoggingTransaction, old_room_id: str, new_room_id: str, creator: str | None
    ) -> list[str]:
        txn.execute("SELECT room_alias FROM room_aliases WHERE room_id = ?", (old_room_id,))
        aliases = [r[0] for r in txn.fetchall()]
        if creator is None:
            txn.execute(
                "UPDATE room_aliases SET room_id = ? WHERE room_id = ?", (new_room_id, old_room_id)
            )
        else:
            txn.execute(
                "UPDATE room_aliases SET room_id = ?, creator = ? WHERE room_id = ?",
                (new_room_id, creator, old_room_id),
            )
        return aliases

    # --- forgotten rooms ---------------------------------------------------------------
    async def forget(self, user_id: str, room_id: str, event_id: str) -> None:
        """Forget the room for the user while ``event_id`` is their membership."""
        await self.db_pool.simple_insert(
            "room_forgotten",
            {"user_id": user_id, "room_id": room_id, "event_id": event_id},
            desc="forget",
            or_ignore=True,
        )

    async def did_forget(self, user_id: str, room_id: str) -> bool:
        """Whether the user forgot the room since their last membership change."""
        rows = await self.db_pool.execute(
            "did_forget",
            "SELECT 1 FROM room_forgotten AS f INNER JOIN local_current_membership AS c"
            " ON c.user_id = f.user_id AND c.room_id = f.room_id AND c.event_id = f.event_id"
            " WHERE f.user_id = ? AND f.room_id = ?",
            user_id,
            room_id,
        )
        return bool(rows)

    async def get_forgotten_rooms_for_user(self, user_id: str) -> set[str]:
        """The rooms the user has forgotten (and not rejoined or been invited to since)."""
        rows = await self.db_pool.execute(
            "get_forgotten_rooms_for_user",
            "SELECT f.room_id FROM room_forgotten AS f INNER JOIN local_current_membership AS c"
            " ON c.user_id = f.user_id AND c.room_id = f.room_id AND c.event_id = f.event_id"
            " WHERE f.user_id = ?",
            user_id,
        )
        return {r[0] for r in rows}


_MISSING = object()
