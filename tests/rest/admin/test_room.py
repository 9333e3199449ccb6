"""The admin API for rooms: listing and details, members, state and messages, deletion
(shutdown, block, purge) as a background task, joins, room admins, blocking, forward
extremities and history purges."""

from __future__ import annotations

from urllib.parse import quote

from synapse.rest.client import room_history, sync
from synapse.storage.database import LoggingTransaction
from synapse.storage.databases.main.admin import tables_with_room_id
from synapse.types import JsonDict
from tests.rest.admin.admin_test_base import ADMIN_V1, ADMIN_V2, AdminTestCase


class RoomListTestCase(AdminTestCase):
    def test_list_shape_order_and_search(self) -> None:
        room_a = self.helper.create_room_as(
            self.user, is_public=True, tok=self.tok, extra_content={"name": "Apples"}
        )
        room_b = self.helper.create_room_as(
            self.other, tok=self.other_tok, extra_content={"name": "Bananas"}
        )
        self.helper.join(room_a, self.other, tok=self.other_tok)

        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms")
        self.assertEqual(channel.code, 200, channel.json_body)
        body = channel.json_body
        self.assertEqual(body["total_rooms"], 2)
        self.assertEqual(body["offset"], 0)
        self.assertEqual([r["room_id"] for r in body["rooms"]], [room_a, room_b])
        first = body["rooms"][0]
        self.assertEqual(first["name"], "Apples")
        self.assertEqual(first["joined_members"], 2)
        self.assertEqual(first["joined_local_members"], 2)
        self.assertEqual(first["creator"], self.user)
        self.assertEqual(first["join_rules"], "public")
        self.assertTrue(first["public"])
        self.assertTrue(first["federatable"])
        self.assertGreater(first["state_events"], 4)
        for key in (
            "canonical_alias",
            "version",
            "encryption",
            "guest_access",
            "history_visibility",
            "room_type",
        ):
            self.assertIn(key, first)

        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms?order_by=name&dir=b")
        self.assertEqual([r["room_id"] for r in channel.json_body["rooms"]], [room_b, room_a])
        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms?order_by=size")
        self.assertEqual(channel.json_body["rooms"][0]["room_id"], room_a)
        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms?search_term=banan")
        self.assertEqual([r["room_id"] for r in channel.json_body["rooms"]], [room_b])
        self.assertEqual(channel.json_body["total_rooms"], 1)

        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms?public_rooms=false")
        self.assertEqual([r["room_id"] for r in channel.json_body["rooms"]], [room_b])
        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms?empty_rooms=true")
        self.assertEqual(channel.json_body["rooms"], [])

        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms?limit=1")
        self.assertEqual(channel.json_body["next_batch"], 1)
        self.assertNotIn("prev_batch", channel.json_body)
        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms?limit=1&from=1")
        self.assertEqual(channel.json_body["prev_batch"], 0)
        self.assertNotIn("next_batch", channel.json_body)

    def test_bad_parameters(self) -> None:
        for query in ("from=-1", "limit=a", "order_by=topic", "dir=x", "search_term="):
            channel = self.admin_request("GET", f"{ADMIN_V1}/rooms?{query}")
            self.assertEqual(channel.code, 400, query)
            self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM", query)

    def test_non_admins_refused(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        for method, path, content in (
            ("GET", f"{ADMIN_V1}/rooms", b""),
            ("GET", f"{ADMIN_V1}/rooms/{room}", b""),
            ("GET", f"{ADMIN_V1}/rooms/{room}/members", b""),
            ("GET", f"{ADMIN_V1}/rooms/{room}/state", b""),
            ("GET", f"{ADMIN_V1}/rooms/{room}/messages", b""),
            ("DELETE", f"{ADMIN_V2}/rooms/{room}", {}),
            ("DELETE", f"{ADMIN_V1}/rooms/{room}", {}),
            ("GET", f"{ADMIN_V2}/rooms/{room}/delete_status", b""),
            ("GET", f"{ADMIN_V2}/rooms/delete_status/abc", b""),
            ("POST", f"{ADMIN_V1}/join/{room}", {"user_id": self.other}),
            ("POST", f"{ADMIN_V1}/rooms/{room}/make_room_admin", {}),
            ("GET", f"{ADMIN_V1}/rooms/{room}/block", b""),
            ("PUT", f"{ADMIN_V1}/rooms/{room}/block", {"block": True}),
            ("GET", f"{ADMIN_V1}/rooms/{room}/forward_extremities", b""),
            ("DELETE", f"{ADMIN_V1}/rooms/{room}/forward_extremities", b""),
            ("POST", f"{ADMIN_V1}/purge_history/{room}", {"purge_up_to_ts": 1}),
            ("GET", f"{ADMIN_V1}/purge_history_status/abc", b""),
        ):
            self.assert_refused_to_non_admins(method, path, content)
        self.assertEqual(self.membership_of(room, self.user), "join")
        self.assertIsNone(self.get_success(self.stores.admin.get_room_blocker(room)))


class RoomDetailsTestCase(AdminTestCase):
    def test_details_members_state_messages(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok, extra_content={"topic": "fruit"})
        self.helper.invite(room, self.user, self.other, tok=self.tok)
        self.helper.join(room, self.other, tok=self.other_tok)
        for i in range(3):
            self.helper.send(room, f"message {i}", tok=self.tok)

        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms/{room}")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["room_id"], room)
        self.assertEqual(channel.json_body["topic"], "fruit")
        self.assertEqual(channel.json_body["joined_members"], 2)
        self.assertEqual(channel.json_body["joined_local_devices"], 2)

        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms/{room}/members")
        self.assertEqual(
            channel.json_body, {"members": sorted([self.user, self.other]), "total": 2}
        )

        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms/{room}/state")
        types = {e["type"] for e in channel.json_body["state"]}
        self.assertIn("m.room.create", types)
        self.assertIn("m.room.topic", types)

        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms/{room}/messages?limit=2")
        self.assertEqual(channel.code, 200, channel.json_body)
        bodies = [e["content"].get("body") for e in channel.json_body["chunk"]]
        self.assertEqual(bodies, ["message 2", "message 1"])
        end = channel.json_body["end"]
        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms/{room}/messages?limit=1&from={end}")
        self.assertEqual(channel.json_body["chunk"][0]["content"]["body"], "message 0")

    def test_unknown_and_bad_room(self) -> None:
        for suffix in ("", "/members", "/state", "/messages"):
            channel = self.admin_request("GET", f"{ADMIN_V1}/rooms/!nope:test{suffix}")
            self.assertEqual((channel.code, channel.json_body["errcode"]), (404, "M_NOT_FOUND"))
            channel = self.admin_request("GET", f"{ADMIN_V1}/rooms/notaroom{suffix}")
            self.assertEqual(channel.code, 400, suffix)
            self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM")


class RoomDeleteTestCase(AdminTestCase):
    servlets = [*AdminTestCase.servlets, sync.register_servlets]

    def _wait(self, delete_id: str) -> JsonDict:
        self.pump(1)
        channel = self.admin_request("GET", f"{ADMIN_V2}/rooms/delete_status/{delete_id}")
        self.assertEqual(channel.code, 200, channel.json_body)
        return channel.json_body

    def test_delete_with_purge_removes_users_and_events(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room, self.other, tok=self.other_tok)
        self.helper.send(room, "hello", tok=self.tok)
        channel = self.make_request("GET", "/_matrix/client/v3/sync", access_token=self.other_tok)
        since = channel.json_body["next_batch"]
        self.helper.request(
            "PUT", "/_matrix/client/v3/directory/room/%23fruit:test", {"room_id": room}, self.tok
        )
        other_room = self.helper.create_room_as(self.user, tok=self.tok)

        channel = self.admin_request("DELETE", f"{ADMIN_V2}/rooms/{room}", {"block": True})
        self.assertEqual(channel.code, 200, channel.json_body)
        status = self._wait(channel.json_body["delete_id"])
        self.assertEqual(status["status"], "complete", status)
        self.assertEqual(
            sorted(status["shutdown_room"]["kicked_users"]), sorted([self.user, self.other])
        )
        self.assertEqual(status["shutdown_room"]["local_aliases"], ["#fruit:test"])

        # The room and its events are gone; the other room is untouched.
        self.assertEqual(self.room_count(), 1)
        rows = self.get_success(
            self.stores.db_pool.execute("n", "SELECT COUNT(*) FROM events WHERE room_id = ?", room)
        )
        self.assertEqual(rows[0][0], 0)
        self.assertEqual(self.membership_of(other_room, self.user), "join")
        channel = self.admin_request("GET", f"{ADMIN_V1}/users/{quote(self.user)}/joined_rooms")
        self.assertEqual(channel.json_body["joined_rooms"], [other_room])
        self.assertIsNone(
            self.get_success(self.stores.directory.get_association_from_room_alias("#fruit:test"))
        )
        self.assertEqual(self.admin_request("GET", f"{ADMIN_V1}/rooms/{room}").code, 404)

        # No table keeps a row of the room but the block.
        def _leftovers(txn: LoggingTransaction) -> dict[str, int]:
            counts = {}
            for table in tables_with_room_id(txn):
                txn.execute(f"SELECT COUNT(*) FROM {table} WHERE room_id = ?", (room,))
                row = txn.fetchone()
                if row and row[0]:
                    counts[table] = row[0]
            return counts

        leftovers = self.get_success(self.stores.db_pool.runInteraction("left", _leftovers))
        self.assertEqual(leftovers, {"blocked_rooms": 1})

        # The members' clients sync on without the room.
        channel = self.make_request(
            "GET", f"/_matrix/client/v3/sync?since={since}", access_token=self.other_tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertNotIn(room, channel.json_body.get("rooms", {}).get("join", {}))
        channel = self.make_request("GET", "/_matrix/client/v3/sync", access_token=self.tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertNotIn(room, channel.json_body.get("rooms", {}).get("join", {}))
        self.assertIn(other_room, channel.json_body["rooms"]["join"])

        # Blocked: nobody can join it again, and the status is listed by room.
        self.helper.join(room, self.other, tok=self.other_tok, expect_code=403)
        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms/{room}/block")
        self.assertEqual(channel.json_body, {"block": True, "user_id": self.admin})
        channel = self.admin_request("GET", f"{ADMIN_V2}/rooms/{room}/delete_status")
        self.assertEqual(channel.json_body["results"][0]["status"], "complete")

    def test_delete_without_purge_moves_users_to_new_room(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room, self.other, tok=self.other_tok)
        channel = self.admin_request(
            "DELETE",
            f"{ADMIN_V2}/rooms/{room}",
            {"purge": False, "new_room_user_id": self.admin, "message": "Moved"},
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        status = self._wait(channel.json_body["delete_id"])
        self.assertEqual(status["status"], "complete", status)
        new_room = status["shutdown_room"]["new_room_id"]
        self.assertIsNotNone(new_room)
        self.assertEqual(self.membership_of(room, self.user), "leave")
        self.assertEqual(self.membership_of(room, self.other), "leave")
        self.assertEqual(self.membership_of(new_room, self.user), "join")
        self.assertEqual(self.membership_of(new_room, self.other), "join")
        # Not purged: the room is still there.
        self.assertEqual(self.admin_request("GET", f"{ADMIN_V1}/rooms/{room}").code, 200)
        # Not blocked: a user may join again.
        self.helper.join(room, self.user, tok=self.tok)

    def test_blocked_room_refuses_joins(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        channel = self.admin_request("PUT", f"{ADMIN_V1}/rooms/{room}/block", {"block": True})
        self.assertEqual(channel.json_body, {"block": True})
        self.helper.join(room, self.other, tok=self.other_tok, expect_code=403)
        channel = self.admin_request("PUT", f"{ADMIN_V1}/rooms/{room}/block", {"block": False})
        self.assertEqual(
            self.admin_request("GET", f"{ADMIN_V1}/rooms/{room}/block").json_body, {"block": False}
        )
        self.helper.join(room, self.other, tok=self.other_tok)
        channel = self.admin_request("PUT", f"{ADMIN_V1}/rooms/{room}/block", {"block": "yes"})
        self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_BAD_JSON"))

    def test_delete_bad_input(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        for body in ({"block": "yes"}, {"purge": 1}, {"new_room_user_id": 5}):
            channel = self.admin_request("DELETE", f"{ADMIN_V2}/rooms/{room}", body)
            self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_BAD_JSON"))
        channel = self.admin_request(
            "DELETE", f"{ADMIN_V2}/rooms/{room}", {"new_room_user_id": "@x:elsewhere"}
        )
        self.assertEqual(channel.code, 400)
        channel = self.admin_request("DELETE", f"{ADMIN_V2}/rooms/notaroom", {})
        self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_INVALID_PARAM"))
        channel = self.admin_request("DELETE", f"{ADMIN_V2}/rooms/!unknown:test", {})
        self.assertEqual(channel.code, 404)
        self.assertEqual(self.membership_of(room, self.user), "join")
        self.assertEqual(
            self.admin_request("GET", f"{ADMIN_V2}/rooms/{room}/delete_status").code, 404
        )
        self.assertEqual(
            self.admin_request("GET", f"{ADMIN_V2}/rooms/delete_status/nope").code, 404
        )


class RoomActionsTestCase(AdminTestCase):
    def test_join_user_to_public_and_private_rooms(self) -> None:
        public = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        channel = self.admin_request("POST", f"{ADMIN_V1}/join/{public}", {"user_id": self.other})
        self.assertEqual(channel.json_body, {"room_id": public})
        self.assertEqual(self.membership_of(public, self.other), "join")

        private = self.helper.create_room_as(self.user, tok=self.tok)
        channel = self.admin_request("POST", f"{ADMIN_V1}/join/{private}", {"user_id": self.other})
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertIsNone(self.membership_of(private, self.other))
        # Once the admin is in, the user is invited and joined.
        self.helper.invite(private, self.user, self.admin, tok=self.tok)
        self.helper.join(private, self.admin, tok=self.admin_tok)
        channel = self.admin_request("POST", f"{ADMIN_V1}/join/{private}", {"user_id": self.other})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self.membership_of(private, self.other), "join")

    def test_join_bad_input(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        channel = self.admin_request("POST", f"{ADMIN_V1}/join/{room}", {})
        self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_MISSING_PARAM"))
        channel = self.admin_request("POST", f"{ADMIN_V1}/join/{room}", {"user_id": "@a:elsewhere"})
        self.assertEqual(channel.code, 400)
        channel = self.admin_request("POST", f"{ADMIN_V1}/join/{room}", {"user_id": "@ghost:test"})
        self.assertEqual(channel.code, 404)
        channel = self.admin_request("POST", f"{ADMIN_V1}/join/!nope:test", {"user_id": self.other})
        self.assertEqual(channel.code, 404)
        self.assertIsNone(self.membership_of(room, self.other))

    def test_make_room_admin(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room, self.other, tok=self.other_tok)
        channel = self.admin_request(
            "POST", f"{ADMIN_V1}/rooms/{room}/make_room_admin", {"user_id": self.other}
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        levels = self.state_content(room, "m.room.power_levels")
        self.assertEqual(levels["users"][self.other], 100)
        channel = self.admin_request(
            "POST", f"{ADMIN_V1}/rooms/{room}/make_room_admin", {"user_id": 3}
        )
        self.assertEqual(channel.code, 400)

    def test_forward_extremities(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        channel = self.admin_request("GET", f"{ADMIN_V1}/rooms/{room}/forward_extremities")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["count"], 1)
        self.assertEqual(
            set(channel.json_body["results"][0]),
            {"event_id", "state_group", "depth", "received_ts"},
        )
        channel = self.admin_request("DELETE", f"{ADMIN_V1}/rooms/{room}/forward_extremities")
        self.assertEqual(channel.json_body, {"deleted": 0})


class PurgeHistoryTestCase(AdminTestCase):
    servlets = [*AdminTestCase.servlets, room_history.register_servlets]

    def test_purge_up_to_event(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        old = [self.helper.send(room, f"old {i}", tok=self.tok)["event_id"] for i in range(3)]
        marker = self.helper.send(room, "keep", tok=self.tok)["event_id"]
        self.helper.send(room, "new", tok=self.tok)

        channel = self.admin_request(
            "POST",
            f"{ADMIN_V1}/purge_history/{room}",
            {"purge_up_to_event_id": marker, "delete_local_events": True},
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        purge_id = channel.json_body["purge_id"]
        self.pump(1)
        channel = self.admin_request("GET", f"{ADMIN_V1}/purge_history_status/{purge_id}")
        self.assertEqual(channel.json_body, {"status": "complete"})

        remaining = {e.event_id for e in self.room_events(room)}
        self.assertFalse(remaining & set(old))
        self.assertIn(marker, remaining)
        # State is kept: the room still works, and paginates without the purged events.
        self.helper.send(room, "after", tok=self.tok)
        channel = self.make_request(
            "GET", f"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50", access_token=self.tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        bodies = [e["content"].get("body") for e in channel.json_body["chunk"]]
        self.assertEqual([b for b in bodies if b is not None], ["after", "new", "keep"])
        self.assertEqual(self.admin_request("GET", f"{ADMIN_V1}/rooms/{room}/state").code, 200)

    def test_local_events_kept_unless_asked(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        old = self.helper.send(room, "old", tok=self.tok)["event_id"]
        marker = self.helper.send(room, "marker", tok=self.tok)["event_id"]
        channel = self.admin_request("POST", f"{ADMIN_V1}/purge_history/{room}/{marker}", {})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.pump(1)
        self.assertIn(old, {e.event_id for e in self.room_events(room)})

    def test_bad_input(self) -> None:
        room = self.helper.create_room_as(self.user, tok=self.tok)
        other_room = self.helper.create_room_as(self.user, tok=self.tok)
        foreign = self.helper.send(other_room, "x", tok=self.tok)["event_id"]
        before = len(self.room_events(room))
        channel = self.admin_request("POST", f"{ADMIN_V1}/purge_history/{room}", {})
        self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_BAD_JSON"))
        channel = self.admin_request(
            "POST", f"{ADMIN_V1}/purge_history/{room}", {"purge_up_to_event_id": foreign}
        )
        self.assertEqual(channel.code, 400)
        channel = self.admin_request(
            "POST", f"{ADMIN_V1}/purge_history/{room}", {"purge_up_to_ts": "yesterday"}
        )
        self.assertEqual((channel.code, channel.json_body["errcode"]), (400, "M_BAD_JSON"))
        channel = self.admin_request(
            "POST", f"{ADMIN_V1}/purge_history/{room}", {"purge_up_to_ts": 1}
        )
        self.assertEqual(channel.code, 404)
        channel = self.admin_request(
            "POST", f"{ADMIN_V1}/purge_history/!nope:test", {"purge_up_to_ts": 1}
        )
        self.assertEqual(channel.code, 404)
        self.assertEqual(len(self.room_events(room)), before)
        self.assertEqual(self.admin_request("GET", f"{ADMIN_V1}/purge_history_status/x").code, 404)

    def test_v1_delete_answers_with_the_outcome(self) -> None:
        room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(room, self.other, tok=self.other_tok)
        channel = self.admin_request("DELETE", f"{ADMIN_V1}/rooms/{room}", {})
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(sorted(channel.json_body["kicked_users"]), sorted([self.user, self.other]))
        self.assertEqual(channel.json_body["failed_to_kick_users"], [])
        self.assertIsNone(channel.json_body["new_room_id"])
        self.assertEqual(self.room_count(), 0)
