"""The end-to-end encryption sections of ``/sync``: ``device_lists`` (changed and left,
over device changes, key uploads, joins and leaves), ``device_one_time_keys_count``,
``device_unused_fallback_key_types``, and ``GET /keys/changes`` between sync tokens."""

from __future__ import annotations

from typing import Any

from synapse.rest.client import devices, keys, profile
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.e2e_helpers import cross_signing_key, device_keys, one_time_keys
from tests.rest.client.sync_test_base import SyncTestCase


class DeviceListSyncTestCase(SyncTestCase):
    servlets = [
        *SyncTestCase.servlets,
        keys.register_servlets,
        devices.register_servlets,
        profile.register_servlets,
    ]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.alice_tok = self.login("alice", "pass", device_id="A1")
        self.bob_tok = self.login("bob", "pass", device_id="B1")
        self.carol = self.register_user("carol", "pass")
        self.carol_tok = self.login("carol", "pass", device_id="C1")
        self.room = self.helper.create_room_as(self.user, is_public=True, tok=self.alice_tok)
        self.helper.join(self.room, self.other, tok=self.bob_tok)

    def lists(self, tok: str, since: str) -> tuple[JsonDict, str]:
        body = self.sync(tok, since=since)
        return body["device_lists"], body["next_batch"]

    def upload(self, user_id: str, device_id: str, tok: str) -> None:
        keys_json, _ = device_keys(user_id, device_id)
        channel = self.make_request(
            "POST", "keys/upload", {"device_keys": keys_json}, access_token=tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)

    def changes(self, tok: str, from_token: str, to_token: str) -> JsonDict:
        channel = self.make_request(
            "GET", f"keys/changes?from={from_token}&to={to_token}", access_token=tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(
            channel.json_body, "client-server/keys.yaml", "/keys/changes", "get"
        )
        return channel.json_body

    def test_key_upload_of_a_room_mate_is_a_change_for_them_only(self) -> None:
        alice_since = self.sync(self.alice_tok)["next_batch"]
        carol_since = self.sync(self.carol_tok)["next_batch"]
        self.upload(self.other, "B1", self.bob_tok)
        lists, alice_next = self.lists(self.alice_tok, alice_since)
        self.assertEqual(lists, {"changed": [self.other], "left": []})
        # Carol shares no room with Bob.
        lists, _ = self.lists(self.carol_tok, carol_since)
        self.assertEqual(lists, {"changed": [], "left": []})
        # Nothing the next time.
        lists, _ = self.lists(self.alice_tok, alice_next)
        self.assertEqual(lists, {"changed": [], "left": []})
        self.assertEqual(
            self.changes(self.alice_tok, alice_since, alice_next),
            {"changed": [self.other], "left": []},
        )
        self.assertEqual(
            self.changes(self.alice_tok, alice_next, alice_next), {"changed": [], "left": []}
        )

    def test_initial_sync_has_no_device_lists(self) -> None:
        self.upload(self.other, "B1", self.bob_tok)
        body = self.sync(self.alice_tok)
        self.assertEqual(body["device_lists"], {"changed": [], "left": []})

    def test_same_keys_again_are_no_change(self) -> None:
        keys_json, _ = device_keys(self.other, "B1")
        self.make_request(
            "POST", "keys/upload", {"device_keys": keys_json}, access_token=self.bob_tok
        )
        since = self.sync(self.alice_tok)["next_batch"]
        self.make_request(
            "POST", "keys/upload", {"device_keys": keys_json}, access_token=self.bob_tok
        )
        lists, _ = self.lists(self.alice_tok, since)
        self.assertEqual(lists["changed"], [])

    def test_new_renamed_and_deleted_devices_are_changes(self) -> None:
        since = self.sync(self.alice_tok)["next_batch"]
        self.login("bob", "pass", device_id="B9")
        lists, since = self.lists(self.alice_tok, since)
        self.assertEqual(lists["changed"], [self.other])
        self.make_request("PUT", "devices/B9", {"display_name": "new"}, access_token=self.bob_tok)
        lists, since = self.lists(self.alice_tok, since)
        self.assertEqual(lists["changed"], [self.other])
        self.upload(self.other, "B1", self.bob_tok)
        since = self.sync(self.alice_tok, since=since)["next_batch"]
        self.get_success(self.hs.get_device_handler().delete_device(self.other, "B1"))
        lists, _ = self.lists(self.alice_tok, since)
        self.assertEqual(lists["changed"], [self.other])
        # Its keys are gone.
        stored = self.get_success(
            self.hs.get_datastores().main.e2e_keys.get_device_keys([(self.other, None)])
        )
        self.assertEqual(stored, {})

    def test_own_changes_are_listed(self) -> None:
        since = self.sync(self.alice_tok)["next_batch"]
        self.login("alice", "pass", device_id="A2")
        lists, _ = self.lists(self.alice_tok, since)
        self.assertIn(self.user, lists["changed"])

    def test_cross_signing_upload_is_a_change(self) -> None:
        since = self.sync(self.alice_tok)["next_batch"]
        master, _, _ = cross_signing_key(self.other, "master")
        channel = self.make_request(
            "POST", "keys/device_signing/upload", {"master_key": master}, access_token=self.bob_tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        lists, _ = self.lists(self.alice_tok, since)
        self.assertEqual(lists["changed"], [self.other])

    def test_join_makes_members_changed_and_leave_makes_them_left(self) -> None:
        room2 = self.helper.create_room_as(self.carol, is_public=True, tok=self.carol_tok)
        alice_since = self.sync(self.alice_tok)["next_batch"]
        carol_since = self.sync(self.carol_tok)["next_batch"]

        # Alice joins Carol's room: Carol is new to Alice, and Alice to Carol.
        self.helper.join(room2, self.user, tok=self.alice_tok)
        lists, alice_since = self.lists(self.alice_tok, alice_since)
        self.assertIn(self.carol, lists["changed"])
        self.assertEqual(lists["left"], [])
        lists, carol_since = self.lists(self.carol_tok, carol_since)
        self.assertEqual(lists["changed"], [self.user])

        # A display name change (a join over a join) is no new member.
        channel = self.make_request(
            "PUT",
            f"profile/{self.carol}/displayname",
            {"displayname": "C"},
            access_token=self.carol_tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        body = self.sync(self.alice_tok, since=alice_since)
        alice_since = body["next_batch"]
        self.assertIn(room2, body["rooms"]["join"])
        self.assertNotIn(self.carol, body["device_lists"]["changed"])

        # Alice leaves: Carol shares no room with her any more, Bob still does.
        self.helper.leave(room2, self.user, tok=self.alice_tok)
        lists, alice_since = self.lists(self.alice_tok, alice_since)
        self.assertEqual(lists["left"], [self.carol])
        self.assertNotIn(self.carol, lists["changed"])
        lists, carol_since = self.lists(self.carol_tok, carol_since)
        self.assertEqual(lists["left"], [self.user])

        # Carol's changes no longer reach Alice.
        self.upload(self.carol, "C1", self.carol_tok)
        lists, _ = self.lists(self.alice_tok, alice_since)
        self.assertEqual(lists, {"changed": [], "left": []})

    def test_leaving_a_room_still_shared_elsewhere_is_not_left(self) -> None:
        room2 = self.helper.create_room_as(self.user, is_public=True, tok=self.alice_tok)
        self.helper.join(room2, self.other, tok=self.bob_tok)
        since = self.sync(self.alice_tok)["next_batch"]
        self.helper.leave(room2, self.other, tok=self.bob_tok)
        lists, _ = self.lists(self.alice_tok, since)
        self.assertEqual(lists, {"changed": [], "left": []})

    def test_long_poll_woken_by_a_room_mates_new_keys(self) -> None:
        since = self.sync(self.alice_tok)["next_batch"]
        carol_since = self.sync(self.carol_tok)["next_batch"]
        channel = self.sync_request(self.alice_tok, since=since, timeout=30000)
        carol_channel = self.sync_request(self.carol_tok, since=carol_since, timeout=30000)
        self.reactor.advance(1)
        self.assertFalse(channel.is_finished())
        self.upload(self.other, "B1", self.bob_tok)
        self.pump(0)
        self.assertTrue(channel.is_finished())
        self.assertEqual(self.sync_body(channel)["device_lists"]["changed"], [self.other])
        self.assertFalse(carol_channel.is_finished())
        self.reactor.advance(30)
        self.assertEqual(self.sync_body(carol_channel)["device_lists"]["changed"], [])

    def test_one_time_key_counts_and_fallback_types(self) -> None:
        keys_json, key = device_keys(self.user, "A1")
        body = self.sync(self.alice_tok)
        self.assertEqual(body["device_one_time_keys_count"], {"signed_curve25519": 0})
        self.assertEqual(body["device_unused_fallback_key_types"], [])
        self.make_request(
            "POST",
            "keys/upload",
            {
                "device_keys": keys_json,
                "one_time_keys": one_time_keys(self.user, key, ["a", "b", "c"]),
                "fallback_keys": one_time_keys(self.user, key, ["f"], fallback=True),
            },
            access_token=self.alice_tok,
        )
        body = self.sync(self.alice_tok, since=body["next_batch"])
        self.assertEqual(body["device_one_time_keys_count"], {"signed_curve25519": 3})
        self.assertEqual(body["device_unused_fallback_key_types"], ["signed_curve25519"])
        # Another device's counts are its own.
        other = self.sync(self.login("alice", "pass", device_id="A3"))
        self.assertEqual(other["device_one_time_keys_count"], {"signed_curve25519": 0})
        # Claims lower the count; once the fallback key is handed out it is used.
        for _ in range(4):
            self.make_request(
                "POST",
                "keys/claim",
                {"one_time_keys": {self.user: {"A1": "signed_curve25519"}}},
                access_token=self.bob_tok,
            )
        body = self.sync(self.alice_tok, since=body["next_batch"])
        self.assertEqual(body["device_one_time_keys_count"], {"signed_curve25519": 0})
        self.assertEqual(body["device_unused_fallback_key_types"], [])
