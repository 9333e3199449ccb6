"""The user directory's handler and store used directly: words and terms, stale entries
written with the events and processed after a restart, the initial population, remote
users and the ordering of results."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from synapse.handlers.user_directory import UserDirectoryHandler
from synapse.storage.database import LoggingTransaction
from synapse.storage.databases.main.roommember import ProfileInfo
from synapse.storage.databases.main.user_directory import (
    prefix_end,
    search_words,
    sort_name_for_user,
    terms_for_user,
)
from synapse.types import create_requester
from tests import unittest
from tests.rest.client.room_test_base import RoomTestCase
from tests.unittest import override_config

REMOTE = "@zoe:remote.example"


class WordsTestCase(unittest.TestCase):
    def test_search_words(self) -> None:
        self.assertEqual(search_words("Zoë  O'Brien-Smith"), ["zoe", "o", "brien", "smith"])
        self.assertEqual(search_words("@alice_b:example.com"), ["alice", "b", "example", "com"])
        self.assertEqual(search_words("ＡＢＣ"), ["abc"])
        self.assertEqual(search_words("Straße"), ["strasse"])
        self.assertEqual(search_words("张伟 Ivan"), ["张伟", "ivan"])
        self.assertEqual(search_words(" :@!_ "), [])
        self.assertEqual(search_words("a" * 100), ["a" * 64])

    def test_terms_and_sort_names(self) -> None:
        self.assertEqual(terms_for_user("@bob:test", "Bob Builder"), {"bob", "builder", "test"})
        self.assertEqual(terms_for_user("@bob:test", None), {"bob", "test"})
        self.assertEqual(sort_name_for_user("@bob:test", "Ángel"), "angel")
        self.assertEqual(sort_name_for_user("@Bob:test", None), "bob")
        self.assertLessEqual(
            len(terms_for_user("@b:test", " ".join(f"w{i}" for i in range(300)))), 100
        )

    def test_prefix_end(self) -> None:
        self.assertEqual(prefix_end("abc"), "abd")
        self.assertEqual(prefix_end("a\ud7ff"), "a\ue000")
        self.assertEqual(prefix_end("a\U0010ffff"), "b")
        self.assertIsNone(prefix_end("\U0010ffff"))
        for word in ("abc", "zoë", "a\ud7ff"):
            end = prefix_end(word)
            assert end is not None
            self.assertLess(word + "\U0010ffff", end)


class UserDirectoryHandlerTestCase(RoomTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.handler: UserDirectoryHandler = hs.get_user_directory_handler()
        self.store = self.stores.user_directory
        self.carol = self.register_user("carol", "pass")
        self.carol_tok = self.login("carol", "pass")

    def found(self, searcher: str, term: str) -> list[str]:
        body = self.get_success(self.handler.search_users(create_requester(searcher), term, 10))
        return [r["user_id"] for r in body["results"]]

    def stale(self) -> list[tuple[str, str]]:
        return [(r, u) for r, u, _ in self.get_success(self.store.get_stale_entries(1000))]

    def restart_handler(self) -> UserDirectoryHandler:
        """A new handler, as after a restart; it processes what was left."""
        handler = UserDirectoryHandler(self.hs)
        self.reactor.advance(0)
        return handler

    def test_stale_entries_are_written_with_the_events_and_survive_a_restart(self) -> None:
        # The processor does not run (as if the server stopped before it could).
        with patch.object(self.handler, "kick"):
            room = self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
            self.helper.join(room, tok=self.other_tok)
        self.assertEqual(set(self.stale()), {(room, ""), (room, self.carol), (room, self.other)})
        self.assertEqual(self.found(self.user, "carol"), [])
        self.restart_handler()
        self.assertEqual(self.stale(), [])
        self.assertEqual(self.found(self.user, "carol"), [self.carol])
        self.assertEqual(self.found(self.user, "bob"), [self.other])

    def test_an_entry_written_again_while_processed_is_kept(self) -> None:
        self.get_success(self.store.add_stale_entries([("", self.carol)]))
        entries = self.get_success(self.store.get_stale_entries(10))
        self.get_success(self.store.add_stale_entries([("", self.carol)]))
        self.get_success(self.store.remove_stale_entries(entries))
        self.assertEqual(self.stale(), [("", self.carol)])
        self.get_success(self.handler.process())
        self.assertEqual(self.stale(), [])

    def test_local_changes_do_not_wait_for_the_processor(self) -> None:
        self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        # A long backlog is being processed.
        self.handler._processing = True
        try:
            self.get_success(self.stores.profile.set_profile_displayname(self.carol, "Kara"))
            self.get_success(self.handler.local_user_changed(self.carol))
        finally:
            self.handler._processing = False
        self.assertEqual(self.found(self.user, "kara"), [self.carol])
        self.assertEqual(self.stale(), [])

    def test_a_failed_local_change_is_left_for_the_processor(self) -> None:
        self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        self.get_success(self.stores.profile.set_profile_displayname(self.carol, "Kara"))
        with patch.object(self.stores.profile, "get_profileinfo", side_effect=RuntimeError("db")):
            self.get_success(self.handler.local_user_changed(self.carol))
        self.assertEqual(self.stale(), [("", self.carol)])
        self.assertEqual(self.found(self.user, "kara"), [])
        self.get_success(self.handler.process())
        self.assertEqual(self.found(self.user, "kara"), [self.carol])

    def test_initial_population_from_existing_users_and_rooms(self) -> None:
        public = self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        private = self.helper.create_room_as(self.user, is_public=False, tok=self.tok)
        self.helper.invite(private, self.user, self.other, tok=self.tok)
        self.helper.join(private, tok=self.other_tok)
        before = {
            (s, t): self.found(s, t)
            for s in (self.user, self.carol)
            for t in ("carol", "bob", "alice")
        }
        # Empty the directory and fill it again the way the schema delta does.
        db = self.stores.db_pool

        def refill(txn: LoggingTransaction) -> None:
            for table in (
                "user_directory",
                "user_directory_search_terms",
                "user_directory_rooms",
                "user_directory_public_rooms",
            ):
                txn.execute(f"DELETE FROM {table}")
            txn.execute(
                "INSERT INTO user_directory_stale (room_id, user_id, version)"
                " SELECT '', name, 1 FROM users"
            )
            txn.execute(
                "INSERT INTO user_directory_stale (room_id, user_id, version)"
                " SELECT room_id, '*', 1 FROM rooms"
            )

        with patch.object(self.handler, "kick"):
            self.get_success(db.runInteraction("refill", refill))
        self.assertEqual(self.found(self.user, "carol"), [])
        self.get_success(self.handler.process())
        after = {
            (s, t): self.found(s, t)
            for s in (self.user, self.carol)
            for t in ("carol", "bob", "alice")
        }
        self.assertEqual(after, before)
        self.assertEqual(before[(self.user, "bob")], [self.other])
        self.assertEqual(before[(self.carol, "bob")], [])
        self.assertEqual(self.get_success(self.store.get_public_rooms()), {public})

    def test_remote_users(self) -> None:
        public = self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        profiles = {
            self.carol: ProfileInfo(None, None),
            REMOTE: ProfileInfo("Zoë\u0000 Remote", "mxc://remote.example/z"),
        }

        async def members(room_id: str) -> dict[str, ProfileInfo]:
            return profiles

        with patch.object(self.stores.roommember, "get_users_in_room_with_profiles", members):
            self.get_success(self.store.add_stale_entries([(public, "*")]))
            self.get_success(self.handler.process())
        body = self.get_success(self.handler.search_users(create_requester(self.user), "zoe", 10))
        self.assertEqual(
            body["results"],
            [
                {
                    "user_id": REMOTE,
                    "display_name": "Zoë Remote",
                    "avatar_url": "mxc://remote.example/z",
                }
            ],
        )
        self.assertEqual(self.found(self.user, "remote"), [REMOTE])
        # Out of their last room, a remote user leaves the directory; local users stay.
        self.get_success(self.store.remove_user_from_room(REMOTE, public))
        self.assertIsNone(self.get_success(self.store.get_user(REMOTE)))
        self.get_success(self.store.replace_room_members(public, []))
        self.assertIsNotNone(self.get_success(self.store.get_user(self.carol)))

    @override_config({"user_directory": {"prefer_local_users": True}})
    def test_prefer_local_users(self) -> None:
        public = self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        self.get_success(self.store.update_profile(REMOTE, "Aaron Sam", None))
        self.get_success(self.store.add_user_to_room(REMOTE, public))
        local = self.register_user("sam", "pass", displayname="Zed Sam")
        self.helper.join(public, tok=self.login("sam", "pass"))
        self.assertEqual(self.found(self.user, "sam"), [local, REMOTE])

    @override_config({"user_directory": {"exclude_remote_users": True}})
    def test_exclude_remote_users(self) -> None:
        public = self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        self.get_success(self.store.update_profile(REMOTE, "Aaron Sam", None))
        self.get_success(self.store.add_user_to_room(REMOTE, public))
        local = self.register_user("sam", "pass", displayname="Zed Sam")
        self.helper.join(public, tok=self.login("sam", "pass"))
        self.assertEqual(self.found(self.user, "sam"), [local])

    def test_without_prefer_local_users_the_name_decides(self) -> None:
        public = self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        self.get_success(self.store.update_profile(REMOTE, "Aaron Sam", None))
        self.get_success(self.store.add_user_to_room(REMOTE, public))
        local = self.register_user("sam", "pass", displayname="Zed Sam")
        self.helper.join(public, tok=self.login("sam", "pass"))
        self.assertEqual(self.found(self.user, "sam"), [REMOTE, local])

    def test_search_writes_nothing(self) -> None:
        self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        calls: list[str] = []
        db = self.stores.db_pool
        original = db.runInteraction

        async def spy(desc: str, func: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(desc)
            return await original(desc, func, *args, **kwargs)

        with patch.object(db, "runInteraction", spy):
            self.assertEqual(self.found(self.user, "carol"), [self.carol])
        self.assertEqual(calls, ["search_user_directory"])
