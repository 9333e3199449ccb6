"""``/login``, ``/logout``, ``/logout/all`` and access-token authentication."""

from __future__ import annotations

from typing import Any

from synapse.rest.client import account, login, logout
from synapse.types import JsonDict
from tests.unittest import HomeserverTestCase, override_config


def _password_login(user: str, password: str, **extra: Any) -> JsonDict:
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
        **extra,
    }


class LoginTestCase(HomeserverTestCase):
    servlets = [login.register_servlets, logout.register_servlets, account.register_servlets]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.user_id = self.register_user("kermit", "monkey")
        self.store = hs.get_datastores().main

    def _whoami(self, token: str) -> Any:
        return self.make_request("GET", "account/whoami", access_token=token)

    def test_get_flows(self) -> None:
        channel = self.make_request("GET", "login")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertIn({"type": "m.login.password"}, channel.json_body["flows"])

    @override_config({"password_config": {"enabled": False}})
    def test_password_login_disabled(self) -> None:
        channel = self.make_request("GET", "login")
        self.assertEqual(channel.json_body["flows"], [])
        channel = self.make_request("POST", "login", _password_login("kermit", "monkey"))
        self.assertEqual(channel.code, 400, channel.json_body)

    def test_login_by_localpart_mxid_and_legacy_user(self) -> None:
        for body in [
            _password_login("kermit", "monkey"),
            _password_login("@kermit:test", "monkey"),
            _password_login("KERMIT", "monkey"),
            {"type": "m.login.password", "user": "kermit", "password": "monkey"},
        ]:
            channel = self.make_request("POST", "login", body)
            self.assertEqual(channel.code, 200, (body, channel.json_body))
            self.assertEqual(channel.json_body["user_id"], self.user_id)
            self.assertEqual(channel.json_body["home_server"], "test")
            whoami = self._whoami(channel.json_body["access_token"])
            self.assertEqual(whoami.json_body["device_id"], channel.json_body["device_id"])

    def test_login_creates_named_device(self) -> None:
        channel = self.make_request(
            "POST",
            "login",
            _password_login(
                "kermit", "monkey", device_id="MYDEV", initial_device_display_name="Laptop"
            ),
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["device_id"], "MYDEV")
        device = self.get_success(self.store.devices.get_device(self.user_id, "MYDEV"))
        assert device is not None
        self.assertEqual(device.display_name, "Laptop")

    def test_login_again_on_same_device_replaces_token(self) -> None:
        first = self.login("kermit", "monkey", device_id="DEV")
        second = self.login("kermit", "monkey", device_id="DEV")
        self.assertEqual(self._whoami(first).code, 401)
        self.assertEqual(self._whoami(second).code, 200)

    def test_wrong_password_and_unknown_user(self) -> None:
        for body in [
            _password_login("kermit", "wrong"),
            _password_login("nobody", "monkey"),
            _password_login("@kermit:elsewhere", "monkey"),
            _password_login("@not valid", "monkey"),
        ]:
            channel = self.make_request("POST", "login", body)
            self.assertEqual(channel.code, 403, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        self.assertEqual(
            self.get_success(self.store.registration.count_access_tokens(self.user_id)), 0
        )

    def test_thirdparty_identifier(self) -> None:
        for body in [
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "a@b.c"},
                "password": "monkey",
            },
            {"type": "m.login.password", "medium": "email", "address": "a@b.c", "password": "x"},
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.phone", "country": "GB", "phone": "123"},
                "password": "monkey",
            },
        ]:
            channel = self.make_request("POST", "login", body)
            self.assertEqual(channel.code, 403, channel.json_body)
            self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")

    def test_bad_requests(self) -> None:
        cases: list[tuple[Any, str]] = [
            ({"type": "m.login.bogus", "user": "kermit", "password": "monkey"}, "M_UNKNOWN"),
            ({"user": "kermit", "password": "monkey"}, "M_MISSING_PARAM"),
            ({"type": 1, "user": "kermit", "password": "monkey"}, "M_BAD_JSON"),
            ({"type": "m.login.password", "user": "kermit", "password": 1}, "M_BAD_JSON"),
            ({"type": "m.login.password", "user": ["kermit"], "password": "x"}, "M_BAD_JSON"),
            ({"type": "m.login.password", "identifier": "kermit", "password": "x"}, "M_BAD_JSON"),
            (
                {
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": 5},
                    "password": "x",
                },
                "M_BAD_JSON",
            ),
            (
                {"type": "m.login.password", "identifier": {"type": "m.id.bogus"}, "password": "x"},
                "M_UNKNOWN",
            ),
            ({"type": "m.login.password", "password": "monkey"}, "M_MISSING_PARAM"),
            ({"type": "m.login.password", "user": "kermit"}, "M_MISSING_PARAM"),
            (_password_login("kermit", "monkey", device_id=12), "M_BAD_JSON"),
            (_password_login("kermit", "monkey", refresh_token="yes"), "M_BAD_JSON"),
        ]
        for body, errcode in cases:
            channel = self.make_request("POST", "login", body)
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], errcode, body)
        self.assertEqual(
            self.get_success(self.store.registration.count_access_tokens(self.user_id)), 0
        )

    def test_deactivated_user_cannot_log_in(self) -> None:
        self.get_success(self.store.registration.set_user_deactivated_status(self.user_id, True))
        channel = self.make_request("POST", "login", _password_login("kermit", "monkey"))
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_USER_DEACTIVATED")

    @override_config(
        {
            "rc_login": {
                "address": {"per_second": 10000, "burst_count": 10000},
                "account": {"per_second": 10000, "burst_count": 10000},
                "failed_attempts": {"per_second": 0.1, "burst_count": 3},
            }
        }
    )
    def test_failed_attempts_ratelimit(self) -> None:
        for _ in range(3):
            channel = self.make_request("POST", "login", _password_login("kermit", "wrong"))
            self.assertEqual(channel.code, 403, channel.json_body)
        # Even the right password is refused until the limit drains.
        channel = self.make_request("POST", "login", _password_login("kermit", "monkey"))
        self.assertEqual(channel.code, 429, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_LIMIT_EXCEEDED")
        self.reactor.advance(20)
        channel = self.make_request("POST", "login", _password_login("kermit", "monkey"))
        self.assertEqual(channel.code, 200, channel.json_body)

    @override_config(
        {
            "rc_login": {
                "address": {"per_second": 0.1, "burst_count": 2},
                "account": {"per_second": 10000, "burst_count": 10000},
                "failed_attempts": {"per_second": 10000, "burst_count": 10000},
            }
        }
    )
    def test_address_ratelimit(self) -> None:
        for _ in range(2):
            channel = self.make_request("POST", "login", _password_login("kermit", "monkey"))
            self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request("POST", "login", _password_login("kermit", "monkey"))
        self.assertEqual(channel.code, 429, channel.json_body)
        # Another address is not affected.
        channel = self.make_request(
            "POST", "login", _password_login("kermit", "monkey"), client_ip="10.0.0.2"
        )
        self.assertEqual(channel.code, 200, channel.json_body)

    @override_config(
        {
            "rc_login": {
                "address": {"per_second": 10000, "burst_count": 10000},
                "account": {"per_second": 0.1, "burst_count": 2},
                "failed_attempts": {"per_second": 10000, "burst_count": 10000},
            }
        }
    )
    def test_account_ratelimit(self) -> None:
        for ip in ("10.0.0.1", "10.0.0.2"):
            channel = self.make_request(
                "POST", "login", _password_login("kermit", "monkey"), client_ip=ip
            )
            self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request(
            "POST", "login", _password_login("kermit", "monkey"), client_ip="10.0.0.3"
        )
        self.assertEqual(channel.code, 429, channel.json_body)

    def test_logout(self) -> None:
        token = self.login("kermit", "monkey", device_id="DEV1")
        other = self.login("kermit", "monkey", device_id="DEV2")
        channel = self.make_request("POST", "logout", {}, access_token=token)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {})
        self.assertEqual(self._whoami(token).code, 401)
        self.assertIsNone(self.get_success(self.store.devices.get_device(self.user_id, "DEV1")))
        self.assertEqual(self._whoami(other).code, 200)
        # The token is gone: logging out again is 401.
        channel = self.make_request("POST", "logout", {}, access_token=token)
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], "M_UNKNOWN_TOKEN")

    def test_logout_all(self) -> None:
        tokens = [self.login("kermit", "monkey") for _ in range(3)]
        channel = self.make_request("POST", "logout/all", {}, access_token=tokens[0])
        self.assertEqual(channel.code, 200, channel.json_body)
        for token in tokens:
            self.assertEqual(self._whoami(token).code, 401)
        self.assertEqual(self.get_success(self.store.devices.get_devices_by_user(self.user_id)), {})

    def test_logout_without_token(self) -> None:
        channel = self.make_request("POST", "logout", {})
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")


class AccessTokenTestCase(HomeserverTestCase):
    servlets = [login.register_servlets, logout.register_servlets, account.register_servlets]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.user_id = self.register_user("kermit", "monkey")
        self.token = self.login("kermit", "monkey")

    def test_missing_token(self) -> None:
        channel = self.make_request("GET", "account/whoami")
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")

    def test_unknown_token(self) -> None:
        channel = self.make_request("GET", "account/whoami", access_token="syt_nope")
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_UNKNOWN_TOKEN")
        self.assertIs(channel.json_body["soft_logout"], False)

    def test_token_in_query_parameter(self) -> None:
        channel = self.make_request("GET", f"account/whoami?access_token={self.token}")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["user_id"], self.user_id)

    def test_header_and_query_parameter_together(self) -> None:
        channel = self.make_request(
            "GET", f"account/whoami?access_token={self.token}", access_token=self.token
        )
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")

    def test_malformed_authorization_header(self) -> None:
        channel = self.make_request(
            "GET", "account/whoami", custom_headers=[("Authorization", f"Basic {self.token}")]
        )
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")

    def test_deactivated_user_token_invalid(self) -> None:
        store = self.hs.get_datastores().main.registration
        self.get_success(store.set_user_deactivated_status(self.user_id, True))
        channel = self.make_request("GET", "account/whoami", access_token=self.token)
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_UNKNOWN_TOKEN")

    @override_config({"session_lifetime": "1h"})
    def test_expired_token_is_soft_logout(self) -> None:
        token = self.login("kermit", "monkey")
        self.assertEqual(self.make_request("GET", "account/whoami", access_token=token).code, 200)
        self.reactor.advance(3601)
        channel = self.make_request("GET", "account/whoami", access_token=token)
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_UNKNOWN_TOKEN")
        self.assertIs(channel.json_body["soft_logout"], True)
        # An expired session may still log out.
        channel = self.make_request("POST", "logout", {}, access_token=token)
        self.assertEqual(channel.code, 200, channel.json_body)

    def test_client_ip_recorded(self) -> None:
        self.make_request(
            "GET",
            "account/whoami",
            access_token=self.token,
            client_ip="10.1.2.3",
        )
        devices = self.get_success(
            self.hs.get_datastores().main.devices.get_devices_by_user(self.user_id)
        )
        (device,) = devices.values()
        self.assertEqual(device.last_seen_ip, "10.1.2.3")
        self.assertIsNotNone(device.last_seen_ts)

    def test_locked_user(self) -> None:
        store = self.hs.get_datastores().main.registration
        self.get_success(store.set_user_locked_status(self.user_id, True))
        channel = self.make_request("GET", "account/whoami", access_token=self.token)
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_USER_LOCKED")
        self.assertIs(channel.json_body["soft_logout"], True)
        # A locked user may still log out.
        channel = self.make_request("POST", "logout", {}, access_token=self.token)
        self.assertEqual(channel.code, 200, channel.json_body)
