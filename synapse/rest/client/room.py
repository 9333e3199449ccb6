"""Rooms: ``/createRoom``, sending events, state, redactions and member lists."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.constants import EventTypes, Membership
from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.events.utils import serialize_event
from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    parse_json_object_from_request,
    parse_string,
    validate_json_object,
)
from synapse.rest.client._base import client_patterns
from synapse.storage.state_filter import StateFilter
from synapse.types import JsonDict, Requester, StreamToken
from synapse.util.identifiers import is_valid_room_id

if TYPE_CHECKING:
    from synapse.events import EventBase
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_MEMBERSHIPS = ["join", "invite", "knock", "leave", "ban"]

CREATE_ROOM_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "visibility": {"type": "string", "enum": ["public", "private"]},
        "room_alias_name": {"type": "string"},
        "name": {"type": "string"},
        "topic": {"type": "string"},
        "invite": {"type": "array", "items": {"type": "string"}},
        "invite_3pid": {"type": "array", "items": {"type": "object"}},
        "room_version": {"type": "string"},
        "creation_content": {"type": "object"},
        "initial_state": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "state_key": {"type": "string"},
                    "content": {"type": "object"},
                },
                "required": ["type", "content"],
            },
        },
        "preset": {
            "type": "string",
            "enum": ["private_chat", "public_chat", "trusted_private_chat"],
        },
        "is_direct": {"type": "boolean"},
        "power_level_content_override": {"type": "object"},
    },
}

REDACT_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"reason": {"type": "string"}},
}

MEMBER_CONTENT_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "membership": {"type": "string", "enum": _MEMBERSHIPS},
        "reason": {"type": "string"},
        "displayname": {"type": ["string", "null"]},
        "avatar_url": {"type": ["string", "null"]},
        "is_direct": {"type": "boolean"},
    },
    "required": ["membership"],
}


def check_room_id(room_id: str) -> None:
    """400 M_INVALID_PARAM unless ``room_id`` is a room ID of any room version."""
    if not is_valid_room_id(room_id):
        raise SynapseError(400, f"Invalid room ID {room_id!r}", Codes.INVALID_PARAM)


def _serialize(event: EventBase, now: int, requester: Requester | None = None) -> JsonDict:
    return serialize_event(
        event,
        now,
        token_id=requester.access_token_id if requester else None,
        device_id=requester.device_id if requester else None,
        user_id=requester.user.to_string() if requester else None,
    )


class RoomCreateRestServlet(RestServlet):
    PATTERNS = client_patterns("/createRoom$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self._handler = hs.get_room_creation_handler()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, CREATE_ROOM_SCHEMA)
        room_id, _, _ = await self._handler.create_room(requester, body)
        return 200, {"room_id": room_id}


class RoomSendEventRestServlet(RestServlet):
    """``PUT /rooms/{roomId}/send/{eventType}/{txnId}`` (and POST without a txn ID)."""

    PATTERNS = client_patterns(
        "/rooms/(?P<room_id>[^/]*)/send/(?P<event_type>[^/]*)(?:/(?P<txn_id>[^/]*))?$",
        v1=True,
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self._handler = hs.get_event_creation_handler()

    async def _send(
        self, request: Request, room_id: str, event_type: str, txn_id: str | None
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        content = parse_json_object_from_request(request)
        if not event_type:
            raise SynapseError(400, "Missing event type", Codes.INVALID_PARAM)
        event_dict: JsonDict = {"type": event_type, "room_id": room_id, "content": content}
        if event_type == EventTypes.Member:
            raise SynapseError(
                400, "Membership events are state events: use the membership endpoints"
            )
        event, _ = await self._handler.create_and_send_nonmember_event(
            requester, event_dict, txn_id=txn_id
        )
        return 200, {"event_id": event.event_id}

    async def on_PUT(
        self, request: Request, room_id: str, event_type: str, txn_id: str | None = None
    ) -> tuple[int, JsonDict]:
        if not txn_id:
            raise SynapseError(400, "Missing transaction ID", Codes.INVALID_PARAM)
        return await self._send(request, room_id, event_type, txn_id)

    async def on_POST(
        self, request: Request, room_id: str, event_type: str, txn_id: str | None = None
    ) -> tuple[int, JsonDict]:
        return await self._send(request, room_id, event_type, txn_id or None)


class RoomStateEventRestServlet(RestServlet):
    """``GET``/``PUT /rooms/{roomId}/state/{eventType}[/{stateKey}]``."""

    PATTERNS = client_patterns(
        "/rooms/(?P<room_id>[^/]*)/state/(?P<event_type>[^/]*)(?:/(?P<state_key>[^/]*))?$",
        v1=True,
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.clock = hs.get_clock()
        self._creation = hs.get_event_creation_handler()
        self._messages = hs.get_message_handler()
        self._members = hs.get_room_member_handler()

    async def on_GET(
        self, request: Request, room_id: str, event_type: str, state_key: str | None = None
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        fmt = parse_string(request, "format", "content", allowed_values=["content", "event"])
        event = await self._messages.get_room_data(requester, room_id, event_type, state_key or "")
        if event is None:
            raise NotFoundError("Event not found.")
        if fmt == "event":
            return 200, _serialize(event, self.clock.time_msec())
        return 200, event.content

    async def on_PUT(
        self, request: Request, room_id: str, event_type: str, state_key: str | None = None
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        content = parse_json_object_from_request(request)
        if not event_type:
            raise SynapseError(400, "Missing event type", Codes.INVALID_PARAM)
        state_key = state_key or ""
        if event_type == EventTypes.Member:
            validate_json_object(content, MEMBER_CONTENT_SCHEMA)
            membership = content["membership"]
            action = membership
            if membership == Membership.LEAVE and state_key != requester.user.to_string():
                action = "kick"
            event_id, _ = await self._members.update_membership(
                requester,
                state_key,
                room_id,
                action,
                content={k: v for k, v in content.items() if k != "membership"},
            )
            return 200, {"event_id": event_id}
        event_dict: JsonDict = {
            "type": event_type,
            "room_id": room_id,
            "state_key": state_key,
            "content": content,
        }
        event, _ = await self._creation.create_and_send_nonmember_event(requester, event_dict)
        return 200, {"event_id": event.event_id}


class RoomStateRestServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]*)/state$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.clock = hs.get_clock()
        self._messages = hs.get_message_handler()

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, list[JsonDict]]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        events = await self._messages.get_state_events(requester, room_id)
        now = self.clock.time_msec()
        return 200, [_serialize(e, now) for e in events]


class RoomRedactEventRestServlet(RestServlet):
    """``PUT /rooms/{roomId}/redact/{eventId}/{txnId}`` (and POST without a txn ID)."""

    PATTERNS = client_patterns(
        "/rooms/(?P<room_id>[^/]*)/redact/(?P<event_id>[^/]*)(?:/(?P<txn_id>[^/]*))?$",
        v1=True,
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self._handler = hs.get_event_creation_handler()

    async def _redact(
        self, request: Request, room_id: str, event_id: str, txn_id: str | None
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        content = parse_and_validate_json_object_from_request(
            request, REDACT_SCHEMA, allow_empty_body=True
        )
        event_dict: JsonDict = {
            "type": EventTypes.Redaction,
            "room_id": room_id,
            "content": content,
            "redacts": event_id,
        }
        event, _ = await self._handler.create_and_send_nonmember_event(
            requester, event_dict, txn_id=txn_id
        )
        return 200, {"event_id": event.event_id}

    async def on_PUT(
        self, request: Request, room_id: str, event_id: str, txn_id: str | None = None
    ) -> tuple[int, JsonDict]:
        if not txn_id:
            raise SynapseError(400, "Missing transaction ID", Codes.INVALID_PARAM)
        return await self._redact(request, room_id, event_id, txn_id)

    async def on_POST(
        self, request: Request, room_id: str, event_id: str, txn_id: str | None = None
    ) -> tuple[int, JsonDict]:
        return await self._redact(request, room_id, event_id, txn_id or None)


class RoomMemberListRestServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]*)/members$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.clock = hs.get_clock()
        self._messages = hs.get_message_handler()

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        at = parse_string(request, "at")
        membership = parse_string(request, "membership", allowed_values=_MEMBERSHIPS)
        not_membership = parse_string(request, "not_membership", allowed_values=_MEMBERSHIPS)
        at_stream = None
        if at is not None:
            at_stream = StreamToken.from_string(at).room_key.stream
        events = await self._messages.get_state_events(
            requester,
            room_id,
            StateFilter.from_types([(EventTypes.Member, None)]),
            at_stream=at_stream,
        )

        def wanted(event: EventBase) -> bool:
            m = event.content.get("membership")
            if membership is None and not_membership is None:
                return True
            # Both given: either condition (the spec's "or").
            return (membership is not None and m == membership) or (
                not_membership is not None and m != not_membership
            )

        now = self.clock.time_msec()
        return 200, {"chunk": [_serialize(e, now) for e in events if wanted(e)]}


class JoinedRoomMemberListRestServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]*)/joined_members$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self._messages = hs.get_message_handler()

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        check_room_id(room_id)
        joined = await self._messages.get_joined_members(requester, room_id)
        return 200, {"joined": joined}


class JoinedRoomsRestServlet(RestServlet):
    PATTERNS = client_patterns("/joined_rooms$", v1=True)

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self._stores = hs.get_datastores().main

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        rooms = await self._stores.roommember.get_rooms_for_user(requester.user.to_string())
        return 200, {"joined_rooms": sorted(rooms)}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    RoomCreateRestServlet(hs).register(http_server)
    RoomSendEventRestServlet(hs).register(http_server)
    RoomStateEventRestServlet(hs).register(http_server)
    RoomStateRestServlet(hs).register(http_server)
    RoomRedactEventRestServlet(hs).register(http_server)
    RoomMemberListRestServlet(hs).register(http_server)
    JoinedRoomMemberListRestServlet(hs).register(http_server)
    JoinedRoomsRestServlet(hs).register(http_server)
