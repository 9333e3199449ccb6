"""What realistic events do for each local member under the default rules and their own."""

from __future__ import annotations

from synapse.types import JsonDict
from tests.push.push_test_base import PushTestCase

SOUND = {"set_tweak": "sound", "value": "default"}
HIGHLIGHT = {"set_tweak": "highlight"}


class DefaultRulesTestCase(PushTestCase):
    def test_group_message_notifies_everyone_but_the_sender(self) -> None:
        room = self.group_room()
        event = self.message(room, "hello all")
        actions = self.actions_of(event)
        self.assertEqual(set(actions), {self.other, self.carol})
        for row in actions.values():
            self.assertEqual(row["actions"], ["notify"])
            self.assertFalse(row["highlight"])
            self.assertEqual(row["thread_id"], "main")
            self.assertEqual(row["notif"], 1)

    def test_one_to_one_room_message_has_a_sound(self) -> None:
        room = self.dm_room()
        event = self.message(room, "psst")
        self.assertEqual(self.actions_of(event)[self.other]["actions"], ["notify", SOUND])
        # A third member makes it a group room.
        self.helper.join(room, tok=self.carol_tok)
        event = self.message(room, "now three")
        self.assertEqual(self.actions_of(event)[self.other]["actions"], ["notify"])

    def test_encrypted_events(self) -> None:
        body: JsonDict = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x"}
        dm = self.dm_room()
        event = self.helper.send_event(dm, "m.room.encrypted", body, tok=self.tok)["event_id"]
        self.assertEqual(self.actions_of(event)[self.other]["actions"], ["notify", SOUND])
        group = self.group_room()
        event = self.helper.send_event(group, "m.room.encrypted", body, tok=self.tok)["event_id"]
        self.assertEqual(self.actions_of(event)[self.other]["actions"], ["notify"])

    def test_user_mention(self) -> None:
        room = self.group_room()
        event = self.message(room, "look", extra={"m.mentions": {"user_ids": [self.other]}})
        actions = self.actions_of(event)
        self.assertEqual(actions[self.other]["actions"], ["notify", SOUND, HIGHLIGHT])
        self.assertTrue(actions[self.other]["highlight"])
        self.assertEqual(actions[self.carol]["actions"], ["notify"])

    def test_display_name_mention_without_m_mentions(self) -> None:
        room = self.group_room()
        event = self.message(room, "hey carol danvers, lunch?")
        self.assertEqual(self.highlighted(event), {self.carol})
        self.assertEqual(
            self.actions_of(event)[self.carol]["actions"], ["notify", SOUND, HIGHLIGHT]
        )
        # Only whole words.
        self.assertEqual(self.highlighted(self.message(room, "xCarol Danversville")), set())

    def test_display_name_in_body_with_m_mentions_does_not_highlight(self) -> None:
        room = self.group_room()
        event = self.message(room, "hey Carol Danvers", extra={"m.mentions": {}})
        self.assertEqual(self.highlighted(event), set())
        self.assertEqual(self.notified(event), {self.other, self.carol})

    def test_user_name_mention(self) -> None:
        room = self.group_room()
        event = self.message(room, "ping Carol")
        # Carol's localpart is a word of the body (.m.rule.contains_user_name).
        self.assertEqual(self.highlighted(event), {self.carol})

    def test_changed_display_name_is_used(self) -> None:
        room = self.group_room()
        self.helper.send_state(
            room,
            "m.room.member",
            {"membership": "join", "displayname": "Captain Marvel"},
            tok=self.carol_tok,
            state_key=self.carol,
        )
        self.assertEqual(self.highlighted(self.message(room, "hi captain marvel")), {self.carol})
        self.assertEqual(self.highlighted(self.message(room, "hi danvers")), set())

    def test_room_mention_needs_power(self) -> None:
        room = self.group_room()
        # Alice created the room: power level 100.
        event = self.message(room, "@room lunch!")
        self.assertEqual(self.highlighted(event), {self.other, self.carol})
        self.assertEqual(self.actions_of(event)[self.other]["actions"], ["notify", HIGHLIGHT])
        event = self.message(room, "lunch", extra={"m.mentions": {"room": True}})
        self.assertEqual(self.highlighted(event), {self.other, self.carol})
        # Bob has power level 0: below notifications.room (50 by default).
        event = self.message(room, "@room lunch!", tok=self.other_tok)
        self.assertEqual(self.highlighted(event), set())
        self.assertEqual(self.notified(event), {self.user, self.carol})
        event = self.message(
            room, "lunch", tok=self.other_tok, extra={"m.mentions": {"room": True}}
        )
        self.assertEqual(self.highlighted(event), set())

    def test_room_mention_level_from_power_levels(self) -> None:
        room = self.group_room()
        levels = self.state_content(room, "m.room.power_levels")
        levels["notifications"] = {"room": 0}
        self.helper.send_state(room, "m.room.power_levels", levels, tok=self.tok)
        event = self.message(room, "@room", tok=self.other_tok)
        self.assertEqual(self.highlighted(event), {self.user, self.carol})

    def test_suppressed_events(self) -> None:
        room = self.group_room()
        target = self.message(room, "original")
        notice = self.helper.send_event(
            room, "m.room.message", {"msgtype": "m.notice", "body": "bot says"}, tok=self.tok
        )["event_id"]
        edit = self.message(
            room,
            "* edited",
            extra={
                "m.new_content": {"msgtype": "m.text", "body": "edited"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": target},
            },
        )
        reaction = self.helper.send_event(
            room,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "👍"}},
            tok=self.other_tok,
        )["event_id"]
        topic = self.helper.send_state(room, "m.room.topic", {"topic": "t"}, tok=self.tok)[
            "event_id"
        ]
        acl = self.helper.send_state(
            room, "m.room.server_acl", {"allow": ["*"], "deny": []}, tok=self.tok
        )["event_id"]
        for event in (notice, edit, reaction, topic, acl):
            self.assertEqual(self.actions_of(event), {}, event)

    def test_member_events_do_not_notify_but_invites_do(self) -> None:
        room = self.group_room()
        dave = self.register_user("dave", "pass")
        invite = self.helper.invite(room, self.user, dave, tok=self.tok)
        invite_id = self.current_state_event_id(room, "m.room.member", dave)
        self.assertIsNotNone(invite)
        actions = self.actions_of(invite_id)
        self.assertEqual(set(actions), {dave})
        self.assertEqual(actions[dave]["actions"], ["notify", SOUND])
        self.helper.join(room, tok=self.login("dave", "pass"))
        join_id = self.current_state_event_id(room, "m.room.member", dave)
        self.assertEqual(self.actions_of(join_id), {})

    def test_tombstone_and_call(self) -> None:
        room = self.group_room()
        tombstone = self.helper.send_state(
            room,
            "m.room.tombstone",
            {"body": "moved", "replacement_room": "!new:test"},
            tok=self.tok,
        )["event_id"]
        self.assertEqual(self.highlighted(tombstone), {self.other, self.carol})
        call = self.helper.send_event(
            room,
            "m.call.invite",
            {
                "call_id": "c",
                "lifetime": 60000,
                "version": 0,
                "offer": {"type": "offer", "sdp": "x"},
            },
            tok=self.tok,
        )["event_id"]
        self.assertEqual(
            self.actions_of(call)[self.other]["actions"],
            ["notify", {"set_tweak": "sound", "value": "ring"}],
        )

    def test_ignored_sender(self) -> None:
        room = self.group_room()
        channel = self.make_request(
            "PUT",
            f"user/{self.other}/account_data/m.ignored_user_list",
            {"ignored_users": {self.user: {}}},
            access_token=self.other_tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        event = self.message(room, "hello")
        self.assertEqual(self.notified(event), {self.carol})

    def test_threads(self) -> None:
        room = self.group_room()
        root = self.message(room, "root")
        reply = self.thread_reply(room, root, "in the thread")
        # A reply to a threaded message is in the thread too (relations are followed).
        ref = self.message(
            room,
            "about that",
            extra={"m.relates_to": {"rel_type": "m.reference", "event_id": reply}},
        )
        # Something related to the root itself is in the main timeline.
        ref_root = self.message(
            room,
            "about root",
            extra={"m.relates_to": {"rel_type": "m.reference", "event_id": root}},
        )
        self.assertEqual(self.actions_of(root)[self.other]["thread_id"], "main")
        self.assertEqual(self.actions_of(reply)[self.other]["thread_id"], root)
        self.assertEqual(self.actions_of(ref)[self.other]["thread_id"], root)
        self.assertEqual(self.actions_of(ref_root)[self.other]["thread_id"], "main")

    def test_redaction_drops_the_notification(self) -> None:
        room = self.group_room()
        event = self.message(room, "oops")
        self.assertEqual(self.notified(event), {self.other, self.carol})
        self.helper.redact(room, event, tok=self.tok)
        self.assertEqual(self.actions_of(event), {})

    def test_room_creation_batch(self) -> None:
        """An invite made when the room is created notifies the invitee."""
        channel = self.make_request(
            "POST", "createRoom", {"invite": [self.other], "is_direct": True}, access_token=self.tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        room = channel.json_body["room_id"]
        invite_id = self.current_state_event_id(room, "m.room.member", self.other)
        self.assertEqual(self.notified(invite_id), {self.other})


class UserRulesTestCase(PushTestCase):
    def test_muted_room(self) -> None:
        room = self.group_room()
        self.put_rule("room", room, {"actions": []}, self.other_tok)
        self.assertEqual(self.notified(self.message(room, "hi")), {self.carol})
        # Mentions are overrides: they still get through.
        event = self.message(room, "hi", extra={"m.mentions": {"user_ids": [self.other]}})
        self.assertEqual(self.highlighted(event), {self.other})

    def test_sender_rule(self) -> None:
        room = self.group_room()
        self.put_rule("sender", self.user, {"actions": ["notify", HIGHLIGHT]}, self.other_tok)
        self.assertEqual(self.highlighted(self.message(room, "hi")), {self.other})
        self.assertEqual(self.highlighted(self.message(room, "hi", tok=self.carol_tok)), set())

    def test_content_rule(self) -> None:
        room = self.group_room()
        actions = ["notify", {"set_tweak": "sound", "value": "cakealarm.wav"}, HIGHLIGHT]
        self.put_rule(
            "content", "cake", {"pattern": "cake*lie", "actions": actions}, self.other_tok
        )
        event = self.message(room, "the Cake is a lie!")
        self.assertEqual(self.actions_of(event)[self.other]["actions"], actions)
        self.assertEqual(self.highlighted(self.message(room, "cakes are great")), set())

    def test_override_rule_with_conditions(self) -> None:
        room = self.group_room()
        self.put_rule(
            "override",
            "beer",
            {
                "conditions": [
                    {"kind": "event_match", "key": "content.body", "pattern": "beer"},
                    {"kind": "room_member_count", "is": "<=10"},
                ],
                "actions": ["notify", {"set_tweak": "sound", "value": "beeroclock.wav"}],
            },
            self.other_tok,
        )
        event = self.message(room, "beer o'clock", extra={"m.mentions": {}})
        self.assertEqual(
            self.actions_of(event)[self.other]["actions"],
            ["notify", {"set_tweak": "sound", "value": "beeroclock.wav"}],
        )

    def test_override_with_historical_actions_silences(self) -> None:
        room = self.group_room()
        self.put_rule(
            "override",
            "quiet",
            {
                "conditions": [{"kind": "event_match", "key": "room_id", "pattern": room}],
                "actions": ["dont_notify"],
            },
            self.other_tok,
        )
        self.assertEqual(self.notified(self.message(room, "hi")), {self.carol})

    def test_rule_with_unknown_condition_never_matches(self) -> None:
        room = self.group_room()
        self.put_rule(
            "override",
            "future",
            {"conditions": [{"kind": "org.example.x"}], "actions": []},
            self.other_tok,
        )
        self.assertEqual(self.notified(self.message(room, "hi")), {self.other, self.carol})

    def test_master_rule(self) -> None:
        room = self.group_room()
        self.put_rule("override", ".m.rule.master", {"enabled": True}, self.other_tok, "/enabled")
        event = self.message(room, "hi", extra={"m.mentions": {"user_ids": [self.other]}})
        self.assertEqual(self.notified(event), {self.carol})

    def test_disabled_and_changed_default_rules(self) -> None:
        room = self.group_room()
        self.put_rule(
            "underride", ".m.rule.message", {"enabled": False}, self.other_tok, "/enabled"
        )
        self.put_rule(
            "underride",
            ".m.rule.message",
            {"actions": ["notify", HIGHLIGHT]},
            self.carol_tok,
            "/actions",
        )
        event = self.message(room, "hi")
        self.assertEqual(self.notified(event), {self.carol})
        self.assertEqual(self.highlighted(event), {self.carol})
        # Re-enabling takes effect for the next event.
        self.put_rule("underride", ".m.rule.message", {"enabled": True}, self.other_tok, "/enabled")
        self.assertEqual(self.notified(self.message(room, "again")), {self.other, self.carol})

    def test_rule_order_decides(self) -> None:
        room = self.group_room()
        match_all = [{"kind": "event_match", "key": "type", "pattern": "m.room.message"}]
        self.put_rule(
            "override",
            "loud",
            {"conditions": match_all, "actions": ["notify", HIGHLIGHT]},
            self.other_tok,
        )
        self.put_rule(
            "override", "silent", {"conditions": match_all, "actions": []}, self.other_tok
        )
        # "silent" was added last: it comes first.
        self.assertEqual(self.notified(self.message(room, "a")), {self.carol})
        channel = self.make_request(
            "PUT",
            "pushrules/global/override/loud?before=silent",
            {"conditions": match_all, "actions": ["notify", HIGHLIGHT]},
            access_token=self.other_tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self.highlighted(self.message(room, "b")), {self.other})


class RoomVersion12TestCase(PushTestCase):
    def test_creator_may_notify_the_room_and_room_rules_take_v12_ids(self) -> None:
        room = self.helper.create_room_as(
            self.user, is_public=True, room_version="12", tok=self.tok
        )
        self.helper.join(room, tok=self.other_tok)
        self.helper.join(room, tok=self.carol_tok)
        # Creators are not listed in the power levels, yet have the highest power.
        event = self.message(room, "hi all", extra={"m.mentions": {"room": True}})
        self.assertEqual(self.highlighted(event), {self.other, self.carol})
        self.put_rule("room", room, {"actions": []}, self.other_tok)
        self.assertEqual(self.notified(self.message(room, "again")), {self.carol})
