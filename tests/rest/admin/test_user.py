"""The admin API for users: listing, details, creation and changes, sessions, devices,
puppeting, shadow bans, account data and rate-limit overrides."""

from __future__ import annotations

from urllib.parse import quote

from tests.rest.admin.admin_test_base import ADMIN_V1, ADMIN_V2, AdminTestCase
from tests.unittest import override_config


class UsersListTestCase(AdminTestCase):
    def test_list_shape_and_pages(self) -> None:
        channel = self.admin_request("GET", f"{ADMIN_V2}/users?limit=2")
        self.assertEqual(channel.code, 200, channel.json_body)
        body = channel.json_body
        self.assertEqual(body["total"], 3)
        self.assertEqual([u["name"] for u in body["users"]], ["@admin:test", "@alice:test"])
        self.assertEqual(body["next_token"], "2")
        user = body["users"][0]
        for key in (
            "name",
            "is_guest",
            "admin",
            "user_type",
            "deactivated",
            "erased",
            "shadow_banned",
            "displayname",
            "avatar_url",
            "creation_ts",
            "last_seen_ts",
            "locked",
        ):
            self.assertIn(key, user)
        self.assertTrue(user["admin"])
        channel = self.admin_request("GET", f"{ADMIN_V2}/users?from=2&limit=2")
        self.assertEqual([u["name"] for u in channel.json_body["users"]], ["@bob:test"])
        self.assertNotIn("next_token", channel.json_body)

    def test_filters_and_order(self) -> None:
        self.get_success(self.hs.get_deactivate_account_handler().deactivate_account(self.other))
        channel = self.admin_request("GET", f"{ADMIN_V2}/users")
        self.assertEqual([u["name"] for u in channel.json_body["users"]], [self.admin, self.user])
        channel = self.admin_request("GET", f"{ADMIN_V2}/users?deactivated=true&dir=b")
        self.assertEqual(
            [u["name"] for u in channel.json_body["users"]], [self.other, self.user, self.admin]
        )
        channel = self.admin_request("GET", f"{ADMIN_V2}/users?name=ali")
        self.assertEqual([u["name"] for u in channel.json_body["users"]], [self.user])
        channel = self.admin_request("GET", f"{ADMIN_V2}/users?user_id=adm")
        self.assertEqual([u["name"] for u in channel.json_body["users"]], [self.admin])
        channel = self.admin_request("GET", f"{ADMIN_V2}/users?order_by=admin&dir=b")
        self.assertEqual(channel.json_body["users"][0]["name"], self.admin)
        channel = self.admin_request("GET", f"{ADMIN_V2}/users?admins=true")
        self.assertEqual([u["name"] for u in channel.json_body["users"]], [self.admin])
        channel = self.admin_request("GET", f"{ADMIN_V2}/users?admins=false")
        self.assertEqual([u["name"] for u in channel.json_body["users"]], [self.user])

    def test_locked_and_user_type_filters(self) -> None:
        self.get_success(self.stores.registration.set_user_locked_status(self.other, True))
        self.get_success(self.stores.registration.set_user_type(self.user, "bot"))
        channel = self.admin_request("GET", f"{ADMIN_V2}/users")
        self.assertEqual([u["name"] for u in channel.json_body["users"]], [self.admin, self.user])
        channel = self.admin_request("GET", f"{ADMIN_V2}/users?locked=true")
        self.assertEqual(channel.json_body["total"], 3)
        channel = self.admin_request("GET", f"{ADMIN_V2}/users?not_user_type=bot")
        self.assertEqual([u["name"] for u in channel.json_body["users"]], [self.admin])
        channel = self.admin_request("GET", f"{ADMIN_V2}/users?not_user_type=&locked=true")
        self.assertEqual([u["name"] for u in channel.json_body["users"]], [self.user])

    def test_bad_parameters(self) -> None:
        for query in (
            "from=-1",
            "limit=-5",
            "limit=x",
            "dir=up",
            "order_by=password",
            "admins=maybe",
            "locked=2",
        ):
            channel = self.admin_request("GET", f"{ADMIN_V2}/users?{query}")
            self.assertEqual(channel.code, 400, query)
            self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM", query)

    def test_non_admins_refused(self) -> None:
        user = quote(self.other)
        for method, path, content in (
            ("GET", f"{ADMIN_V2}/users", b""),
            ("GET", f"{ADMIN_V2}/users/{user}", b""),
            ("PUT", f"{ADMIN_V2}/users/{user}", {"admin": True}),
            ("GET", f"{ADMIN_V1}/whois/{user}", b""),
            ("POST", f"{ADMIN_V1}/deactivate/{user}", {}),
            ("POST", f"{ADMIN_V1}/reset_password/{user}", {"new_password": "x"}),
            ("GET", f"{ADMIN_V1}/users/{user}/admin", b""),
            ("PUT", f"{ADMIN_V1}/users/{user}/admin", {"admin": True}),
            ("GET", f"{ADMIN_V1}/users/{user}/joined_rooms", b""),
            ("GET", f"{ADMIN_V2}/users/{user}/devices", b""),
            ("POST", f"{ADMIN_V2}/users/{user}/delete_devices", {"devices": []}),
            ("POST", f"{ADMIN_V1}/users/{user}/login", {}),
            ("GET", f"{ADMIN_V1}/username_available?username=zed", b""),
            ("POST", f"{ADMIN_V1}/users/{user}/shadow_ban", b""),
            ("GET", f"{ADMIN_V1}/users/{user}/accountdata", b""),
            ("POST", f"{ADMIN_V1}/users/{user}/override_ratelimit", {}),
        ):
            self.assert_refused_to_non_admins(method, path, content)
        self.assertFalse(self.get_success(self.stores.registration.is_server_admin(self.other)))
        self.assertFalse(
            self.get_success(self.stores.registration.get_user_by_id(self.other)).is_deactivated
        )  # type: ignore[union-attr]


class UserDetailsTestCase(AdminTestCase):
    def test_get_user(self) -> None:
        channel = self.admin_request("GET", f"{ADMIN_V2}/users/{quote(self.user)}")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["name"], self.user)
        self.assertEqual(channel.json_body["displayname"], "alice")
        self.assertEqual(channel.json_body["threepids"], [])
        self.assertFalse(channel.json_body["admin"])
        # In seconds here, in milliseconds in the list (as Synapse has them).
        created = channel.json_body["creation_ts"]
        self.assertEqual(created, self.clock.time_msec() // 1000)
        channel = self.admin_request("GET", f"{ADMIN_V2}/users?user_id=alice")
        self.assertEqual(channel.json_body["users"][0]["creation_ts"], created * 1000)

    def test_get_unknown_remote_and_bad(self) -> None:
        channel = self.admin_request("GET", f"{ADMIN_V2}/users/{quote('@nobody:test')}")
        self.assertEqual((channel.code, channel.json_body["errcode"]), (404, "M_NOT_FOUND"))
        channel = self.admin_request("GET", f"{ADMIN_V2}/users/{quote('@x:elsewhere')}")
        self.assertEqual(channel.code, 400)
        channel = self.admin_request("GET", f"{ADMIN_V2}/users/notauser")
        self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_INVALID_PARAM"))

    def test_create_user(self) -> None:
        channel = self.admin_request(
            "PUT",
            f"{ADMIN_V2}/users/{quote('@carol:test')}",
            {
                "password": "carolpass",
                "displayname": "Carol",
                "admin": True,
                "user_type": "bot",
                "threepids": [{"medium": "email", "address": "c@example.com"}],
            },
        )
        self.assertEqual(channel.code, 201, channel.json_body)
        self.assertEqual(channel.json_body["name"], "@carol:test")
        self.assertEqual(channel.json_body["displayname"], "Carol")
        self.assertTrue(channel.json_body["admin"])
        self.assertEqual(channel.json_body["user_type"], "bot")
        self.assertEqual(channel.json_body["threepids"], [])
        self.login("carol", "carolpass")

    def test_modify_user(self) -> None:
        target = f"{ADMIN_V2}/users/{quote(self.other)}"
        channel = self.admin_request(
            "PUT", target, {"displayname": "Robert", "admin": True, "password": "newpass"}
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["displayname"], "Robert")
        self.assertTrue(channel.json_body["admin"])
        # The password changed and the old sessions ended.
        channel = self.make_request(
            "GET", "/_matrix/client/v3/account/whoami", access_token=self.other_tok
        )
        self.assertEqual(channel.code, 401)
        self.login("bob", "newpass")

        channel = self.admin_request("PUT", target, {"locked": True})
        self.assertTrue(channel.json_body["locked"])
        channel = self.admin_request("PUT", target, {"deactivated": True})
        self.assertTrue(channel.json_body["deactivated"])
        channel = self.admin_request("PUT", target, {"deactivated": False})
        self.assertEqual(channel.code, 400, channel.json_body)
        channel = self.admin_request("PUT", target, {"deactivated": False, "password": "back"})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertFalse(channel.json_body["deactivated"])

    def test_modify_bad_input_writes_nothing(self) -> None:
        target = f"{ADMIN_V2}/users/{quote(self.other)}"
        for body in (
            {"admin": "yes"},
            {"displayname": 5},
            {"user_type": "wizard"},
            {"password": 12},
            {"password": "x" * 513},
            {"deactivated": 1},
        ):
            channel = self.admin_request("PUT", target, {"displayname": "Never", **body})
            self.assertEqual(channel.code, 400, body)
            self.assertEqual(channel.json_body["errcode"], "M_BAD_JSON", body)
        profile = self.get_success(self.stores.profile.get_profileinfo(self.other))
        self.assertEqual(profile.display_name, "bob")
        channel = self.admin_request("PUT", f"{ADMIN_V2}/users/{quote('@dave:test')}", {"admin": 1})
        self.assertEqual(channel.code, 400)
        self.assertIsNone(self.get_success(self.stores.registration.get_user_by_id("@dave:test")))

    def test_cannot_demote_self(self) -> None:
        channel = self.admin_request(
            "PUT", f"{ADMIN_V2}/users/{quote(self.admin)}", {"admin": False}
        )
        self.assertEqual(channel.code, 400)
        channel = self.admin_request(
            "PUT", f"{ADMIN_V1}/users/{quote(self.admin)}/admin", {"admin": False}
        )
        self.assertEqual(channel.code, 400)
        self.assertTrue(self.get_success(self.stores.registration.is_server_admin(self.admin)))


class UserActionsTestCase(AdminTestCase):
    def test_whois(self) -> None:
        channel = self.admin_request("GET", f"{ADMIN_V1}/whois/{quote(self.user)}")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["user_id"], self.user)
        self.assertIn("sessions", channel.json_body["devices"][""])

    def test_deactivate_with_erase(self) -> None:
        room = self.helper.create_room_as(self.other, tok=self.other_tok)
        channel = self.admin_request(
            "POST", f"{ADMIN_V1}/deactivate/{quote(self.other)}", {"erase": True}
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"id_server_unbind_result": "success"})
        self.assertTrue(self.get_success(self.stores.registration.is_user_erased(self.other)))
        self.assertEqual(self.membership_of(room, self.other), "leave")
        channel = self.admin_request("GET", f"{ADMIN_V2}/users/{quote(self.other)}")
        self.assertTrue(channel.json_body["deactivated"])
        self.assertTrue(channel.json_body["erased"])
        channel = self.admin_request("POST", f"{ADMIN_V1}/deactivate/{quote('@no:test')}", {})
        self.assertEqual(channel.code, 404)
        channel = self.admin_request(
            "POST", f"{ADMIN_V1}/deactivate/{quote(self.user)}", {"erase": "y"}
        )
        self.assertEqual(channel.code, 400)
        self.assertFalse(
            self.get_success(self.stores.registration.get_user_deactivated_status(self.user))
        )

    def test_reset_password(self) -> None:
        path = f"{ADMIN_V1}/reset_password/{quote(self.other)}"
        channel = self.admin_request("POST", path, {})
        self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_MISSING_PARAM"))
        channel = self.admin_request(
            "POST", path, {"new_password": "fresh", "logout_devices": False}
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.login("bob", "fresh")
        channel = self.make_request(
            "GET", "/_matrix/client/v3/account/whoami", access_token=self.other_tok
        )
        self.assertEqual(channel.code, 200)

    def test_admin_status(self) -> None:
        path = f"{ADMIN_V1}/users/{quote(self.other)}/admin"
        self.assertEqual(self.admin_request("GET", path).json_body, {"admin": False})
        self.assertEqual(self.admin_request("PUT", path, {"admin": True}).code, 200)
        self.assertEqual(self.admin_request("GET", path).json_body, {"admin": True})
        channel = self.admin_request("PUT", path, {})
        self.assertEqual(channel.code, 400)

    def test_joined_rooms(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        channel = self.admin_request("GET", f"{ADMIN_V1}/users/{quote(self.user)}/joined_rooms")
        self.assertEqual(channel.json_body, {"joined_rooms": [room], "total": 1})
        channel = self.admin_request("GET", f"{ADMIN_V1}/users/{quote('@x:remote')}/joined_rooms")
        self.assertEqual(channel.json_body, {"joined_rooms": [], "total": 0})
        channel = self.admin_request("GET", f"{ADMIN_V1}/users/bad/joined_rooms")
        self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_INVALID_PARAM"))

    def test_devices(self) -> None:
        base = f"{ADMIN_V2}/users/{quote(self.user)}/devices"
        channel = self.admin_request("POST", base, {"device_id": "NEWDEV"})
        self.assertEqual(channel.code, 201, channel.json_body)
        channel = self.admin_request("GET", base)
        self.assertEqual(channel.json_body["total"], 2)
        self.assertIn("NEWDEV", [d["device_id"] for d in channel.json_body["devices"]])
        self.assertEqual(channel.json_body["devices"][0]["user_id"], self.user)
        channel = self.admin_request("PUT", f"{base}/NEWDEV", {"display_name": "phone"})
        self.assertEqual(channel.code, 200)
        channel = self.admin_request("GET", f"{base}/NEWDEV")
        self.assertEqual(channel.json_body["display_name"], "phone")
        self.assertEqual(self.admin_request("DELETE", f"{base}/NEWDEV").code, 200)
        self.assertEqual(self.admin_request("GET", f"{base}/NEWDEV").code, 404)
        channel = self.admin_request(
            "POST", f"{ADMIN_V2}/users/{quote(self.user)}/delete_devices", {"devices": "all"}
        )
        self.assertEqual(channel.code, 400)
        channel = self.admin_request("GET", base)
        self.assertEqual(channel.json_body["total"], 1)
        device_id = channel.json_body["devices"][0]["device_id"]
        channel = self.admin_request(
            "POST", f"{ADMIN_V2}/users/{quote(self.user)}/delete_devices", {"devices": [device_id]}
        )
        self.assertEqual(channel.code, 200)
        self.assertEqual(self.admin_request("GET", base).json_body["total"], 0)
        channel = self.make_request(
            "GET", "/_matrix/client/v3/account/whoami", access_token=self.tok
        )
        self.assertEqual(channel.code, 401)

    def test_login_as_user(self) -> None:
        channel = self.admin_request("POST", f"{ADMIN_V1}/users/{quote(self.user)}/login", {})
        self.assertEqual(channel.code, 200, channel.json_body)
        token = channel.json_body["access_token"]
        channel = self.make_request("GET", "/_matrix/client/v3/account/whoami", access_token=token)
        self.assertEqual(channel.json_body["user_id"], self.user)
        channel = self.admin_request("POST", f"{ADMIN_V1}/users/{quote(self.admin)}/login", {})
        self.assertEqual(channel.code, 400)
        channel = self.admin_request(
            "POST", f"{ADMIN_V1}/users/{quote(self.user)}/login", {"valid_until_ms": "soon"}
        )
        self.assertEqual(channel.code, 400)

    def test_username_available(self) -> None:
        channel = self.admin_request("GET", f"{ADMIN_V1}/username_available?username=zed")
        self.assertEqual(channel.json_body, {"available": True})
        channel = self.admin_request("GET", f"{ADMIN_V1}/username_available?username=alice")
        self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_USER_IN_USE"))
        channel = self.admin_request("GET", f"{ADMIN_V1}/username_available?username=A%20B")
        self.assertEqual(channel.json_body["errcode"], "M_INVALID_USERNAME")

    def test_shadow_ban(self) -> None:
        path = f"{ADMIN_V1}/users/{quote(self.other)}/shadow_ban"
        self.assertEqual(self.admin_request("POST", path).code, 200)
        channel = self.admin_request("GET", f"{ADMIN_V2}/users/{quote(self.other)}")
        self.assertTrue(channel.json_body["shadow_banned"])
        self.assertEqual(self.admin_request("DELETE", path).code, 200)
        channel = self.admin_request("GET", f"{ADMIN_V2}/users/{quote(self.other)}")
        self.assertFalse(channel.json_body["shadow_banned"])

    def test_account_data(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        self.get_success(
            self.hs.get_account_data_handler().add_account_data_for_user(self.user, "a.b", {"x": 1})
        )
        self.get_success(
            self.hs.get_account_data_handler().add_account_data_to_room(
                self.user, room, "c.d", {"y": 2}
            )
        )
        channel = self.admin_request("GET", f"{ADMIN_V1}/users/{quote(self.user)}/accountdata")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["account_data"]["global"]["a.b"], {"x": 1})
        self.assertEqual(channel.json_body["account_data"]["rooms"][room]["c.d"], {"y": 2})

    def test_ratelimit_override(self) -> None:
        path = f"{ADMIN_V1}/users/{quote(self.user)}/override_ratelimit"
        self.assertEqual(self.admin_request("GET", path).json_body, {})
        channel = self.admin_request("POST", path, {"messages_per_second": 10, "burst_count": 20})
        self.assertEqual(channel.json_body, {"messages_per_second": 10, "burst_count": 20})
        self.assertEqual(
            self.admin_request("GET", path).json_body,
            {"messages_per_second": 10, "burst_count": 20},
        )
        channel = self.admin_request("POST", path, {"messages_per_second": -1})
        self.assertEqual(channel.code, 400)
        self.assertEqual(
            self.admin_request("GET", path).json_body,
            {"messages_per_second": 10, "burst_count": 20},
        )
        self.assertEqual(self.admin_request("DELETE", path).code, 200)
        self.assertEqual(self.admin_request("GET", path).json_body, {})

    @override_config({"rc_message": {"per_second": 0.01, "burst_count": 2}})
    def test_ratelimit_override_applies_to_messages(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        path = f"{ADMIN_V1}/users/{quote(self.user)}/override_ratelimit"
        self.helper.send(room, "1", tok=self.tok)
        self.helper.send(room, "2", tok=self.tok)
        self.helper.send(room, "3", tok=self.tok, expect_code=429)
        # 0/0: no limit at all.
        self.admin_request("POST", path, {"messages_per_second": 0, "burst_count": 0})
        for i in range(5):
            self.helper.send(room, f"free {i}", tok=self.tok)
        # A limit of its own replaces rc_message.
        self.admin_request("POST", path, {"messages_per_second": 1, "burst_count": 10})
        for i in range(5):
            self.helper.send(room, f"more {i}", tok=self.tok)
        self.admin_request("DELETE", path)
        self.helper.send(room, "limited again", tok=self.tok, expect_code=429)
