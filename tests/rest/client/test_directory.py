"""Room aliases, ``/rooms/{roomId}/aliases``, directory visibility and ``/publicRooms``."""

from __future__ import annotations

from typing import Any

from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.room_test_base import RoomTestCase
from tests.unittest import override_config

ALIAS_PUT = ("client-server/directory.yaml", "/directory/room/{roomAlias}", "put")
ALIAS_GET = ("client-server/directory.yaml", "/directory/room/{roomAlias}", "get")
ALIAS_DELETE = ("client-server/directory.yaml", "/directory/room/{roomAlias}", "delete")
ALIASES_GET = ("client-server/directory.yaml", "/rooms/{roomId}/aliases", "get")
VISIBILITY_GET = ("client-server/list_public_rooms.yaml", "/directory/list/room/{roomId}", "get")
VISIBILITY_PUT = ("client-server/list_public_rooms.yaml", "/directory/list/room/{roomId}", "put")
PUBLIC_GET = ("client-server/list_public_rooms.yaml", "/publicRooms", "get")
PUBLIC_POST = ("client-server/list_public_rooms.yaml", "/publicRooms", "post")


class AliasTestCase(RoomTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room_id, tok=self.other_tok)

    def put_alias(self, alias: str, body: Any, tok: str | None = None) -> Any:
        return self.make_request(
            "PUT", f"directory/room/{alias}", body, access_token=tok or self.tok
        )

    def test_create_get_delete(self) -> None:
        channel = self.put_alias("%23cool:test", {"room_id": self.room_id})
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *ALIAS_PUT)
        channel = self.make_request("GET", "directory/room/%23cool:test")
        self.assertEqual(channel.code, 200)
        assert_response_matches_spec(channel.json_body, *ALIAS_GET)
        self.assertEqual(channel.json_body, {"room_id": self.room_id, "servers": ["test"]})
        channel = self.make_request("DELETE", "directory/room/%23cool:test", access_token=self.tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *ALIAS_DELETE)
        channel = self.make_request("GET", "directory/room/%23cool:test")
        self.assert_error(channel, 404, "M_NOT_FOUND", ALIAS_GET)

    def test_alias_taken(self) -> None:
        self.put_alias("%23cool:test", {"room_id": self.room_id})
        other_room = self.helper.create_room_as(self.user, tok=self.tok)
        channel = self.put_alias("%23cool:test", {"room_id": other_room})
        self.assert_error(channel, 409, "M_UNKNOWN", ALIAS_PUT)
        self.assertEqual(
            self.make_request("GET", "directory/room/%23cool:test").json_body["room_id"],
            self.room_id,
        )

    def test_bad_aliases_and_bodies(self) -> None:
        for alias in ("cool", "%23cool", "%23:test", "%23cool:remote.example", "%23a%20b:test"):
            channel = self.put_alias(alias, {"room_id": self.room_id})
            self.assert_error(channel, 400, "M_INVALID_PARAM")
        for body, errcode in (
            ({}, "M_MISSING_PARAM"),
            ({"room_id": 3}, "M_BAD_JSON"),
            ({"room_id": "not a room"}, "M_INVALID_PARAM"),
            ([], "M_BAD_JSON"),
        ):
            channel = self.put_alias("%23cool:test", body)
            self.assert_error(channel, 400, errcode)
        channel = self.put_alias("%23cool:test", {"room_id": "!unknown:test"})
        self.assert_error(channel, 404, "M_NOT_FOUND")
        channel = self.make_request("GET", "directory/room/not-an-alias")
        self.assert_error(channel, 400, "M_INVALID_PARAM")
        channel = self.make_request(
            "DELETE", "directory/room/%23nothing:test", access_token=self.tok
        )
        self.assert_error(channel, 404, "M_NOT_FOUND")

    def test_only_members_create_aliases(self) -> None:
        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        channel = self.put_alias("%23carol:test", {"room_id": self.room_id}, tok=carol_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        admin = self.register_user("admin", "pass", admin=True)
        admin_tok = self.login("admin", "pass")
        channel = self.put_alias("%23admin:test", {"room_id": self.room_id}, tok=admin_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertTrue(carol and admin)

    @override_config(
        {"alias_creation_rules": [{"user_id": "@alice:test", "alias": "*", "action": "allow"}]}
    )
    def test_alias_creation_rules(self) -> None:
        channel = self.put_alias("%23bob:test", {"room_id": self.room_id}, tok=self.other_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        channel = self.put_alias("%23alice:test", {"room_id": self.room_id})
        self.assertEqual(channel.code, 200)

    def test_who_may_delete(self) -> None:
        # Bob (no power) creates an alias; he may delete it, others may not...
        self.put_alias("%23bobs:test", {"room_id": self.room_id}, tok=self.other_tok)
        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        self.helper.join(self.room_id, tok=carol_tok)
        channel = self.make_request("DELETE", "directory/room/%23bobs:test", access_token=carol_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        # ...except moderators of the room and server admins.
        channel = self.make_request("DELETE", "directory/room/%23bobs:test", access_token=self.tok)
        self.assertEqual(channel.code, 200)
        self.put_alias("%23again:test", {"room_id": self.room_id}, tok=self.other_tok)
        admin = self.register_user("admin", "pass", admin=True)
        admin_tok = self.login("admin", "pass")
        channel = self.make_request(
            "DELETE", "directory/room/%23again:test", access_token=admin_tok
        )
        self.assertEqual(channel.code, 200)
        self.put_alias("%23his:test", {"room_id": self.room_id}, tok=self.other_tok)
        channel = self.make_request(
            "DELETE", "directory/room/%23his:test", access_token=self.other_tok
        )
        self.assertEqual(channel.code, 200)
        self.assertTrue(carol and admin)

    def test_deleting_the_canonical_alias_updates_the_room(self) -> None:
        self.put_alias("%23main:test", {"room_id": self.room_id})
        self.put_alias("%23alt:test", {"room_id": self.room_id})
        self.helper.send_state(
            self.room_id,
            "m.room.canonical_alias",
            {"alias": "#main:test", "alt_aliases": ["#alt:test"]},
            tok=self.tok,
        )
        self.make_request("DELETE", "directory/room/%23main:test", access_token=self.tok)
        self.assertEqual(
            self.state_content(self.room_id, "m.room.canonical_alias"),
            {"alt_aliases": ["#alt:test"]},
        )
        self.make_request("DELETE", "directory/room/%23alt:test", access_token=self.tok)
        self.assertEqual(
            self.state_content(self.room_id, "m.room.canonical_alias"), {"alt_aliases": []}
        )

    def test_room_aliases(self) -> None:
        self.put_alias("%23b:test", {"room_id": self.room_id})
        self.put_alias("%23a:test", {"room_id": self.room_id})
        channel = self.make_request(
            "GET", f"rooms/{self.room_id}/aliases", access_token=self.other_tok
        )
        self.assertEqual(channel.code, 200)
        assert_response_matches_spec(channel.json_body, *ALIASES_GET)
        self.assertEqual(channel.json_body, {"aliases": ["#a:test", "#b:test"]})
        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        channel = self.make_request("GET", f"rooms/{self.room_id}/aliases", access_token=carol_tok)
        self.assert_error(channel, 403, "M_FORBIDDEN")
        channel = self.make_request("GET", "rooms/bad/aliases", access_token=self.tok)
        self.assert_error(channel, 400, "M_INVALID_PARAM")
        self.assertTrue(carol)


class DirectoryVisibilityTestCase(RoomTestCase):
    def test_get_and_set(self) -> None:
        room_id = self.helper.create_room_as(self.user, tok=self.tok)
        channel = self.make_request("GET", f"directory/list/room/{room_id}")
        self.assertEqual(channel.code, 200)
        assert_response_matches_spec(channel.json_body, *VISIBILITY_GET)
        self.assertEqual(channel.json_body, {"visibility": "private"})
        channel = self.make_request(
            "PUT", f"directory/list/room/{room_id}", {"visibility": "public"}, access_token=self.tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *VISIBILITY_PUT)
        self.assertEqual(
            self.make_request("GET", f"directory/list/room/{room_id}").json_body,
            {"visibility": "public"},
        )
        channel = self.make_request(
            "PUT",
            f"directory/list/room/{room_id}",
            {"visibility": "private"},
            access_token=self.tok,
        )
        self.assertEqual(
            self.make_request("GET", f"directory/list/room/{room_id}").json_body,
            {"visibility": "private"},
        )

    def test_refused(self) -> None:
        room_id = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        channel = self.make_request(
            "PUT",
            f"directory/list/room/{room_id}",
            {"visibility": "public"},
            access_token=self.other_tok,
        )
        self.assert_error(channel, 403, "M_FORBIDDEN")
        self.helper.join(room_id, tok=self.other_tok)
        channel = self.make_request(
            "PUT",
            f"directory/list/room/{room_id}",
            {"visibility": "public"},
            access_token=self.other_tok,
        )
        self.assert_error(channel, 403, "M_FORBIDDEN")
        channel = self.make_request("GET", "directory/list/room/!unknown:test")
        self.assert_error(channel, 404, "M_NOT_FOUND", VISIBILITY_GET)
        channel = self.make_request(
            "PUT",
            "directory/list/room/!unknown:test",
            {"visibility": "public"},
            access_token=self.tok,
        )
        self.assert_error(channel, 404, "M_NOT_FOUND")
        for body in ({"visibility": "hidden"}, {"visibility": 1}):
            channel = self.make_request(
                "PUT", f"directory/list/room/{room_id}", body, access_token=self.tok
            )
            self.assert_error(channel, 400, "M_BAD_JSON")

    @override_config({"room_list_publication_rules": [{"user_id": "@bob:test", "action": "allow"}]})
    def test_publication_rules(self) -> None:
        channel = self.make_request(
            "POST", "createRoom", {"visibility": "public"}, access_token=self.tok
        )
        self.assert_error(channel, 403, "M_FORBIDDEN")
        room_id = self.helper.create_room_as(self.user, tok=self.tok)
        channel = self.make_request(
            "PUT", f"directory/list/room/{room_id}", {"visibility": "public"}, access_token=self.tok
        )
        self.assert_error(channel, 403, "M_FORBIDDEN")


class PublicRoomsTestCase(RoomTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.big = self.helper.create_room_as(
            self.user,
            is_public=True,
            tok=self.tok,
            extra_content={
                "name": "Big room",
                "topic": "All about cheese",
                "room_alias_name": "big",
                "initial_state": [
                    {"type": "m.room.avatar", "content": {"url": "mxc://test/big"}},
                    {
                        "type": "m.room.history_visibility",
                        "content": {"history_visibility": "world_readable"},
                    },
                    {"type": "m.room.guest_access", "content": {"guest_access": "can_join"}},
                ],
            },
        )
        self.helper.join(self.big, tok=self.other_tok)
        self.space = self.helper.create_room_as(
            self.user,
            is_public=True,
            tok=self.tok,
            extra_content={"name": "A space", "creation_content": {"type": "m.space"}},
        )
        self.small = self.helper.create_room_as(
            self.user, is_public=True, tok=self.tok, extra_content={"name": "Small"}
        )
        self.private = self.helper.create_room_as(self.user, is_public=False, tok=self.tok)

    def test_list(self) -> None:
        channel = self.make_request("GET", "publicRooms")
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *PUBLIC_GET)
        body = channel.json_body
        self.assertEqual(body["total_room_count_estimate"], 3)
        self.assertNotIn("next_batch", body)
        self.assertNotIn("prev_batch", body)
        rooms = [r["room_id"] for r in body["chunk"]]
        self.assertEqual(rooms[0], self.big)
        self.assertEqual(set(rooms), {self.big, self.space, self.small})
        self.assertEqual(
            body["chunk"][0],
            {
                "room_id": self.big,
                "name": "Big room",
                "topic": "All about cheese",
                "canonical_alias": "#big:test",
                "avatar_url": "mxc://test/big",
                "num_joined_members": 2,
                "world_readable": True,
                "guest_can_join": True,
                "join_rule": "public",
            },
        )
        space_entry = next(r for r in body["chunk"] if r["room_id"] == self.space)
        self.assertEqual(space_entry["room_type"], "m.space")
        self.assertFalse(space_entry["world_readable"])
        self.assertFalse(space_entry["guest_can_join"])

    def test_pagination(self) -> None:
        channel = self.make_request("GET", "publicRooms?limit=2")
        first = channel.json_body
        self.assertEqual(len(first["chunk"]), 2)
        self.assertEqual(first["total_room_count_estimate"], 3)
        self.assertIn("next_batch", first)
        channel = self.make_request("GET", f"publicRooms?limit=2&since={first['next_batch']}")
        second = channel.json_body
        assert_response_matches_spec(second, *PUBLIC_GET)
        self.assertEqual(len(second["chunk"]), 1)
        self.assertNotIn("next_batch", second)
        self.assertIn("prev_batch", second)
        seen = {r["room_id"] for r in first["chunk"] + second["chunk"]}
        self.assertEqual(seen, {self.big, self.space, self.small})
        channel = self.make_request("GET", f"publicRooms?limit=2&since={second['prev_batch']}")
        self.assertEqual(channel.json_body["chunk"], first["chunk"])
        channel = self.make_request("GET", "publicRooms?limit=0")
        self.assertEqual(len(channel.json_body["chunk"]), 3)
        self.assertNotIn("next_batch", channel.json_body)

    def test_filter(self) -> None:
        def search(body: dict[str, Any]) -> set[str]:
            channel = self.make_request("POST", "publicRooms", body, access_token=self.tok)
            self.assertEqual(channel.code, 200, channel.json_body)
            assert_response_matches_spec(channel.json_body, *PUBLIC_POST)
            return {r["room_id"] for r in channel.json_body["chunk"]}

        self.assertEqual(search({"filter": {"generic_search_term": "CHEESE"}}), {self.big})
        self.assertEqual(search({"filter": {"generic_search_term": "#big"}}), {self.big})
        self.assertEqual(search({"filter": {"generic_search_term": "nothing"}}), set())
        self.assertEqual(search({"filter": {"room_types": ["m.space"]}}), {self.space})
        self.assertEqual(search({"filter": {"room_types": [None]}}), {self.big, self.small})
        self.assertEqual(search({"limit": 1}), {self.big})
        self.assertEqual(search({"include_all_networks": True}), {self.big, self.space, self.small})

    def test_bad_input(self) -> None:
        self.assert_error(self.make_request("GET", "publicRooms?limit=x"), 400, "M_INVALID_PARAM")
        self.assert_error(self.make_request("GET", "publicRooms?since=zz"), 400, "M_INVALID_PARAM")
        self.assert_error(
            self.make_request("GET", "publicRooms?server=remote.example"), 400, "M_INVALID_PARAM"
        )
        for body in (
            {"limit": "2"},
            {"limit": -1},
            {"filter": "cheese"},
            {"filter": {"generic_search_term": 1}},
            {"filter": {"room_types": "m.space"}},
            {"since": 5},
        ):
            channel = self.make_request("POST", "publicRooms", body, access_token=self.tok)
            self.assert_error(channel, 400, "M_BAD_JSON")
        channel = self.make_request("POST", "publicRooms", {})
        self.assert_error(channel, 401, "M_MISSING_TOKEN")
        channel = self.make_request("GET", "publicRooms", access_token="nonsense")
        self.assert_error(channel, 401, "M_UNKNOWN_TOKEN")

    def test_rooms_everyone_left_are_not_listed(self) -> None:
        self.helper.leave(self.small, tok=self.tok)
        channel = self.make_request("GET", "publicRooms")
        self.assertNotIn(self.small, {r["room_id"] for r in channel.json_body["chunk"]})

    @override_config({"enable_room_list_search": False})
    def test_search_disabled(self) -> None:
        channel = self.make_request("GET", "publicRooms")
        self.assertEqual(channel.json_body, {"chunk": [], "total_room_count_estimate": 0})
