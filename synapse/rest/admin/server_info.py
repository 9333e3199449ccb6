"""Server-wide admin endpoints, with Synapse's paths and shapes.

- ``GET /_synapse/admin/v1/server_version``
- ``GET /_synapse/admin/v1/background_updates/status``, ``GET/POST .../enabled``
- ``GET /_synapse/admin/v1/federation/destinations[/{destination}[/rooms]]``: no
  destinations are recorded yet (the federation sender will), so the list is empty
- ``GET /_synapse/admin/v1/statistics/users/media``
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

import synapse
from synapse.api.errors import NotFoundError
from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    parse_integer,
    parse_string,
)
from synapse.rest.admin._base import admin_patterns, assert_requester_is_admin
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_ENABLED_SCHEMA: JsonDict = {
    "type": "object",
    "required": ["enabled"],
    "properties": {"enabled": {"type": "boolean"}},
}


class _Servlet(RestServlet):
    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.auth = hs.get_auth()


class ServerVersion(_Servlet):
    """``GET /_synapse/admin/v1/server_version`` (admins only, as in Synapse)."""

    PATTERNS = admin_patterns("/server_version$")

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        return HTTPStatus.OK, {"server_version": synapse.__version__}


class BackgroundUpdateStatusServlet(_Servlet):
    """``GET /_synapse/admin/v1/background_updates/status``."""

    PATTERNS = admin_patterns("/background_updates/status$")

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        pools = self.hs.get_database_pools()
        current: JsonDict = {}
        for name, pool in zip(_pool_names(self.hs), pools, strict=False):
            updates = pool.updates
            if updates.current_update is None:
                continue
            items, seconds = updates.progress.get(updates.current_update, (0, 0.0))
            duration_ms = seconds * 1000
            current[name] = {
                "name": updates.current_update,
                "total_item_count_processed": items,
                "total_duration_ms": duration_ms,
                "average_items_per_ms": items / duration_ms if duration_ms else 0,
            }
        enabled = all(pool.updates.enabled for pool in pools)
        return HTTPStatus.OK, {"enabled": enabled, "current_updates": current}


def _pool_names(hs: HomeServer) -> list[str]:
    return [db.connection_name for db in hs.config.database.databases]


class BackgroundUpdateEnabledServlet(_Servlet):
    """``GET/POST /_synapse/admin/v1/background_updates/enabled``: pause or resume."""

    PATTERNS = admin_patterns("/background_updates/enabled$")

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        enabled = all(pool.updates.enabled for pool in self.hs.get_database_pools())
        return HTTPStatus.OK, {"enabled": enabled}

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(request, _ENABLED_SCHEMA)
        for pool in self.hs.get_database_pools():
            pool.updates.set_enabled(body["enabled"])
        return HTTPStatus.OK, {"enabled": body["enabled"]}


class DestinationsServlet(_Servlet):
    """``GET /_synapse/admin/v1/federation/destinations``: none are recorded yet."""

    PATTERNS = admin_patterns("/federation/destinations$")

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        parse_integer(request, "from", default=0)
        parse_integer(request, "limit", default=100)
        parse_string(
            request,
            "order_by",
            default="destination",
            allowed_values=[
                "destination",
                "retry_last_ts",
                "retry_interval",
                "failure_ts",
                "last_successful_stream_ordering",
            ],
        )
        parse_string(request, "dir", default="f", allowed_values=["f", "b"])
        return HTTPStatus.OK, {"destinations": [], "total": 0}


class DestinationServlet(_Servlet):
    """``GET /_synapse/admin/v1/federation/destinations/{destination}[/rooms]``."""

    PATTERNS = admin_patterns("/federation/destinations/(?P<destination>[^/]*)(/rooms)?$")

    async def on_GET(self, request: Request, destination: str) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        raise NotFoundError("Unknown destination")


class UserMediaStatisticsServlet(_Servlet):
    """``GET /_synapse/admin/v1/statistics/users/media``: local media per uploader."""

    PATTERNS = admin_patterns("/statistics/users/media$")

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        start = parse_integer(request, "from", default=0)
        limit = parse_integer(request, "limit", default=100)
        from_ts = parse_integer(request, "from_ts")
        until_ts = parse_integer(request, "until_ts")
        order_by = parse_string(
            request,
            "order_by",
            default="user_id",
            allowed_values=["user_id", "displayname", "media_length", "media_count"],
        )
        direction = parse_string(request, "dir", default="f", allowed_values=["f", "b"])
        search_term = parse_string(request, "search_term")
        users, total = await self.hs.get_datastores().main.admin.get_users_media_usage_paginate(
            start, limit, from_ts, until_ts, order_by, direction, search_term
        )
        result: JsonDict = {"users": users, "total": total}
        if start + len(users) < total:
            result["next_token"] = start + len(users)
        return HTTPStatus.OK, result


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    for servlet in (
        ServerVersion,
        BackgroundUpdateStatusServlet,
        BackgroundUpdateEnabledServlet,
        DestinationsServlet,
        DestinationServlet,
        UserMediaStatisticsServlet,
    ):
        servlet(hs).register(http_server)
