"""``/devices``, ``/devices/{deviceId}`` and ``/delete_devices``."""

from __future__ import annotations

from typing import Any

from synapse.rest.client import account, devices, login
from synapse.types import JsonDict
from tests.unittest import HomeserverTestCase


class DevicesTestCase(HomeserverTestCase):
    servlets = [login.register_servlets, account.register_servlets, devices.register_servlets]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.user_id = self.register_user("kermit", "monkey")
        self.token = self.login("kermit", "monkey", device_id="MAIN")
        self.other_token = self.login("kermit", "monkey", device_id="OTHER")
        self.store = hs.get_datastores().main

    def _auth(self, session: str | None = None, password: str = "monkey") -> JsonDict:
        auth: JsonDict = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": self.user_id},
            "password": password,
        }
        if session:
            auth["session"] = session
        return auth

    def _whoami_code(self, token: str) -> int:
        return self.make_request("GET", "account/whoami", access_token=token).code

    def test_list_devices(self) -> None:
        channel = self.make_request("GET", "devices", access_token=self.token)
        self.assertEqual(channel.code, 200, channel.json_body)
        ids = sorted(d["device_id"] for d in channel.json_body["devices"])
        self.assertEqual(ids, ["MAIN", "OTHER"])
        for device in channel.json_body["devices"]:
            self.assertIn("display_name", device)
            self.assertIn("last_seen_ts", device)
            self.assertIn("last_seen_ip", device)

    def test_devices_of_others_not_listed(self) -> None:
        self.register_user("piggy", "pass")
        piggy = self.login("piggy", "pass", device_id="PIGGY")
        channel = self.make_request("GET", "devices", access_token=piggy)
        self.assertEqual([d["device_id"] for d in channel.json_body["devices"]], ["PIGGY"])
        channel = self.make_request("GET", "devices/MAIN", access_token=piggy)
        self.assertEqual(channel.code, 404)

    def test_get_device(self) -> None:
        channel = self.make_request("GET", "devices/MAIN", access_token=self.token)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["device_id"], "MAIN")

    def test_get_unknown_device(self) -> None:
        channel = self.make_request("GET", "devices/NOPE", access_token=self.token)
        self.assertEqual(channel.code, 404, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")

    def test_requires_token(self) -> None:
        for method, path in [("GET", "devices"), ("GET", "devices/MAIN"), ("PUT", "devices/MAIN")]:
            channel = self.make_request(method, path, {})
            self.assertEqual(channel.code, 401, path)
            self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")

    def test_rename_device(self) -> None:
        channel = self.make_request(
            "PUT", "devices/OTHER", {"display_name": "Tablet"}, access_token=self.token
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request("GET", "devices/OTHER", access_token=self.token)
        self.assertEqual(channel.json_body["display_name"], "Tablet")

    def test_rename_bad_input(self) -> None:
        channel = self.make_request(
            "PUT", "devices/OTHER", {"display_name": 5}, access_token=self.token
        )
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_BAD_JSON")
        channel = self.make_request(
            "PUT", "devices/OTHER", {"display_name": "x" * 101}, access_token=self.token
        )
        self.assertEqual(channel.code, 400, channel.json_body)
        channel = self.make_request("PUT", "devices/OTHER", b"nope", access_token=self.token)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_JSON")
        device = self.get_success(self.store.devices.get_device(self.user_id, "OTHER"))
        assert device is not None
        self.assertIsNone(device.display_name)

    def test_rename_unknown_device(self) -> None:
        channel = self.make_request(
            "PUT", "devices/NOPE", {"display_name": "x"}, access_token=self.token
        )
        self.assertEqual(channel.code, 404, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")
        self.assertIsNone(self.get_success(self.store.devices.get_device(self.user_id, "NOPE")))

    def test_delete_device_requires_ui_auth(self) -> None:
        channel = self.make_request("DELETE", "devices/OTHER", access_token=self.token)
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["flows"], [{"stages": ["m.login.password"]}])
        session = channel.json_body["session"]
        self.assertEqual(self._whoami_code(self.other_token), 200)

        channel = self.make_request(
            "DELETE",
            "devices/OTHER",
            {"auth": self._auth(session, password="wrong")},
            access_token=self.token,
        )
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        self.assertEqual(self._whoami_code(self.other_token), 200)

        channel = self.make_request(
            "DELETE", "devices/OTHER", {"auth": self._auth(session)}, access_token=self.token
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self._whoami_code(self.other_token), 401)
        self.assertEqual(self._whoami_code(self.token), 200)
        self.assertIsNone(self.get_success(self.store.devices.get_device(self.user_id, "OTHER")))

    def test_delete_unknown_device(self) -> None:
        channel = self.make_request(
            "DELETE", "devices/NOPE", {"auth": self._auth()}, access_token=self.token
        )
        self.assertEqual(channel.code, 404, channel.json_body)

    def test_delete_devices(self) -> None:
        third = self.login("kermit", "monkey", device_id="THIRD")
        channel = self.make_request(
            "POST", "delete_devices", {"devices": ["OTHER", "THIRD"]}, access_token=self.token
        )
        self.assertEqual(channel.code, 401, channel.json_body)
        session = channel.json_body["session"]
        channel = self.make_request(
            "POST",
            "delete_devices",
            {"devices": ["OTHER", "THIRD"], "auth": self._auth(session)},
            access_token=self.token,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self._whoami_code(self.other_token), 401)
        self.assertEqual(self._whoami_code(third), 401)
        self.assertEqual(self._whoami_code(self.token), 200)
        remaining = self.get_success(self.store.devices.get_devices_by_user(self.user_id))
        self.assertEqual(list(remaining), ["MAIN"])

    def test_delete_devices_bad_input(self) -> None:
        bodies: list[JsonDict] = [
            {},
            {"devices": "OTHER"},
            {"devices": [1]},
            {"devices": ["OTHER"], "auth": 3},
        ]
        for body in bodies:
            channel = self.make_request(
                "POST",
                "delete_devices",
                {**body, "auth": self._auth()} if "auth" not in body else body,
                access_token=self.token,
            )
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertIn(channel.json_body["errcode"], ("M_BAD_JSON", "M_MISSING_PARAM"))
        self.assertEqual(self._whoami_code(self.other_token), 200)

    def test_delete_devices_with_other_users_password(self) -> None:
        self.register_user("piggy", "pass")
        channel = self.make_request(
            "POST",
            "delete_devices",
            {
                "devices": ["OTHER"],
                "auth": {
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": "piggy"},
                    "password": "pass",
                },
            },
            access_token=self.token,
        )
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(self._whoami_code(self.other_token), 200)
