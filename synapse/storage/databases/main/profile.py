"""Display names and avatar URLs of local users."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attr

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool


@attr.s(slots=True, frozen=True, auto_attribs=True)
class ProfileInfo:
    display_name: str | None
    avatar_url: str | None


class ProfileStore:
    """The ``profiles`` table: one row per local user, created with the user."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs

    async def get_profileinfo(self, user_id: str) -> ProfileInfo | None:
        """The profile of ``user_id``, or None if the user has no profile row."""
        row = await self.db_pool.simple_select_one(
            "profiles",
            {"user_id": user_id},
            ("displayname", "avatar_url"),
            allow_none=True,
            desc="get_profileinfo",
        )
        if row is None:
            return None
        return ProfileInfo(display_name=row[0], avatar_url=row[1])

    async def get_profile_displayname(self, user_id: str) -> str | None:
        info = await self.get_profileinfo(user_id)
        return info.display_name if info else None

    async def get_profile_avatar_url(self, user_id: str) -> str | None:
        info = await self.get_profileinfo(user_id)
        return info.avatar_url if info else None

    async def create_profile(self, user_id: str, displayname: str | None = None) -> None:
        await self.db_pool.simple_upsert(
            "profiles",
            {"user_id": user_id},
            {},
            insertion_values={"displayname": displayname},
            desc="create_profile",
        )

    async def set_profile_displayname(self, user_id: str, new_displayname: str | None) -> None:
        await self.db_pool.simple_upsert(
            "profiles",
            {"user_id": user_id},
            {"displayname": new_displayname},
            desc="set_profile_displayname",
        )

    async def set_profile_avatar_url(self, user_id: str, new_avatar_url: str | None) -> None:
        await self.db_pool.simple_upsert(
            "profiles",
            {"user_id": user_id},
            {"avatar_url": new_avatar_url},
            desc="set_profile_avatar_url",
        )
