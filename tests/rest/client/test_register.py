"""``/register``, ``/register/available`` and registration tokens."""

from __future__ import annotations

from typing import Any

from synapse.rest.client import account, login, register
from synapse.types import JsonDict
from tests.unittest import HomeserverTestCase, override_config


class RegisterTestCase(HomeserverTestCase):
    servlets = [register.register_servlets, login.register_servlets, account.register_servlets]

    def _user_exists(self, user_id: str) -> bool:
        store = self.hs.get_datastores().main.registration
        return self.get_success(store.get_user_by_id(user_id)) is not None

    def _count_users(self) -> int:
        return self.get_success(self.hs.get_datastores().main.registration.count_all_users())

    def _register(self, body: JsonDict, **kwargs: Any) -> Any:
        """Run the dummy-auth registration flow; return the final channel."""
        channel = self.make_request("POST", "register", body, **kwargs)
        if channel.code != 401:
            return channel
        session = channel.json_body["session"]
        return self.make_request(
            "POST", "register", {**body, "auth": {"type": "m.login.dummy", "session": session}}
        )

    def test_first_request_starts_ui_auth(self) -> None:
        channel = self.make_request("POST", "register", {"username": "kermit", "password": "pw"})
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["flows"], [{"stages": ["m.login.dummy"]}])
        self.assertIn("session", channel.json_body)
        self.assertEqual(channel.json_body["params"], {})
        self.assertFalse(self._user_exists("@kermit:test"))

    def test_register_with_dummy_auth(self) -> None:
        channel = self._register(
            {"username": "Kermit", "password": "pw", "initial_device_display_name": "Phone"}
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        body = channel.json_body
        self.assertEqual(body["user_id"], "@kermit:test")
        self.assertTrue(body["access_token"].startswith("syt_"))
        device = self.get_success(
            self.hs.get_datastores().main.devices.get_device("@kermit:test", body["device_id"])
        )
        assert device is not None
        self.assertEqual(device.display_name, "Phone")

        whoami = self.make_request("GET", "account/whoami", access_token=body["access_token"])
        self.assertEqual(whoami.code, 200)
        self.assertEqual(
            whoami.json_body,
            {"user_id": "@kermit:test", "device_id": body["device_id"], "is_guest": False},
        )
        # The display name defaults to the localpart, and the password works.
        profile = self.get_success(
            self.hs.get_datastores().main.profile.get_profileinfo("@kermit:test")
        )
        assert profile is not None
        self.assertEqual(profile.display_name, "kermit")
        self.login("kermit", "pw")

    def test_second_step_may_omit_the_body(self) -> None:
        """After the first request the client need only send ``auth``."""
        channel = self.make_request(
            "POST", "register", {"username": "gonzo", "password": "pw", "device_id": "DEV"}
        )
        session = channel.json_body["session"]
        channel = self.make_request(
            "POST", "register", {"auth": {"type": "m.login.dummy", "session": session}}
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["user_id"], "@gonzo:test")
        self.assertEqual(channel.json_body["device_id"], "DEV")
        self.login("gonzo", "pw")

    def test_password_not_stored_in_session(self) -> None:
        channel = self.make_request(
            "POST", "register", {"username": "fozzie", "password": "s3cret-pass"}
        )
        self.assertEqual(channel.code, 401)
        pool = self.hs.get_datastores().main.db_pool

        def _txn(txn: Any) -> list[Any]:
            txn.execute("SELECT clientdict, serverdict FROM ui_auth_sessions")
            return txn.fetchall()

        rows = self.get_success(pool.runInteraction("test", _txn))
        self.assertEqual(len(rows), 1)
        self.assertNotIn("s3cret-pass", rows[0][0] + rows[0][1])

    def test_retry_after_success_returns_same_user(self) -> None:
        channel = self.make_request("POST", "register", {"username": "animal", "password": "pw"})
        session = channel.json_body["session"]
        auth = {"auth": {"type": "m.login.dummy", "session": session}}
        first = self.make_request("POST", "register", auth)
        self.assertEqual(first.code, 200, first.json_body)
        second = self.make_request("POST", "register", auth)
        self.assertEqual(second.code, 200, second.json_body)
        self.assertEqual(second.json_body["user_id"], "@animal:test")
        self.assertEqual(self._count_users(), 1)

    def test_inhibit_login(self) -> None:
        channel = self._register({"username": "beaker", "password": "pw", "inhibit_login": True})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["user_id"], "@beaker:test")
        self.assertNotIn("access_token", channel.json_body)
        self.assertNotIn("device_id", channel.json_body)
        count = self.get_success(
            self.hs.get_datastores().main.registration.count_access_tokens("@beaker:test")
        )
        self.assertEqual(count, 0)

    def test_refresh_token_flag_accepted(self) -> None:
        channel = self._register({"username": "rizzo", "password": "pw", "refresh_token": False})
        self.assertEqual(channel.code, 200, channel.json_body)

    @override_config({"enable_registration": False})
    def test_registration_disabled(self) -> None:
        channel = self.make_request("POST", "register", {"username": "piggy", "password": "pw"})
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        self.assertEqual(self._count_users(), 0)

    def test_invalid_usernames(self) -> None:
        for username in ["", "a b", "über", "_reserved", "12345", "a:b", "x" * 250]:
            channel = self.make_request(
                "POST", "register", {"username": username, "password": "pw"}
            )
            self.assertEqual(channel.code, 400, (username, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], "M_INVALID_USERNAME", username)
        self.assertEqual(self._count_users(), 0)

    def test_user_in_use(self) -> None:
        self.register_user("scooter", "pw")
        channel = self.make_request("POST", "register", {"username": "Scooter", "password": "x"})
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_USER_IN_USE")
        self.assertEqual(self._count_users(), 1)

    def test_bad_body_types(self) -> None:
        for body in [
            {"username": 1, "password": "pw"},
            {"username": "a", "password": ["pw"]},
            {"username": "a", "password": "pw", "inhibit_login": "yes"},
            {"username": "a", "password": "pw", "device_id": 5},
            {"username": "a", "password": "pw", "initial_device_display_name": {}},
            {"username": "a", "password": "pw", "auth": "dummy"},
        ]:
            channel = self.make_request("POST", "register", body)
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], "M_BAD_JSON", body)
        channel = self.make_request("POST", "register", b"{not json")
        self.assertEqual(channel.code, 400)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_JSON")
        channel = self.make_request("POST", "register", [1, 2])
        self.assertEqual(channel.json_body["errcode"], "M_BAD_JSON")
        self.assertEqual(self._count_users(), 0)

    def test_unknown_session(self) -> None:
        channel = self.make_request(
            "POST",
            "register",
            {"username": "a", "password": "pw", "auth": {"type": "m.login.dummy", "session": "x"}},
        )
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(self._count_users(), 0)

    def test_unknown_auth_type(self) -> None:
        channel = self.make_request("POST", "register", {"username": "a", "password": "pw"})
        session = channel.json_body["session"]
        channel = self.make_request(
            "POST",
            "register",
            {
                "username": "a",
                "password": "pw",
                "auth": {"type": "m.login.foo", "session": session},
            },
        )
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(self._count_users(), 0)

    def test_missing_password(self) -> None:
        channel = self._register({"username": "nopass"})
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_PARAM")
        self.assertFalse(self._user_exists("@nopass:test"))

    def test_long_password(self) -> None:
        password = "long password " * 30
        channel = self._register({"username": "longpw", "password": password})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.login("longpw", password)

    def test_password_too_long(self) -> None:
        channel = self.make_request("POST", "register", {"username": "a", "password": "x" * 513})
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(self._count_users(), 0)

    @override_config(
        {
            "password_config": {
                "policy": {"enabled": True, "minimum_length": 8, "require_digit": True}
            }
        }
    )
    def test_password_policy(self) -> None:
        channel = self.make_request("POST", "register", {"username": "a", "password": "short"})
        self.assertEqual(channel.json_body["errcode"], "M_PASSWORD_TOO_SHORT")
        channel = self.make_request("POST", "register", {"username": "a", "password": "longenough"})
        self.assertEqual(channel.json_body["errcode"], "M_PASSWORD_NO_DIGIT")
        self.assertEqual(self._count_users(), 0)

    def test_no_username_generates_one(self) -> None:
        channel = self._register({"password": "pw"})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertTrue(channel.json_body["user_id"][1:].split(":")[0].isdigit())

    @override_config({"allow_guest_access": True})
    def test_guest_registration(self) -> None:
        channel = self.make_request(
            "POST",
            "register?kind=guest",
            {"username": "ignored", "initial_device_display_name": "Guest phone", "password": 5},
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        user_id = channel.json_body["user_id"]
        self.assertNotEqual(user_id, "@ignored:test")
        self.assertTrue(user_id[1:].split(":")[0].isdigit())
        token = channel.json_body["access_token"]
        whoami = self.make_request("GET", "account/whoami", access_token=token)
        self.assertEqual(whoami.code, 200, whoami.json_body)
        self.assertTrue(whoami.json_body["is_guest"])
        # Guests may not use endpoints closed to them.
        channel = self.make_request(
            "POST", "account/password", {"new_password": "x"}, access_token=token
        )
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_GUEST_ACCESS_FORBIDDEN")
        # A second guest gets another ID.
        other = self.make_request("POST", "register?kind=guest", {})
        self.assertEqual(other.code, 200, other.json_body)
        self.assertNotEqual(other.json_body["user_id"], user_id)

    def test_guest_registration_disabled(self) -> None:
        channel = self.make_request("POST", "register?kind=guest", {})
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_GUEST_ACCESS_FORBIDDEN")
        self.assertEqual(self._count_users(), 0)

    def test_bad_kind(self) -> None:
        channel = self.make_request("POST", "register?kind=admin", {})
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM")

    @override_config({"rc_registration": {"per_second": 0.1, "burst_count": 2}})
    def test_registration_ratelimit(self) -> None:
        for i in range(2):
            channel = self.make_request("POST", "register", {"username": f"u{i}", "password": "p"})
            self.assertEqual(channel.code, 401, channel.json_body)
        channel = self.make_request("POST", "register", {"username": "u3", "password": "p"})
        self.assertEqual(channel.code, 429, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_LIMIT_EXCEEDED")
        self.assertIn("retry_after_ms", channel.json_body)


class UsernameAvailableTestCase(HomeserverTestCase):
    servlets = [register.register_servlets]

    def test_available(self) -> None:
        channel = self.make_request("GET", "register/available?username=newname")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"available": True})

    def test_taken(self) -> None:
        self.register_user("taken", "pw")
        channel = self.make_request("GET", "register/available?username=taken")
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_USER_IN_USE")

    def test_invalid(self) -> None:
        channel = self.make_request("GET", "register/available?username=bad%20name")
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_INVALID_USERNAME")

    def test_missing_param(self) -> None:
        channel = self.make_request("GET", "register/available")
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_PARAM")

    @override_config({"inhibit_user_in_use_error": True})
    def test_inhibit_user_in_use_error(self) -> None:
        self.register_user("taken", "pw")
        channel = self.make_request("GET", "register/available?username=taken")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"available": True})

    @override_config({"enable_registration": False})
    def test_disabled(self) -> None:
        channel = self.make_request("GET", "register/available?username=newname")
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")


class RegistrationTokenTestCase(HomeserverTestCase):
    servlets = [register.register_servlets, login.register_servlets]

    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["registration_requires_token"] = True
        return config

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.store = hs.get_datastores().main.registration
        self.get_success(self.store.create_registration_token("abcd", 1, None))

    def test_flows_require_token(self) -> None:
        channel = self.make_request("POST", "register", {"username": "a", "password": "pw"})
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["flows"], [{"stages": ["m.login.registration_token"]}])

    def test_dummy_auth_refused(self) -> None:
        channel = self.make_request("POST", "register", {"username": "a", "password": "pw"})
        session = channel.json_body["session"]
        channel = self.make_request(
            "POST",
            "register",
            {
                "username": "a",
                "password": "pw",
                "auth": {"type": "m.login.dummy", "session": session},
            },
        )
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertIsNone(self.get_success(self.store.get_user_by_id("@a:test")))

    def test_wrong_token_then_right_token(self) -> None:
        channel = self.make_request("POST", "register", {"username": "a", "password": "pw"})
        session = channel.json_body["session"]
        auth = {"type": "m.login.registration_token", "session": session}
        channel = self.make_request("POST", "register", {"auth": {**auth, "token": "nope"}})
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_UNAUTHORIZED")
        self.assertEqual(channel.json_body["session"], session)
        self.assertIsNone(self.get_success(self.store.get_user_by_id("@a:test")))

        channel = self.make_request("POST", "register", {"auth": {**auth, "token": "abcd"}})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["user_id"], "@a:test")
        # Its one use is spent.
        self.assertFalse(self.get_success(self.store.registration_token_is_valid("abcd")))

    def test_validity_endpoint(self) -> None:
        path = "/_matrix/client/v1/register/m.login.registration_token/validity"
        channel = self.make_request("GET", f"{path}?token=abcd")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"valid": True})
        channel = self.make_request("GET", f"{path}?token=other")
        self.assertEqual(channel.json_body, {"valid": False})
        channel = self.make_request("GET", path)
        self.assertEqual(channel.code, 400)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_PARAM")

    def test_expired_token(self) -> None:
        now = self.hs.get_clock().time_msec()
        self.get_success(self.store.create_registration_token("old", None, now - 1))
        self.assertFalse(self.get_success(self.store.registration_token_is_valid("old")))


class GuestUpgradeTestCase(HomeserverTestCase):
    servlets = [register.register_servlets, login.register_servlets, account.register_servlets]

    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["allow_guest_access"] = True
        return config

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        channel = self.make_request("POST", "register?kind=guest", {})
        self.guest_id = channel.json_body["user_id"]
        self.guest_token = channel.json_body["access_token"]
        self.localpart = self.guest_id[1:].split(":")[0]
        self.store = hs.get_datastores().main.registration

    def test_upgrade(self) -> None:
        body = {"password": "pw", "guest_access_token": self.guest_token}
        channel = self.make_request("POST", "register", body)
        self.assertEqual(channel.code, 401, channel.json_body)
        session = channel.json_body["session"]
        channel = self.make_request(
            "POST", "register", {"auth": {"type": "m.login.dummy", "session": session}}
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["user_id"], self.guest_id)
        user = self.get_success(self.store.get_user_by_id(self.guest_id))
        assert user is not None
        self.assertFalse(user.is_guest)
        whoami = self.make_request("GET", "account/whoami", access_token=self.guest_token)
        self.assertIs(whoami.json_body["is_guest"], False)
        self.login(self.localpart, "pw")

    def test_upgrade_with_other_username_refused(self) -> None:
        channel = self.make_request(
            "POST",
            "register",
            {"username": "someone", "password": "pw", "guest_access_token": self.guest_token},
        )
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertIsNone(self.get_success(self.store.get_user_by_id("@someone:test")))

    def test_upgrade_with_non_guest_token_refused(self) -> None:
        self.register_user("full", "pw")
        token = self.login("full", "pw")
        channel = self.make_request(
            "POST", "register", {"password": "x", "guest_access_token": token}
        )
        self.assertEqual(channel.code, 403, channel.json_body)
        channel = self.make_request(
            "POST", "register", {"password": "x", "guest_access_token": "nonsense"}
        )
        self.assertEqual(channel.code, 403, channel.json_body)
        user = self.get_success(self.store.get_user_by_id(self.guest_id))
        assert user is not None
        self.assertTrue(user.is_guest)
