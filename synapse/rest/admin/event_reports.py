"""The admin API for event reports: ``GET /_synapse/admin/v1/event_reports``,
``GET/DELETE /_synapse/admin/v1/event_reports/{reportId}``, with Synapse's shapes."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.http.servlet import RestServlet, parse_integer, parse_string
from synapse.rest.admin._base import admin_patterns, assert_requester_is_admin
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer


def _parse_report_id(report_id: str) -> int:
    if not report_id.isdigit() or len(report_id) > 18:
        raise SynapseError(
            HTTPStatus.BAD_REQUEST,
            "The report_id parameter must be a string representing a positive integer.",
            Codes.INVALID_PARAM,
        )
    return int(report_id)


class _ReportsServlet(RestServlet):
    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.auth = hs.get_auth()
        self.stores = hs.get_datastores().main

    async def _add_room_names(self, reports: list[JsonDict]) -> None:
        """Each report's room name and canonical alias, as Synapse lists them."""
        rooms = await self.stores.admin.get_rooms_details({r["room_id"] for r in reports})
        by_id = {room["room_id"]: room for room in rooms}
        for report in reports:
            room = by_id.get(report["room_id"], {})
            report["name"] = room.get("name")
            report["canonical_alias"] = room.get("canonical_alias")


class EventReportsRestServlet(_ReportsServlet):
    """``GET /_synapse/admin/v1/event_reports``: a page of reports, newest first."""

    PATTERNS = admin_patterns("/event_reports$")

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        start = parse_integer(request, "from", default=0)
        limit = parse_integer(request, "limit", default=100)
        direction = parse_string(request, "dir", default="b", allowed_values=["f", "b"])
        user_id = parse_string(request, "user_id")
        room_id = parse_string(request, "room_id")
        sender = parse_string(request, "event_sender_user_id")
        reports, total = await self.stores.admin.get_event_reports_paginate(
            start, limit, direction, user_id, room_id, sender
        )
        await self._add_room_names(reports)
        result: JsonDict = {"event_reports": reports, "total": total}
        if start + len(reports) < total:
            result["next_token"] = start + len(reports)
        return HTTPStatus.OK, result


class EventReportDetailRestServlet(_ReportsServlet):
    """``GET/DELETE /_synapse/admin/v1/event_reports/{reportId}``."""

    PATTERNS = admin_patterns("/event_reports/(?P<report_id>[^/]*)$")

    async def on_GET(self, request: Request, report_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        report = await self.stores.admin.get_event_report(_parse_report_id(report_id))
        if report is None:
            raise NotFoundError("Event report not found")
        event = await self.stores.events.get_event(report["event_id"], allow_none=True)
        report["sender"] = event.sender if event is not None else None
        report["event_json"] = event.get_pdu_json() if event is not None else None
        await self._add_room_names([report])
        return HTTPStatus.OK, report

    async def on_DELETE(self, request: Request, report_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        if not await self.stores.admin.delete_event_report(_parse_report_id(report_id)):
            raise NotFoundError("Event report not found")
        return HTTPStatus.OK, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    EventReportsRestServlet(hs).register(http_server)
    EventReportDetailRestServlet(hs).register(http_server)
