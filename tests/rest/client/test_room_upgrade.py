"""``POST /rooms/{roomId}/upgrade``."""

from __future__ import annotations

from typing import Any

from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.room_test_base import RoomTestCase

UPGRADE_API = ("client-server/room_upgrades.yaml", "/rooms/{roomId}/upgrade", "post")


class RoomUpgradeTestCase(RoomTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room_id = self.helper.create_room_as(
            self.user,
            is_public=True,
            tok=self.tok,
            room_version="9",
            extra_content={
                "name": "Old name",
                "topic": "Old topic",
                "room_alias_name": "old",
                "initial_state": [
                    {"type": "m.room.avatar", "content": {"url": "mxc://test/a"}},
                    {"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
                    {
                        "type": "m.room.server_acl",
                        "content": {"allow": ["*"], "deny": ["evil.example"]},
                    },
                    {"type": "org.example.custom", "content": {"keep": False}},
                ],
            },
        )
        self.helper.join(self.room_id, tok=self.other_tok)

    def upgrade(self, body: Any, tok: str | None = None, room_id: str | None = None) -> Any:
        return self.make_request(
            "POST",
            f"rooms/{room_id or self.room_id}/upgrade",
            body,
            access_token=tok or self.tok,
        )

    def test_upgrade(self) -> None:
        self.helper.ban(self.room_id, "@troll:test", tok=self.tok)
        channel = self.upgrade({"new_version": "10"})
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *UPGRADE_API)
        new_room = channel.json_body["replacement_room"]
        self.assertNotEqual(new_room, self.room_id)

        # The old room is tombstoned and closed to ordinary users.
        old_state = self.current_state(self.room_id)
        tombstone = old_state[("m.room.tombstone", "")]
        self.assertEqual(tombstone.content["replacement_room"], new_room)
        self.assertEqual(tombstone.sender, self.user)
        old_pl = old_state[("m.room.power_levels", "")].content
        self.assertEqual(old_pl["events_default"], 50)
        self.assertEqual(old_pl["invite"], 50)
        self.helper.send(self.room_id, "still here?", tok=self.other_tok, expect_code=403)

        # The new room: version, predecessor, copied state, no custom state.
        new_state = self.current_state(new_room)
        create = new_state[("m.room.create", "")].content
        self.assertEqual(create["room_version"], "10")
        self.assertEqual(create["predecessor"]["room_id"], self.room_id)
        self.assertIn("event_id", create["predecessor"])
        self.assertEqual(new_state[("m.room.name", "")].content, {"name": "Old name"})
        self.assertEqual(new_state[("m.room.topic", "")].content["topic"], "Old topic")
        self.assertEqual(new_state[("m.room.avatar", "")].content, {"url": "mxc://test/a"})
        self.assertEqual(new_state[("m.room.join_rules", "")].content, {"join_rule": "public"})
        self.assertEqual(
            new_state[("m.room.encryption", "")].content, {"algorithm": "m.megolm.v1.aes-sha2"}
        )
        self.assertEqual(new_state[("m.room.server_acl", "")].content["deny"], ["evil.example"])
        self.assertEqual(
            new_state[("m.room.history_visibility", "")].content, {"history_visibility": "shared"}
        )
        self.assertEqual(
            new_state[("m.room.guest_access", "")].content, {"guest_access": "forbidden"}
        )
        self.assertNotIn(("org.example.custom", ""), new_state)
        self.assertEqual(new_state[("m.room.power_levels", "")].content["users"], {self.user: 100})
        self.assertEqual(new_state[("m.room.member", "@troll:test")].content["membership"], "ban")
        self.assertNotIn(("m.room.member", self.other), new_state)

        # Aliases follow the room.
        channel = self.make_request("GET", "directory/room/%23old:test")
        self.assertEqual(channel.json_body["room_id"], new_room)
        self.assertEqual(new_state[("m.room.canonical_alias", "")].content, {"alias": "#old:test"})
        self.assertEqual(old_state[("m.room.canonical_alias", "")].content, {})
        # And so does the directory listing.
        self.assertEqual(
            self.make_request("GET", f"directory/list/room/{new_room}").json_body,
            {"visibility": "public"},
        )
        self.assertEqual(
            self.make_request("GET", f"directory/list/room/{self.room_id}").json_body,
            {"visibility": "private"},
        )
        # Members can follow.
        self.helper.join(new_room, tok=self.other_tok)

    def test_upgrade_keeps_a_moderators_power(self) -> None:
        # A moderator allowed to tombstone, who is not an admin.
        pl = self.state_content(self.room_id, "m.room.power_levels")
        pl["users"][self.other] = 60
        pl["events"]["m.room.tombstone"] = 60
        self.helper.send_state(self.room_id, "m.room.power_levels", pl, tok=self.tok)
        channel = self.upgrade({"new_version": "10"}, tok=self.other_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        new_room = channel.json_body["replacement_room"]
        new_pl = self.state_content(new_room, "m.room.power_levels")
        self.assertEqual(new_pl["users"], {self.user: 100, self.other: 60})
        # Raised to copy the state, then put back: the last power levels are the old ones.
        events = self.room_events(new_room)
        self.assertEqual(
            [e.type for e in events].count("m.room.power_levels"), 2, [e.type for e in events]
        )
        self.assertEqual(events[2].content["users"][self.other], 100)

    def test_upgrade_to_v12(self) -> None:
        carol = self.register_user("carol", "pass")
        channel = self.upgrade({"new_version": "12", "additional_creators": [carol]})
        self.assertEqual(channel.code, 200, channel.json_body)
        new_room = channel.json_body["replacement_room"]
        create = self.room_events(new_room)[0]
        self.assertEqual(new_room, "!" + create.event_id[1:])
        self.assertEqual(create.content["additional_creators"], [carol])
        self.assertEqual(create.content["predecessor"]["room_id"], self.room_id)
        pl = self.state_content(new_room, "m.room.power_levels")
        self.assertNotIn(self.user, pl["users"])
        self.assertGreater(pl["events"]["m.room.tombstone"], pl.get("state_default", 50))
        # And back down again from 12: the creator gets an explicit level.
        channel = self.upgrade({"new_version": "11"}, room_id=new_room)
        self.assertEqual(channel.code, 200, channel.json_body)
        newest = channel.json_body["replacement_room"]
        pl = self.state_content(newest, "m.room.power_levels")
        self.assertEqual(pl["users"][self.user], 100)

    def test_room_type_is_kept(self) -> None:
        space = self.helper.create_room_as(
            self.user, tok=self.tok, extra_content={"creation_content": {"type": "m.space"}}
        )
        channel = self.upgrade({"new_version": "11"}, room_id=space)
        new_room = channel.json_body["replacement_room"]
        self.assertEqual(self.state_content(new_room, "m.room.create")["type"], "m.space")

    def test_refused(self) -> None:
        count = self.event_count()
        channel = self.upgrade({"new_version": "10"}, tok=self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        channel = self.upgrade({"new_version": "10"}, tok=carol_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        channel = self.upgrade({"new_version": "99"})
        self.assert_error(channel, 400, "M_UNSUPPORTED_ROOM_VERSION", UPGRADE_API)
        channel = self.upgrade({"new_version": "10"}, room_id="!unknown:test")
        self.assert_error(channel, 404, "M_NOT_FOUND")
        for body, errcode in (
            ({}, "M_MISSING_PARAM"),
            ({"new_version": 10}, "M_BAD_JSON"),
            ({"new_version": "12", "additional_creators": "x"}, "M_BAD_JSON"),
            ({"new_version": "12", "additional_creators": ["nope"]}, "M_INVALID_PARAM"),
            ({"new_version": "10", "additional_creators": [carol]}, "M_INVALID_PARAM"),
        ):
            channel = self.upgrade(body)
            self.assert_error(channel, 400, errcode)
        self.assertEqual(self.event_count(), count)
