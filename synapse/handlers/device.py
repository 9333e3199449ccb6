"""The devices of local users: created at login, listed, renamed and deleted."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from typing import TYPE_CHECKING

from synapse.api.errors import Codes, NotFoundError, StoreError, SynapseError
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.server import HomeServer

MAX_DEVICE_DISPLAY_NAME_LEN = 100


def generate_device_id() -> str:
    """A random device ID of ten upper-case letters."""
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(10))


class DeviceHandler:
    """Creates, lists, renames and deletes devices; deleting one ends its sessions."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self._stores = hs.get_datastores().main

    async def check_device_registered(
        self,
        user_id: str,
        device_id: str | None,
        initial_device_display_name: str | None = None,
    ) -> str:
        """Make sure the device exists (creating it, under a fresh ID if none is given).

        An existing device keeps its display name.
        """
        if device_id is not None:
            if await self._stores.devices.store_device(
                user_id, device_id, initial_device_display_name
            ):
                await self.hs.get_device_list_handler().notify_device_update(user_id, [device_id])
            return device_id
        for _ in range(8):
            new_id = generate_device_id()
            if await self._stores.devices.store_device(
                user_id, new_id, initial_device_display_name
            ):
                await self.hs.get_device_list_handler().notify_device_update(user_id, [new_id])
                return new_id
        raise StoreError(500, "Couldn't generate a device ID.")

    async def get_devices_by_user(self, user_id: str) -> list[JsonDict]:
        devices = await self._stores.devices.get_devices_by_user(user_id)
        return [d.to_client_dict() for d in devices.values()]

    async def get_device(self, user_id: str, device_id: str) -> JsonDict:
        """One device, or 404 M_NOT_FOUND."""
        device = await self._stores.devices.get_device(user_id, device_id)
        if device is None:
            raise NotFoundError("No device found")
        return device.to_client_dict()

    async def update_device(self, user_id: str, device_id: str, content: JsonDict) -> None:
        """Apply the changes of a ``PUT /devices/{deviceId}`` body (the display name)."""
        device = await self._stores.devices.get_device(user_id, device_id)
        if device is None:
            raise NotFoundError("No device found")
        new_name = content.get("display_name")
        if new_name is None:
            return
        if len(new_name) > MAX_DEVICE_DISPLAY_NAME_LEN:
            raise SynapseError(
                400,
                f"Device display name is too long (max {MAX_DEVICE_DISPLAY_NAME_LEN})",
                Codes.TOO_LARGE,
            )
        await self._stores.devices.update_device(user_id, device_id, new_name)
        await self.hs.get_device_list_handler().notify_device_update(user_id, [device_id])

    async def delete_devices(self, user_id: str, device_ids: Iterable[str]) -> None:
        """Delete the devices and invalidate their access tokens; unknown IDs are ignored."""
        ids = list(dict.fromkeys(device_ids))
        if not ids:
            return
        await self._stores.registration.delete_access_tokens_for_devices(user_id, ids)
        await self._stores.devices.delete_devices(user_id, ids)
        # Their keys and to-device messages go too; other users learn of it.
        await self.hs.get_device_list_handler().on_devices_deleted(user_id, ids)

    async def delete_device(self, user_id: str, device_id: str) -> None:
        await self.delete_devices(user_id, [device_id])

    async def delete_all_devices_for_user(
        self, user_id: str, except_device_id: str | None = None
    ) -> None:
        """Delete every device of the user except ``except_device_id``."""
        devices = await self._stores.devices.get_devices_by_user(user_id)
        await self.delete_devices(user_id, [d for d in devices if d != except_device_id])
