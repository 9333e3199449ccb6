"""Reporting events, rooms and users, and what is stored for the admins."""

from __future__ import annotations

import json
from typing import Any

from synapse.api.errors import Codes
from synapse.rest.client import account_data, reporting
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.room_test_base import RoomTestCase
from tests.rest.client.sync_test_base import q
from tests.server import FakeChannel
from tests.unittest import override_config

REPORT_API = "client-server/report_content.yaml"
EVENT_PATH = "/rooms/{roomId}/report/{eventId}"
ROOM_PATH = "/rooms/{roomId}/report"
USER_PATH = "/users/{userId}/report"
# Well-formed IDs nothing has.
UNKNOWN_EVENT = "$" + "A" * 43
UNKNOWN_ROOM = "!nowhere:test"


class ReportTestCase(RoomTestCase):
    servlets = [*RoomTestCase.servlets, reporting.register_servlets, account_data.register_servlets]

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room, tok=self.other_tok)
        self.event = self.helper.send(self.room, "something nasty", tok=self.other_tok)["event_id"]
        self.carol = self.register_user("carol", "pass")
        self.carol_tok = self.login("carol", "pass")

    def post(self, path: str, body: Any, tok: str | None) -> FakeChannel:
        return self.make_request("POST", path, body, access_token=tok)

    def report_event(
        self, room_id: str, event_id: str, body: Any, tok: str | None = None
    ) -> FakeChannel:
        return self.post(
            f"rooms/{q(room_id)}/report/{q(event_id)}", body, self.tok if tok is None else tok
        )

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        columns = {
            "event_reports": "id, received_ts, room_id, event_id, user_id, reason, content",
            "room_reports": "id, received_ts, room_id, user_id, reason",
            "user_reports": "id, received_ts, target_user_id, user_id, reason",
        }[table]
        return self.get_success(
            self.stores.db_pool.execute("rows", f"SELECT {columns} FROM {table} ORDER BY id")
        )

    def assert_errcode(self, channel: FakeChannel, code: int, errcode: str) -> None:
        self.assertEqual(channel.code, code, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], errcode, channel.json_body)


class EventReportTestCase(ReportTestCase):
    def test_report_is_stored(self) -> None:
        body: JsonDict = {"reason": "this makes me sad", "score": -100}
        channel = self.report_event(self.room, self.event, body)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, REPORT_API, EVENT_PATH, "post")
        ((report_id, ts, room_id, event_id, user_id, reason, content),) = self.rows("event_reports")
        self.assertEqual(
            (ts, room_id, event_id, user_id, reason),
            (self.clock.time_msec(), self.room, self.event, self.user, "this makes me sad"),
        )
        self.assertEqual(json.loads(content), body)
        # Reporting again is another report.
        self.assertEqual(self.report_event(self.room, self.event, {}).code, 200)
        rows = self.rows("event_reports")
        self.assertEqual(len(rows), 2)
        self.assertGreater(rows[1][0], report_id)
        self.assertIsNone(rows[1][5])

    def test_reporter_must_be_joined(self) -> None:
        channel = self.report_event(self.room, self.event, {"reason": "x"}, tok=self.carol_tok)
        self.assert_errcode(channel, 404, Codes.NOT_FOUND)
        assert_response_matches_spec(channel.json_body, REPORT_API, EVENT_PATH, "post", 404)
        self.helper.join(self.room, tok=self.carol_tok)
        self.assertEqual(self.report_event(self.room, self.event, {}, tok=self.carol_tok).code, 200)
        self.helper.leave(self.room, tok=self.carol_tok)
        channel = self.report_event(self.room, self.event, {}, tok=self.carol_tok)
        self.assert_errcode(channel, 404, Codes.NOT_FOUND)
        self.assertEqual(len(self.rows("event_reports")), 1)

    def test_events_the_reporter_cannot_see(self) -> None:
        private = self.helper.create_room_as(self.other, is_public=True, tok=self.other_tok)
        self.helper.send_state(
            private,
            "m.room.history_visibility",
            {"history_visibility": "joined"},
            tok=self.other_tok,
        )
        before = self.helper.send(private, "before carol", tok=self.other_tok)["event_id"]
        self.helper.join(private, tok=self.carol_tok)
        after = self.helper.send(private, "after carol", tok=self.other_tok)["event_id"]
        channel = self.report_event(private, before, {}, tok=self.carol_tok)
        self.assert_errcode(channel, 404, Codes.NOT_FOUND)
        self.assertEqual(self.report_event(private, after, {}, tok=self.carol_tok).code, 200)
        self.assertEqual([r[3] for r in self.rows("event_reports")], [after])

    def test_events_of_ignored_users_may_be_reported(self) -> None:
        channel = self.make_request(
            "PUT",
            f"user/{q(self.user)}/account_data/m.ignored_user_list",
            {"ignored_users": {self.other: {}}},
            access_token=self.tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self.report_event(self.room, self.event, {"reason": "spam"}).code, 200)

    def test_unknown_and_misplaced_events(self) -> None:
        other_room = self.helper.create_room_as(self.user, tok=self.tok)
        elsewhere = self.helper.send(other_room, "elsewhere", tok=self.tok)["event_id"]
        for room_id, event_id in (
            (self.room, UNKNOWN_EVENT),
            (self.room, elsewhere),
            (UNKNOWN_ROOM, self.event),
        ):
            channel = self.report_event(room_id, event_id, {})
            self.assert_errcode(channel, 404, Codes.NOT_FOUND)
        self.assertEqual(self.rows("event_reports"), [])

    def test_bad_input_writes_nothing(self) -> None:
        for body, errcode in (
            ({"reason": 5}, Codes.BAD_JSON),
            ({"reason": None}, Codes.BAD_JSON),
            ({"score": 1}, Codes.BAD_JSON),
            ({"score": -101}, Codes.BAD_JSON),
            ({"score": "-5"}, Codes.BAD_JSON),
            ({"score": -2.5}, Codes.BAD_JSON),
            ({"reason": "a\u0000b"}, Codes.INVALID_PARAM),
            (["reason"], Codes.BAD_JSON),
            (b"{no", Codes.NOT_JSON),
        ):
            self.assert_errcode(self.report_event(self.room, self.event, body), 400, errcode)
        for room_id, event_id in (("room", self.event), (self.room, "event"), ("!", "$")):
            channel = self.report_event(room_id, event_id, {})
            self.assert_errcode(channel, 400, Codes.INVALID_PARAM)
        channel = self.post(f"rooms/{q(self.room)}/report/{q(self.event)}", {}, None)
        self.assert_errcode(channel, 401, Codes.MISSING_TOKEN)
        self.assertEqual(self.rows("event_reports"), [])


class RoomAndUserReportTestCase(ReportTestCase):
    def test_room_report_needs_no_membership(self) -> None:
        channel = self.post(f"rooms/{q(self.room)}/report", {"reason": ""}, self.carol_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, REPORT_API, ROOM_PATH, "post")
        ((_, ts, room_id, user_id, reason),) = self.rows("room_reports")
        self.assertEqual(
            (ts, room_id, user_id, reason), (self.clock.time_msec(), self.room, self.carol, "")
        )

    def test_room_report_errors(self) -> None:
        channel = self.post(f"rooms/{q(UNKNOWN_ROOM)}/report", {"reason": "x"}, self.tok)
        self.assert_errcode(channel, 404, Codes.NOT_FOUND)
        assert_response_matches_spec(channel.json_body, REPORT_API, ROOM_PATH, "post", 404)
        for body, errcode in (
            ({}, Codes.MISSING_PARAM),
            ({"reason": 1}, Codes.BAD_JSON),
            ({"reason": "\u0000"}, Codes.INVALID_PARAM),
        ):
            channel = self.post(f"rooms/{q(self.room)}/report", body, self.tok)
            self.assert_errcode(channel, 400, errcode)
        self.assert_errcode(
            self.post("rooms/not-a-room/report", {"reason": "x"}, self.tok),
            400,
            Codes.INVALID_PARAM,
        )
        self.assertEqual(self.rows("room_reports"), [])

    def test_user_report(self) -> None:
        channel = self.post(f"users/{q(self.other)}/report", {"reason": "spam"}, self.carol_tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, REPORT_API, USER_PATH, "post")
        # Remote users cannot be checked: the report is kept.
        remote = "@someone:elsewhere.example"
        self.assertEqual(
            self.post(f"users/{q(remote)}/report", {"reason": "x"}, self.tok).code, 200
        )
        rows = self.rows("user_reports")
        self.assertEqual(
            [r[2:] for r in rows], [(self.other, self.carol, "spam"), (remote, self.user, "x")]
        )

    def test_user_report_errors(self) -> None:
        channel = self.post("users/@nobody:test/report", {"reason": "x"}, self.tok)
        self.assert_errcode(channel, 404, Codes.NOT_FOUND)
        assert_response_matches_spec(channel.json_body, REPORT_API, USER_PATH, "post", 404)
        for user_id in ("nobody", "@", "@nobody"):
            channel = self.post(f"users/{q(user_id)}/report", {"reason": "x"}, self.tok)
            self.assert_errcode(channel, 400, Codes.INVALID_PARAM)
        channel = self.post(f"users/{q(self.other)}/report", {}, self.tok)
        self.assert_errcode(channel, 400, Codes.MISSING_PARAM)
        self.assertEqual(self.rows("user_reports"), [])

    @override_config({"rc_reports": {"per_second": 0.1, "burst_count": 2}})
    def test_rate_limited(self) -> None:
        self.assertEqual(self.report_event(self.room, self.event, {}).code, 200)
        self.assertEqual(
            self.post(f"rooms/{q(self.room)}/report", {"reason": "x"}, self.tok).code, 200
        )
        channel = self.post(f"users/{q(self.other)}/report", {"reason": "x"}, self.tok)
        self.assert_errcode(channel, 429, Codes.LIMIT_EXCEEDED)
        assert_response_matches_spec(channel.json_body, REPORT_API, USER_PATH, "post", 429)
        channel = self.report_event(self.room, self.event, {})
        self.assert_errcode(channel, 429, Codes.LIMIT_EXCEEDED)
        self.assertEqual(len(self.rows("event_reports")), 1)
        self.assertEqual(self.rows("user_reports"), [])
        # Others are not held back.
        self.assertEqual(self.report_event(self.room, self.event, {}, tok=self.other_tok).code, 200)
