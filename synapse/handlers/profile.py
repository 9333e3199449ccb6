"""Display names and avatars of users."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.errors import AuthError, Codes, NotFoundError, SynapseError
from synapse.types import JsonDict, Requester, UserID

if TYPE_CHECKING:
    from synapse.server import HomeServer

MAX_DISPLAYNAME_LEN = 256
MAX_AVATAR_URL_LEN = 1000


class ProfileHandler:
    """Reads and changes the profiles of local users."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self._stores = hs.get_datastores().main

    async def _check_local_user_exists(self, target_user: UserID) -> None:
        if not self.hs.is_mine(target_user):
            raise NotFoundError("Profile was not found")
        user = await self._stores.registration.get_user_by_id(target_user.to_string())
        if user is None:
            raise NotFoundError("Profile was not found")

    async def get_profile(self, user_id: str) -> JsonDict:
        """``{"displayname", "avatar_url"}`` with the unset fields left out; 404 M_NOT_FOUND."""
        target = UserID.from_string(user_id)
        await self._check_local_user_exists(target)
        info = await self._stores.profile.get_profileinfo(target.to_string())
        result: JsonDict = {}
        if info is not None:
            if info.display_name is not None:
                result["displayname"] = info.display_name
            if info.avatar_url is not None:
                result["avatar_url"] = info.avatar_url
        return result

    async def get_displayname(self, target_user: UserID) -> str | None:
        await self._check_local_user_exists(target_user)
        return await self._stores.profile.get_profile_displayname(target_user.to_string())

    async def get_avatar_url(self, target_user: UserID) -> str | None:
        await self._check_local_user_exists(target_user)
        return await self._stores.profile.get_profile_avatar_url(target_user.to_string())

    async def _check_may_change(
        self, target_user: UserID, requester: Requester, by_admin: bool, what: str
    ) -> None:
        if not self.hs.is_mine(target_user):
            raise SynapseError(400, "User is not hosted on this homeserver", Codes.INVALID_PARAM)
        if not by_admin and target_user != requester.user:
            raise AuthError(403, f"Cannot set another user's {what}")
        await self._check_local_user_exists(target_user)

    async def set_displayname(
        self,
        target_user: UserID,
        requester: Requester,
        new_displayname: str,
        by_admin: bool = False,
    ) -> None:
        """Set a display name; an empty one clears it. Only the user (or an admin) may."""
        await self._check_may_change(target_user, requester, by_admin, "displayname")
        if not by_admin and not self.hs.config.server.enable_set_displayname:
            raise SynapseError(
                400, "Changing display name is disabled on this server", Codes.FORBIDDEN
            )
        if len(new_displayname) > MAX_DISPLAYNAME_LEN:
            raise SynapseError(
                400, f"Displayname is too long (max {MAX_DISPLAYNAME_LEN})", Codes.BAD_JSON
            )
        await self._stores.profile.set_profile_displayname(
            target_user.to_string(), new_displayname or None
        )

    async def set_avatar_url(
        self,
        target_user: UserID,
        requester: Requester,
        new_avatar_url: str,
        by_admin: bool = False,
    ) -> None:
        """Set an avatar URL; an empty one clears it. Only the user (or an admin) may."""
        await self._check_may_change(target_user, requester, by_admin, "avatar_url")
        if not by_admin and not self.hs.config.server.enable_set_avatar_url:
            raise SynapseError(400, "Changing avatar is disabled on this server", Codes.FORBIDDEN)
        if len(new_avatar_url) > MAX_AVATAR_URL_LEN:
            raise SynapseError(
                400, f"Avatar URL is too long (max {MAX_AVATAR_URL_LEN})", Codes.BAD_JSON
            )
        await self._stores.profile.set_profile_avatar_url(
            target_user.to_string(), new_avatar_url or None
        )
