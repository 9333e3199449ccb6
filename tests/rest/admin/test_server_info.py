"""Server version, background updates, federation destinations and media statistics."""

from __future__ import annotations

import synapse
from tests.rest.admin.admin_test_base import ADMIN_V1, AdminTestCase


class ServerInfoTestCase(AdminTestCase):
    def test_server_version(self) -> None:
        channel = self.admin_request("GET", f"{ADMIN_V1}/server_version")
        self.assertEqual(channel.json_body, {"server_version": synapse.__version__})

    def test_background_updates(self) -> None:
        channel = self.admin_request("GET", f"{ADMIN_V1}/background_updates/status")
        self.assertEqual(channel.json_body, {"enabled": True, "current_updates": {}})
        channel = self.admin_request(
            "POST", f"{ADMIN_V1}/background_updates/enabled", {"enabled": False}
        )
        self.assertEqual(channel.json_body, {"enabled": False})
        channel = self.admin_request("GET", f"{ADMIN_V1}/background_updates/enabled")
        self.assertEqual(channel.json_body, {"enabled": False})
        channel = self.admin_request(
            "POST", f"{ADMIN_V1}/background_updates/enabled", {"enabled": "no"}
        )
        self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_BAD_JSON"))
        self.assertFalse(
            self.admin_request("GET", f"{ADMIN_V1}/background_updates/enabled").json_body["enabled"]
        )
        self.admin_request("POST", f"{ADMIN_V1}/background_updates/enabled", {"enabled": True})
        self.assertTrue(
            self.admin_request("GET", f"{ADMIN_V1}/background_updates/enabled").json_body["enabled"]
        )

    def test_background_update_progress(self) -> None:
        updates = self.stores.db_pool.updates

        async def _handler(progress: dict, batch_size: int) -> int:
            await updates.end_background_update("test_update")
            return 7

        updates.register_background_update_handler("test_update", _handler)
        self.get_success(
            self.stores.db_pool.simple_insert(
                "background_updates", {"update_name": "test_update", "progress_json": "{}"}
            )
        )
        self.get_success(updates.do_next_background_update())
        channel = self.admin_request("GET", f"{ADMIN_V1}/background_updates/status")
        current = channel.json_body["current_updates"]["master"]
        self.assertEqual(current["name"], "test_update")
        self.assertEqual(current["total_item_count_processed"], 7)

    def test_federation_destinations(self) -> None:
        channel = self.admin_request("GET", f"{ADMIN_V1}/federation/destinations")
        self.assertEqual(channel.json_body, {"destinations": [], "total": 0})
        channel = self.admin_request("GET", f"{ADMIN_V1}/federation/destinations?dir=sideways")
        self.assertEqual(channel.code, 400)
        channel = self.admin_request("GET", f"{ADMIN_V1}/federation/destinations/example.org")
        self.assertEqual(channel.code, 404)

    def test_user_media_statistics(self) -> None:
        for media_id, user, length in (
            ("a", self.user, 10),
            ("b", self.user, 5),
            ("c", self.other, 100),
        ):
            self.get_success(
                self.stores.db_pool.simple_insert(
                    "local_media_repository",
                    {
                        "media_id": media_id,
                        "media_type": "text/plain",
                        "media_length": length,
                        "created_ts": 1000,
                        "user_id": user,
                        "safe_from_quarantine": False,
                    },
                )
            )
        channel = self.admin_request("GET", f"{ADMIN_V1}/statistics/users/media")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["total"], 2)
        self.assertEqual(
            channel.json_body["users"][0],
            {"user_id": self.user, "displayname": "alice", "media_count": 2, "media_length": 15},
        )
        channel = self.admin_request(
            "GET", f"{ADMIN_V1}/statistics/users/media?order_by=media_length&dir=b&limit=1"
        )
        self.assertEqual(channel.json_body["users"][0]["user_id"], self.other)
        self.assertEqual(channel.json_body["next_token"], 1)
        channel = self.admin_request("GET", f"{ADMIN_V1}/statistics/users/media?order_by=size")
        self.assertEqual(channel.code, 400)

    def test_non_admins_refused(self) -> None:
        for method, path, content in (
            ("GET", f"{ADMIN_V1}/server_version", b""),
            ("GET", f"{ADMIN_V1}/background_updates/status", b""),
            ("GET", f"{ADMIN_V1}/background_updates/enabled", b""),
            ("POST", f"{ADMIN_V1}/background_updates/enabled", {"enabled": False}),
            ("GET", f"{ADMIN_V1}/federation/destinations", b""),
            ("GET", f"{ADMIN_V1}/statistics/users/media", b""),
        ):
            self.assert_refused_to_non_admins(method, path, content)
        self.assertTrue(self.stores.db_pool.updates.enabled)
