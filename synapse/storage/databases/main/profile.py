"""Display names and avatar URLs of local users."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attr

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction


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

    async def get_profile_fields(self, user_id: str) -> dict[str, Any]:
        """The custom fields (``m.tz``, ``com.example.x``, ...) of the profile."""
        rows = await self.db_pool.simple_select_list(
            "profile_fields",
            {"user_id": user_id},
            ("field_name", "value"),
            desc="get_profile_fields",
        )
        return {row[0]: json.loads(row[1]) for row in rows}

    async def set_profile_field(self, user_id: str, field_name: str, value: Any) -> None:
        await self.db_pool.simple_upsert(
            "profile_fields",
            {"user_id": user_id, "field_name": field_name},
            {"value": json.dumps(value)},
            desc="set_profile_field",
        )

    async def delete_profile_field(self, user_id: str, field_name: str) -> None:
        await self.db_pool.simple_delete(
            "profile_fields",
            {"user_id": user_id, "field_name": field_name},
            desc="delete_profile_field",
        )

    async def clear_profile(self, user_id: str) -> None:
        """Remove every field of the profile (on deactivation)."""

        def _txn(txn: LoggingTransaction) -> None:
            txn.execute(
                "UPDATE profiles SET displayname = NULL, avatar_url = NULL WHERE user_id = ?",
                (user_id,),
            )
            txn.execute("DELETE FROM profile_fields WHERE user_id = ?", (user_id,))

        await self.db_pool.runInteraction("clear_profile", _txn)
