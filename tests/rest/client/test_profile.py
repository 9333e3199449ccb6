"""``/profile/{userId}`` and its ``displayname`` and ``avatar_url``."""

from __future__ import annotations

from typing import Any

from synapse.rest.client import login, profile
from tests.unittest import HomeserverTestCase, override_config


class ProfileTestCase(HomeserverTestCase):
    servlets = [login.register_servlets, profile.register_servlets]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.user_id = self.register_user("kermit", "monkey")
        self.token = self.login("kermit", "monkey")
        self.other_id = self.register_user("piggy", "pass")
        self.other_token = self.login("piggy", "pass")

    def test_default_profile(self) -> None:
        channel = self.make_request("GET", f"profile/{self.user_id}")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"displayname": "kermit"})
        channel = self.make_request("GET", f"profile/{self.user_id}/avatar_url")
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.json_body, {})

    def test_set_and_get_displayname(self) -> None:
        channel = self.make_request(
            "PUT",
            f"profile/{self.user_id}/displayname",
            {"displayname": "Kermit the Frog"},
            access_token=self.token,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request("GET", f"profile/{self.user_id}/displayname")
        self.assertEqual(channel.json_body, {"displayname": "Kermit the Frog"})

    def test_set_and_get_avatar_url(self) -> None:
        channel = self.make_request(
            "PUT",
            f"profile/{self.user_id}/avatar_url",
            {"avatar_url": "mxc://test/abc"},
            access_token=self.token,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request("GET", f"profile/{self.user_id}")
        self.assertEqual(
            channel.json_body, {"displayname": "kermit", "avatar_url": "mxc://test/abc"}
        )

    def test_cannot_set_other_users_profile(self) -> None:
        for field in ("displayname", "avatar_url"):
            channel = self.make_request(
                "PUT",
                f"profile/{self.other_id}/{field}",
                {field: "hacked"},
                access_token=self.token,
            )
            self.assertEqual(channel.code, 403, channel.json_body)
            self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        channel = self.make_request("GET", f"profile/{self.other_id}")
        self.assertEqual(channel.json_body, {"displayname": "piggy"})

    def test_unknown_user(self) -> None:
        for path in ["", "/displayname", "/avatar_url"]:
            channel = self.make_request("GET", f"profile/@nobody:test{path}")
            self.assertEqual(channel.code, 404, (path, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")
        channel = self.make_request("GET", "profile/@someone:elsewhere")
        self.assertEqual(channel.code, 404)

    def test_invalid_user_id(self) -> None:
        channel = self.make_request("GET", "profile/kermit")
        self.assertEqual(channel.code, 400, channel.json_body)
        channel = self.make_request(
            "PUT", "profile/kermit/displayname", {"displayname": "x"}, access_token=self.token
        )
        self.assertEqual(channel.code, 400, channel.json_body)

    def test_bad_bodies(self) -> None:
        cases = [
            ("displayname", {"displayname": 5}, "M_BAD_JSON"),
            ("displayname", {}, "M_MISSING_PARAM"),
            ("displayname", {"displayname": "x" * 257}, "M_BAD_JSON"),
            ("avatar_url", {"avatar_url": ["mxc://a/b"]}, "M_BAD_JSON"),
            ("avatar_url", {}, "M_MISSING_PARAM"),
        ]
        for field, body, errcode in cases:
            channel = self.make_request(
                "PUT", f"profile/{self.user_id}/{field}", body, access_token=self.token
            )
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], errcode, body)
        channel = self.make_request("GET", f"profile/{self.user_id}")
        self.assertEqual(channel.json_body, {"displayname": "kermit"})

    def test_set_requires_token(self) -> None:
        channel = self.make_request(
            "PUT", f"profile/{self.user_id}/displayname", {"displayname": "x"}
        )
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")

    def test_admin_may_set_other_users_displayname(self) -> None:
        self.register_user("admin", "pass", admin=True)
        admin_token = self.login("admin", "pass")
        channel = self.make_request(
            "PUT",
            f"profile/{self.other_id}/displayname",
            {"displayname": "Miss Piggy"},
            access_token=admin_token,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request("GET", f"profile/{self.other_id}/displayname")
        self.assertEqual(channel.json_body, {"displayname": "Miss Piggy"})

    @override_config({"enable_set_displayname": False, "enable_set_avatar_url": False})
    def test_changes_disabled(self) -> None:
        for field in ("displayname", "avatar_url"):
            channel = self.make_request(
                "PUT", f"profile/{self.user_id}/{field}", {field: "x"}, access_token=self.token
            )
            self.assertEqual(channel.code, 400, channel.json_body)
            self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        channel = self.make_request("GET", f"profile/{self.user_id}")
        self.assertEqual(channel.json_body, {"displayname": "kermit"})

    @override_config({"require_auth_for_profile_requests": True})
    def test_require_auth_for_profile_requests(self) -> None:
        for path in ["", "/displayname", "/avatar_url"]:
            channel = self.make_request("GET", f"profile/{self.user_id}{path}")
            self.assertEqual(channel.code, 401, (path, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")
        channel = self.make_request("GET", f"profile/{self.user_id}", access_token=self.other_token)
        self.assertEqual(channel.code, 200, channel.json_body)
