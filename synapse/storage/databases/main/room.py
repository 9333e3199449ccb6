"""Rooms: their version, creator and directory visibility."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attr

from synapse.api.errors import NotFoundError, UnsupportedRoomVersionError
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from synapse.util.caches.lrucache import LruCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool


@attr.s(slots=True, frozen=True, auto_attribs=True)
class RoomInfo:
    room_id: str
    room_version: str
    creator: str | None
    is_public: bool


class RoomStore:
    """The ``rooms`` table."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        # Room versions never change, so this cache is never invalidated.
        self._room_version_cache: LruCache[str, str] = LruCache(100_000)

    async def store_room(
        self,
        room_id: str,
        room_creator_user_id: str | None,
        is_public: bool,
        room_version: RoomVersion,
    ) -> None:
        """Record a room (a no-op if it is known already, e.g. after a remote invite)."""
        await self.db_pool.simple_upsert(
            "rooms",
            keyvalues={"room_id": room_id},
            values={},
            insertion_values={
                "room_version": room_version.identifier,
                "creator": room_creator_user_id,
                "is_public": int(is_public),
            },
            desc="store_room",
        )

    async def get_room(self, room_id: str) -> RoomInfo | None:
        row = await self.db_pool.simple_select_one(
            "rooms",
            keyvalues={"room_id": room_id},
            retcols=("room_id", "room_version", "creator", "is_public"),
            allow_none=True,
            desc="get_room",
        )
        if row is None:
            return None
        return RoomInfo(row[0], row[1], row[2], bool(row[3]))

    async def set_room_is_public(self, room_id: str, is_public: bool) -> None:
        await self.db_pool.simple_update_one(
            "rooms", {"room_id": room_id}, {"is_public": int(is_public)}, desc="set_room_is_public"
        )

    async def get_public_room_ids(self) -> list[str]:
        return await self.db_pool.simple_select_onecol(
            "rooms", keyvalues={"is_public": 1}, retcol="room_id", desc="get_public_room_ids"
        )

    async def get_room_version_id(self, room_id: str) -> str:
        """The room's version identifier; NotFoundError if the room is unknown."""
        cached = self._room_version_cache.get(room_id)
        if cached is not None:
            return cached
        version = await self.db_pool.simple_select_one_onecol(
            "rooms",
            {"room_id": room_id},
            "room_version",
            allow_none=True,
            desc="get_room_version_id",
        )
        if version is None:
            raise NotFoundError(f"Unknown room {room_id}")
        self._room_version_cache.set(room_id, version)
        return version

    async def get_room_version(self, room_id: str) -> RoomVersion:
        """The room's ``RoomVersion``; NotFoundError if unknown, UnsupportedRoomVersionError
        if this server does not implement it."""
        version_id = await self.get_room_version_id(room_id)
        version = KNOWN_ROOM_VERSIONS.get(version_id)
        if version is None:
            raise UnsupportedRoomVersionError(f"Room version {version_id} is not supported")
        return version
