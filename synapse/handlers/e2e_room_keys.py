"""Server-side key backups (``/room_keys``): backup versions and the session keys in them.

Version strings are opaque to clients; here they are decimal numbers, and any other
string names no backup. Keys may only be written to the current (newest) version: a
write to another is 403 ``M_WRONG_ROOM_KEYS_VERSION`` with ``current_version``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.storage.databases.main.e2e_room_keys import BackupVersion, RoomKey
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.server import HomeServer

_MAX_VERSION_DIGITS = 18


def parse_version(version: str | None) -> int | None:
    """The number a version string stands for; None if it names no possible version."""
    if version is None or not version.isdigit() or not version.isascii():
        return None
    if len(version) > _MAX_VERSION_DIGITS or (version.startswith("0")):
        return None
    return int(version)


def _unknown_version() -> NotFoundError:
    return NotFoundError("Unknown backup version")


class E2eRoomKeysHandler:
    """``hs.get_e2e_room_keys_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self._store = hs.get_datastores().main.e2e_room_keys

    # --- versions ------------------------------------------------------------------------
    async def create_version(self, user_id: str, info: JsonDict) -> str:
        version = await self._store.create_version(user_id, info["algorithm"], info["auth_data"])
        return str(version)

    async def get_version_info(self, user_id: str, version: str | None = None) -> JsonDict:
        """A version (the current one for None) with its key count and etag; 404 if none."""
        number = None
        if version is not None:
            number = parse_version(version)
            if number is None:
                raise _unknown_version()
        info = await self._store.get_version(user_id, number)
        if info is None:
            if version is None:
                raise NotFoundError("No current backup version")
            raise _unknown_version()
        return await self._version_json(user_id, info)

    async def _version_json(self, user_id: str, info: BackupVersion) -> JsonDict:
        return {
            "algorithm": info.algorithm,
            "auth_data": info.auth_data,
            "version": str(info.version),
            "etag": str(info.etag),
            "count": await self._store.count_keys(user_id, info.version),
        }

    async def update_version(self, user_id: str, version: str, info: JsonDict) -> None:
        """Replace a version's ``auth_data``; the algorithm (and ``version``, if given)
        must be the version's own (400 ``M_INVALID_PARAM``)."""
        number = parse_version(version)
        current = await self._store.get_version(user_id, number) if number is not None else None
        if current is None or number is None:
            raise _unknown_version()
        if "version" in info and info["version"] != version:
            raise SynapseError(
                400, "The version in the body is not the version in the path", Codes.INVALID_PARAM
            )
        if info["algorithm"] != current.algorithm:
            raise SynapseError(400, "Algorithm does not match", Codes.INVALID_PARAM)
        if not await self._store.update_version_auth_data(user_id, number, info["auth_data"]):
            raise _unknown_version()

    async def delete_version(self, user_id: str, version: str | None) -> None:
        """Delete a version (None: the current one) and its keys; 404 if there is none."""
        if version is None:
            current = await self._store.get_version(user_id)
            if current is None:
                raise NotFoundError("No current backup version")
            number: int | None = current.version
        else:
            number = parse_version(version)
        if number is None or not await self._store.delete_version(user_id, number):
            raise _unknown_version()

    # --- keys ----------------------------------------------------------------------------
    async def upload_room_keys(
        self, user_id: str, version: str, rooms: Mapping[str, Mapping[str, JsonDict]]
    ) -> JsonDict:
        """Add keys (room -> session -> ``KeyBackupData``) to the current version,
        keeping for each session the better of the stored and the new key."""
        keys = {
            room_id: {sid: _room_key(data) for sid, data in sessions.items()}
            for room_id, sessions in rooms.items()
        }
        number = parse_version(version)
        result = None
        if number is not None:
            result = await self._store.upload_keys(user_id, number, keys)
        if result is None:
            current = await self._store.get_version(user_id)
            if current is None:
                raise _unknown_version()
            raise SynapseError(
                403,
                "Wrong backup version.",
                Codes.WRONG_ROOM_KEYS_VERSION,
                {"current_version": str(current.version)},
            )
        etag, count = result
        return {"etag": str(etag), "count": count}

    async def get_room_keys(
        self,
        user_id: str,
        version: str,
        room_id: str | None = None,
        session_id: str | None = None,
    ) -> JsonDict:
        """The version's keys: all (``{"rooms": ...}``), of a room (``{"sessions": ...}``),
        or one session's key (404 when there is none)."""
        number = await self._existing_version(user_id, version)
        keys = await self._store.get_keys(user_id, number, room_id, session_id)
        if session_id is not None:
            key = keys.get(room_id or "", {}).get(session_id)
            if key is None:
                raise NotFoundError("Key not found.")
            return key.to_json()
        if room_id is not None:
            sessions = keys.get(room_id, {})
            return {"sessions": {sid: k.to_json() for sid, k in sessions.items()}}
        return {
            "rooms": {
                room: {"sessions": {sid: k.to_json() for sid, k in sessions.items()}}
                for room, sessions in keys.items()
            }
        }

    async def delete_room_keys(
        self,
        user_id: str,
        version: str,
        room_id: str | None = None,
        session_id: str | None = None,
    ) -> JsonDict:
        number = parse_version(version)
        result = None
        if number is not None:
            result = await self._store.delete_keys(user_id, number, room_id, session_id)
        if result is None:
            raise _unknown_version()
        etag, count = result
        return {"etag": str(etag), "count": count}

    async def _existing_version(self, user_id: str, version: str) -> int:
        number = parse_version(version)
        if number is None or await self._store.get_version(user_id, number) is None:
            raise _unknown_version()
        return number


def _room_key(data: Mapping[str, Any]) -> RoomKey:
    return RoomKey(
        first_message_index=int(data["first_message_index"]),
        forwarded_count=int(data["forwarded_count"]),
        is_verified=bool(data["is_verified"]),
        session_data=dict(data["session_data"]),
    )
