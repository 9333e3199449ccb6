"""``POST /_synapse/admin/v1/send_server_notice``: the notices room made per user."""

from __future__ import annotations

from synapse.types import JsonDict
from tests.rest.admin.admin_test_base import ADMIN_V1, AdminTestCase
from tests.unittest import override_config

URL = f"{ADMIN_V1}/send_server_notice"
NOTICES = {"server_notices": {"system_mxid_localpart": "notices", "room_name": "Notices"}}


class ServerNoticeTestCase(AdminTestCase):
    def _notice(self, body: str, user_id: str | None = None) -> JsonDict:
        channel = self.admin_request(
            "POST",
            URL,
            {"user_id": user_id or self.user, "content": {"msgtype": "m.text", "body": body}},
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        return channel.json_body

    @override_config(NOTICES)
    def test_notice_room_created_once_per_user(self) -> None:
        first = self._notice("hello")
        rooms = self.get_success(
            self.stores.roommember.get_rooms_for_local_user_where_membership_is(
                self.user, ["invite"]
            )
        )
        self.assertEqual(len(rooms), 1)
        room_id = rooms[0].room_id
        event = self.get_success(self.stores.events.get_event(first["event_id"]))
        assert event is not None
        self.assertEqual(event.room_id, room_id)
        self.assertEqual(event.sender, "@notices:test")
        self.assertEqual(event.content["body"], "hello")
        self.assertEqual(self.state_content(room_id, "m.room.name")["name"], "Notices")
        tags = self.get_success(self.stores.account_data.get_tags_for_room(self.user, room_id))
        self.assertIn("m.server_notice", tags)

        # The user joins; the next notice goes to the same room.
        self.helper.join(room_id, self.user, tok=self.tok)
        second = self._notice("again")
        event = self.get_success(self.stores.events.get_event(second["event_id"]))
        assert event is not None
        self.assertEqual(event.room_id, room_id)
        # The user cannot write there.
        self.helper.send(room_id, "reply", tok=self.tok, expect_code=403)

        # Another user gets a room of their own.
        third = self._notice("hi bob", self.other)
        event = self.get_success(self.stores.events.get_event(third["event_id"]))
        assert event is not None
        self.assertNotEqual(event.room_id, room_id)

    def test_disabled(self) -> None:
        channel = self.admin_request("POST", URL, {"user_id": self.user, "content": {"body": "x"}})
        self.assertEqual(channel.code, 400)

    @override_config(NOTICES)
    def test_bad_input(self) -> None:
        for body in (
            {"content": {"body": "x"}},
            {"user_id": self.user},
            {"user_id": self.user, "content": "text"},
            {"user_id": 5, "content": {}},
        ):
            channel = self.admin_request("POST", URL, body)
            self.assertEqual(channel.code, 400, body)
        channel = self.admin_request("POST", URL, {"user_id": "@x:elsewhere", "content": {}})
        self.assertEqual(channel.code, 400)
        channel = self.admin_request("POST", URL, {"user_id": "@ghost:test", "content": {}})
        self.assertEqual(channel.code, 404)
        self.assertIsNone(
            self.get_success(self.stores.registration.get_user_by_id("@notices:test"))
        )

    @override_config(NOTICES)
    def test_non_admins_refused(self) -> None:
        self.assert_refused_to_non_admins("POST", URL, {"user_id": self.user, "content": {}})
        self.assertIsNone(
            self.get_success(self.stores.registration.get_user_by_id("@notices:test"))
        )

    @override_config(NOTICES)
    def test_transaction_id_sends_once(self) -> None:
        body = {"user_id": self.user, "content": {"msgtype": "m.text", "body": "once"}}
        first = self.admin_request("PUT", f"{URL}/txn1", body)
        second = self.admin_request("PUT", f"{URL}/txn1", body)
        self.assertEqual(first.code, 200, first.json_body)
        self.assertEqual(first.json_body["event_id"], second.json_body["event_id"])
