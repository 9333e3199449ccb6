"""``/account/whoami``, ``/account/password`` and ``/account/deactivate``."""

from __future__ import annotations

from typing import Any

from synapse.rest.client import account, devices, login, logout, profile
from synapse.types import JsonDict
from tests.unittest import HomeserverTestCase


def _password_auth(user: str, password: str, session: str | None = None) -> JsonDict:
    auth: JsonDict = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    }
    if session is not None:
        auth["session"] = session
    return auth


class PasswordTestCase(HomeserverTestCase):
    servlets = [login.register_servlets, account.register_servlets, devices.register_servlets]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.user_id = self.register_user("kermit", "monkey")
        self.token = self.login("kermit", "monkey", device_id="MAIN")
        self.other_token = self.login("kermit", "monkey", device_id="OTHER")
        self.store = hs.get_datastores().main

    def _can_login(self, password: str) -> bool:
        channel = self.make_request(
            "POST",
            "login",
            {"type": "m.login.password", "user": "kermit", "password": password},
        )
        return channel.code == 200

    def _change(self, body: JsonDict, token: str | None = None) -> Any:
        return self.make_request("POST", "account/password", body, access_token=token or self.token)

    def test_requires_ui_auth(self) -> None:
        channel = self._change({"new_password": "new"})
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["flows"], [{"stages": ["m.login.password"]}])
        self.assertTrue(self._can_login("monkey"))

    def test_wrong_password_changes_nothing(self) -> None:
        channel = self._change({"new_password": "new", "auth": _password_auth("kermit", "wrong")})
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        self.assertIn("flows", channel.json_body)
        self.assertNotIn("completed", channel.json_body)
        self.assertTrue(self._can_login("monkey"))
        self.assertFalse(self._can_login("new"))
        whoami = self.make_request("GET", "account/whoami", access_token=self.other_token)
        self.assertEqual(whoami.code, 200)

    def test_change_password_logs_out_other_devices(self) -> None:
        channel = self._change({"new_password": "new", "auth": _password_auth("kermit", "monkey")})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertFalse(self._can_login("monkey"))
        self.assertTrue(self._can_login("new"))
        self.assertEqual(
            self.make_request("GET", "account/whoami", access_token=self.token).code, 200
        )
        self.assertEqual(
            self.make_request("GET", "account/whoami", access_token=self.other_token).code, 401
        )
        self.assertIsNone(self.get_success(self.store.devices.get_device(self.user_id, "OTHER")))

    def test_change_password_keeping_devices(self) -> None:
        channel = self._change(
            {
                "new_password": "new",
                "logout_devices": False,
                "auth": _password_auth("kermit", "monkey"),
            }
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(
            self.make_request("GET", "account/whoami", access_token=self.other_token).code, 200
        )

    def test_session_completes_without_resending_password(self) -> None:
        channel = self._change({"new_password": "new"})
        session = channel.json_body["session"]
        channel = self._change({"auth": _password_auth("kermit", "monkey", session)})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertTrue(self._can_login("new"))

    def test_other_users_credentials_refused(self) -> None:
        self.register_user("piggy", "pass")
        channel = self._change({"new_password": "new", "auth": _password_auth("piggy", "pass")})
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertTrue(self._can_login("monkey"))

    def test_bad_bodies(self) -> None:
        bodies: list[JsonDict] = [
            {"new_password": 5},
            {"new_password": "x", "logout_devices": "no"},
            {"new_password": "x", "auth": []},
        ]
        for body in bodies:
            channel = self._change(body)
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], "M_BAD_JSON")
        self.assertTrue(self._can_login("monkey"))

    def test_missing_new_password(self) -> None:
        channel = self._change({"auth": _password_auth("kermit", "monkey")})
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_PARAM")
        self.assertTrue(self._can_login("monkey"))

    def test_session_bound_to_its_operation(self) -> None:
        """A session started for one endpoint cannot authorise another."""
        channel = self.make_request(
            "POST", "delete_devices", {"devices": ["OTHER"]}, access_token=self.token
        )
        session = channel.json_body["session"]
        channel = self._change(
            {"new_password": "new", "auth": _password_auth("kermit", "monkey", session)}
        )
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertTrue(self._can_login("monkey"))

    def test_requires_token(self) -> None:
        channel = self.make_request("POST", "account/password", {"new_password": "x"})
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")


class DeactivateTestCase(HomeserverTestCase):
    servlets = [
        login.register_servlets,
        logout.register_servlets,
        account.register_servlets,
        profile.register_servlets,
    ]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.user_id = self.register_user("kermit", "monkey", displayname="Kermit")
        self.token = self.login("kermit", "monkey")
        self.other_token = self.login("kermit", "monkey")
        self.store = hs.get_datastores().main

    def _deactivate(self, body: JsonDict) -> Any:
        return self.make_request("POST", "account/deactivate", body, access_token=self.token)

    def test_requires_ui_auth(self) -> None:
        channel = self._deactivate({})
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["flows"], [{"stages": ["m.login.password"]}])
        user = self.get_success(self.store.registration.get_user_by_id(self.user_id))
        assert user is not None
        self.assertFalse(user.is_deactivated)

    def test_wrong_password_changes_nothing(self) -> None:
        channel = self._deactivate({"auth": _password_auth("kermit", "nope")})
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        user = self.get_success(self.store.registration.get_user_by_id(self.user_id))
        assert user is not None
        self.assertFalse(user.is_deactivated)
        whoami = self.make_request("GET", "account/whoami", access_token=self.token)
        self.assertEqual(whoami.code, 200)

    def test_deactivate_and_erase(self) -> None:
        channel = self._deactivate({"auth": _password_auth("kermit", "monkey"), "erase": True})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertTrue(self.get_success(self.store.registration.is_user_erased(self.user_id)))

    def test_bad_body(self) -> None:
        channel = self._deactivate({"erase": "yes", "auth": _password_auth("kermit", "monkey")})
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_BAD_JSON")
        user = self.get_success(self.store.registration.get_user_by_id(self.user_id))
        assert user is not None
        self.assertFalse(user.is_deactivated)

    def test_deactivate(self) -> None:
        self.get_success(self.store.profile.set_profile_field(self.user_id, "m.tz", "UTC"))
        channel = self._deactivate({"auth": _password_auth("kermit", "monkey"), "erase": False})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"id_server_unbind_result": "success"})
        self.assertFalse(self.get_success(self.store.registration.is_user_erased(self.user_id)))

        user = self.get_success(self.store.registration.get_user_by_id(self.user_id))
        assert user is not None
        self.assertTrue(user.is_deactivated)
        for token in (self.token, self.other_token):
            channel = self.make_request("GET", "account/whoami", access_token=token)
            self.assertEqual(channel.code, 401)
            self.assertEqual(channel.json_body["errcode"], "M_UNKNOWN_TOKEN")
        self.assertEqual(self.get_success(self.store.devices.get_devices_by_user(self.user_id)), {})
        self.assertEqual(
            self.get_success(self.store.registration.count_access_tokens(self.user_id)), 0
        )
        channel = self.make_request(
            "POST", "login", {"type": "m.login.password", "user": "kermit", "password": "monkey"}
        )
        self.assertEqual(channel.code, 403)
        channel = self.make_request("GET", f"profile/{self.user_id}")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {})
        fields = self.get_success(self.store.profile.get_profile_fields(self.user_id))
        self.assertEqual(fields, {})


class WhoamiTestCase(HomeserverTestCase):
    servlets = [login.register_servlets, account.register_servlets]

    def test_whoami(self) -> None:
        user_id = self.register_user("kermit", "monkey")
        token = self.login("kermit", "monkey", device_id="D1")
        channel = self.make_request("GET", "account/whoami", access_token=token)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(
            channel.json_body, {"user_id": user_id, "device_id": "D1", "is_guest": False}
        )
