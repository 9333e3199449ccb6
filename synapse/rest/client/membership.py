"""Membership: ``/join``, ``/knock`` and ``/rooms/{roomId}/{invite,join,leave,kick,ban,unban,forget}``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    parse_json_object_from_request,
    validate_json_object,
)
from synapse.rest.client._base import client_patterns
from synapse.rest.client.room import check_room_id
from synapse.types import JsonDict, Requester

if TYPE_CHECKING:
    from synapse.handlers.room_member import RoomMemberHandler
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

JOIN_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "third_party_signed": {"type": "object"},
    },
}

KNOCK_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"reason": {"type": "string"}},
}

TARGET_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "user_id": {"type": "string"},
        "reason": {"type": "string"},
    },
    "required": ["user_id"],
}

INVITE_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "user_id": {"type": "string"},
        "reason": {"type": "string"},
        "is_direct": {"type": "boolean"},
    },
    "required": ["user_id"],
}


async def _join(
    members: RoomMemberHandler, requester: Requester, room_id: str, body: JsonDict
) -> tuple[int, JsonDict]:
    """Join ``room_id`` with the ``reason`` and ``third_party_signed`` of a join body."""
    await members.update_membership(
        requester,
        requester.user,
        room_id,
        "join",
        reason=body.get("reason"),
        third_party_signed=body.get("third_party_signed"),
    )
    return 200, {"room_id": room_id}


class JoinRoomAliasServlet(RestServlet):
    """``POST /join/{roomIdOrAlias}`` (``server_name``/``via`` only matter for remote rooms)."""

    PATTERNS = client_patterns("/join/(?P<room_identifier>[^/]*)$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self._members = hs.get_room_member_handler()
        self._directory = hs.get_directory_handler()

    async def on_POST(self, request: Request, room_identifier: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        body = parse_and_validate_json_object_from_request(
            request, JOIN_SCHEMA, allow_empty_body=True
        )
        room_id = await self._directory.resolve_room_id_or_alias(room_identifier)
        return await _join(self._members, requester, room_id, body)


class KnockRoomAliasServlet(RestServlet):
    """``POST /knock/{roomIdOrAlias}``."""

    PATTERNS = client_patterns("/knock/(?P<room_identifier>[^/]*)$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self._members = hs.get_room_member_handler()
        self._directory = hs.get_directory_handler()

    async def on_POST(self, request: Request, room_identifier: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(
            request, KNOCK_SCHEMA, allow_empty_body=True
        )
        room_id = await self._directory.resolve_room_id_or_alias(room_identifier)
        await self._members.update_membership(
            requester, requester.user, room_id, "knock", reason=body.get("reason")
        )
        return 200, {"room_id": room_id}


class RoomMembershipRestServlet(RestServlet):
    """``POST /rooms/{roomId}/{join,invite,leave,kick,ban,unban,forget}``."""

    PATTERNS = client_patterns(
        "/rooms/(?P<room_id>[^/]*)/(?P<action>join|invite|leave|kick|ban|unban|forget)$",
        v1=True,
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self._members = hs.get_room_member_handler()

    async def on_POST(self, request: Request, room_id: str, action: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(
            request, allow_guest=action in ("join", "leave")
        )
        check_room_id(room_id)
        if action == "join":
            body = parse_and_validate_json_object_from_request(
                request, JOIN_SCHEMA, allow_empty_body=True
            )
            return await _join(self._members, requester, room_id, body)
        if action in ("leave", "forget"):
            body = parse_and_validate_json_object_from_request(
                request, KNOCK_SCHEMA, allow_empty_body=True
            )
            await self._members.update_membership(
                requester, requester.user, room_id, action, reason=body.get("reason")
            )
            return 200, {}
        if action == "invite":
            body = parse_json_object_from_request(request)
            if "user_id" not in body and {"id_server", "medium", "address"} & body.keys():
                raise SynapseError(
                    400, "Inviting third-party identifiers is not supported", Codes.UNRECOGNIZED
                )
            validate_json_object(body, INVITE_SCHEMA)
            content = {"is_direct": True} if body.get("is_direct") else None
            await self._members.update_membership(
                requester,
                body["user_id"],
                room_id,
                "invite",
                reason=body.get("reason"),
                content=content,
            )
            return 200, {}
        body = parse_and_validate_json_object_from_request(request, TARGET_SCHEMA)
        target = body["user_id"]
        if not isinstance(target, str) or not target.startswith("@"):
            raise SynapseError(400, "Invalid user_id", Codes.INVALID_PARAM)
        await self._members.update_membership(
            requester, target, room_id, action, reason=body.get("reason")
        )
        return 200, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    JoinRoomAliasServlet(hs).register(http_server)
    KnockRoomAliasServlet(hs).register(http_server)
    RoomMembershipRestServlet(hs).register(http_server)
