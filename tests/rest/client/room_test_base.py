"""A test case base for room tests: two users, the room servlets, and store helpers."""

from __future__ import annotations

import copy
from typing import Any

from synapse.events import EventBase
from synapse.rest.client import directory, login, membership, room, room_upgrade
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.utils import RestHelper
from tests.unittest import HomeserverTestCase


class RoomTestCase(HomeserverTestCase):
    """``self.user``/``self.tok`` (alice) and ``self.other``/``self.other_tok`` (bob)."""

    servlets = [
        login.register_servlets,
        room.register_servlets,
        membership.register_servlets,
        directory.register_servlets,
        room_upgrade.register_servlets,
    ]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.helper = RestHelper(self)
        self.stores = hs.get_datastores().main
        self.user = self.register_user("alice", "pass")
        self.tok = self.login("alice", "pass")
        self.other = self.register_user("bob", "pass")
        self.other_tok = self.login("bob", "pass")

    # --- reading what was stored ------------------------------------------------------
    def room_events(self, room_id: str) -> list[EventBase]:
        """Every event of the room, in stream order."""
        rows = self.get_success(
            self.stores.db_pool.execute(
                "room_events",
                "SELECT event_id FROM events WHERE room_id = ? ORDER BY stream_ordering",
                room_id,
            )
        )
        return self.get_success(self.stores.events.get_events_as_list([r[0] for r in rows]))

    def event_count(self) -> int:
        rows = self.get_success(self.stores.db_pool.execute("count", "SELECT COUNT(*) FROM events"))
        return int(rows[0][0])

    def room_count(self) -> int:
        rows = self.get_success(self.stores.db_pool.execute("count", "SELECT COUNT(*) FROM rooms"))
        return int(rows[0][0])

    def current_state(self, room_id: str) -> dict[tuple[str, str], EventBase]:
        ids = self.get_success(self.stores.state.get_current_state_ids(room_id))
        events = self.get_success(self.stores.events.get_events(ids.values()))
        return {k: events[v] for k, v in ids.items()}

    def state_content(self, room_id: str, event_type: str, state_key: str = "") -> JsonDict:
        """A copy of a current state event's content (safe to change)."""
        return copy.deepcopy(dict(self.current_state(room_id)[(event_type, state_key)].content))

    def membership_of(self, room_id: str, user_id: str) -> str | None:
        event = self.current_state(room_id).get(("m.room.member", user_id))
        return None if event is None else event.content.get("membership")

    def assert_error(
        self, channel: Any, code: int, errcode: str, api: tuple[str, str, str] | None = None
    ) -> None:
        self.assertEqual(channel.code, code, channel.json_body)
        self.assertEqual(channel.json_body.get("errcode"), errcode, channel.json_body)
        if api is not None:
            assert_response_matches_spec(channel.json_body, *api, status=code)
