"""``/_synapse/admin/v1/register`` (shared-secret registration) and the admin-only guard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import synapse.rest.admin
from synapse.http.servlet import RestServlet
from synapse.rest.admin._base import admin_patterns, assert_requester_is_admin
from synapse.rest.admin.register import compute_registration_mac
from synapse.rest.client import account, login
from synapse.types import JsonDict
from tests.unittest import HomeserverTestCase, override_config

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.server import HomeServer

URL = "/_synapse/admin/v1/register"
SECRET = "shared secret"


class SharedSecretRegisterTestCase(HomeserverTestCase):
    servlets = [
        synapse.rest.admin.register_servlets,
        login.register_servlets,
        account.register_servlets,
    ]

    def _nonce(self) -> str:
        channel = self.make_request("GET", URL)
        self.assertEqual(channel.code, 200, channel.json_body)
        return channel.json_body["nonce"]

    def _body(
        self,
        nonce: str,
        username: str = "bob",
        password: str = "abc123",
        admin: bool = False,
        user_type: str | None = None,
        secret: str = SECRET,
    ) -> JsonDict:
        body: JsonDict = {
            "nonce": nonce,
            "username": username,
            "password": password,
            "admin": admin,
            "mac": compute_registration_mac(secret, nonce, username, password, admin, user_type),
        }
        if user_type is not None:
            body["user_type"] = user_type
        return body

    def _user(self, user_id: str) -> Any:
        store = self.hs.get_datastores().main.registration
        return self.get_success(store.get_user_by_id(user_id))

    def test_register_user(self) -> None:
        body = self._body(self._nonce())
        body["displayname"] = "Bobby"
        channel = self.make_request("POST", URL, body)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["user_id"], "@bob:test")
        self.assertEqual(channel.json_body["home_server"], "test")
        self.assertIn("device_id", channel.json_body)
        user = self._user("@bob:test")
        self.assertFalse(user.is_admin)
        whoami = self.make_request(
            "GET", "account/whoami", access_token=channel.json_body["access_token"]
        )
        self.assertEqual(whoami.code, 200)
        profile = self.get_success(
            self.hs.get_datastores().main.profile.get_profileinfo("@bob:test")
        )
        assert profile is not None
        self.assertEqual(profile.display_name, "Bobby")
        self.login("bob", "abc123")

    def test_register_admin_with_user_type(self) -> None:
        channel = self.make_request(
            "POST", URL, self._body(self._nonce(), "boss", admin=True, user_type="bot")
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        user = self._user("@boss:test")
        self.assertTrue(user.is_admin)
        self.assertEqual(user.user_type, "bot")

    def test_bad_mac(self) -> None:
        body = self._body(self._nonce(), secret="wrong secret")
        channel = self.make_request("POST", URL, body)
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        self.assertIsNone(self._user("@bob:test"))

    def test_mac_covers_admin_flag(self) -> None:
        body = self._body(self._nonce(), admin=False)
        body["admin"] = True
        channel = self.make_request("POST", URL, body)
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertIsNone(self._user("@bob:test"))

    def test_nonce_single_use(self) -> None:
        nonce = self._nonce()
        channel = self.make_request("POST", URL, self._body(nonce, "first"))
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request("POST", URL, self._body(nonce, "second"))
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertIsNone(self._user("@second:test"))

    def test_failed_attempt_spends_nonce(self) -> None:
        nonce = self._nonce()
        self.make_request("POST", URL, self._body(nonce, secret="wrong"))
        channel = self.make_request("POST", URL, self._body(nonce))
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertIsNone(self._user("@bob:test"))

    def test_nonce_expires(self) -> None:
        nonce = self._nonce()
        self.reactor.advance(61)
        channel = self.make_request("POST", URL, self._body(nonce))
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertIsNone(self._user("@bob:test"))

    def test_unknown_nonce(self) -> None:
        channel = self.make_request("POST", URL, self._body("made-up"))
        self.assertEqual(channel.code, 400, channel.json_body)

    def test_bad_inputs(self) -> None:
        nonce = self._nonce()
        good = self._body(nonce)
        changes: list[JsonDict] = [
            {"username": 5},
            {"password": None},
            {"admin": "yes"},
            {"mac": 1},
            {"nonce": 1},
            {"username": "x" * 513},
        ]
        for change in changes:
            channel = self.make_request("POST", URL, {**good, **change})
            self.assertEqual(channel.code, 400, (change, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], "M_BAD_JSON", change)
        for missing in ["nonce", "username", "password", "mac"]:
            body = {k: v for k, v in good.items() if k != missing}
            channel = self.make_request("POST", URL, body)
            self.assertEqual(channel.code, 400, (missing, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], "M_MISSING_PARAM")
        self.assertIsNone(self._user("@bob:test"))

    def test_bad_user_type(self) -> None:
        channel = self.make_request("POST", URL, self._body(self._nonce(), user_type="wizard"))
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertIsNone(self._user("@bob:test"))

    def test_invalid_username(self) -> None:
        channel = self.make_request("POST", URL, self._body(self._nonce(), username="bad name"))
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_INVALID_USERNAME")

    def test_user_in_use(self) -> None:
        self.register_user("bob", "pw")
        channel = self.make_request("POST", URL, self._body(self._nonce()))
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_USER_IN_USE")

    @override_config({"registration_shared_secret": None})
    def test_disabled_without_secret(self) -> None:
        channel = self.make_request("GET", URL)
        self.assertEqual(channel.code, 400, channel.json_body)
        channel = self.make_request("POST", URL, self._body("n"))
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertIsNone(self._user("@bob:test"))


class _AdminOnlyServlet(RestServlet):
    PATTERNS = admin_patterns("/test_admin_only$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()

    async def on_GET(self, request: Any) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        return 200, {"user_id": requester.user.to_string()}


def _register_admin_only(hs: HomeServer, http_server: JsonResource) -> None:
    _AdminOnlyServlet(hs).register(http_server)


class AdminGuardTestCase(HomeserverTestCase):
    servlets = [_register_admin_only, login.register_servlets]

    def test_guard(self) -> None:
        self.register_user("admin", "pass", admin=True)
        self.register_user("user", "pass")
        admin_token = self.login("admin", "pass")
        user_token = self.login("user", "pass")
        path = "/_synapse/admin/v1/test_admin_only"

        channel = self.make_request("GET", path, access_token=admin_token)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["user_id"], "@admin:test")

        channel = self.make_request("GET", path, access_token=user_token)
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")

        channel = self.make_request("GET", path)
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")


class AdminResourceTestCase(HomeserverTestCase):
    """The admin API is served by the client listener's resource tree."""

    def create_resource_dict(self) -> dict[str, Any]:
        from synapse.http.resource_tree import resources_for_listener

        return resources_for_listener(self.hs, ["client"])

    def test_admin_register_mounted(self) -> None:
        channel = self.make_request("GET", URL)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertIn("nonce", channel.json_body)
