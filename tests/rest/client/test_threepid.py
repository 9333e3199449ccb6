"""Third-party identifier endpoints: none can be bound here, and they say so."""

from __future__ import annotations

from typing import Any

from synapse.rest.client import login, threepid
from tests.unittest import HomeserverTestCase


class ThreepidTestCase(HomeserverTestCase):
    servlets = [login.register_servlets, threepid.register_servlets]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.user_id = self.register_user("kermit", "monkey")
        self.token = self.login("kermit", "monkey")

    def test_list_is_empty(self) -> None:
        channel = self.make_request("GET", "account/3pid", access_token=self.token)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"threepids": []})
        channel = self.make_request("GET", "account/3pid")
        self.assertEqual(channel.code, 401)

    def test_request_token_denied(self) -> None:
        email = {"client_secret": "s", "email": "a@example.com", "send_attempt": 1}
        msisdn = {"client_secret": "s", "country": "GB", "phone_number": "1", "send_attempt": 1}
        for prefix in ("register", "account/password", "account/3pid"):
            for medium, body in (("email", email), ("msisdn", msisdn)):
                path = f"{prefix}/{medium}/requestToken"
                channel = self.make_request("POST", path, body)
                self.assertEqual(channel.code, 403, (path, channel.json_body))
                self.assertEqual(channel.json_body["errcode"], "M_THREEPID_DENIED")

    def test_request_token_bad_body(self) -> None:
        channel = self.make_request(
            "POST", "register/email/requestToken", {"client_secret": "s", "email": "a@b.c"}
        )
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_PARAM")
        channel = self.make_request(
            "POST",
            "register/email/requestToken",
            {"client_secret": "s", "email": "a@b.c", "send_attempt": "1"},
        )
        self.assertEqual(channel.json_body["errcode"], "M_BAD_JSON")

    def test_delete_and_unbind(self) -> None:
        for path in ("account/3pid/delete", "account/3pid/unbind"):
            body = {"medium": "email", "address": "a@example.com"}
            channel = self.make_request("POST", path, body, access_token=self.token)
            self.assertEqual(channel.code, 200, channel.json_body)
            self.assertEqual(channel.json_body, {"id_server_unbind_result": "no-support"})
            channel = self.make_request("POST", path, {"medium": "email"}, access_token=self.token)
            self.assertEqual(channel.code, 400, channel.json_body)

    def test_add_needs_ui_auth_then_fails(self) -> None:
        body = {"client_secret": "s", "sid": "1"}
        channel = self.make_request("POST", "account/3pid/add", body, access_token=self.token)
        self.assertEqual(channel.code, 401, channel.json_body)
        auth = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "kermit"},
            "password": "monkey",
            "session": channel.json_body["session"],
        }
        channel = self.make_request(
            "POST", "account/3pid/add", {**body, "auth": auth}, access_token=self.token
        )
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_THREEPID_AUTH_FAILED")
        channel = self.make_request("POST", "account/3pid/bind", body, access_token=self.token)
        self.assertEqual(channel.json_body["errcode"], "M_THREEPID_AUTH_FAILED")
