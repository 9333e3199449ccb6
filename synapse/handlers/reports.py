"""Reporting content: events (by members of their room who can see them), rooms and users.

The reports are stored for the server's admins (the admin API lists them). ``rc_reports``
limits how often a user may report. As the spec asks, an event report needs the
reporter to be joined to the room (and to be able to see the event: 404 otherwise),
while room and user reports need no shared room.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.constants import Membership
from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.api.ratelimiting import Ratelimiter
from synapse.types import JsonDict, Requester
from synapse.util.identifiers import is_valid_event_id, is_valid_room_id, is_valid_user_id
from synapse.visibility import filter_events_for_client

if TYPE_CHECKING:
    from synapse.server import HomeServer


def _check_text(name: str, value: str | None) -> None:
    if value is not None and "\x00" in value:
        raise SynapseError(400, f"'{name}' may not contain NUL characters", Codes.INVALID_PARAM)


class ReportsHandler:
    """``hs.get_reports_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self._stores = hs.get_datastores().main
        self._limiter = Ratelimiter(self._stores, self.clock, hs.config.ratelimiting.rc_reports)

    async def report_event(
        self, requester: Requester, room_id: str, event_id: str, body: JsonDict
    ) -> None:
        """Report an event; 404 unless the reporter is joined to the room and may see it."""
        if not is_valid_room_id(room_id):
            raise SynapseError(400, f"Invalid room ID {room_id!r}", Codes.INVALID_PARAM)
        if not is_valid_event_id(event_id):
            raise SynapseError(400, f"Invalid event ID {event_id!r}", Codes.INVALID_PARAM)
        reason = body.get("reason")
        _check_text("reason", reason)
        await self._limiter.ratelimit(requester)
        user_id = requester.user.to_string()
        not_found = NotFoundError("The event was not found or you are not joined to the room.")
        membership, _ = await self._stores.roommember.get_local_current_membership_for_user_in_room(
            user_id, room_id
        )
        if membership != Membership.JOIN:
            raise not_found
        event = await self._stores.events.get_event(event_id, allow_none=True)
        if event is None or event.room_id != room_id:
            raise not_found
        # History visibility decides; ignoring the sender must not stop a report.
        visible = await filter_events_for_client(
            self._stores, user_id, [event], ignored_users=(), add_membership=False
        )
        if not visible:
            raise not_found
        await self._stores.reports.add_event_report(
            room_id, event_id, user_id, reason, body, self.clock.time_msec()
        )

    async def report_room(self, requester: Requester, room_id: str, reason: str) -> None:
        """Report a room the server knows (404 otherwise); no membership is needed."""
        if not is_valid_room_id(room_id):
            raise SynapseError(400, f"Invalid room ID {room_id!r}", Codes.INVALID_PARAM)
        _check_text("reason", reason)
        await self._limiter.ratelimit(requester)
        if await self._stores.rooms.get_room(room_id) is None:
            raise NotFoundError("The room was not found.")
        await self._stores.reports.add_room_report(
            room_id, requester.user.to_string(), reason, self.clock.time_msec()
        )

    async def report_user(self, requester: Requester, target_user_id: str, reason: str) -> None:
        """Report a user: a local one must exist (404); remote ones cannot be checked."""
        if not is_valid_user_id(target_user_id):
            raise SynapseError(400, f"Invalid user ID {target_user_id!r}", Codes.INVALID_PARAM)
        _check_text("reason", reason)
        await self._limiter.ratelimit(requester)
        if self.hs.is_mine_id(target_user_id):
            if await self._stores.registration.get_user_by_id(target_user_id) is None:
                raise NotFoundError("The user was not found.")
        await self._stores.reports.add_user_report(
            target_user_id, requester.user.to_string(), reason, self.clock.time_msec()
        )
