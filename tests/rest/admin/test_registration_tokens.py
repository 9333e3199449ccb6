"""The admin API for registration tokens, and their use when registering."""

from __future__ import annotations

from tests.rest.admin.admin_test_base import ADMIN_V1, AdminTestCase

URL = f"{ADMIN_V1}/registration_tokens"


class RegistrationTokensTestCase(AdminTestCase):
    def test_create_get_update_delete(self) -> None:
        channel = self.admin_request("POST", f"{URL}/new", {"token": "abcd", "uses_allowed": 2})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(
            channel.json_body,
            {"token": "abcd", "uses_allowed": 2, "pending": 0, "completed": 0, "expiry_time": None},
        )
        channel = self.admin_request("GET", f"{URL}/abcd")
        self.assertEqual(channel.json_body["uses_allowed"], 2)
        future = self.clock.time_msec() + 100_000
        channel = self.admin_request(
            "PUT", f"{URL}/abcd", {"expiry_time": future, "uses_allowed": None}
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["expiry_time"], future)
        self.assertIsNone(channel.json_body["uses_allowed"])
        self.assertEqual(self.admin_request("DELETE", f"{URL}/abcd").code, 200)
        self.assertEqual(self.admin_request("GET", f"{URL}/abcd").code, 404)
        self.assertEqual(self.admin_request("DELETE", f"{URL}/abcd").code, 404)
        self.assertEqual(self.admin_request("PUT", f"{URL}/abcd", {}).code, 404)

    def test_generated_token_and_list(self) -> None:
        channel = self.admin_request("POST", f"{URL}/new", {"length": 10})
        generated = channel.json_body["token"]
        self.assertEqual(len(generated), 10)
        self.admin_request("POST", f"{URL}/new", {"token": "used", "uses_allowed": 0})
        channel = self.admin_request("GET", URL)
        self.assertEqual(
            sorted(t["token"] for t in channel.json_body["registration_tokens"]),
            sorted([generated, "used"]),
        )
        channel = self.admin_request("GET", f"{URL}?valid=true")
        self.assertEqual(
            [t["token"] for t in channel.json_body["registration_tokens"]], [generated]
        )
        channel = self.admin_request("GET", f"{URL}?valid=false")
        self.assertEqual([t["token"] for t in channel.json_body["registration_tokens"]], ["used"])

    def test_bad_input_writes_nothing(self) -> None:
        past = self.clock.time_msec() - 1
        for body in (
            {"token": "bad token!"},
            {"token": "x" * 65},
            {"token": ""},
            {"uses_allowed": -1},
            {"uses_allowed": 1.5},
            {"expiry_time": past},
            {"expiry_time": "tomorrow"},
            {"length": 0},
            {"length": 65},
        ):
            channel = self.admin_request("POST", f"{URL}/new", body)
            self.assertEqual(channel.code, 400, body)
            self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM", body)
        self.assertEqual(self.admin_request("GET", URL).json_body["registration_tokens"], [])
        self.admin_request("POST", f"{URL}/new", {"token": "dup"})
        channel = self.admin_request("POST", f"{URL}/new", {"token": "dup", "uses_allowed": 5})
        self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_INVALID_PARAM"))
        channel = self.admin_request("PUT", f"{URL}/dup", {"uses_allowed": "many"})
        self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_INVALID_PARAM"))
        self.assertIsNone(self.admin_request("GET", f"{URL}/dup").json_body["uses_allowed"])
        channel = self.admin_request("GET", f"{URL}?valid=maybe")
        self.assertEqual(channel.code, 400)

    def test_non_admins_refused(self) -> None:
        self.admin_request("POST", f"{URL}/new", {"token": "abcd"})
        for method, path, content in (
            ("GET", URL, b""),
            ("POST", f"{URL}/new", {"token": "mine"}),
            ("GET", f"{URL}/abcd", b""),
            ("PUT", f"{URL}/abcd", {"uses_allowed": 1}),
            ("DELETE", f"{URL}/abcd", b""),
        ):
            self.assert_refused_to_non_admins(method, path, content)
        tokens = self.admin_request("GET", URL).json_body["registration_tokens"]
        self.assertEqual([(t["token"], t["uses_allowed"]) for t in tokens], [("abcd", None)])
