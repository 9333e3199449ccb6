"""A base for push tests over HTTP: three users in rooms, the push rule servlets, and
readers of what events did for each user."""

from __future__ import annotations

import json
from typing import Any

from synapse.rest.client import push_rule
from synapse.types import JsonDict
from tests.rest.client.sync_test_base import SyncTestCase, q
from tests.server import FakeChannel


class PushTestCase(SyncTestCase):
    """alice (``self.user``, creator of the rooms), bob (``self.other``) and carol
    (``self.carol``, display name "Carol Danvers")."""

    servlets = [*SyncTestCase.servlets, push_rule.register_servlets]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.carol = self.register_user("carol", "pass", displayname="Carol Danvers")
        self.carol_tok = self.login("carol", "pass")

    # --- rooms and events --------------------------------------------------------------
    def group_room(self) -> str:
        """A public room of alice, bob and carol."""
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room, tok=self.other_tok)
        self.helper.join(room, tok=self.carol_tok)
        return room

    def dm_room(self) -> str:
        """A room of alice and bob only."""
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room, tok=self.other_tok)
        return room

    def message(
        self, room: str, body: str, tok: str | None = None, extra: JsonDict | None = None
    ) -> str:
        """Send an ``m.text`` message (with ``extra`` content keys); its event ID."""
        sent = self.helper.send_event(
            room,
            "m.room.message",
            {"msgtype": "m.text", "body": body, **(extra or {})},
            tok=tok or self.tok,
        )
        return sent["event_id"]

    def thread_reply(self, room: str, root: str, body: str, tok: str | None = None) -> str:
        relation = {"rel_type": "m.thread", "event_id": root}
        return self.message(room, body, tok, {"m.relates_to": relation})

    def current_state_event_id(self, room: str, event_type: str, state_key: str = "") -> str:
        return self.current_state(room)[(event_type, state_key)].event_id

    # --- what events did -------------------------------------------------------------
    def actions_of(self, event_id: str) -> dict[str, JsonDict]:
        """user -> {"actions", "highlight", "thread_id"} of the rows an event left."""
        rows = self.get_success(
            self.stores.db_pool.execute(
                "actions_of",
                "SELECT user_id, actions, highlight, thread_id, notif FROM event_push_actions"
                " WHERE event_id = ?",
                event_id,
            )
        )
        return {
            u: {"actions": json.loads(a), "highlight": bool(h), "thread_id": t, "notif": n}
            for u, a, h, t, n in rows
        }

    def notified(self, event_id: str) -> set[str]:
        return set(self.actions_of(event_id))

    def highlighted(self, event_id: str) -> set[str]:
        return {u for u, row in self.actions_of(event_id).items() if row["highlight"]}

    # --- push rules --------------------------------------------------------------------
    def put_rule(
        self, kind: str, rule_id: str, body: Any, tok: str, suffix: str = ""
    ) -> FakeChannel:
        channel = self.make_request(
            "PUT", f"pushrules/global/{kind}/{q(rule_id)}{suffix}", body, access_token=tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        return channel
