"""``auto_join_rooms``: new users join the configured rooms, created for the first user."""

from __future__ import annotations

from typing import Any

from synapse.types import JsonDict
from tests.unittest import HomeserverTestCase, override_config


class AutoJoinTestCase(HomeserverTestCase):
    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["auto_join_rooms"] = ["#lobby:test"]
        return config

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.stores = hs.get_datastores().main

    def _membership(self, room_id: str, user_id: str) -> str | None:
        event_id = self.get_success(
            self.stores.state.get_current_state_event_id(room_id, "m.room.member", user_id)
        )
        if event_id is None:
            return None
        event = self.get_success(self.stores.events.get_event(event_id))
        assert event is not None
        return event.content.get("membership")

    def _lobby(self) -> str:
        association = self.get_success(
            self.hs.get_directory_handler().get_association("#lobby:test")
        )
        return association["room_id"]

    def test_first_user_creates_room_and_others_join(self) -> None:
        first = self.register_user("first", "pw")
        room_id = self._lobby()
        self.assertEqual(self._membership(room_id, first), "join")
        second = self.register_user("second", "pw")
        self.assertEqual(self._membership(room_id, second), "join")

    def test_missing_room_not_created_for_later_users(self) -> None:
        self.get_success(
            self.stores.registration.register_user("@existing:test", password_hash=None)
        )
        self.register_user("late", "pw")
        self.get_failure(self.hs.get_directory_handler().get_association("#lobby:test"), Exception)

    @override_config({"autocreate_auto_join_rooms": False})
    def test_no_autocreate(self) -> None:
        user_id = self.register_user("first", "pw")
        self.assertIsNotNone(self.get_success(self.stores.registration.get_user_by_id(user_id)))
        self.get_failure(self.hs.get_directory_handler().get_association("#lobby:test"), Exception)

    @override_config({"allow_guest_access": True, "auto_join_rooms_for_guests": False})
    def test_guests_not_joined_when_disabled(self) -> None:
        self.register_user("first", "pw")
        room_id = self._lobby()
        guest = self.get_success(self.hs.get_registration_handler().register_guest(None))
        self.assertIsNone(self._membership(room_id, guest))
