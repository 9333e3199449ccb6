"""A test case base for the admin API: an admin, two users, the room servlets."""

from __future__ import annotations

from typing import Any

import synapse.rest.admin
from synapse.rest.client import account, account_data, devices
from tests.rest.client.room_test_base import RoomTestCase
from tests.server import FakeChannel

ADMIN_V1 = "/_synapse/admin/v1"
ADMIN_V2 = "/_synapse/admin/v2"


class AdminTestCase(RoomTestCase):
    """``self.admin``/``self.admin_tok`` besides alice and bob of ``RoomTestCase``."""

    servlets = [
        *RoomTestCase.servlets,
        synapse.rest.admin.register_servlets,
        account.register_servlets,
        account_data.register_servlets,
        devices.register_servlets,
    ]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.admin = self.register_user("admin", "adminpass", admin=True)
        self.admin_tok = self.login("admin", "adminpass")

    def admin_request(
        self, method: str, path: str, content: object = b"", tok: str | None = None
    ) -> FakeChannel:
        return self.make_request(method, path, content, access_token=tok or self.admin_tok)

    def assert_refused_to_non_admins(self, method: str, path: str, content: object = b"") -> None:
        """403 M_FORBIDDEN for a user, 401 M_MISSING_TOKEN without a token."""
        channel = self.make_request(method, path, content, access_token=self.tok)
        self.assertEqual(channel.code, 403, (method, path, channel.json_body))
        self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        channel = self.make_request(method, path, content)
        self.assertEqual(channel.code, 401, (method, path, channel.json_body))
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")
