"""The admin API for event reports: listing with filters and pages, details, deletion."""

from __future__ import annotations

import json
from typing import Any

from tests.rest.admin.admin_test_base import ADMIN_V1, AdminTestCase


class EventReportsTestCase(AdminTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room = self.helper.create_room_as(
            self.user, is_public=True, tok=self.tok, extra_content={"name": "Reported"}
        )
        self.helper.join(self.room, self.other, tok=self.other_tok)
        self.event_id = self.helper.send(self.room, "bad words", tok=self.other_tok)["event_id"]
        for report_id, reporter in ((1, self.user), (2, self.user), (3, self.admin)):
            self.get_success(
                self.stores.db_pool.simple_insert(
                    "event_reports",
                    {
                        "id": report_id,
                        "received_ts": 1_000_000 + report_id,
                        "room_id": self.room,
                        "event_id": self.event_id,
                        "user_id": reporter,
                        "reason": f"reason {report_id}",
                        "content": json.dumps({"reason": f"reason {report_id}", "score": -100}),
                    },
                )
            )

    def test_list(self) -> None:
        channel = self.admin_request("GET", f"{ADMIN_V1}/event_reports")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["total"], 3)
        reports = channel.json_body["event_reports"]
        self.assertEqual([r["id"] for r in reports], [3, 2, 1])
        first = reports[0]
        self.assertEqual(first["room_id"], self.room)
        self.assertEqual(first["name"], "Reported")
        self.assertEqual(first["event_id"], self.event_id)
        self.assertEqual(first["sender"], self.other)
        self.assertEqual(first["score"], -100)
        self.assertIn("canonical_alias", first)

        channel = self.admin_request("GET", f"{ADMIN_V1}/event_reports?dir=f&limit=2")
        self.assertEqual([r["id"] for r in channel.json_body["event_reports"]], [1, 2])
        self.assertEqual(channel.json_body["next_token"], 2)
        channel = self.admin_request("GET", f"{ADMIN_V1}/event_reports?user_id=admin")
        self.assertEqual([r["id"] for r in channel.json_body["event_reports"]], [3])
        channel = self.admin_request(
            "GET", f"{ADMIN_V1}/event_reports?event_sender_user_id={self.user}"
        )
        self.assertEqual(channel.json_body["total"], 0)

    def test_details_and_delete(self) -> None:
        channel = self.admin_request("GET", f"{ADMIN_V1}/event_reports/2")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["reason"], "reason 2")
        self.assertEqual(channel.json_body["event_json"]["content"]["body"], "bad words")
        self.assertEqual(self.admin_request("DELETE", f"{ADMIN_V1}/event_reports/2").code, 200)
        self.assertEqual(self.admin_request("GET", f"{ADMIN_V1}/event_reports/2").code, 404)
        self.assertEqual(self.admin_request("DELETE", f"{ADMIN_V1}/event_reports/2").code, 404)
        channel = self.admin_request("GET", f"{ADMIN_V1}/event_reports")
        self.assertEqual(channel.json_body["total"], 2)

    def test_bad_input(self) -> None:
        for path in (
            "/event_reports/abc",
            "/event_reports/-1",
            "/event_reports?limit=-1",
            "/event_reports?dir=z",
        ):
            channel = self.admin_request("GET", ADMIN_V1 + path)
            self.assertEqual(
                (channel.code, channel.json_body["errcode"]), (400, "M_INVALID_PARAM"), path
            )
        channel = self.admin_request("DELETE", f"{ADMIN_V1}/event_reports/x")
        self.assertEqual(channel.code, 400)
        self.assertEqual(
            self.admin_request("GET", f"{ADMIN_V1}/event_reports").json_body["total"], 3
        )

    def test_non_admins_refused(self) -> None:
        self.assert_refused_to_non_admins("GET", f"{ADMIN_V1}/event_reports")
        self.assert_refused_to_non_admins("GET", f"{ADMIN_V1}/event_reports/1")
        self.assert_refused_to_non_admins("DELETE", f"{ADMIN_V1}/event_reports/1")
        self.assertEqual(
            self.admin_request("GET", f"{ADMIN_V1}/event_reports").json_body["total"], 3
        )
