"""``POST /user_directory/search``: who can be found, by what, in which order, and how the
directory follows joins, leaves, join rules, profiles and deactivations."""

from __future__ import annotations

from typing import Any

from synapse.api.errors import Codes
from synapse.rest.client import profile, register, user_directory
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.room_test_base import RoomTestCase
from tests.rest.client.sync_test_base import q
from tests.server import FakeChannel
from tests.unittest import override_config

SEARCH_API = ("client-server/users.yaml", "/user_directory/search", "post")


class UserDirectoryTestCase(RoomTestCase):
    """alice and bob, and carol who shares no room with anyone at first."""

    servlets = [
        *RoomTestCase.servlets,
        user_directory.register_servlets,
        profile.register_servlets,
        register.register_servlets,
    ]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.carol = self.register_user("carol", "pass", displayname="Carol Danvers")
        self.carol_tok = self.login("carol", "pass")

    def search_request(self, tok: str | None, body: Any) -> FakeChannel:
        return self.make_request("POST", "user_directory/search", body, access_token=tok)

    def search(self, tok: str, term: str, limit: int | None = None) -> JsonDict:
        body: JsonDict = {"search_term": term}
        if limit is not None:
            body["limit"] = limit
        channel = self.search_request(tok, body)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, *SEARCH_API)
        return channel.json_body

    def found(self, tok: str, term: str) -> list[str]:
        return [r["user_id"] for r in self.search(tok, term)["results"]]

    def set_displayname(self, user_id: str, tok: str, name: str) -> None:
        channel = self.make_request(
            "PUT", f"profile/{q(user_id)}/displayname", {"displayname": name}, access_token=tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)

    def stale_entries(self) -> int:
        rows = self.get_success(
            self.stores.db_pool.execute("stale", "SELECT COUNT(*) FROM user_directory_stale")
        )
        return int(rows[0][0])


class SearchTestCase(UserDirectoryTestCase):
    def test_finds_users_by_name_and_user_id(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room, tok=self.carol_tok)
        for term in ("carol", "Carol", "CAROL D", "danv", "car dan", "@carol:test", "carol:te"):
            self.assertEqual(self.found(self.tok, term), [self.carol], term)
        for term in ("arol", "carol x", "danvers carol2"):
            self.assertEqual(self.found(self.tok, term), [], term)
        body = self.search(self.tok, "carol")
        self.assertEqual(
            body,
            {
                "limited": False,
                "results": [{"user_id": self.carol, "display_name": "Carol Danvers"}],
            },
        )

    def test_accents_and_case_do_not_matter(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room, tok=self.carol_tok)
        self.set_displayname(self.carol, self.carol_tok, "Zoë Ångström-Ñúñez")
        for term in ("zoe", "ZOË", "angstrom", "ångström", "nunez", "ÑÚÑ"):
            self.assertEqual(self.found(self.tok, term), [self.carol], term)

    def test_terms_without_words_find_nobody(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room, tok=self.carol_tok)
        for term in ("", "   ", "@", ":", "!!", "_"):
            self.assertEqual(self.search(self.tok, term), {"limited": False, "results": []}, term)

    def test_limit_and_limited(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        users = []
        for i in range(12):
            user_id = self.register_user(f"zed{i:02d}", "pass")
            users.append(user_id)
            self.helper.join(room, tok=self.login(f"zed{i:02d}", "pass"))
        body = self.search(self.tok, "zed")
        # Ten by default, sorted by name.
        self.assertEqual([r["user_id"] for r in body["results"]], users[:10])
        self.assertIs(body["limited"], True)
        body = self.search(self.tok, "zed", limit=12)
        self.assertEqual(len(body["results"]), 12)
        self.assertIs(body["limited"], False)
        body = self.search(self.tok, "zed", limit=0)
        self.assertEqual(body, {"limited": True, "results": []})
        body = self.search(self.tok, "zed0", limit=100)
        self.assertEqual(len(body["results"]), 10)
        self.assertIs(body["limited"], False)

    def test_sharing_a_room_comes_first_then_the_name(self) -> None:
        public = self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        names = {"amy": "Sam Amy", "bea": "Sam Bea", "cat": "Sam Cat"}
        ids = {}
        for localpart, name in names.items():
            ids[localpart] = self.register_user(localpart, "pass", displayname=name)
            self.helper.join(public, tok=self.login(localpart, "pass"))
        private = self.helper.create_room_as(self.user, is_public=False, tok=self.tok)
        self.helper.invite(private, self.user, ids["cat"], tok=self.tok)
        self.helper.join(private, tok=self.login("cat", "pass"))
        self.assertEqual(self.found(self.tok, "sam"), [ids["cat"], ids["amy"], ids["bea"]])
        # Sharing a public room counts as sharing a room too.
        self.helper.join(public, tok=self.tok)
        self.assertEqual(self.found(self.tok, "sam"), [ids["amy"], ids["bea"], ids["cat"]])

    def test_avatar_url_is_shown(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room, tok=self.carol_tok)
        channel = self.make_request(
            "PUT",
            f"profile/{q(self.carol)}/avatar_url",
            {"avatar_url": "mxc://test/abc"},
            access_token=self.carol_tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        (result,) = self.search(self.tok, "carol")["results"]
        self.assertEqual(result["avatar_url"], "mxc://test/abc")


class VisibilityTestCase(UserDirectoryTestCase):
    def test_users_sharing_no_room_are_not_found(self) -> None:
        self.assertEqual(self.found(self.tok, "carol"), [])
        self.assertEqual(self.found(self.tok, "bob"), [])

    def test_users_in_public_rooms_are_found_until_they_leave(self) -> None:
        room = self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        self.assertEqual(self.found(self.tok, "carol"), [self.carol])
        self.assertEqual(self.found(self.other_tok, "carol"), [self.carol])
        self.helper.leave(room, tok=self.carol_tok)
        self.assertEqual(self.found(self.tok, "carol"), [])

    def test_users_sharing_a_private_room(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=False, tok=self.tok)
        self.helper.invite(room, self.user, self.carol, tok=self.tok)
        # An invite is not sharing a room.
        self.assertEqual(self.found(self.tok, "carol"), [])
        self.helper.join(room, tok=self.carol_tok)
        self.assertEqual(self.found(self.tok, "carol"), [self.carol])
        self.assertEqual(self.found(self.carol_tok, "alice"), [self.user])
        # bob is in no room with either.
        self.assertEqual(self.found(self.other_tok, "carol"), [])
        self.helper.kick(room, self.carol, tok=self.tok)
        self.assertEqual(self.found(self.tok, "carol"), [])
        self.assertEqual(self.found(self.carol_tok, "alice"), [])

    def test_a_room_turning_public_and_back(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=False, tok=self.tok)
        self.helper.invite(room, self.user, self.carol, tok=self.tok)
        self.helper.join(room, tok=self.carol_tok)
        self.assertEqual(self.found(self.other_tok, "carol"), [])
        self.helper.send_state(room, "m.room.join_rules", {"join_rule": "public"}, tok=self.tok)
        self.assertEqual(self.found(self.other_tok, "carol"), [self.carol])
        self.helper.send_state(room, "m.room.join_rules", {"join_rule": "invite"}, tok=self.tok)
        self.assertEqual(self.found(self.other_tok, "carol"), [])
        # World-readable history makes members findable too.
        self.helper.send_state(
            room,
            "m.room.history_visibility",
            {"history_visibility": "world_readable"},
            tok=self.tok,
        )
        self.assertEqual(self.found(self.other_tok, "carol"), [self.carol])
        self.helper.send_state(
            room, "m.room.history_visibility", {"history_visibility": "shared"}, tok=self.tok
        )
        self.assertEqual(self.found(self.other_tok, "carol"), [])
        self.assertEqual(self.stale_entries(), 0)

    def test_profile_changes_are_followed(self) -> None:
        room = self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        self.set_displayname(self.carol, self.carol_tok, "Captain Marvel")
        self.assertEqual(self.found(self.tok, "captain"), [self.carol])
        self.assertEqual(self.found(self.tok, "danvers"), [])
        # The user ID still finds her.
        self.assertEqual(self.found(self.tok, "carol"), [self.carol])
        (result,) = self.search(self.tok, "marvel")["results"]
        self.assertEqual(result["display_name"], "Captain Marvel")
        # Without a display name only the user ID is left.
        channel = self.make_request(
            "DELETE", f"profile/{q(self.carol)}/displayname", access_token=self.carol_tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self.found(self.tok, "marvel"), [])
        self.assertEqual(self.search(self.tok, "carol")["results"], [{"user_id": self.carol}])
        self.helper.leave(room, tok=self.carol_tok)

    def test_deactivated_users_are_removed(self) -> None:
        self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        self.assertEqual(self.found(self.tok, "carol"), [self.carol])
        self.get_success(
            self.hs.get_deactivate_account_handler().deactivate_account(self.carol, False)
        )
        self.assertEqual(self.found(self.tok, "carol"), [])
        self.assertIsNone(self.get_success(self.stores.user_directory.get_user(self.carol)))
        self.assertEqual(
            self.get_success(self.stores.user_directory.get_rooms_of_user(self.carol)), set()
        )

    @override_config({"user_directory": {"search_all_users": True}})
    def test_search_all_users(self) -> None:
        self.assertEqual(self.found(self.tok, "carol"), [self.carol])
        self.assertEqual(self.found(self.carol_tok, "bob"), [self.other])
        # A user registered later, in no room at all.
        dave = self.register_user("dave", "pass")
        self.assertEqual(self.found(self.tok, "dave"), [dave])
        self.get_success(self.hs.get_deactivate_account_handler().deactivate_account(dave, False))
        self.assertEqual(self.found(self.tok, "dave"), [])

    @override_config({"user_directory": {"search_all_users": True}})
    def test_support_and_locked_users_are_left_out(self) -> None:
        support = self.register_user("helpdesk", "pass")
        self.get_success(self.stores.registration.set_user_type(support, "support"))
        self.get_success(self.hs.get_user_directory_handler().local_user_changed(support))
        self.assertEqual(self.found(self.tok, "helpdesk"), [])
        self.get_success(self.stores.registration.set_user_locked_status(self.carol, True))
        self.get_success(self.hs.get_user_directory_handler().local_user_changed(self.carol))
        self.assertEqual(self.found(self.tok, "carol"), [])

    @override_config({"user_directory": {"enabled": False}})
    def test_disabled(self) -> None:
        self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        self.assertEqual(self.search(self.tok, "carol"), {"limited": False, "results": []})


class BadInputTestCase(UserDirectoryTestCase):
    def test_bad_bodies(self) -> None:
        self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        cases: list[tuple[Any, str]] = [
            ({}, Codes.MISSING_PARAM),
            ({"limit": 5}, Codes.MISSING_PARAM),
            ({"search_term": 5}, Codes.BAD_JSON),
            ({"search_term": None}, Codes.BAD_JSON),
            ({"search_term": "carol", "limit": "5"}, Codes.BAD_JSON),
            ({"search_term": "carol", "limit": -1}, Codes.BAD_JSON),
            ({"search_term": "carol", "limit": 1.5}, Codes.BAD_JSON),
            (["carol"], Codes.BAD_JSON),
            (b"{oops", Codes.NOT_JSON),
        ]
        for body, errcode in cases:
            channel = self.search_request(self.tok, body)
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], errcode, body)
        # A huge limit is capped, not an error.
        body = self.search(self.tok, "carol", limit=2**62)
        self.assertEqual(len(body["results"]), 1)

    def test_needs_a_token(self) -> None:
        channel = self.search_request(None, {"search_term": "carol"})
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], Codes.MISSING_TOKEN)

    @override_config({"allow_guest_access": True})
    def test_guests_may_not_search(self) -> None:
        channel = self.make_request("POST", "register?kind=guest", {})
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.search_request(channel.json_body["access_token"], {"search_term": "carol"})
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], Codes.GUEST_ACCESS_FORBIDDEN)

    @override_config({"rc_user_directory": {"per_second": 0.1, "burst_count": 2}})
    def test_rate_limited(self) -> None:
        self.search(self.tok, "carol")
        self.search(self.tok, "carol")
        channel = self.search_request(self.tok, {"search_term": "carol"})
        self.assertEqual(channel.code, 429, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], Codes.LIMIT_EXCEEDED)
        assert_response_matches_spec(channel.json_body, *SEARCH_API, 429)
        self.search(self.other_tok, "carol")
