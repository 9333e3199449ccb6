"""User profiles: display name, avatar URL, and the other fields (``m.tz``, custom keys)."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from canonicaljson import encode_canonical_json

from synapse.api.constants import Membership
from synapse.api.errors import AuthError, Codes, NotFoundError, SynapseError
from synapse.types import JsonDict, Requester, UserID, create_requester

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

MAX_DISPLAYNAME_LEN = 256
MAX_AVATAR_URL_LEN = 1000
# The spec's limits: a key of at most 255 bytes, a whole profile under 64 KiB.
MAX_PROFILE_KEY_BYTES = 255
MAX_PROFILE_SIZE = 64 * 1024

DISPLAYNAME = "displayname"
AVATAR_URL = "avatar_url"

# ``displayname``, ``avatar_url``, ``m.tz`` or a namespaced custom key.
_PROFILE_KEY_RE = re.compile(
    r"^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$"
)

PROFILE_TOO_LARGE = "M_PROFILE_TOO_LARGE"
KEY_TOO_LARGE = "M_KEY_TOO_LARGE"


def check_profile_key(key: str) -> None:
    """400 unless ``key`` may name a profile field."""
    if len(key.encode("utf-8")) > MAX_PROFILE_KEY_BYTES:
        raise SynapseError(400, "Profile key is too long", KEY_TOO_LARGE)
    if not _PROFILE_KEY_RE.match(key):
        raise SynapseError(400, "Invalid profile key.", Codes.INVALID_PARAM)


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

    async def _full_profile(self, user_id: str) -> JsonDict:
        result: JsonDict = await self._stores.profile.get_profile_fields(user_id)
        info = await self._stores.profile.get_profileinfo(user_id)
        if info is not None:
            if info.display_name is not None:
                result[DISPLAYNAME] = info.display_name
            if info.avatar_url is not None:
                result[AVATAR_URL] = info.avatar_url
        return result

    async def get_profile(self, user_id: str) -> JsonDict:
        """Every field of the profile, unset ones left out; 404 M_NOT_FOUND."""
        target = UserID.from_string(user_id)
        await self._check_local_user_exists(target)
        return await self._full_profile(target.to_string())

    async def get_displayname(self, target_user: UserID) -> str | None:
        await self._check_local_user_exists(target_user)
        return await self._stores.profile.get_profile_displayname(target_user.to_string())

    async def get_avatar_url(self, target_user: UserID) -> str | None:
        await self._check_local_user_exists(target_user)
        return await self._stores.profile.get_profile_avatar_url(target_user.to_string())

    async def get_profile_field(self, target_user: UserID, key: str) -> Any:
        """The value of one field; 404 M_NOT_FOUND if the user or the field does not exist."""
        check_profile_key(key)
        await self._check_local_user_exists(target_user)
        profile = await self._full_profile(target_user.to_string())
        if key not in profile:
            raise NotFoundError("The profile has no such field")
        return profile[key]

    async def _check_may_change(
        self, target_user: UserID, requester: Requester, by_admin: bool, what: str
    ) -> None:
        if not self.hs.is_mine(target_user):
            raise SynapseError(400, "User is not hosted on this homeserver", Codes.INVALID_PARAM)
        if not by_admin and target_user != requester.user:
            raise AuthError(403, f"Cannot set another user's {what}")
        if not by_admin and requester.is_guest and what != DISPLAYNAME:
            raise AuthError(403, "Guests may only change their display name")
        await self._check_local_user_exists(target_user)

    async def set_displayname(
        self,
        target_user: UserID,
        requester: Requester,
        new_displayname: str,
        by_admin: bool = False,
    ) -> None:
        """Set a display name; an empty one clears it. Only the user (or an admin) may."""
        await self._check_may_change(target_user, requester, by_admin, DISPLAYNAME)
        if not by_admin and not self.hs.config.server.enable_set_displayname:
            raise SynapseError(
                400, "Changing display name is disabled on this server", Codes.FORBIDDEN
            )
        if len(new_displayname) > MAX_DISPLAYNAME_LEN:
            raise SynapseError(
                400, f"Displayname is too long (max {MAX_DISPLAYNAME_LEN})", Codes.BAD_JSON
            )
        if "\x00" in new_displayname:
            raise SynapseError(
                400, "Displayname may not contain NUL characters", Codes.INVALID_PARAM
            )
        await self._stores.profile.set_profile_displayname(
            target_user.to_string(), new_displayname or None
        )
        await self.hs.get_user_directory_handler().local_user_changed(target_user.to_string())
        await self.update_join_states(target_user)

    async def set_avatar_url(
        self,
        target_user: UserID,
        requester: Requester,
        new_avatar_url: str,
        by_admin: bool = False,
    ) -> None:
        """Set an avatar URL; an empty one clears it. Only the user (or an admin) may."""
        await self._check_may_change(target_user, requester, by_admin, AVATAR_URL)
        if not by_admin and not self.hs.config.server.enable_set_avatar_url:
            raise SynapseError(400, "Changing avatar is disabled on this server", Codes.FORBIDDEN)
        if len(new_avatar_url) > MAX_AVATAR_URL_LEN:
            raise SynapseError(
                400, f"Avatar URL is too long (max {MAX_AVATAR_URL_LEN})", Codes.BAD_JSON
            )
        if "\x00" in new_avatar_url:
            raise SynapseError(
                400, "Avatar URL may not contain NUL characters", Codes.INVALID_PARAM
            )
        await self._stores.profile.set_profile_avatar_url(
            target_user.to_string(), new_avatar_url or None
        )
        await self.hs.get_user_directory_handler().local_user_changed(target_user.to_string())
        await self.update_join_states(target_user)

    async def update_join_states(self, target_user: UserID) -> None:
        """Send a new join event, with the new name and avatar, into each joined room."""
        user_id = target_user.to_string()
        rooms = await self._stores.roommember.get_rooms_for_local_user_where_membership_is(
            user_id, [Membership.JOIN]
        )
        if not rooms:
            return
        member_handler = self.hs.get_room_member_handler()
        requester = create_requester(user_id)
        for room in rooms:
            try:
                await member_handler.update_membership(
                    requester, user_id, room.room_id, "join", ratelimit=False
                )
            except Exception:
                logger.warning(
                    "Failed to update the profile of %s in %s", user_id, room.room_id, exc_info=True
                )

    async def set_profile_field(
        self,
        target_user: UserID,
        requester: Requester,
        key: str,
        value: Any,
        by_admin: bool = False,
    ) -> None:
        """Set any field; ``displayname`` and ``avatar_url`` must be strings."""
        check_profile_key(key)
        if key in (DISPLAYNAME, AVATAR_URL):
            if not isinstance(value, str):
                raise SynapseError(400, f"'{key}' must be a string", Codes.BAD_JSON)
            if key == DISPLAYNAME:
                await self.set_displayname(target_user, requester, value, by_admin)
            else:
                await self.set_avatar_url(target_user, requester, value, by_admin)
            return
        await self._check_may_change(target_user, requester, by_admin, key)
        if key == "m.tz" and not isinstance(value, str):
            raise SynapseError(400, "'m.tz' must be a string", Codes.BAD_JSON)
        user_id = target_user.to_string()
        profile = await self._full_profile(user_id)
        profile[key] = value
        if len(encode_canonical_json(profile)) >= MAX_PROFILE_SIZE:
            raise SynapseError(400, "The profile would be too large", PROFILE_TOO_LARGE)
        await self._stores.profile.set_profile_field(user_id, key, value)

    async def delete_profile_field(
        self, target_user: UserID, requester: Requester, key: str, by_admin: bool = False
    ) -> None:
        """Remove a field; removing one that is not set is no error."""
        check_profile_key(key)
        if key == DISPLAYNAME:
            await self.set_displayname(target_user, requester, "", by_admin)
        elif key == AVATAR_URL:
            await self.set_avatar_url(target_user, requester, "", by_admin)
        else:
            await self._check_may_change(target_user, requester, by_admin, key)
            await self._stores.profile.delete_profile_field(target_user.to_string(), key)
