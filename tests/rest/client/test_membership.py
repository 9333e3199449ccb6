"""Joining, inviting, leaving, kicking, banning, forgetting, knocking and restricted rooms."""

from __future__ import annotations

from typing import Any

from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.persistence._room import RoomMaker
from tests.rest.client.room_test_base import RoomTestCase
from tests.unittest import override_config

JOIN_API = ("client-server/joining.yaml", "/rooms/{roomId}/join", "post")
JOIN_ALIAS_API = ("client-server/joining.yaml", "/join/{roomIdOrAlias}", "post")
INVITE_API = ("client-server/inviting.yaml", "/rooms/{roomId}/invite ", "post")
LEAVE_API = ("client-server/leaving.yaml", "/rooms/{roomId}/leave", "post")
FORGET_API = ("client-server/leaving.yaml", "/rooms/{roomId}/forget", "post")
KICK_API = ("client-server/kicking.yaml", "/rooms/{roomId}/kick", "post")
BAN_API = ("client-server/banning.yaml", "/rooms/{roomId}/ban", "post")
UNBAN_API = ("client-server/banning.yaml", "/rooms/{roomId}/unban", "post")
KNOCK_API = ("client-server/knocking.yaml", "/knock/{roomIdOrAlias}", "post")


class MembershipTestCase(RoomTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.carol = self.register_user("carol", "pass")
        self.carol_tok = self.login("carol", "pass")

    def post(self, path: str, body: Any, tok: str) -> Any:
        return self.make_request("POST", path, body, access_token=tok)

    # --- join ------------------------------------------------------------------------
    def test_join_public_room(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        channel = self.post(f"rooms/{room_id}/join", {}, self.other_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *JOIN_API)
        self.assertEqual(channel.json_body, {"room_id": room_id})
        member = self.current_state(room_id)[("m.room.member", self.other)]
        self.assertEqual(member.content, {"membership": "join", "displayname": "bob"})

    def test_join_with_reason_and_empty_body(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        channel = self.post(f"rooms/{room_id}/join", b"", self.other_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.helper.leave(room_id, tok=self.other_tok)
        channel = self.post(f"rooms/{room_id}/join", {"reason": "hi"}, self.other_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self.state_content(room_id, "m.room.member", self.other)["reason"], "hi")

    def test_join_by_alias_and_id(self) -> None:
        room_id = self.helper.create_room_as(
            self.user, is_public=True, tok=self.tok, extra_content={"room_alias_name": "pub"}
        )
        channel = self.post("join/%23pub:test?server_name=elsewhere", {}, self.other_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *JOIN_ALIAS_API)
        self.assertEqual(channel.json_body, {"room_id": room_id})
        channel = self.post(f"join/{room_id}?via=elsewhere", {}, self.carol_tok)
        self.assertEqual(channel.json_body, {"room_id": room_id})
        self.assertEqual(self.membership_of(room_id, self.carol), "join")

    def test_join_unknown_room_or_alias(self) -> None:
        count = self.event_count()
        channel = self.post("join/!unknown:test", {}, self.other_tok)
        self.assert_error(channel, 404, "M_NOT_FOUND")
        channel = self.post("rooms/!unknown:test/join", {}, self.other_tok)
        self.assert_error(channel, 404, "M_NOT_FOUND")
        channel = self.post("join/%23nothing:test", {}, self.other_tok)
        self.assert_error(channel, 404, "M_NOT_FOUND")
        channel = self.post("join/%23nothing:remote.example", {}, self.other_tok)
        self.assert_error(channel, 404, "M_NOT_FOUND")
        channel = self.post("join/garbage", {}, self.other_tok)
        self.assert_error(channel, 400, "M_INVALID_PARAM")
        self.assertEqual(self.event_count(), count)

    def test_join_invite_only_room_needs_an_invite(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=False, tok=self.tok)
        count = self.event_count()
        channel = self.post(f"rooms/{room_id}/join", {}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN", JOIN_API)
        self.assertEqual(self.event_count(), count)
        self.helper.invite(room_id, targ=self.other, tok=self.tok)
        self.helper.join(room_id, tok=self.other_tok)
        self.assertEqual(self.membership_of(room_id, self.other), "join")

    def test_joining_again_changes_nothing(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room_id, tok=self.other_tok)
        count = self.event_count()
        self.helper.join(room_id, tok=self.other_tok)
        self.assertEqual(self.event_count(), count)
        # A changed profile is a new join event.
        self.get_success(self.stores.profile.set_profile_displayname(self.other, "Bobby"))
        self.helper.join(room_id, tok=self.other_tok)
        self.assertEqual(self.event_count(), count + 1)
        self.assertEqual(
            self.state_content(room_id, "m.room.member", self.other)["displayname"], "Bobby"
        )

    def test_bad_join_bodies(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        for body in ({"reason": 1}, {"third_party_signed": "x"}, [1]):
            channel = self.post(f"rooms/{room_id}/join", body, self.other_tok)
            self.assert_error(channel, 400, "M_BAD_JSON")
        channel = self.post(f"rooms/{room_id}/join", b"{", self.other_tok)
        self.assert_error(channel, 400, "M_NOT_JSON")

    @override_config({"rc_joins": {"local": {"per_second": 0.01, "burst_count": 1}}})
    def test_join_rate_limit(self) -> None:
        rooms = [
            self.helper.create_room_as(self.user, is_public=True, tok=self.tok) for _ in range(2)
        ]
        self.helper.join(rooms[0], tok=self.other_tok)
        channel = self.post(f"rooms/{rooms[1]}/join", {}, self.other_tok)
        self.assert_error(channel, 429, "M_LIMIT_EXCEEDED")
        # Joining again where already joined is not counted.
        self.helper.join(rooms[0], tok=self.other_tok)

    # --- invite ----------------------------------------------------------------------
    def test_invite(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=False, tok=self.tok)
        self.helper.send_state(room_id, "m.room.name", {"name": "Secret"}, tok=self.tok)
        channel = self.post(
            f"rooms/{room_id}/invite", {"user_id": self.other, "reason": "come"}, self.tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *INVITE_API)
        invite = self.current_state(room_id)[("m.room.member", self.other)]
        self.assertEqual(invite.content, {"membership": "invite", "reason": "come"})
        stripped = {s["type"]: s for s in invite.unsigned["invite_room_state"]}
        self.assertEqual(stripped["m.room.name"]["content"], {"name": "Secret"})
        self.assertEqual(set(stripped["m.room.name"]), {"type", "state_key", "content", "sender"})
        self.assertIn("m.room.create", stripped)
        self.assertNotIn("m.room.power_levels", stripped)
        channel = self.post(
            f"rooms/{room_id}/invite", {"user_id": self.carol, "is_direct": True}, self.tok
        )
        self.assertEqual(
            self.state_content(room_id, "m.room.member", self.carol),
            {"membership": "invite", "is_direct": True},
        )

    def test_invite_refused(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room_id, tok=self.other_tok)
        count = self.event_count()
        # The public preset needs 50 to invite.
        channel = self.post(f"rooms/{room_id}/invite", {"user_id": self.carol}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN", INVITE_API)
        # Already in the room.
        channel = self.post(f"rooms/{room_id}/invite", {"user_id": self.other}, self.tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        # Not in the room.
        channel = self.post(f"rooms/{room_id}/invite", {"user_id": self.other}, self.carol_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        # Unknown room.
        channel = self.post("rooms/!unknown:test/invite", {"user_id": self.other}, self.tok)
        self.assert_error(channel, 404, "M_NOT_FOUND")
        self.assertEqual(self.event_count(), count)

    def test_bad_invite_bodies(self) -> None:
        room_id = self.helper.create_room_as(self.user, tok=self.tok)
        for body, errcode in (
            ({}, "M_MISSING_PARAM"),
            ({"user_id": 5}, "M_BAD_JSON"),
            ({"user_id": self.other, "is_direct": "yes"}, "M_BAD_JSON"),
            ({"user_id": "bob"}, "M_INVALID_PARAM"),
        ):
            channel = self.post(f"rooms/{room_id}/invite", body, self.tok)
            self.assert_error(channel, 400, errcode)

    @override_config({"rc_invites": {"per_issuer": {"per_second": 0.01, "burst_count": 1}}})
    def test_invite_rate_limit(self) -> None:
        room_id = self.helper.create_room_as(self.user, tok=self.tok)
        self.helper.invite(room_id, targ=self.other, tok=self.tok)
        channel = self.post(f"rooms/{room_id}/invite", {"user_id": self.carol}, self.tok)
        self.assert_error(channel, 429, "M_LIMIT_EXCEEDED")

    def test_third_party_invites_are_refused(self) -> None:
        room_id = self.helper.create_room_as(self.user, tok=self.tok)
        body = {"id_server": "id.example", "medium": "email", "address": "a@example.com"}
        channel = self.post(f"rooms/{room_id}/invite", body, self.tok)
        self.assert_error(channel, 400, "M_UNRECOGNIZED")

    def test_invite_remote_user_needs_federation(self) -> None:
        room_id = self.helper.create_room_as(self.user, tok=self.tok)
        channel = self.post(f"rooms/{room_id}/invite", {"user_id": "@x:remote.example"}, self.tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")

    def test_joining_a_room_of_another_server_needs_federation(self) -> None:
        # A room made by another server that no local user is in any more.
        maker = RoomMaker(self.hs, self.get_success, name="elsewhere")
        maker.create(creator="@remote:other.example", join_rule="public")
        count = self.event_count()
        channel = self.post(f"rooms/{maker.room_id}/join", {}, self.other_tok)
        self.assert_error(channel, 404, "M_NOT_FOUND")
        channel = self.post(f"knock/{maker.room_id}", {}, self.other_tok)
        self.assert_error(channel, 404, "M_NOT_FOUND")
        self.assertEqual(self.event_count(), count)

    # --- leave -----------------------------------------------------------------------
    def test_leave_and_reject_invite(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room_id, tok=self.other_tok)
        channel = self.post(f"rooms/{room_id}/leave", {"reason": "bye"}, self.other_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *LEAVE_API)
        self.assertEqual(
            self.state_content(room_id, "m.room.member", self.other),
            {"membership": "leave", "reason": "bye"},
        )
        self.helper.invite(room_id, targ=self.carol, tok=self.tok)
        self.helper.leave(room_id, tok=self.carol_tok)
        self.assertEqual(self.membership_of(room_id, self.carol), "leave")

    def test_guests_may_leave(self) -> None:
        guest_id, guest_tok = self.get_success(self._register_guest())
        room_id = self.helper.create_room_as(
            self.user,
            is_public=True,
            tok=self.tok,
            extra_content={
                "initial_state": [
                    {"type": "m.room.guest_access", "content": {"guest_access": "can_join"}}
                ]
            },
        )
        self.helper.join(room_id, tok=guest_tok)
        self.helper.leave(room_id, tok=guest_tok)
        self.assertEqual(self.membership_of(room_id, guest_id), "leave")
        channel = self.post(f"rooms/{room_id}/invite", {"user_id": self.other}, guest_tok)
        self.assert_error(channel, 403, "M_GUEST_ACCESS_FORBIDDEN")

    def test_leave_a_room_one_is_not_in(self) -> None:
        room_id = self.helper.create_room_as(self.user, tok=self.tok)
        count = self.event_count()
        channel = self.post(f"rooms/{room_id}/leave", {}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        channel = self.post("rooms/!unknown:test/leave", {}, self.other_tok)
        self.assert_error(channel, 404, "M_NOT_FOUND")
        self.assertEqual(self.event_count(), count)

    # --- kick ------------------------------------------------------------------------
    def test_kick(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room_id, tok=self.other_tok)
        self.helper.join(room_id, tok=self.carol_tok)
        count = self.event_count()
        channel = self.post(f"rooms/{room_id}/kick", {"user_id": self.carol}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN", KICK_API)
        channel = self.post(f"rooms/{room_id}/kick", {"user_id": self.user}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        self.assertEqual(self.event_count(), count)
        channel = self.post(
            f"rooms/{room_id}/kick", {"user_id": self.carol, "reason": "spam"}, self.tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *KICK_API)
        member = self.current_state(room_id)[("m.room.member", self.carol)]
        self.assertEqual(member.content, {"membership": "leave", "reason": "spam"})
        self.assertEqual(member.sender, self.user)
        # Kicking someone who is not there.
        channel = self.post(f"rooms/{room_id}/kick", {"user_id": self.carol}, self.tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        # A kicked user may come back to a public room.
        self.helper.join(room_id, tok=self.carol_tok)

    def test_kick_bad_bodies(self) -> None:
        room_id = self.helper.create_room_as(self.user, tok=self.tok)
        for body, errcode in (
            ({}, "M_MISSING_PARAM"),
            ({"user_id": []}, "M_BAD_JSON"),
            ({"user_id": "x"}, "M_INVALID_PARAM"),
            ({"user_id": self.other, "reason": 3}, "M_BAD_JSON"),
        ):
            for action in ("kick", "ban", "unban"):
                channel = self.post(f"rooms/{room_id}/{action}", body, self.tok)
                self.assert_error(channel, 400, errcode)

    # --- ban / unban -------------------------------------------------------------------
    def test_ban_and_unban(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room_id, tok=self.other_tok)
        channel = self.post(
            f"rooms/{room_id}/ban", {"user_id": self.other, "reason": "x"}, self.tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *BAN_API)
        self.assertEqual(self.membership_of(room_id, self.other), "ban")
        channel = self.post(f"rooms/{room_id}/join", {}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        # A user who never joined may be banned too.
        self.helper.ban(room_id, self.carol, tok=self.tok)
        channel = self.post(f"rooms/{room_id}/unban", {"user_id": self.other}, self.tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *UNBAN_API)
        self.assertEqual(self.membership_of(room_id, self.other), "leave")
        self.helper.join(room_id, tok=self.other_tok)

    def test_ban_and_unban_refused(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room_id, tok=self.other_tok)
        self.helper.join(room_id, tok=self.carol_tok)
        channel = self.post(f"rooms/{room_id}/ban", {"user_id": self.carol}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN", BAN_API)
        channel = self.post(f"rooms/{room_id}/unban", {"user_id": self.carol}, self.tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        self.helper.ban(room_id, self.carol, tok=self.tok)
        channel = self.post(f"rooms/{room_id}/unban", {"user_id": self.carol}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        # The banned user cannot unban themselves by leaving.
        channel = self.post(f"rooms/{room_id}/leave", {}, self.carol_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")

    # --- forget ------------------------------------------------------------------------
    def test_forget(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room_id, tok=self.other_tok)
        channel = self.post(f"rooms/{room_id}/forget", {}, self.other_tok)
        self.assert_error(channel, 400, "M_UNKNOWN", FORGET_API)
        self.helper.leave(room_id, tok=self.other_tok)
        channel = self.post(f"rooms/{room_id}/forget", {}, self.other_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *FORGET_API)
        forgotten = self.get_success(self.stores.directory.get_forgotten_rooms_for_user(self.other))
        self.assertEqual(forgotten, {room_id})
        self.assertTrue(self.get_success(self.stores.directory.did_forget(self.other, room_id)))
        # Joining again un-forgets the room.
        self.helper.join(room_id, tok=self.other_tok)
        self.assertFalse(self.get_success(self.stores.directory.did_forget(self.other, room_id)))
        # Forgetting a room one was never in does nothing.
        self.helper.forget(room_id, tok=self.carol_tok)

    @override_config({"forget_rooms_on_leave": True})
    def test_forget_on_leave(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room_id, tok=self.other_tok)
        self.helper.leave(room_id, tok=self.other_tok)
        self.assertTrue(self.get_success(self.stores.directory.did_forget(self.other, room_id)))

    # --- knock -------------------------------------------------------------------------
    def knock_room(self, version: str = "10", join_rule: str = "knock") -> str:
        return self.helper.create_room_as(
            self.user,
            tok=self.tok,
            room_version=version,
            extra_content={
                "initial_state": [
                    {"type": "m.room.join_rules", "content": {"join_rule": join_rule}}
                ],
                "name": "Knock here",
                "room_alias_name": f"knock{version}{join_rule}",
            },
        )

    def test_knock(self) -> None:
        room_id = self.knock_room()
        channel = self.post("knock/%23knock10knock:test", {"reason": "let me in"}, self.other_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *KNOCK_API)
        self.assertEqual(channel.json_body, {"room_id": room_id})
        knock = self.current_state(room_id)[("m.room.member", self.other)]
        self.assertEqual(knock.content["membership"], "knock")
        self.assertEqual(knock.content["reason"], "let me in")
        stripped = {s["type"] for s in knock.unsigned["knock_room_state"]}
        self.assertIn("m.room.name", stripped)
        # The knocker cannot join yet; a member who may invite lets them in.
        channel = self.post(f"rooms/{room_id}/join", {}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        self.helper.invite(room_id, targ=self.other, tok=self.tok)
        self.helper.join(room_id, tok=self.other_tok)

    def test_retract_knock(self) -> None:
        room_id = self.knock_room()
        self.helper.knock(room_id, tok=self.other_tok)
        self.helper.leave(room_id, tok=self.other_tok)
        self.assertEqual(self.membership_of(room_id, self.other), "leave")
        # And an invitee may not knock, nor a joined user.
        self.helper.invite(room_id, targ=self.carol, tok=self.tok)
        channel = self.post(f"knock/{room_id}", {}, self.carol_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")

    def test_knock_refused(self) -> None:
        public = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        channel = self.post(f"knock/{public}", {}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN", KNOCK_API)
        # Room version 6 has no knocking.
        old = self.knock_room(version="6", join_rule="knock")
        channel = self.post(f"knock/{old}", {}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        channel = self.post("knock/!unknown:test", {}, self.other_tok)
        self.assert_error(channel, 404, "M_NOT_FOUND")
        channel = self.post(f"knock/{public}", {"reason": 1}, self.other_tok)
        self.assert_error(channel, 400, "M_BAD_JSON")

    # --- restricted rooms ---------------------------------------------------------------
    def restricted_room(self, space_id: str, join_rule: str = "restricted") -> str:
        join_rules: JsonDict = {
            "join_rule": join_rule,
            "allow": [{"type": "m.room_membership", "room_id": space_id}],
        }
        return self.helper.create_room_as(
            self.user,
            tok=self.tok,
            room_version="10",
            extra_content={"initial_state": [{"type": "m.room.join_rules", "content": join_rules}]},
        )

    def test_restricted_join(self) -> None:
        space_id = self.helper.create_room_as(
            self.user,
            is_public=True,
            tok=self.tok,
            extra_content={"creation_content": {"type": "m.space"}},
        )
        room_id = self.restricted_room(space_id)
        count = self.event_count()
        channel = self.post(f"rooms/{room_id}/join", {}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        self.assertEqual(self.event_count(), count)
        self.helper.join(space_id, tok=self.other_tok)
        self.helper.join(room_id, tok=self.other_tok)
        join = self.current_state(room_id)[("m.room.member", self.other)]
        self.assertEqual(join.content["join_authorised_via_users_server"], self.user)
        # An invite is enough without being in the space.
        self.helper.invite(room_id, targ=self.carol, tok=self.tok)
        self.helper.join(room_id, tok=self.carol_tok)
        carol_join = self.current_state(room_id)[("m.room.member", self.carol)]
        self.assertNotIn("join_authorised_via_users_server", carol_join.content)

    def test_restricted_join_needs_a_local_user_who_may_invite(self) -> None:
        space_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        room_id = self.restricted_room(space_id)
        self.helper.join(space_id, tok=self.other_tok)
        self.helper.leave(room_id, tok=self.tok)
        channel = self.post(f"rooms/{room_id}/join", {}, self.other_tok)
        self.assert_error(channel, 403, "M_UNABLE_TO_GRANT_JOIN")

    def test_knock_restricted(self) -> None:
        space_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        room_id = self.restricted_room(space_id, join_rule="knock_restricted")
        self.helper.join(space_id, tok=self.other_tok)
        self.helper.join(room_id, tok=self.other_tok)
        # Outside the space one may knock, not join.
        channel = self.post(f"rooms/{room_id}/join", {}, self.carol_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        self.helper.knock(room_id, tok=self.carol_tok)
        self.assertEqual(self.membership_of(room_id, self.carol), "knock")

    def test_restricted_rule_in_a_room_version_without_it(self) -> None:
        space_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        join_rules = {
            "join_rule": "restricted",
            "allow": [{"type": "m.room_membership", "room_id": space_id}],
        }
        room_id = self.helper.create_room_as(
            self.user,
            tok=self.tok,
            room_version="7",
            extra_content={"initial_state": [{"type": "m.room.join_rules", "content": join_rules}]},
        )
        self.helper.join(space_id, tok=self.other_tok)
        channel = self.post(f"rooms/{room_id}/join", {}, self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")

    # --- guests ------------------------------------------------------------------------
    def test_guest_join_needs_guest_access(self) -> None:
        guest_id, guest_tok = self.get_success(self._register_guest())
        no_guests = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        channel = self.post(f"rooms/{no_guests}/join", {}, guest_tok)
        self.assert_error(channel, 403, "M_GUEST_ACCESS_FORBIDDEN")
        guests = self.helper.create_room_as(
            self.user,
            is_public=True,
            tok=self.tok,
            extra_content={
                "initial_state": [
                    {"type": "m.room.guest_access", "content": {"guest_access": "can_join"}}
                ]
            },
        )
        channel = self.post(f"rooms/{guests}/join", {}, guest_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self.membership_of(guests, guest_id), "join")

    async def _register_guest(self) -> tuple[str, str]:
        reg = self.hs.get_registration_handler()
        user_id = await reg.register_user(make_guest=True)
        _, token = await reg.register_device(user_id, None, None, is_guest=True)
        return user_id, token
