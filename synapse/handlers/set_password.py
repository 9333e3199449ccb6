"""Changing a user's password."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.types import Requester

if TYPE_CHECKING:
    from synapse.server import HomeServer


class SetPasswordHandler:
    """Stores a new password hash and, if asked, logs out the user's other sessions."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self._stores = hs.get_datastores().main
        self._auth_handler = hs.get_auth_handler()
        self._device_handler = hs.get_device_handler()

    async def set_password(
        self,
        user_id: str,
        password_hash: str,
        logout_devices: bool,
        requester: Requester | None = None,
    ) -> None:
        """Set the hash; with ``logout_devices`` end every session but the requester's."""
        await self._stores.registration.set_user_password_hash(user_id, password_hash)
        if not logout_devices:
            return
        except_device_id = requester.device_id if requester else None
        except_token_id = requester.access_token_id if requester else None
        await self._device_handler.delete_all_devices_for_user(
            user_id, except_device_id=except_device_id
        )
        await self._auth_handler.delete_access_tokens_for_user(
            user_id, except_token_id=except_token_id
        )
