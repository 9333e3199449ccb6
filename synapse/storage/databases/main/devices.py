"""Devices of local users, and the addresses and clients they were last seen with."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import attr

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction


@attr.s(slots=True, frozen=True, auto_attribs=True)
class DeviceInfo:
    """One device row."""

    user_id: str
    device_id: str
    display_name: str | None
    last_seen_ts: int | None
    last_seen_ip: str | None
    last_seen_user_agent: str | None

    def to_client_dict(self) -> dict[str, Any]:
        """The device as the Client-Server API shows it."""
        return {
            "device_id": self.device_id,
            "display_name": self.display_name,
            "last_seen_ip": self.last_seen_ip,
            "last_seen_ts": self.last_seen_ts,
        }


_DEVICE_COLUMNS = (
    "user_id",
    "device_id",
    "display_name",
    "last_seen_ts",
    "last_seen_ip",
    "last_seen_user_agent",
)


def _device_from_row(row: tuple[Any, ...]) -> DeviceInfo:
    return DeviceInfo(*row)


class DeviceStore:
    """The ``devices`` and ``user_ips`` tables."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs

    async def store_device(
        self, user_id: str, device_id: str, initial_device_display_name: str | None
    ) -> bool:
        """Create the device unless it exists; return whether it was created."""

        def _txn(txn: LoggingTransaction) -> bool:
            txn.execute(
                "SELECT 1 FROM devices WHERE user_id = ? AND device_id = ?",
                (user_id, device_id),
            )
            if txn.fetchone() is not None:
                return False
            txn.execute(
                "INSERT INTO devices (user_id, device_id, display_name, hidden)"
                " VALUES (?, ?, ?, 0)",
                (user_id, device_id, initial_device_display_name),
            )
            return True

        return await self.db_pool.runInteraction("store_device", _txn)

    async def get_device(self, user_id: str, device_id: str) -> DeviceInfo | None:
        row = await self.db_pool.simple_select_one(
            "devices",
            {"user_id": user_id, "device_id": device_id, "hidden": 0},
            _DEVICE_COLUMNS,
            allow_none=True,
            desc="get_device",
        )
        return _device_from_row(row) if row is not None else None

    async def get_devices_by_user(self, user_id: str) -> dict[str, DeviceInfo]:
        """Every (visible) device of ``user_id``, by device ID."""
        rows = await self.db_pool.simple_select_list(
            "devices", {"user_id": user_id, "hidden": 0}, _DEVICE_COLUMNS, desc="get_devices"
        )
        return {row[1]: _device_from_row(row) for row in rows}

    async def get_device_ids_by_users(self, user_ids: Collection[str]) -> dict[str, set[str]]:
        """The (visible) device IDs of each of ``user_ids`` that has any."""
        rows = await self.db_pool.simple_select_many(
            "devices",
            "user_id",
            user_ids,
            {"hidden": 0},
            ("user_id", "device_id"),
            desc="get_device_ids_by_users",
        )
        out: dict[str, set[str]] = {}
        for user_id, device_id in rows:
            out.setdefault(user_id, set()).add(device_id)
        return out

    async def update_device(self, user_id: str, device_id: str, new_display_name: str) -> bool:
        """Rename a device; return False if there is no such device."""
        updated = await self.db_pool.simple_update(
            "devices",
            {"user_id": user_id, "device_id": device_id, "hidden": 0},
            {"display_name": new_display_name},
            desc="update_device",
        )
        return updated > 0

    async def delete_devices(self, user_id: str, device_ids: list[str]) -> None:
        def _txn(txn: LoggingTransaction) -> None:
            for device_id in device_ids:
                txn.execute(
                    "DELETE FROM devices WHERE user_id = ? AND device_id = ? AND hidden = 0",
                    (user_id, device_id),
                )
                txn.execute(
                    "DELETE FROM user_ips WHERE user_id = ? AND device_id = ?",
                    (user_id, device_id),
                )

        await self.db_pool.runInteraction("delete_devices", _txn)

    async def insert_client_ip(
        self, user_id: str, device_id: str | None, ip: str, user_agent: str, now_ms: int
    ) -> None:
        """Record that ``user_id`` was seen from ``ip`` with ``user_agent``."""

        def _txn(txn: LoggingTransaction) -> None:
            txn.execute(
                "UPDATE user_ips SET device_id = ?, last_seen = ?"
                " WHERE user_id = ? AND ip = ? AND user_agent = ?",
                (device_id, now_ms, user_id, ip, user_agent),
            )
            if txn.rowcount == 0:
                txn.execute(
                    "INSERT INTO user_ips (user_id, device_id, ip, user_agent, last_seen)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (user_id, device_id, ip, user_agent, now_ms),
                )
            if device_id is not None:
                txn.execute(
                    "UPDATE devices SET last_seen_ts = ?, last_seen_ip = ?,"
                    " last_seen_user_agent = ? WHERE user_id = ? AND device_id = ?",
                    (now_ms, ip, user_agent, user_id, device_id),
                )

        await self.db_pool.runInteraction("insert_client_ip", _txn)

    async def get_user_ip_and_agents(self, user_id: str) -> list[dict[str, Any]]:
        """Each (ip, user_agent) ``user_id`` was seen with, and when last."""
        rows = await self.db_pool.simple_select_list(
            "user_ips",
            {"user_id": user_id},
            ("ip", "user_agent", "last_seen", "device_id"),
            desc="get_user_ip_and_agents",
        )
        return [
            {"ip": r[0], "user_agent": r[1], "last_seen": r[2], "device_id": r[3]} for r in rows
        ]
