"""Account changes that reach rooms: profile updates and deactivation."""

from __future__ import annotations

from typing import Any

from synapse.rest.client import account, login, profile
from synapse.types import JsonDict, create_requester
from tests.unittest import HomeserverTestCase


class AccountRoomsTestCase(HomeserverTestCase):
    servlets = [login.register_servlets, profile.register_servlets, account.register_servlets]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.user_id = self.register_user("kermit", "monkey")
        self.token = self.login("kermit", "monkey")
        self.other_id = self.register_user("piggy", "pass")
        stores = hs.get_datastores().main
        self.state = stores.state
        self.events = stores.events
        creator = create_requester(self.other_id)
        self.room_id, _, _ = self.get_success(
            hs.get_room_creation_handler().create_room(creator, {"preset": "public_chat"})
        )
        self.get_success(
            hs.get_room_member_handler().update_membership(
                create_requester(self.user_id), self.user_id, self.room_id, "join"
            )
        )

    def _member_content(self) -> JsonDict:
        event_id = self.get_success(
            self.state.get_current_state_event_id(self.room_id, "m.room.member", self.user_id)
        )
        assert event_id is not None
        event = self.get_success(self.events.get_event(event_id))
        assert event is not None
        return dict(event.content)

    def test_join_carries_profile(self) -> None:
        self.assertEqual(self._member_content().get("displayname"), "kermit")

    def test_profile_change_updates_membership(self) -> None:
        channel = self.make_request(
            "PUT",
            f"profile/{self.user_id}/displayname",
            {"displayname": "Kermit the Frog"},
            access_token=self.token,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request(
            "PUT",
            f"profile/{self.user_id}/avatar_url",
            {"avatar_url": "mxc://test/frog"},
            access_token=self.token,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        content = self._member_content()
        self.assertEqual(content["membership"], "join")
        self.assertEqual(content["displayname"], "Kermit the Frog")
        self.assertEqual(content["avatar_url"], "mxc://test/frog")

    def test_deactivation_leaves_rooms(self) -> None:
        self.get_success(self.hs.get_deactivate_account_handler().deactivate_account(self.user_id))
        self.assertEqual(self._member_content()["membership"], "leave")
