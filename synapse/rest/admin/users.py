"""The admin API for users, with Synapse's paths and shapes.

- ``GET /_synapse/admin/v2/users``; ``GET/PUT /_synapse/admin/v2/users/{userId}``
- ``GET /_synapse/admin/v1/whois/{userId}``, ``POST /v1/deactivate/{userId}``,
  ``POST /v1/reset_password/{userId}``, ``GET/PUT /v1/users/{userId}/admin``,
  ``GET /v1/users/{userId}/joined_rooms``, ``POST /v1/users/{userId}/login``,
  ``GET /v1/username_available``, ``POST/DELETE /v1/users/{userId}/shadow_ban``,
  ``GET /v1/users/{userId}/accountdata``, ``GET/POST/DELETE
  /v1/users/{userId}/override_ratelimit``
- ``GET/POST /v2/users/{userId}/devices``, ``GET/PUT/DELETE .../devices/{deviceId}``,
  ``POST /v2/users/{userId}/delete_devices``
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from synapse.api.constants import Membership, UserTypes
from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    parse_boolean,
    parse_integer,
    parse_string,
    parse_strings_from_args,
)
from synapse.rest.admin._base import admin_patterns, assert_requester_is_admin
from synapse.storage.databases.main.admin import USER_ORDER_COLUMNS
from synapse.types import JsonDict, UserID

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_USER = "/(?P<user_id>[^/]*)"

_NULLABLE_STRING = {"type": ["string", "null"]}

_PUT_USER_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "password": {"type": "string", "maxLength": 512},
        "logout_devices": {"type": "boolean"},
        "displayname": _NULLABLE_STRING,
        "avatar_url": _NULLABLE_STRING,
        "admin": {"type": "boolean"},
        "deactivated": {"type": "boolean"},
        "erase": {"type": "boolean"},
        "locked": {"type": "boolean"},
        "user_type": {"enum": [None, *UserTypes.ALL_USER_TYPES]},
        "threepids": {"type": "array"},
        "external_ids": {"type": "array"},
    },
}

_PASSWORD_SCHEMA: JsonDict = {
    "type": "object",
    "required": ["new_password"],
    "properties": {
        "new_password": {"type": "string", "maxLength": 512},
        "logout_devices": {"type": "boolean"},
    },
}

_ADMIN_SCHEMA: JsonDict = {
    "type": "object",
    "required": ["admin"],
    "properties": {"admin": {"type": "boolean"}},
}

_ERASE_SCHEMA: JsonDict = {"type": "object", "properties": {"erase": {"type": "boolean"}}}

_LOGIN_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"valid_until_ms": {"type": ["integer", "null"], "minimum": 0}},
}

_RATELIMIT_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "messages_per_second": {"type": "integer", "minimum": 0, "maximum": 2**31},
        "burst_count": {"type": "integer", "minimum": 0, "maximum": 2**31},
    },
}

_DEVICE_ID_SCHEMA: JsonDict = {
    "type": "object",
    "required": ["device_id"],
    "properties": {"device_id": {"type": "string", "minLength": 1, "maxLength": 255}},
}

_DEVICE_UPDATE_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"display_name": {"type": "string", "maxLength": 100}},
}

_DELETE_DEVICES_SCHEMA: JsonDict = {
    "type": "object",
    "required": ["devices"],
    "properties": {"devices": {"type": "array", "items": {"type": "string"}}},
}


def parse_user_id(hs: HomeServer, user_id: str, action: str = "look up") -> UserID:
    """The path's user ID: 400 M_INVALID_PARAM if malformed, 400 if not a local user."""
    try:
        user = UserID.from_string(user_id)
    except SynapseError:
        raise SynapseError(
            HTTPStatus.BAD_REQUEST, f"Invalid user ID {user_id!r}", Codes.INVALID_PARAM
        ) from None
    if not hs.is_mine(user):
        raise SynapseError(HTTPStatus.BAD_REQUEST, f"Can only {action} local users")
    return user


async def existing_local_user(hs: HomeServer, user_id: str, action: str = "look up") -> str:
    """The path's user ID, which must name a local user that exists (else 400/404)."""
    user = parse_user_id(hs, user_id, action).to_string()
    if await hs.get_datastores().main.registration.get_user_by_id(user) is None:
        raise NotFoundError("User not found")
    return user


class _UserServlet(RestServlet):
    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.auth = hs.get_auth()
        self.stores = hs.get_datastores().main
        self.admin_handler = hs.get_admin_handler()


class UsersRestServletV2(_UserServlet):
    """``GET /_synapse/admin/v2/users``: a page of users."""

    PATTERNS = admin_patterns("/users$", "v2")

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        start = parse_integer(request, "from", default=0)
        limit = parse_integer(request, "limit", default=100)
        user_id = parse_string(request, "user_id")
        name = parse_string(request, "name")
        guests = parse_boolean(request, "guests", default=True)
        deactivated = parse_boolean(request, "deactivated", default=False)
        order_by = parse_string(
            request, "order_by", default="name", allowed_values=list(USER_ORDER_COLUMNS)
        )
        direction = parse_string(request, "dir", default="f", allowed_values=["f", "b"])
        admins = parse_boolean(request, "admins") if b"admins" in request.args else None
        locked = parse_boolean(request, "locked", default=False)
        not_user_types = parse_strings_from_args(request.args, "not_user_type") or []
        users, total = await self.stores.admin.get_users_paginate(
            start,
            limit,
            user_id,
            name,
            guests,
            deactivated,
            order_by,
            direction,
            admins=admins,
            locked=locked,
            not_user_types=not_user_types,
        )
        result: JsonDict = {"users": users, "total": total}
        if start + len(users) < total:
            result["next_token"] = str(start + len(users))
        return HTTPStatus.OK, result


class UserRestServletV2(_UserServlet):
    """``GET/PUT /_synapse/admin/v2/users/{userId}``: details; create or modify."""

    PATTERNS = admin_patterns(f"/users{_USER}$", "v2")

    async def on_GET(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        user = parse_user_id(self.hs, user_id).to_string()
        details = await self.admin_handler.get_user(user)
        if details is None:
            raise NotFoundError("User not found")
        return HTTPStatus.OK, details

    async def on_PUT(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(request, _PUT_USER_SCHEMA)
        user = parse_user_id(self.hs, user_id, "create or modify").to_string()
        return await self.admin_handler.create_or_modify_user(requester, user, body)


class WhoisRestServlet(_UserServlet):
    """``GET /_synapse/admin/v1/whois/{userId}``: the user's sessions and connections."""

    PATTERNS = admin_patterns(f"/whois{_USER}$")

    async def on_GET(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        user = await existing_local_user(self.hs, user_id)
        connections = [
            {"ip": c["ip"], "last_seen": c["last_seen"], "user_agent": c["user_agent"]}
            for c in await self.stores.devices.get_user_ip_and_agents(user)
        ]
        return HTTPStatus.OK, {
            "user_id": user,
            "devices": {"": {"sessions": [{"connections": connections}]}},
        }


class DeactivateAccountRestServlet(_UserServlet):
    """``POST /_synapse/admin/v1/deactivate/{userId}`` with ``erase``."""

    PATTERNS = admin_patterns(f"/deactivate{_USER}$")

    async def on_POST(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(
            request, _ERASE_SCHEMA, allow_empty_body=True
        )
        user = await existing_local_user(self.hs, user_id, "deactivate")
        await self.hs.get_deactivate_account_handler().deactivate_account(
            user, erase_data=body.get("erase", False)
        )
        return HTTPStatus.OK, {"id_server_unbind_result": "success"}


class ResetPasswordRestServlet(_UserServlet):
    """``POST /_synapse/admin/v1/reset_password/{userId}``."""

    PATTERNS = admin_patterns(f"/reset_password{_USER}$")

    async def on_POST(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(request, _PASSWORD_SCHEMA)
        user = await existing_local_user(self.hs, user_id, "reset the password of")
        auth_handler = self.hs.get_auth_handler()
        auth_handler.validate_password_policy(body["new_password"])
        password_hash = await auth_handler.hash(body["new_password"])
        await self.hs.get_set_password_handler().set_password(
            user, password_hash, body.get("logout_devices", True), requester
        )
        return HTTPStatus.OK, {}


class UserAdminServlet(_UserServlet):
    """``GET/PUT /_synapse/admin/v1/users/{userId}/admin``: whether a server admin."""

    PATTERNS = admin_patterns(f"/users{_USER}/admin$")

    async def on_GET(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        user = await existing_local_user(self.hs, user_id, "look up the admin status of")
        return HTTPStatus.OK, {"admin": await self.stores.registration.is_server_admin(user)}

    async def on_PUT(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(request, _ADMIN_SCHEMA)
        user = await existing_local_user(self.hs, user_id, "make admins of")
        if user == requester.user.to_string() and not body["admin"]:
            raise SynapseError(HTTPStatus.BAD_REQUEST, "You may not demote yourself.")
        await self.stores.registration.set_server_admin(user, body["admin"])
        return HTTPStatus.OK, {}


class UserJoinedRoomsServlet(_UserServlet):
    """``GET /_synapse/admin/v1/users/{userId}/joined_rooms``."""

    PATTERNS = admin_patterns(f"/users{_USER}/joined_rooms$")

    async def on_GET(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        try:
            user = UserID.from_string(user_id).to_string()
        except SynapseError:
            raise SynapseError(
                HTTPStatus.BAD_REQUEST, f"Invalid user ID {user_id!r}", Codes.INVALID_PARAM
            ) from None
        if self.hs.is_mine_id(user):
            rooms = await self.stores.roommember.get_rooms_for_local_user_where_membership_is(
                user, [Membership.JOIN]
            )
            room_ids = sorted(r.room_id for r in rooms)
        else:
            # A remote user: the rooms this server shares with them.
            room_ids = sorted(await self.stores.roommember.get_rooms_for_user(user))
        return HTTPStatus.OK, {"joined_rooms": room_ids, "total": len(room_ids)}


class UserLoginServlet(_UserServlet):
    """``POST /_synapse/admin/v1/users/{userId}/login``: a token that acts as the user."""

    PATTERNS = admin_patterns(f"/users{_USER}/login$")

    async def on_POST(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(
            request, _LOGIN_SCHEMA, allow_empty_body=True
        )
        user = parse_user_id(self.hs, user_id, "log in as").to_string()
        token = await self.admin_handler.login_as_user(requester, user, body.get("valid_until_ms"))
        return HTTPStatus.OK, {"access_token": token}


class UsernameAvailableServlet(_UserServlet):
    """``GET /_synapse/admin/v1/username_available?username=``."""

    PATTERNS = admin_patterns("/username_available$")

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        username = parse_string(request, "username", required=True)
        assert username is not None
        await self.hs.get_registration_handler().check_username(username)
        return HTTPStatus.OK, {"available": True}


class ShadowBanServlet(_UserServlet):
    """``POST/DELETE /_synapse/admin/v1/users/{userId}/shadow_ban``."""

    PATTERNS = admin_patterns(f"/users{_USER}/shadow_ban$")

    async def on_POST(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        user = await existing_local_user(self.hs, user_id, "shadow-ban")
        await self.stores.registration.set_shadow_banned(user, True)
        return HTTPStatus.OK, {}

    async def on_DELETE(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        user = await existing_local_user(self.hs, user_id, "shadow-ban")
        await self.stores.registration.set_shadow_banned(user, False)
        return HTTPStatus.OK, {}


class AccountDataServlet(_UserServlet):
    """``GET /_synapse/admin/v1/users/{userId}/accountdata``."""

    PATTERNS = admin_patterns(f"/users{_USER}/accountdata$")

    async def on_GET(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        user = await existing_local_user(self.hs, user_id)
        store = self.stores.account_data
        global_data = await store.get_global_account_data_for_user(user)
        rooms = await store.get_room_account_data_for_user(user)
        return HTTPStatus.OK, {
            "account_data": {
                "global": dict(global_data),
                "rooms": {room_id: dict(data) for room_id, data in rooms.items()},
            }
        }


class RateLimitOverrideServlet(_UserServlet):
    """``GET/POST/DELETE /_synapse/admin/v1/users/{userId}/override_ratelimit``."""

    PATTERNS = admin_patterns(f"/users{_USER}/override_ratelimit$")

    async def on_GET(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        user = await existing_local_user(self.hs, user_id)
        override = await self.stores.admin.get_ratelimit_override(user)
        if override is None:
            return HTTPStatus.OK, {}
        return HTTPStatus.OK, {
            "messages_per_second": override.messages_per_second,
            "burst_count": override.burst_count,
        }

    async def on_POST(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(
            request, _RATELIMIT_SCHEMA, allow_empty_body=True
        )
        user = await existing_local_user(self.hs, user_id)
        messages_per_second = body.get("messages_per_second", 0)
        burst_count = body.get("burst_count", 0)
        await self.stores.admin.set_ratelimit_override(user, messages_per_second, burst_count)
        return HTTPStatus.OK, {
            "messages_per_second": messages_per_second,
            "burst_count": burst_count,
        }

    async def on_DELETE(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        user = await existing_local_user(self.hs, user_id)
        await self.stores.admin.delete_ratelimit_override(user)
        return HTTPStatus.OK, {}


def _admin_device(device: dict[str, Any], user_id: str) -> JsonDict:
    result = dict(device)
    result["user_id"] = user_id
    return result


class DevicesRestServlet(_UserServlet):
    """``GET/POST /_synapse/admin/v2/users/{userId}/devices``: list; create one."""

    PATTERNS = admin_patterns(f"/users{_USER}/devices$", "v2")

    async def on_GET(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        user = await existing_local_user(self.hs, user_id, "look up the devices of")
        devices = await self.stores.devices.get_devices_by_user(user)
        listed = [
            _admin_device(
                d.to_client_dict() | {"last_seen_user_agent": d.last_seen_user_agent}, user
            )
            for _, d in sorted(devices.items())
        ]
        return HTTPStatus.OK, {"devices": listed, "total": len(listed)}

    async def on_POST(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(request, _DEVICE_ID_SCHEMA)
        user = await existing_local_user(self.hs, user_id, "create devices of")
        await self.hs.get_device_handler().check_device_registered(user, body["device_id"])
        return HTTPStatus.CREATED, {}


class DeviceRestServlet(_UserServlet):
    """``GET/PUT/DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId}``."""

    PATTERNS = admin_patterns(f"/users{_USER}/devices/(?P<device_id>[^/]*)$", "v2")

    async def on_GET(self, request: Request, user_id: str, device_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        user = await existing_local_user(self.hs, user_id, "look up the devices of")
        device = await self.stores.devices.get_device(user, device_id)
        if device is None:
            raise NotFoundError("No device found")
        return HTTPStatus.OK, _admin_device(
            device.to_client_dict() | {"last_seen_user_agent": device.last_seen_user_agent}, user
        )

    async def on_PUT(self, request: Request, user_id: str, device_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(request, _DEVICE_UPDATE_SCHEMA)
        user = await existing_local_user(self.hs, user_id, "update the devices of")
        await self.hs.get_device_handler().update_device(user, device_id, body)
        return HTTPStatus.OK, {}

    async def on_DELETE(
        self, request: Request, user_id: str, device_id: str
    ) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        user = await existing_local_user(self.hs, user_id, "delete the devices of")
        await self.hs.get_device_handler().delete_devices(user, [device_id])
        return HTTPStatus.OK, {}


class DeleteDevicesRestServlet(_UserServlet):
    """``POST /_synapse/admin/v2/users/{userId}/delete_devices``."""

    PATTERNS = admin_patterns(f"/users{_USER}/delete_devices$", "v2")

    async def on_POST(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(request, _DELETE_DEVICES_SCHEMA)
        user = await existing_local_user(self.hs, user_id, "delete the devices of")
        await self.hs.get_device_handler().delete_devices(user, body["devices"])
        return HTTPStatus.OK, {}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    for servlet in (
        UsersRestServletV2,
        UserRestServletV2,
        WhoisRestServlet,
        DeactivateAccountRestServlet,
        ResetPasswordRestServlet,
        UserAdminServlet,
        UserJoinedRoomsServlet,
        UserLoginServlet,
        UsernameAvailableServlet,
        ShadowBanServlet,
        AccountDataServlet,
        RateLimitOverrideServlet,
        DevicesRestServlet,
        DeviceRestServlet,
        DeleteDevicesRestServlet,
    ):
        servlet(hs).register(http_server)
