"""Deactivating an account: it can never log in again."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from synapse.api.constants import Membership
from synapse.api.errors import NotFoundError
from synapse.types import create_requester

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)


class DeactivateAccountHandler:
    """Ends every session of a user, clears their profile and marks them deactivated."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self._stores = hs.get_datastores().main
        self._auth_handler = hs.get_auth_handler()
        self._device_handler = hs.get_device_handler()

    async def deactivate_account(self, user_id: str, erase_data: bool = False) -> bool:
        """Deactivate ``user_id``.

        Returns whether every third-party identifier was unbound from identity servers
        (always, as none are bound here).
        """
        user = await self._stores.registration.get_user_by_id(user_id)
        if user is None:
            raise NotFoundError("User not found")
        # Marked first, so that a token still in use elsewhere stops working at once.
        await self._stores.registration.set_user_deactivated_status(user_id, True)
        await self.hs.get_user_directory_handler().local_user_changed(user_id)
        await self._auth_handler.delete_access_tokens_for_user(user_id)
        await self._device_handler.delete_all_devices_for_user(user_id)
        await self._stores.registration.set_user_password_hash(user_id, None)
        await self._stores.profile.clear_profile(user_id)
        if erase_data:
            await self._stores.registration.mark_user_erased(user_id)
        await self._part_all_rooms(user_id)
        logger.info("Deactivated %s (erase: %s)", user_id, erase_data)
        return True

    async def _part_all_rooms(self, user_id: str) -> None:
        """Leave every room joined, and turn down every invite and knock."""
        rooms = await self._stores.roommember.get_rooms_for_local_user_where_membership_is(
            user_id, [Membership.JOIN, Membership.INVITE, Membership.KNOCK]
        )
        if not rooms:
            return
        member_handler = self.hs.get_room_member_handler()
        requester = create_requester(user_id)
        for room in rooms:
            try:
                await member_handler.update_membership(
                    requester, user_id, room.room_id, "leave", ratelimit=False
                )
            except Exception:
                logger.warning("Failed to make %s leave %s", user_id, room.room_id, exc_info=True)

    async def activate_account(self, user_id: str) -> None:
        """Let a deactivated user back in (they still need a new password to log in)."""
        await self._stores.registration.set_user_deactivated_status(user_id, False)
        await self._stores.registration.mark_user_not_erased(user_id)
        await self.hs.get_user_directory_handler().local_user_changed(user_id)
