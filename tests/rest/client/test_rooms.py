"""``/createRoom``, sending events, state, redactions and member lists over HTTP."""

from __future__ import annotations

from typing import Any

from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.types import JsonDict, StreamToken, UserID, create_requester
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.room_test_base import RoomTestCase
from tests.unittest import override_config

CREATE_API = ("client-server/create_room.yaml", "/createRoom", "post")


class CreateRoomTestCase(RoomTestCase):
    def create(self, body: JsonDict, tok: str | None = None, expect_code: int = 200) -> Any:
        channel = self.make_request("POST", "createRoom", body, access_token=tok or self.tok)
        self.assertEqual(channel.code, expect_code, channel.json_body)
        return channel

    def test_private_chat_by_default(self) -> None:
        channel = self.create({})
        assert_response_matches_spec(channel.json_body, *CREATE_API)
        room_id = channel.json_body["room_id"]
        events = self.room_events(room_id)
        self.assertEqual(
            [(e.type, e.get_state_key()) for e in events],
            [
                ("m.room.create", ""),
                ("m.room.member", self.user),
                ("m.room.power_levels", ""),
                ("m.room.join_rules", ""),
                ("m.room.history_visibility", ""),
                ("m.room.guest_access", ""),
            ],
        )
        self.assertEqual(events[3].content, {"join_rule": "invite"})
        self.assertEqual(events[4].content, {"history_visibility": "shared"})
        self.assertEqual(events[5].content, {"guest_access": "can_join"})
        pl = events[2].content
        self.assertEqual(pl["users"], {self.user: 100})
        self.assertEqual(pl["invite"], 0)
        self.assertEqual(pl["state_default"], 50)
        self.assertEqual(events[1].content["membership"], "join")
        self.assertEqual(events[1].content["displayname"], "alice")
        create = events[0]
        self.assertEqual(
            create.content["room_version"],
            self.hs.config.server.default_room_version.identifier,
        )
        # Each event builds on the one before it.
        for prev, event in zip(events, events[1:], strict=False):
            self.assertEqual(event.prev_event_ids(), [prev.event_id])
        self.assertEqual(self.membership_of(room_id, self.user), "join")
        channel = self.make_request("GET", f"directory/list/room/{room_id}")
        self.assertEqual(channel.json_body, {"visibility": "private"})

    def test_public_chat(self) -> None:
        room_id = self.create({"preset": "public_chat"}).json_body["room_id"]
        self.assertEqual(self.state_content(room_id, "m.room.join_rules"), {"join_rule": "public"})
        self.assertEqual(
            self.state_content(room_id, "m.room.guest_access"), {"guest_access": "forbidden"}
        )
        self.assertEqual(self.state_content(room_id, "m.room.power_levels")["invite"], 50)
        # A public preset alone does not publish the room.
        channel = self.make_request("GET", f"directory/list/room/{room_id}")
        self.assertEqual(channel.json_body, {"visibility": "private"})

    def test_public_visibility_implies_public_chat_and_publishes(self) -> None:
        room_id = self.create({"visibility": "public"}).json_body["room_id"]
        self.assertEqual(self.state_content(room_id, "m.room.join_rules"), {"join_rule": "public"})
        channel = self.make_request("GET", f"directory/list/room/{room_id}")
        self.assertEqual(channel.json_body, {"visibility": "public"})

    def test_trusted_private_chat_gives_invitees_the_creators_power(self) -> None:
        room_id = self.create({"preset": "trusted_private_chat", "invite": [self.other]}).json_body[
            "room_id"
        ]
        pl = self.state_content(room_id, "m.room.power_levels")
        self.assertEqual(pl["users"], {self.user: 100, self.other: 100})
        self.assertEqual(self.membership_of(room_id, self.other), "invite")

    def test_trusted_private_chat_v12_makes_invitees_creators(self) -> None:
        room_id = self.create(
            {"preset": "trusted_private_chat", "invite": [self.other], "room_version": "12"}
        ).json_body["room_id"]
        create = self.state_content(room_id, "m.room.create")
        self.assertEqual(create["additional_creators"], [self.other])
        pl = self.state_content(room_id, "m.room.power_levels")
        self.assertEqual(pl["users"], {})

    def test_event_order_with_every_option(self) -> None:
        channel = self.create(
            {
                "preset": "private_chat",
                "room_alias_name": "everything",
                "initial_state": [
                    {"type": "m.room.avatar", "content": {"url": "mxc://test/a"}},
                    {"type": "org.example", "state_key": "k", "content": {"a": 1}},
                ],
                "name": "The name",
                "topic": "The topic",
                "invite": [self.other],
                "is_direct": True,
            }
        )
        room_id = channel.json_body["room_id"]
        events = self.room_events(room_id)
        self.assertEqual(
            [(e.type, e.get_state_key()) for e in events],
            [
                ("m.room.create", ""),
                ("m.room.member", self.user),
                ("m.room.power_levels", ""),
                ("m.room.canonical_alias", ""),
                ("m.room.join_rules", ""),
                ("m.room.history_visibility", ""),
                ("m.room.guest_access", ""),
                ("m.room.avatar", ""),
                ("org.example", "k"),
                ("m.room.name", ""),
                ("m.room.topic", ""),
                ("m.room.member", self.other),
            ],
        )
        self.assertEqual(events[3].content, {"alias": "#everything:test"})
        self.assertEqual(events[9].content, {"name": "The name"})
        self.assertEqual(events[10].content["topic"], "The topic")
        self.assertEqual(
            events[10].content["m.topic"],
            {"m.text": [{"body": "The topic", "mimetype": "text/plain"}]},
        )
        invite = events[11]
        self.assertEqual(invite.content, {"membership": "invite", "is_direct": True})
        stripped_types = {s["type"] for s in invite.unsigned["invite_room_state"]}
        self.assertIn("m.room.name", stripped_types)
        self.assertIn("m.room.join_rules", stripped_types)
        channel = self.make_request("GET", "directory/room/%23everything:test")
        self.assertEqual(channel.json_body["room_id"], room_id)

    def test_initial_state_wins_over_preset_and_name_over_initial_state(self) -> None:
        room_id = self.create(
            {
                "preset": "private_chat",
                "initial_state": [
                    {"type": "m.room.join_rules", "content": {"join_rule": "public"}},
                    {"type": "m.room.name", "content": {"name": "initial"}},
                    {
                        "type": "m.room.history_visibility",
                        "content": {"history_visibility": "joined"},
                    },
                ],
                "name": "from name",
            }
        ).json_body["room_id"]
        events = self.room_events(room_id)
        types = [e.type for e in events]
        self.assertEqual(types.count("m.room.join_rules"), 1)
        self.assertEqual(types.count("m.room.name"), 1)
        self.assertEqual(self.state_content(room_id, "m.room.join_rules"), {"join_rule": "public"})
        self.assertEqual(self.state_content(room_id, "m.room.name"), {"name": "from name"})
        self.assertEqual(
            self.state_content(room_id, "m.room.history_visibility"),
            {"history_visibility": "joined"},
        )

    def test_power_level_content_override(self) -> None:
        room_id = self.create(
            {
                "power_level_content_override": {
                    "events_default": 10,
                    "users": {self.user: 100, self.other: 60},
                }
            }
        ).json_body["room_id"]
        pl = self.state_content(room_id, "m.room.power_levels")
        self.assertEqual(pl["events_default"], 10)
        self.assertEqual(pl["users"], {self.user: 100, self.other: 60})
        self.assertEqual(pl["ban"], 50)

    @override_config(
        {"default_power_level_content_override": {"private_chat": {"events_default": 20}}}
    )
    def test_configured_power_level_override_per_preset(self) -> None:
        room_id = self.create({"preset": "private_chat"}).json_body["room_id"]
        self.assertEqual(self.state_content(room_id, "m.room.power_levels")["events_default"], 20)
        room_id = self.create({"preset": "public_chat"}).json_body["room_id"]
        self.assertEqual(self.state_content(room_id, "m.room.power_levels")["events_default"], 0)

    def test_power_levels_from_initial_state(self) -> None:
        content = {"users": {self.user: 100}, "state_default": 10, "events_default": 5}
        room_id = self.create(
            {"initial_state": [{"type": "m.room.power_levels", "content": content}]}
        ).json_body["room_id"]
        events = self.room_events(room_id)
        self.assertEqual(events[2].type, "m.room.power_levels")
        self.assertEqual(events[2].content, content)
        self.assertEqual([e.type for e in events].count("m.room.power_levels"), 1)

    def test_creation_content(self) -> None:
        room_id = self.create(
            {
                "creation_content": {
                    "m.federate": False,
                    "type": "m.space",
                    "creator": "@mallory:test",
                    "room_version": "1",
                },
                "room_version": "10",
            }
        ).json_body["room_id"]
        create = self.state_content(room_id, "m.room.create")
        self.assertEqual(create["m.federate"], False)
        self.assertEqual(create["type"], "m.space")
        self.assertEqual(create["creator"], self.user)
        self.assertEqual(create["room_version"], "10")

    def test_every_room_version(self) -> None:
        for version in KNOWN_ROOM_VERSIONS:
            room_id = self.create({"room_version": version, "name": version}).json_body["room_id"]
            create = self.state_content(room_id, "m.room.create")
            self.assertEqual(create["room_version"], version)
            self.helper.send(room_id, "hello", tok=self.tok)
            if KNOWN_ROOM_VERSIONS[version].implicit_room_creator:
                self.assertNotIn("creator", create)
            else:
                self.assertEqual(create["creator"], self.user)

    def test_room_version_12(self) -> None:
        room_id = self.create(
            {"room_version": "12", "creation_content": {"additional_creators": [self.other]}}
        ).json_body["room_id"]
        events = self.room_events(room_id)
        self.assertEqual(room_id, "!" + events[0].event_id[1:])
        self.assertNotIn("room_id", events[0].get_pdu_json())
        pl = events[2].content
        self.assertEqual(pl["users"], {})
        self.assertGreater(pl["events"]["m.room.tombstone"], pl["state_default"])
        self.assertEqual(pl["events"]["m.room.tombstone"], 150)
        # Two rooms created alike in the same millisecond still differ.
        other_room = self.create(
            {"room_version": "12", "creation_content": {"additional_creators": [self.other]}}
        ).json_body["room_id"]
        self.assertNotEqual(room_id, other_room)
        # The additional creator has unlimited power once joined... after an invite.
        self.helper.invite(room_id, targ=self.other, tok=self.tok)
        self.helper.join(room_id, tok=self.other_tok)
        self.helper.send_state(
            room_id, "m.room.power_levels", {"users": {"@carol:test": 99}}, tok=self.other_tok
        )
        # Creators may not be listed in the power levels.
        channel = self.make_request(
            "PUT",
            f"rooms/{room_id}/state/m.room.power_levels/",
            {"users": {self.user: 50}},
            access_token=self.tok,
        )
        self.assert_error(channel, 403, "M_FORBIDDEN")

    @override_config({"default_room_version": "9"})
    def test_default_room_version_from_config(self) -> None:
        room_id = self.create({}).json_body["room_id"]
        self.assertEqual(self.state_content(room_id, "m.room.create")["room_version"], "9")

    def test_unsupported_room_version(self) -> None:
        before = self.event_count(), self.room_count()
        channel = self.create({"room_version": "999"}, expect_code=400)
        self.assert_error(channel, 400, "M_UNSUPPORTED_ROOM_VERSION", CREATE_API)
        self.assertEqual((self.event_count(), self.room_count()), before)

    @override_config({"encryption_enabled_by_default_for_room_type": "invite"})
    def test_encryption_by_default(self) -> None:
        room_id = self.create({"preset": "private_chat"}).json_body["room_id"]
        self.assertEqual(
            self.state_content(room_id, "m.room.encryption"),
            {"algorithm": "m.megolm.v1.aes-sha2"},
        )
        room_id = self.create({"preset": "public_chat"}).json_body["room_id"]
        self.assertNotIn(("m.room.encryption", ""), self.current_state(room_id))

    def test_alias_taken(self) -> None:
        self.create({"room_alias_name": "taken"})
        before = self.event_count(), self.room_count()
        channel = self.create({"room_alias_name": "taken"}, expect_code=400)
        self.assert_error(channel, 400, "M_ROOM_IN_USE", CREATE_API)
        self.assertEqual((self.event_count(), self.room_count()), before)

    def test_bad_alias_names(self) -> None:
        before = self.event_count()
        for name in ("a:b", "with space", "", "x" * 300):
            channel = self.create({"room_alias_name": name}, expect_code=400)
            self.assert_error(channel, 400, "M_INVALID_PARAM")
        self.assertEqual(self.event_count(), before)

    def test_wrong_types_are_refused_before_anything_is_written(self) -> None:
        before = self.event_count(), self.room_count()
        bad_bodies: list[Any] = [
            {"name": 1},
            {"topic": ["x"]},
            {"invite": "@bob:test"},
            {"invite": [1]},
            {"initial_state": {"type": "x"}},
            {"initial_state": [{"type": 1, "content": {}}]},
            {"initial_state": [{"type": "x", "content": "y"}]},
            {"initial_state": [{"type": "x", "state_key": 1, "content": {}}]},
            {"preset": "secret_chat"},
            {"visibility": "hidden"},
            {"power_level_content_override": "all"},
            {"power_level_content_override": {"ban": "high"}},
            {"creation_content": []},
            {"is_direct": "yes"},
            {"room_version": 10},
            [],
        ]
        for body in bad_bodies:
            channel = self.make_request("POST", "createRoom", body, access_token=self.tok)
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertIn(
                channel.json_body["errcode"],
                ("M_BAD_JSON", "M_INVALID_PARAM"),
                (body, channel.json_body),
            )
        channel = self.make_request("POST", "createRoom", b"{not json", access_token=self.tok)
        self.assert_error(channel, 400, "M_NOT_JSON")
        channel = self.make_request(
            "POST", "createRoom", {"invite": ["not a user"]}, access_token=self.tok
        )
        self.assert_error(channel, 400, "M_INVALID_PARAM")
        self.assertEqual((self.event_count(), self.room_count()), before)

    def test_invalid_initial_state_writes_nothing(self) -> None:
        before = self.event_count(), self.room_count()
        # The name needs more power than the creator keeps.
        channel = self.create(
            {
                "room_alias_name": "never",
                "power_level_content_override": {"events": {"m.room.name": 200}},
                "name": "too powerful",
            },
            expect_code=400,
        )
        self.assert_error(channel, 400, "M_INVALID_ROOM_STATE", CREATE_API)
        # A member event for someone else in initial_state.
        channel = self.create(
            {
                "initial_state": [
                    {
                        "type": "m.room.member",
                        "state_key": self.other,
                        "content": {"membership": "join"},
                    }
                ]
            },
            expect_code=400,
        )
        self.assert_error(channel, 400, "M_INVALID_ROOM_STATE")
        self.assertEqual((self.event_count(), self.room_count()), before)
        channel = self.make_request("GET", "directory/room/%23never:test")
        self.assertEqual(channel.code, 404)

    def test_needs_auth(self) -> None:
        channel = self.make_request("POST", "createRoom", {})
        self.assert_error(channel, 401, "M_MISSING_TOKEN")

    def test_third_party_invites_are_refused(self) -> None:
        channel = self.create(
            {
                "invite_3pid": [
                    {
                        "id_server": "id.example",
                        "id_access_token": "x",
                        "medium": "email",
                        "address": "a@example.com",
                    }
                ]
            },
            expect_code=400,
        )
        self.assertEqual(channel.json_body["errcode"], "M_UNRECOGNIZED")

    @override_config({"rc_room_creation": {"per_second": 0.01, "burst_count": 1}})
    def test_rate_limited(self) -> None:
        self.create({})
        channel = self.create({}, expect_code=429)
        self.assertEqual(channel.json_body["errcode"], "M_LIMIT_EXCEEDED")
        self.assertIn("retry_after_ms", channel.json_body)


SEND_API = ("client-server/room_send.yaml", "/rooms/{roomId}/send/{eventType}/{txnId}", "put")


class SendEventTestCase(RoomTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room_id, tok=self.other_tok)

    def send(
        self, body: Any, txn: str = "t1", tok: str | None = None, etype: str = "m.room.message"
    ) -> Any:
        return self.make_request(
            "PUT",
            f"rooms/{self.room_id}/send/{etype}/{txn}",
            body,
            access_token=tok or self.tok,
        )

    def test_send_message(self) -> None:
        channel = self.send({"msgtype": "m.text", "body": "hello"})
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *SEND_API)
        event = self.room_events(self.room_id)[-1]
        self.assertEqual(event.event_id, channel.json_body["event_id"])
        self.assertEqual(event.content, {"msgtype": "m.text", "body": "hello"})
        self.assertEqual(event.sender, self.user)
        self.assertEqual(event.internal_metadata.txn_id, "t1")

    def test_transaction_ids_are_idempotent(self) -> None:
        first = self.send({"body": "once"}, txn="abc")
        count = self.event_count()
        position = self.stores.stream.get_room_max_stream_ordering()
        again = self.send({"body": "once"}, txn="abc")
        self.assertEqual(again.code, 200)
        self.assertEqual(again.json_body, first.json_body)
        self.assertEqual(self.event_count(), count)
        self.assertEqual(self.stores.stream.get_room_max_stream_ordering(), position)
        # Even with a different body: the transaction was already done.
        again = self.send({"body": "twice"}, txn="abc")
        self.assertEqual(again.json_body, first.json_body)
        # A new transaction ID, another device or another user sends a new event.
        other = self.send({"body": "once"}, txn="abd")
        self.assertNotEqual(other.json_body, first.json_body)
        second_device = self.login("alice", "pass")
        other = self.send({"body": "once"}, txn="abc", tok=second_device)
        self.assertNotEqual(other.json_body, first.json_body)
        other = self.send({"body": "once"}, txn="abc", tok=self.other_tok)
        self.assertNotEqual(other.json_body, first.json_body)
        self.assertEqual(self.event_count(), count + 3)

    def test_transaction_ids_survive_a_restart_of_the_cache(self) -> None:
        first = self.send({"body": "once"}, txn="persisted")
        self.hs.get_event_creation_handler()._txn_results.clear()
        again = self.send({"body": "once"}, txn="persisted")
        self.assertEqual(again.json_body, first.json_body)

    def test_not_a_member(self) -> None:
        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        count = self.event_count()
        channel = self.send({"body": "hi"}, tok=carol_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        self.assertEqual(self.event_count(), count)
        self.assertTrue(carol)

    def test_unknown_room(self) -> None:
        channel = self.make_request(
            "PUT", "rooms/!nowhere:test/send/m.room.message/1", {}, access_token=self.tok
        )
        self.assert_error(channel, 404, "M_NOT_FOUND")
        channel = self.make_request(
            "PUT", "rooms/not-a-room/send/m.room.message/1", {}, access_token=self.tok
        )
        self.assert_error(channel, 400, "M_INVALID_PARAM")

    def test_too_large(self) -> None:
        count = self.event_count()
        channel = self.send({"body": "x" * 70000})
        self.assert_error(channel, 413, "M_TOO_LARGE")
        self.assertEqual(self.event_count(), count)

    def test_bad_bodies(self) -> None:
        count = self.event_count()
        for body, errcode in (
            ([], "M_BAD_JSON"),
            (b'"text"', "M_BAD_JSON"),
            (b"{oops", "M_NOT_JSON"),
            ({"value": 1.5}, "M_BAD_JSON"),
            ({"value": 2**60}, "M_BAD_JSON"),
        ):
            channel = self.send(body)
            self.assert_error(channel, 400, errcode)
        self.assertEqual(self.event_count(), count)

    def test_power_levels_decide(self) -> None:
        pl = self.state_content(self.room_id, "m.room.power_levels")
        pl["events"]["m.room.message"] = 10
        self.helper.send_state(self.room_id, "m.room.power_levels", pl, tok=self.tok)
        channel = self.send({"body": "hi"}, tok=self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        channel = self.send({"body": "hi"}, etype="m.reaction", tok=self.other_tok)
        self.assertEqual(channel.code, 200)

    def test_membership_events_are_refused(self) -> None:
        channel = self.send({"membership": "join"}, etype="m.room.member")
        self.assertEqual(channel.code, 400)

    @override_config({"rc_message": {"per_second": 0.01, "burst_count": 2}})
    def test_rate_limited_but_not_admins(self) -> None:
        for i in range(2):
            self.assertEqual(self.send({"body": str(i)}, txn=f"r{i}", tok=self.other_tok).code, 200)
        channel = self.send({"body": "3"}, txn="r3", tok=self.other_tok)
        self.assert_error(channel, 429, "M_LIMIT_EXCEEDED")
        admin = self.register_user("admin", "pass", admin=True)
        admin_tok = self.login("admin", "pass")
        self.helper.join(self.room_id, tok=admin_tok)
        for i in range(4):
            self.assertEqual(self.send({"body": str(i)}, txn=f"a{i}", tok=admin_tok).code, 200)
        self.assertTrue(admin)


STATE_API = ("client-server/room_state.yaml", "/rooms/{roomId}/state/{eventType}/{stateKey}", "put")
GET_STATE_API = ("client-server/rooms.yaml", "/rooms/{roomId}/state/{eventType}/{stateKey}", "get")
ALL_STATE_API = ("client-server/rooms.yaml", "/rooms/{roomId}/state", "get")


class StateTestCase(RoomTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room_id, tok=self.other_tok)

    def test_put_and_get_state(self) -> None:
        channel = self.make_request(
            "PUT",
            f"rooms/{self.room_id}/state/m.room.topic/",
            {"topic": "t"},
            access_token=self.tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *STATE_API)
        event_id = channel.json_body["event_id"]
        # With and without the trailing slash.
        for path in ("m.room.topic", "m.room.topic/"):
            channel = self.make_request(
                "GET", f"rooms/{self.room_id}/state/{path}", access_token=self.other_tok
            )
            self.assertEqual(channel.code, 200)
            self.assertEqual(channel.json_body, {"topic": "t"})
        assert_response_matches_spec(channel.json_body, *GET_STATE_API)
        channel = self.make_request(
            "GET", f"rooms/{self.room_id}/state/m.room.topic/?format=event", access_token=self.tok
        )
        self.assertEqual(channel.json_body["event_id"], event_id)
        self.assertEqual(channel.json_body["content"], {"topic": "t"})
        self.assertEqual(channel.json_body["state_key"], "")
        channel = self.make_request(
            "GET", f"rooms/{self.room_id}/state/m.room.topic?format=xml", access_token=self.tok
        )
        self.assert_error(channel, 400, "M_INVALID_PARAM")

    def test_state_keys(self) -> None:
        self.helper.send_state(self.room_id, "org.example", {"a": 1}, tok=self.tok, state_key="k/1")
        self.assertEqual(
            self.helper.get_state(self.room_id, "org.example", tok=self.tok, state_key="k/1"),
            {"a": 1},
        )
        self.helper.get_state(self.room_id, "org.example", tok=self.tok, expect_code=404)

    def test_missing_state_is_404(self) -> None:
        channel = self.make_request(
            "GET", f"rooms/{self.room_id}/state/m.room.avatar/", access_token=self.tok
        )
        self.assert_error(channel, 404, "M_NOT_FOUND")

    def test_get_all_state(self) -> None:
        channel = self.make_request("GET", f"rooms/{self.room_id}/state", access_token=self.tok)
        self.assertEqual(channel.code, 200)
        assert_response_matches_spec(channel.json_body, *ALL_STATE_API)
        keys = {(e["type"], e["state_key"]) for e in channel.json_body}
        self.assertIn(("m.room.create", ""), keys)
        self.assertIn(("m.room.member", self.other), keys)
        for event in channel.json_body:
            self.assertNotIn("auth_events", event)
            self.assertNotIn("signatures", event)

    def test_identical_state_is_not_sent_again(self) -> None:
        first = self.helper.send_state(self.room_id, "m.room.name", {"name": "a"}, tok=self.tok)
        count = self.event_count()
        again = self.helper.send_state(self.room_id, "m.room.name", {"name": "a"}, tok=self.tok)
        self.assertEqual(again, first)
        self.assertEqual(self.event_count(), count)
        changed = self.helper.send_state(self.room_id, "m.room.name", {"name": "b"}, tok=self.tok)
        self.assertNotEqual(changed, first)
        # The same content from another sender is a new event.
        pl = self.state_content(self.room_id, "m.room.power_levels")
        pl["users"][self.other] = 50
        self.helper.send_state(self.room_id, "m.room.power_levels", pl, tok=self.tok)
        by_other = self.helper.send_state(
            self.room_id, "m.room.name", {"name": "b"}, tok=self.other_tok
        )
        self.assertNotEqual(by_other, changed)

    def test_power_levels_decide(self) -> None:
        count = self.event_count()
        channel = self.make_request(
            "PUT",
            f"rooms/{self.room_id}/state/m.room.name/",
            {"name": "x"},
            access_token=self.other_tok,
        )
        self.assert_error(channel, 403, "M_FORBIDDEN")
        # A state key that is another user's ID.
        channel = self.make_request(
            "PUT",
            f"rooms/{self.room_id}/state/org.example/{self.other}",
            {},
            access_token=self.tok,
        )
        self.assert_error(channel, 403, "M_FORBIDDEN")
        # Power levels above one's own.
        pl = self.state_content(self.room_id, "m.room.power_levels")
        pl["users"][self.other] = 200
        channel = self.make_request(
            "PUT", f"rooms/{self.room_id}/state/m.room.power_levels/", pl, access_token=self.tok
        )
        self.assert_error(channel, 403, "M_FORBIDDEN")
        self.assertEqual(self.event_count(), count)

    def test_bad_power_levels(self) -> None:
        bad: list[JsonDict] = [{"ban": "50"}, {"users": {self.user: "100"}}, {"events": []}]
        for content in bad:
            channel = self.make_request(
                "PUT",
                f"rooms/{self.room_id}/state/m.room.power_levels/",
                content,
                access_token=self.tok,
            )
            self.assert_error(channel, 400, "M_BAD_JSON")

    def test_canonical_alias_must_point_to_the_room(self) -> None:
        channel = self.make_request(
            "PUT",
            f"rooms/{self.room_id}/state/m.room.canonical_alias/",
            {"alias": "#nowhere:test"},
            access_token=self.tok,
        )
        self.assert_error(channel, 400, "M_BAD_ALIAS")
        channel = self.make_request(
            "PUT",
            f"rooms/{self.room_id}/state/m.room.canonical_alias/",
            {"alias": "not an alias"},
            access_token=self.tok,
        )
        self.assert_error(channel, 400, "M_INVALID_PARAM")
        self.helper.request(
            "PUT", "directory/room/%23here:test", {"room_id": self.room_id}, self.tok
        )
        self.helper.send_state(
            self.room_id,
            "m.room.canonical_alias",
            {"alias": "#here:test", "alt_aliases": ["#here:test", "#far:remote"]},
            tok=self.tok,
        )

    def test_membership_through_state(self) -> None:
        carol = self.register_user("carol", "pass")
        body = self.helper.send_state(
            self.room_id, "m.room.member", {"membership": "invite"}, tok=self.tok, state_key=carol
        )
        self.assertIn("event_id", body)
        self.assertEqual(self.membership_of(self.room_id, carol), "invite")
        channel = self.make_request(
            "PUT",
            f"rooms/{self.room_id}/state/m.room.member/{carol}",
            {"membership": "dance"},
            access_token=self.tok,
        )
        self.assertEqual(channel.code, 400)
        channel = self.make_request(
            "PUT",
            f"rooms/{self.room_id}/state/m.room.member/{self.other}",
            {"membership": "leave"},
            access_token=self.tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self.membership_of(self.room_id, self.other), "leave")

    def test_who_may_read_state(self) -> None:
        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        channel = self.make_request("GET", f"rooms/{self.room_id}/state", access_token=carol_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        channel = self.make_request(
            "GET", f"rooms/{self.room_id}/state/m.room.create/", access_token=carol_tok
        )
        self.assert_error(channel, 403, "M_FORBIDDEN")
        channel = self.make_request("GET", "rooms/!unknown:test/state", access_token=carol_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        # Who left sees the state as it was when they left.
        self.helper.send_state(self.room_id, "m.room.name", {"name": "before"}, tok=self.tok)
        self.helper.leave(self.room_id, tok=self.other_tok)
        self.helper.send_state(self.room_id, "m.room.name", {"name": "after"}, tok=self.tok)
        self.assertEqual(
            self.helper.get_state(self.room_id, "m.room.name", tok=self.other_tok),
            {"name": "before"},
        )
        # Anyone may read a world-readable room.
        self.helper.send_state(
            self.room_id,
            "m.room.history_visibility",
            {"history_visibility": "world_readable"},
            tok=self.tok,
        )
        self.assertEqual(
            self.helper.get_state(self.room_id, "m.room.name", tok=carol_tok), {"name": "after"}
        )
        self.assertTrue(carol)


REDACT_API = ("client-server/redaction.yaml", "/rooms/{roomId}/redact/{eventId}/{txnId}", "put")


class RedactionTestCase(RoomTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room_id = self.helper.create_room_as(
            self.user, is_public=True, tok=self.tok, room_version="11"
        )
        self.helper.join(self.room_id, tok=self.other_tok)

    def test_redact_own_message(self) -> None:
        event_id = self.helper.send(self.room_id, "secret", tok=self.other_tok)["event_id"]
        channel = self.make_request(
            "PUT",
            f"rooms/{self.room_id}/redact/{event_id}/r1",
            {"reason": "oops"},
            access_token=self.other_tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *REDACT_API)
        redaction = self.get_success(self.stores.events.get_event(channel.json_body["event_id"]))
        assert redaction is not None
        self.assertEqual(redaction.content, {"reason": "oops", "redacts": event_id})
        self.assertEqual(redaction.redacts, event_id)
        redacted = self.get_success(self.stores.events.get_event(event_id))
        assert redacted is not None
        self.assertEqual(redacted.content, {})
        self.assertEqual(
            redacted.unsigned["redacted_because"].event_id, channel.json_body["event_id"]
        )
        # Idempotent per transaction.
        again = self.make_request(
            "PUT", f"rooms/{self.room_id}/redact/{event_id}/r1", {}, access_token=self.other_tok
        )
        self.assertEqual(again.json_body, channel.json_body)

    def test_redact_without_reason(self) -> None:
        event_id = self.helper.send(self.room_id, "x", tok=self.tok)["event_id"]
        channel = self.make_request(
            "PUT", f"rooms/{self.room_id}/redact/{event_id}/r2", b"", access_token=self.tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)

    def test_others_events_need_the_redact_level(self) -> None:
        event_id = self.helper.send(self.room_id, "mine", tok=self.tok)["event_id"]
        count = self.event_count()
        self.helper.redact(self.room_id, event_id, tok=self.other_tok, expect_code=403)
        self.assertEqual(self.event_count(), count)
        other_event = self.helper.send(self.room_id, "theirs", tok=self.other_tok)["event_id"]
        self.helper.redact(self.room_id, other_event, tok=self.tok)

    def test_events_of_other_rooms_cannot_be_redacted(self) -> None:
        other_room = self.helper.create_room_as(self.user, tok=self.tok)
        event_id = self.helper.send(other_room, "elsewhere", tok=self.tok)["event_id"]
        count = self.event_count()
        channel = self.make_request(
            "PUT", f"rooms/{self.room_id}/redact/{event_id}/r9", {}, access_token=self.tok
        )
        self.assert_error(channel, 400, "M_UNKNOWN")
        self.assertEqual(self.event_count(), count)

    def test_create_event_cannot_be_redacted(self) -> None:
        create_id = self.current_state(self.room_id)[("m.room.create", "")].event_id
        channel = self.make_request(
            "PUT", f"rooms/{self.room_id}/redact/{create_id}/r3", {}, access_token=self.tok
        )
        self.assert_error(channel, 403, "M_FORBIDDEN")

    def test_bad_input(self) -> None:
        event_id = self.helper.send(self.room_id, "x", tok=self.tok)["event_id"]
        channel = self.make_request(
            "PUT",
            f"rooms/{self.room_id}/redact/{event_id}/r4",
            {"reason": 5},
            access_token=self.tok,
        )
        self.assert_error(channel, 400, "M_BAD_JSON")
        channel = self.make_request(
            "PUT", f"rooms/{self.room_id}/redact/not-an-event/r5", {}, access_token=self.tok
        )
        self.assert_error(channel, 400, "M_BAD_JSON")

    def test_redact_in_old_room_version(self) -> None:
        room_id = self.helper.create_room_as(self.user, tok=self.tok, room_version="1")
        event_id = self.helper.send(room_id, "x", tok=self.tok)["event_id"]
        redaction_id = self.helper.redact(room_id, event_id, tok=self.tok)["event_id"]
        redaction = self.get_success(self.stores.events.get_event(redaction_id))
        assert redaction is not None
        self.assertEqual(redaction.get("redacts"), event_id)


MEMBERS_API = ("client-server/rooms.yaml", "/rooms/{roomId}/members", "get")
JOINED_MEMBERS_API = ("client-server/rooms.yaml", "/rooms/{roomId}/joined_members", "get")
JOINED_ROOMS_API = ("client-server/list_joined_rooms.yaml", "/joined_rooms", "get")


class MembersTestCase(RoomTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room_id, tok=self.other_tok)
        self.carol = self.register_user("carol", "pass")
        self.carol_tok = self.login("carol", "pass")
        self.helper.invite(self.room_id, targ=self.carol, tok=self.tok)

    def members(self, query: str = "", tok: str | None = None) -> Any:
        return self.make_request(
            "GET", f"rooms/{self.room_id}/members{query}", access_token=tok or self.tok
        )

    def test_members(self) -> None:
        channel = self.members()
        self.assertEqual(channel.code, 200)
        assert_response_matches_spec(channel.json_body, *MEMBERS_API)
        memberships = {
            e["state_key"]: e["content"]["membership"] for e in channel.json_body["chunk"]
        }
        self.assertEqual(memberships, {self.user: "join", self.other: "join", self.carol: "invite"})

    def test_membership_filters(self) -> None:
        def users(query: str) -> set[str]:
            channel = self.members(query)
            self.assertEqual(channel.code, 200, channel.json_body)
            return {e["state_key"] for e in channel.json_body["chunk"]}

        self.assertEqual(users("?membership=invite"), {self.carol})
        self.assertEqual(users("?not_membership=join"), {self.carol})
        self.assertEqual(users("?membership=join"), {self.user, self.other})
        # Both given: either condition.
        self.assertEqual(users("?membership=invite&not_membership=join"), {self.carol})
        self.assertEqual(users("?membership=join&not_membership=invite"), {self.user, self.other})
        self.assertEqual(self.members("?membership=dancing").code, 400)

    def test_members_at_a_point(self) -> None:
        position = self.stores.stream.get_room_max_stream_ordering()
        self.helper.leave(self.room_id, tok=self.other_tok)
        token = StreamToken.START.copy_and_advance("room_key", position).to_string()
        channel = self.members(f"?at={token}")
        memberships = {
            e["state_key"]: e["content"]["membership"] for e in channel.json_body["chunk"]
        }
        self.assertEqual(memberships[self.other], "join")
        channel = self.members()
        memberships = {
            e["state_key"]: e["content"]["membership"] for e in channel.json_body["chunk"]
        }
        self.assertEqual(memberships[self.other], "leave")
        self.assertEqual(self.members("?at=garbage").code, 400)

    def test_non_members_and_departed_members(self) -> None:
        dave = self.register_user("dave", "pass")
        dave_tok = self.login("dave", "pass")
        self.assert_error(self.members(tok=dave_tok), 403, "M_FORBIDDEN")
        # Invitees are not members yet.
        self.assert_error(self.members(tok=self.carol_tok), 403, "M_FORBIDDEN")
        self.helper.leave(self.room_id, tok=self.other_tok)
        self.helper.join(self.room_id, tok=dave_tok)
        channel = self.members(tok=self.other_tok)
        self.assertEqual(channel.code, 200)
        users = {e["state_key"] for e in channel.json_body["chunk"]}
        self.assertNotIn(dave, users)

    def test_world_readable_rooms_show_their_members(self) -> None:
        dave = self.register_user("dave", "pass")
        dave_tok = self.login("dave", "pass")
        self.helper.send_state(
            self.room_id,
            "m.room.history_visibility",
            {"history_visibility": "world_readable"},
            tok=self.tok,
        )
        channel = self.members(tok=dave_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(len(channel.json_body["chunk"]), 3)
        channel = self.make_request(
            "GET", f"rooms/{self.room_id}/joined_members", access_token=dave_tok
        )
        self.assertEqual(set(channel.json_body["joined"]), {self.user, self.other})
        self.assertTrue(dave)

    def test_joined_members(self) -> None:
        self.get_success(
            self.hs.get_profile_handler().set_avatar_url(
                UserID.from_string(self.other), create_requester(self.other), "mxc://test/bob"
            )
        )
        self.helper.leave(self.room_id, tok=self.other_tok)
        self.helper.join(self.room_id, tok=self.other_tok)
        channel = self.make_request(
            "GET", f"rooms/{self.room_id}/joined_members", access_token=self.tok
        )
        self.assertEqual(channel.code, 200)
        assert_response_matches_spec(channel.json_body, *JOINED_MEMBERS_API)
        self.assertEqual(
            channel.json_body["joined"],
            {
                self.user: {"display_name": "alice"},
                self.other: {"display_name": "bob", "avatar_url": "mxc://test/bob"},
            },
        )
        channel = self.make_request(
            "GET", f"rooms/{self.room_id}/joined_members", access_token=self.carol_tok
        )
        self.assert_error(channel, 403, "M_FORBIDDEN")

    def test_joined_rooms(self) -> None:
        other_room = self.helper.create_room_as(self.user, tok=self.tok)
        channel = self.make_request("GET", "joined_rooms", access_token=self.tok)
        self.assertEqual(channel.code, 200)
        assert_response_matches_spec(channel.json_body, *JOINED_ROOMS_API)
        self.assertEqual(set(channel.json_body["joined_rooms"]), {self.room_id, other_room})
        channel = self.make_request("GET", "joined_rooms", access_token=self.carol_tok)
        self.assertEqual(channel.json_body, {"joined_rooms": []})
