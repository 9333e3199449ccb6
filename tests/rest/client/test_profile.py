"""``/profile/{userId}`` and its fields: displayname, avatar_url, m.tz and custom keys."""

from __future__ import annotations

from typing import Any

from synapse.rest.client import login, profile, register
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
        # A field that is not set is not found.
        channel = self.make_request("GET", f"profile/{self.user_id}/avatar_url")
        self.assertEqual(channel.code, 404, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")

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

    def _put(self, key: str, body: Any, token: str | None = None) -> Any:
        return self.make_request(
            "PUT", f"profile/{self.user_id}/{key}", body, access_token=token or self.token
        )

    def test_custom_fields(self) -> None:
        channel = self._put("m.tz", {"m.tz": "Europe/London"})
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self._put("org.example.pets", {"org.example.pets": ["cat", {"dog": 1}]})
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request("GET", f"profile/{self.user_id}/org.example.pets")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"org.example.pets": ["cat", {"dog": 1}]})
        channel = self.make_request("GET", f"profile/{self.user_id}")
        self.assertEqual(
            channel.json_body,
            {
                "displayname": "kermit",
                "m.tz": "Europe/London",
                "org.example.pets": ["cat", {"dog": 1}],
            },
        )
        channel = self.make_request(
            "DELETE", f"profile/{self.user_id}/org.example.pets", access_token=self.token
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request("GET", f"profile/{self.user_id}/org.example.pets")
        self.assertEqual(channel.code, 404)
        # Deleting a field that is not set is fine.
        channel = self.make_request(
            "DELETE", f"profile/{self.user_id}/org.example.pets", access_token=self.token
        )
        self.assertEqual(channel.code, 200, channel.json_body)

    def test_delete_displayname(self) -> None:
        channel = self.make_request(
            "DELETE", f"profile/{self.user_id}/displayname", access_token=self.token
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request("GET", f"profile/{self.user_id}")
        self.assertEqual(channel.json_body, {})

    def test_cannot_delete_other_users_field(self) -> None:
        channel = self.make_request(
            "DELETE", f"profile/{self.other_id}/displayname", access_token=self.token
        )
        self.assertEqual(channel.code, 403, channel.json_body)
        channel = self.make_request(
            "DELETE", f"profile/{self.other_id}/displayname", access_token=None
        )
        self.assertEqual(channel.code, 401, channel.json_body)
        channel = self.make_request("GET", f"profile/{self.other_id}")
        self.assertEqual(channel.json_body, {"displayname": "piggy"})

    def test_invalid_keys(self) -> None:
        for key in ["Bad", "nodots", "m.unknown.", "1abc.def", "a" * 300 + ".b"]:
            channel = self._put(key, {key: "x"})
            self.assertEqual(channel.code, 400, (key, channel.json_body))
            expected = "M_KEY_TOO_LARGE" if len(key) > 255 else "M_INVALID_PARAM"
            self.assertEqual(channel.json_body["errcode"], expected, key)
            channel = self.make_request("GET", f"profile/{self.user_id}/{key}")
            self.assertEqual(channel.code, 400, key)

    def test_field_values(self) -> None:
        channel = self._put("m.tz", {"m.tz": 5})
        self.assertEqual(channel.json_body["errcode"], "M_BAD_JSON")
        channel = self._put("org.example.x", {"other": 1})
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_PARAM")
        channel = self._put("org.example.x", b"[1]")
        self.assertEqual(channel.json_body["errcode"], "M_BAD_JSON")
        channel = self.make_request("GET", f"profile/{self.user_id}")
        self.assertEqual(channel.json_body, {"displayname": "kermit"})

    def test_profile_too_large(self) -> None:
        channel = self._put("org.example.big", {"org.example.big": "x" * 40000})
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self._put("org.example.more", {"org.example.more": "x" * 30000})
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_PROFILE_TOO_LARGE")
        channel = self.make_request("GET", f"profile/{self.user_id}/org.example.more")
        self.assertEqual(channel.code, 404)


class GuestProfileTestCase(HomeserverTestCase):
    servlets = [register.register_servlets, profile.register_servlets]

    @override_config({"allow_guest_access": True})
    def test_guest_may_only_change_displayname(self) -> None:
        channel = self.make_request("POST", "register?kind=guest", {})
        user_id = channel.json_body["user_id"]
        token = channel.json_body["access_token"]
        channel = self.make_request(
            "PUT", f"profile/{user_id}/displayname", {"displayname": "Visitor"}, access_token=token
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        for key in ("avatar_url", "m.tz"):
            channel = self.make_request(
                "PUT", f"profile/{user_id}/{key}", {key: "x"}, access_token=token
            )
            self.assertEqual(channel.code, 403, channel.json_body)
            self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        channel = self.make_request("GET", f"profile/{user_id}")
        self.assertEqual(channel.json_body, {"displayname": "Visitor"})
