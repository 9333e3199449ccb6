"""The admin API for rooms, with Synapse's paths and shapes.

- ``GET /_synapse/admin/v1/rooms``; ``GET /v1/rooms/{roomId}``, ``/members``, ``/state``,
  ``/messages``; ``GET/PUT /v1/rooms/{roomId}/block``; ``GET/DELETE
  /v1/rooms/{roomId}/forward_extremities``
- ``DELETE /_synapse/admin/v2/rooms/{roomId}`` (``/v1``: done before answering), ``GET
  /v2/rooms/{roomId}/delete_status``, ``GET /v2/rooms/delete_status/{deleteId}``
- ``POST /_synapse/admin/v1/join/{roomIdOrAlias}``,
  ``POST /v1/rooms/{roomId}/make_room_admin``
- ``POST /_synapse/admin/v1/purge_history/{roomId}[/{eventId}]``,
  ``GET /v1/purge_history_status/{purgeId}``
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.handlers.admin import DeleteRoomTask
from synapse.handlers.relations import parse_pagination_token
from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    parse_boolean,
    parse_integer,
    parse_string,
)
from synapse.rest.admin._base import admin_patterns, assert_requester_is_admin
from synapse.rest.admin.users import parse_user_id
from synapse.types import JsonDict, RoomStreamToken
from synapse.util.identifiers import is_valid_room_alias, is_valid_room_id

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_ROOM = "/(?P<room_id>[^/]*)"

# Sort keys of the room list; the counts sort largest first unless dir=b.
_TEXT_ORDERS = {
    "name": "name",
    "alphabetical": "name",
    "canonical_alias": "canonical_alias",
    "version": "version",
    "creator": "creator",
    "encryption": "encryption",
    "join_rules": "join_rules",
    "guest_access": "guest_access",
    "history_visibility": "history_visibility",
    "federatable": "federatable",
    "public": "public",
}
_COUNT_ORDERS = {
    "size": "joined_members",
    "joined_members": "joined_members",
    "joined_local_members": "joined_local_members",
    "state_events": "state_events",
}

_LIST_FIELDS = (
    "room_id",
    "name",
    "canonical_alias",
    "joined_members",
    "joined_local_members",
    "version",
    "creator",
    "encryption",
    "federatable",
    "public",
    "join_rules",
    "guest_access",
    "history_visibility",
    "state_events",
    "room_type",
)

_DELETE_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "new_room_user_id": {"type": "string"},
        "room_name": {"type": "string"},
        "message": {"type": "string"},
        "block": {"type": "boolean"},
        "purge": {"type": "boolean"},
        "force_purge": {"type": "boolean"},
    },
}

_JOIN_SCHEMA: JsonDict = {
    "type": "object",
    "required": ["user_id"],
    "properties": {"user_id": {"type": "string"}},
}

_MAKE_ADMIN_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"user_id": {"type": "string"}},
}

_BLOCK_SCHEMA: JsonDict = {
    "type": "object",
    "required": ["block"],
    "properties": {"block": {"type": "boolean"}},
}

_PURGE_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "delete_local_events": {"type": "boolean"},
        "purge_up_to_event_id": {"type": "string"},
        "purge_up_to_ts": {"type": "integer", "minimum": 0},
    },
}


def parse_room_id(room_id: str) -> str:
    """400 M_INVALID_PARAM unless ``room_id`` is a room ID."""
    if not is_valid_room_id(room_id):
        raise SynapseError(
            HTTPStatus.BAD_REQUEST, f"{room_id!r} is not a legal room ID", Codes.INVALID_PARAM
        )
    return room_id


def _sort_key(value: Any) -> tuple[int, Any]:
    # None sorts last going forwards, as NULLs do in Synapse's listing.
    return (1, "") if value is None else (0, value)


class _RoomServlet(RestServlet):
    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.auth = hs.get_auth()
        self.stores = hs.get_datastores().main
        self.admin_handler = hs.get_admin_handler()

    async def _known_room(self, room_id: str) -> str:
        parse_room_id(room_id)
        if await self.stores.rooms.get_room(room_id) is None:
            raise NotFoundError("Room not found")
        return room_id


class ListRoomRestServlet(_RoomServlet):
    """``GET /_synapse/admin/v1/rooms``: a page of the rooms this server knows."""

    PATTERNS = admin_patterns("/rooms$")

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        start = parse_integer(request, "from", default=0)
        limit = parse_integer(request, "limit", default=100)
        order_by = parse_string(
            request,
            "order_by",
            default="name",
            allowed_values=[*_TEXT_ORDERS, *_COUNT_ORDERS],
        )
        direction = parse_string(request, "dir", default="f", allowed_values=["f", "b"])
        search_term = parse_string(request, "search_term")
        if search_term == "":
            raise SynapseError(
                HTTPStatus.BAD_REQUEST, "search_term cannot be empty", Codes.INVALID_PARAM
            )
        public_rooms = (
            parse_boolean(request, "public_rooms") if b"public_rooms" in request.args else None
        )
        empty_rooms = (
            parse_boolean(request, "empty_rooms") if b"empty_rooms" in request.args else None
        )
        rooms = await self.stores.admin.get_rooms_details()
        if public_rooms is not None:
            rooms = [r for r in rooms if r["public"] == public_rooms]
        if empty_rooms is not None:
            rooms = [r for r in rooms if (r["joined_members"] == 0) == empty_rooms]
        if search_term is not None:
            term = search_term.lower()
            rooms = [
                r
                for r in rooms
                if term in r["room_id"].lower()
                or term in (r["name"] or "").lower()
                or term in (r["canonical_alias"] or "").lower()
            ]
        if order_by in _COUNT_ORDERS:
            column = _COUNT_ORDERS[order_by]
            rooms.sort(key=lambda r: (-r[column], r["room_id"]), reverse=direction == "b")
        else:
            column = _TEXT_ORDERS[order_by]
            rooms.sort(key=lambda r: (_sort_key(r[column]), r["room_id"]), reverse=direction == "b")
        total = len(rooms)
        page = [{k: r[k] for k in _LIST_FIELDS} for r in rooms[start : start + limit]]
        result: JsonDict = {"rooms": page, "offset": start, "total_rooms": total}
        if start + limit < total:
            result["next_batch"] = start + limit
        if start > 0:
            result["prev_batch"] = max(start - limit, 0)
        return HTTPStatus.OK, result


class RoomRestServlet(_RoomServlet):
    """``GET /_synapse/admin/v1/rooms/{roomId}``; ``DELETE`` as v2 does."""

    PATTERNS = admin_patterns(f"/rooms{_ROOM}$")

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        return HTTPStatus.OK, await self.admin_handler.get_room_details(parse_room_id(room_id))

    async def on_DELETE(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        """Synapse's v1 deletion: done before answering, with its outcome."""
        task = await _start_delete(self.hs, request, room_id, wait=True)
        return HTTPStatus.OK, task.to_json()["shutdown_room"]


class RoomRestV2Servlet(_RoomServlet):
    """``DELETE /_synapse/admin/v2/rooms/{roomId}``: shut down (and purge) in the background."""

    PATTERNS = admin_patterns(f"/rooms{_ROOM}$", "v2")

    async def on_DELETE(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        task = await _start_delete(self.hs, request, room_id)
        return HTTPStatus.OK, {"delete_id": task.delete_id}


async def _start_delete(
    hs: HomeServer, request: Request, room_id: str, wait: bool = False
) -> DeleteRoomTask:
    requester = await assert_requester_is_admin(hs.get_auth(), request)
    body = parse_and_validate_json_object_from_request(
        request, _DELETE_SCHEMA, allow_empty_body=True
    )
    parse_room_id(room_id)
    new_room_user_id = body.get("new_room_user_id")
    if new_room_user_id is not None:
        parse_user_id(hs, new_room_user_id, "use")
    return await hs.get_admin_handler().start_delete_room(
        requester,
        room_id,
        new_room_user_id=new_room_user_id,
        room_name=body.get("room_name"),
        message=body.get("message"),
        block=body.get("block", False),
        purge=body.get("purge", True),
        force_purge=body.get("force_purge", False),
        wait=wait,
    )


class DeleteStatusByRoomServlet(_RoomServlet):
    """``GET /_synapse/admin/v2/rooms/{roomId}/delete_status``."""

    PATTERNS = admin_patterns(f"/rooms{_ROOM}/delete_status$", "v2")

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        parse_room_id(room_id)
        tasks = self.admin_handler.get_delete_tasks_for_room(room_id)
        if not tasks:
            raise NotFoundError(f"No delete task for room_id '{room_id}' found")
        return HTTPStatus.OK, {"results": [t.to_json() for t in tasks]}


class DeleteStatusByDeleteIdServlet(_RoomServlet):
    """``GET /_synapse/admin/v2/rooms/delete_status/{deleteId}``."""

    PATTERNS = admin_patterns("/rooms/delete_status/(?P<delete_id>[^/]*)$", "v2")

    async def on_GET(self, request: Request, delete_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        task = self.admin_handler.get_delete_task(delete_id)
        if task is None:
            raise NotFoundError(f"delete id '{delete_id}' not found")
        return HTTPStatus.OK, task.to_json()


class RoomMembersRestServlet(_RoomServlet):
    """``GET /_synapse/admin/v1/rooms/{roomId}/members``: the joined members."""

    PATTERNS = admin_patterns(f"/rooms{_ROOM}/members$")

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        await self._known_room(room_id)
        members = sorted(await self.stores.roommember.get_users_in_room(room_id))
        return HTTPStatus.OK, {"members": members, "total": len(members)}


class RoomStateRestServlet(_RoomServlet):
    """``GET /_synapse/admin/v1/rooms/{roomId}/state``: the current state events."""

    PATTERNS = admin_patterns(f"/rooms{_ROOM}/state$")

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        await self._known_room(room_id)
        state_ids = await self.stores.state.get_current_state_ids(room_id)
        events = await self.stores.events.get_events_as_list(
            [state_ids[k] for k in sorted(state_ids)]
        )
        now = self.hs.get_clock().time_msec()
        serialized = self.hs.get_event_client_serializer().serialize_events(events, now)
        return HTTPStatus.OK, {"state": serialized}


class RoomMessagesRestServlet(_RoomServlet):
    """``GET /_synapse/admin/v1/rooms/{roomId}/messages``: any room's timeline."""

    PATTERNS = admin_patterns(f"/rooms{_ROOM}/messages$")

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        await self._known_room(room_id)
        from_token = parse_string(request, "from")
        to_token = parse_string(request, "to")
        direction = parse_string(request, "dir", default="b", allowed_values=["f", "b"])
        limit = min(parse_integer(request, "limit", default=10), 1000)
        stream = self.stores.stream
        from_key = await parse_pagination_token(self.hs, room_id, from_token)
        if from_key is None:
            from_key = (
                await stream.get_topological_token_for_stream(
                    room_id, stream.get_room_max_stream_ordering()
                )
                if direction == "b"
                else RoomStreamToken(stream=0, topological=0)
            )
        to_key = await parse_pagination_token(self.hs, room_id, to_token)
        events, next_key = await stream.paginate_room_events(
            room_id, from_key, to_key, direction, limit
        )
        now = self.hs.get_clock().time_msec()
        body: JsonDict = {
            "chunk": self.hs.get_event_client_serializer().serialize_events(events, now),
            "start": from_token if from_token is not None else from_key.to_string(),
        }
        if len(events) >= limit > 0:
            body["end"] = next_key.to_string()
        return HTTPStatus.OK, body


class BlockRoomRestServlet(_RoomServlet):
    """``GET/PUT /_synapse/admin/v1/rooms/{roomId}/block``."""

    PATTERNS = admin_patterns(f"/rooms{_ROOM}/block$")

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        parse_room_id(room_id)
        blocker = await self.stores.admin.get_room_blocker(room_id)
        if blocker is None:
            return HTTPStatus.OK, {"block": False}
        return HTTPStatus.OK, {"block": True, "user_id": blocker}

    async def on_PUT(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(request, _BLOCK_SCHEMA)
        parse_room_id(room_id)
        if body["block"]:
            await self.stores.admin.block_room(room_id, requester.user.to_string())
        else:
            await self.stores.admin.unblock_room(room_id)
        return HTTPStatus.OK, {"block": body["block"]}


class ForwardExtremitiesRestServlet(_RoomServlet):
    """``GET/DELETE /_synapse/admin/v1/rooms/{roomIdOrAlias}/forward_extremities``."""

    PATTERNS = admin_patterns(f"/rooms{_ROOM}/forward_extremities$")

    async def _resolve(self, room_id_or_alias: str) -> str:
        if is_valid_room_alias(room_id_or_alias):
            mapping = await self.stores.directory.get_association_from_room_alias(room_id_or_alias)
            if mapping is None:
                raise NotFoundError("Room alias not found")
            return mapping.room_id
        return await self._known_room(room_id_or_alias)

    async def on_GET(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        resolved = await self._resolve(room_id)
        extremities = await self.stores.admin.get_forward_extremities_details(resolved)
        return HTTPStatus.OK, {"count": len(extremities), "results": extremities}

    async def on_DELETE(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        resolved = await self._resolve(room_id)
        deleted = await self.admin_handler.delete_forward_extremities(resolved)
        return HTTPStatus.OK, {"deleted": deleted}


class JoinRoomAliasServlet(_RoomServlet):
    """``POST /_synapse/admin/v1/join/{roomIdOrAlias}``: join a local user to a room."""

    PATTERNS = admin_patterns("/join/(?P<room_identifier>[^/]*)$")

    async def on_POST(self, request: Request, room_identifier: str) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(request, _JOIN_SCHEMA)
        user_id = parse_user_id(self.hs, body["user_id"], "join").to_string()
        if is_valid_room_alias(room_identifier):
            room_id = await self.hs.get_directory_handler().resolve_room_id_or_alias(
                room_identifier
            )
        else:
            room_id = parse_room_id(room_identifier)
        await self.admin_handler.join_user_to_room(requester, user_id, room_id)
        return HTTPStatus.OK, {"room_id": room_id}


class MakeRoomAdminRestServlet(_RoomServlet):
    """``POST /_synapse/admin/v1/rooms/{roomIdOrAlias}/make_room_admin``."""

    PATTERNS = admin_patterns(f"/rooms{_ROOM}/make_room_admin$")

    async def on_POST(self, request: Request, room_id: str) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(
            request, _MAKE_ADMIN_SCHEMA, allow_empty_body=True
        )
        user_id = body.get("user_id", requester.user.to_string())
        user_id = parse_user_id(self.hs, user_id, "make room admins of").to_string()
        if is_valid_room_alias(room_id):
            room_id = await self.hs.get_directory_handler().resolve_room_id_or_alias(room_id)
        else:
            parse_room_id(room_id)
        await self.admin_handler.make_room_admin(room_id, user_id)
        return HTTPStatus.OK, {}


class PurgeHistoryRestServlet(_RoomServlet):
    """``POST /_synapse/admin/v1/purge_history/{roomId}[/{eventId}]``."""

    PATTERNS = admin_patterns(f"/purge_history{_ROOM}(/(?P<event_id>[^/]*))?$")

    async def on_POST(
        self, request: Request, room_id: str, event_id: str | None = None
    ) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(
            request, _PURGE_SCHEMA, allow_empty_body=True
        )
        parse_room_id(room_id)
        if event_id is None:
            event_id = body.get("purge_up_to_event_id")
        purge_id = await self.admin_handler.start_purge_history(
            room_id,
            event_id,
            body.get("purge_up_to_ts") if event_id is None else None,
            body.get("delete_local_events", False),
        )
        return HTTPStatus.OK, {"purge_id": purge_id}


class PurgeHistoryStatusRestServlet(_RoomServlet):
    """``GET /_synapse/admin/v1/purge_history_status/{purgeId}``."""

    PATTERNS = admin_patterns("/purge_history_status/(?P<purge_id>[^/]*)$")

    async def on_GET(self, request: Request, purge_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        task = self.admin_handler.get_purge_task(purge_id)
        if task is None:
            raise NotFoundError(f"purge id '{purge_id}' not found")
        return HTTPStatus.OK, task.to_json()


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    for servlet in (
        ListRoomRestServlet,
        RoomRestServlet,
        RoomRestV2Servlet,
        DeleteStatusByRoomServlet,
        DeleteStatusByDeleteIdServlet,
        RoomMembersRestServlet,
        RoomStateRestServlet,
        RoomMessagesRestServlet,
        BlockRoomRestServlet,
        ForwardExtremitiesRestServlet,
        JoinRoomAliasServlet,
        MakeRoomAdminRestServlet,
        PurgeHistoryRestServlet,
        PurgeHistoryStatusRestServlet,
    ):
        servlet(hs).register(http_server)
