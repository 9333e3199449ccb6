"""The admin API for media, with Synapse's paths and shapes.

- ``GET/DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}``: details, deletion
- ``POST /_synapse/admin/v1/media/delete?before_ts=&size_gt=&keep_profiles=`` (also
  ``/media/{serverName}/delete``): delete local media not used since a time
- ``POST /_synapse/admin/v1/media/quarantine|unquarantine/{serverName}/{mediaId}``,
  ``/media/protect|unprotect/{mediaId}``, ``/user/{userId}/media/quarantine``
- ``GET/DELETE /_synapse/admin/v1/users/{userId}/media?from=&limit=&order_by=&dir=``
- ``POST /_synapse/admin/v1/purge_media_cache?before_ts=``: remote media (none yet)
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING

from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.http.servlet import RestServlet, parse_boolean, parse_integer, parse_string
from synapse.rest.admin._base import admin_patterns, assert_requester_is_admin
from synapse.storage.databases.main.media_repository import MEDIA_ORDER_COLUMNS, LocalMedia
from synapse.types import JsonDict, Requester, UserID

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

_MEDIA_PATH = "/(?P<server_name>[^/]*)/(?P<media_id>[^/]*)$"

# Timestamps below this are seconds, not the milliseconds the API takes.
_MIN_PLAUSIBLE_TS_MS = 30_000_000_000


def _media_entry(media: LocalMedia) -> JsonDict:
    """A piece of media as the user media list shows it."""
    return {
        "media_id": media.media_id,
        "media_type": media.media_type,
        "media_length": media.media_length,
        "upload_name": media.upload_name,
        "created_ts": media.created_ts,
        "last_access_ts": media.last_access_ts,
        "quarantined_by": media.quarantined_by,
        "safe_from_quarantine": media.safe_from_quarantine,
    }


def _parse_before_ts(request: Request) -> int:
    before_ts = parse_integer(request, "before_ts", required=True)
    assert before_ts is not None
    if before_ts < _MIN_PLAUSIBLE_TS_MS:
        raise SynapseError(
            HTTPStatus.BAD_REQUEST,
            "Query parameter before_ts you provided is from the year 1970. "
            "Double check that you are providing a timestamp in milliseconds.",
            Codes.INVALID_PARAM,
        )
    return before_ts


class _MediaAdminServlet(RestServlet):
    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.auth = hs.get_auth()
        self.server_name = hs.hostname
        self.store = hs.get_datastores().main.media
        self.media_repo = hs.get_media_repository()

    def _assert_local(self, server_name: str, action: str) -> None:
        if server_name != self.server_name:
            raise SynapseError(HTTPStatus.BAD_REQUEST, f"Can only {action} local media")


class MediaInfoServlet(_MediaAdminServlet):
    """Details of a piece of local media; deleting it."""

    PATTERNS = admin_patterns(f"/media{_MEDIA_PATH}")

    async def on_GET(
        self, request: Request, server_name: str, media_id: str
    ) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        media = (
            await self.store.get_local_media(media_id) if server_name == self.server_name else None
        )
        if media is None:
            raise NotFoundError("Unknown media")
        info = {
            "media_origin": server_name,
            "user_id": media.user_id,
            "sha256": media.sha256,
            **_media_entry(media),
        }
        return HTTPStatus.OK, {"media_info": info}

    async def on_DELETE(
        self, request: Request, server_name: str, media_id: str
    ) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        self._assert_local(server_name, "delete")
        if await self.store.get_local_media(media_id) is None:
            raise NotFoundError("Unknown media")
        deleted = await self.media_repo.delete_local_media_ids([media_id])
        return HTTPStatus.OK, {"deleted_media": deleted, "total": len(deleted)}


class DeleteMediaByDateSizeServlet(_MediaAdminServlet):
    """Delete local media last used before ``before_ts`` (and larger than ``size_gt``)."""

    PATTERNS = [
        *admin_patterns("/media/delete$"),
        *admin_patterns("/media/(?P<server_name>[^/]*)/delete$"),
    ]

    async def on_POST(
        self, request: Request, server_name: str | None = None
    ) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        before_ts = _parse_before_ts(request)
        size_gt = parse_integer(request, "size_gt", default=0)
        keep_profiles = parse_boolean(request, "keep_profiles", default=True)
        if server_name is not None:
            self._assert_local(server_name, "delete")
        logger.info(
            "%s deletes local media last used before %d, larger than %d bytes",
            requester.user,
            before_ts,
            size_gt,
        )
        deleted = await self.media_repo.delete_old_local_media(before_ts, size_gt, keep_profiles)
        return HTTPStatus.OK, {"deleted_media": deleted, "total": len(deleted)}


class QuarantineMediaServlet(_MediaAdminServlet):
    """Quarantine a piece of media: it is no longer served (protected media is left alone)."""

    PATTERNS = admin_patterns(f"/media/quarantine{_MEDIA_PATH}")

    async def on_POST(
        self, request: Request, server_name: str, media_id: str
    ) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        logger.info("%s quarantines media %s/%s", requester.user, server_name, media_id)
        # Remote media is not cached here yet, so there is nothing to quarantine.
        if server_name == self.server_name:
            await self.store.quarantine_local_media(media_id, requester.user.to_string())
        return HTTPStatus.OK, {}


class UnquarantineMediaServlet(_MediaAdminServlet):
    PATTERNS = admin_patterns(f"/media/unquarantine{_MEDIA_PATH}")

    async def on_POST(
        self, request: Request, server_name: str, media_id: str
    ) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        logger.info("%s unquarantines media %s/%s", requester.user, server_name, media_id)
        if server_name == self.server_name:
            await self.store.unquarantine_local_media(media_id)
        return HTTPStatus.OK, {}


class ProtectMediaServlet(_MediaAdminServlet):
    """Protect local media from quarantine (and from deletion by date)."""

    PATTERNS = admin_patterns("/media/protect/(?P<media_id>[^/]*)$")

    async def on_POST(self, request: Request, media_id: str) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        logger.info("%s protects media %s", requester.user, media_id)
        await self.store.mark_local_media_as_safe(media_id, safe=True)
        return HTTPStatus.OK, {}


class UnprotectMediaServlet(_MediaAdminServlet):
    PATTERNS = admin_patterns("/media/unprotect/(?P<media_id>[^/]*)$")

    async def on_POST(self, request: Request, media_id: str) -> tuple[int, JsonDict]:
        requester = await assert_requester_is_admin(self.auth, request)
        logger.info("%s unprotects media %s", requester.user, media_id)
        await self.store.mark_local_media_as_safe(media_id, safe=False)
        return HTTPStatus.OK, {}


class _UserMediaServlet(_MediaAdminServlet):
    async def _check_user(self, request: Request, user_id: str) -> Requester:
        """The admin making the request; 400 for a remote user, 404 for an unknown one."""
        requester = await assert_requester_is_admin(self.auth, request)
        if not self.hs.is_mine(UserID.from_string(user_id)):
            raise SynapseError(HTTPStatus.BAD_REQUEST, "Can only look up local users")
        if await self.hs.get_datastores().main.registration.get_user_by_id(user_id) is None:
            raise NotFoundError("Unknown user")
        return requester


class QuarantineMediaByUserServlet(_UserMediaServlet):
    """Quarantine every piece of media a local user uploaded."""

    PATTERNS = admin_patterns("/user/(?P<user_id>[^/]*)/media/quarantine$")

    async def on_POST(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        requester = await self._check_user(request, user_id)
        logger.info("%s quarantines the media of %s", requester.user, user_id)
        count = await self.store.quarantine_media_of_user(user_id, requester.user.to_string())
        return HTTPStatus.OK, {"num_quarantined": count}


class UserMediaServlet(_UserMediaServlet):
    """A local user's media, a page at a time; deleting that page."""

    PATTERNS = admin_patterns("/users/(?P<user_id>[^/]*)/media$")

    async def _page(self, request: Request, user_id: str) -> tuple[list[LocalMedia], int, int]:
        await self._check_user(request, user_id)
        start = parse_integer(request, "from", default=0)
        limit = parse_integer(request, "limit", default=100)
        order_by = parse_string(
            request, "order_by", default="created_ts", allowed_values=MEDIA_ORDER_COLUMNS
        )
        direction = parse_string(request, "dir", default="f", allowed_values=("f", "b"))
        media, total = await self.store.get_local_media_by_user_paginate(
            start, limit, user_id, order_by, direction_forwards=direction == "f"
        )
        return media, total, start

    async def on_GET(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        media, total, start = await self._page(request, user_id)
        body: JsonDict = {"media": [_media_entry(m) for m in media], "total": total}
        if start + len(media) < total and media:
            body["next_token"] = start + len(media)
        return HTTPStatus.OK, body

    async def on_DELETE(self, request: Request, user_id: str) -> tuple[int, JsonDict]:
        media, _, _ = await self._page(request, user_id)
        deleted = await self.media_repo.delete_local_media_ids([m.media_id for m in media])
        return HTTPStatus.OK, {"deleted_media": deleted, "total": len(deleted)}


class PurgeMediaCacheServlet(_MediaAdminServlet):
    """Purge cached remote media: there is none until federation fetches remote media."""

    PATTERNS = admin_patterns("/purge_media_cache$")

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        _parse_before_ts(request)
        return HTTPStatus.OK, {"deleted": 0}


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    if not hs.config.media.enable_media_repo:
        return
    # The fixed paths first: /media/delete is not the media "delete" of a server.
    for servlet in (
        DeleteMediaByDateSizeServlet,
        QuarantineMediaServlet,
        UnquarantineMediaServlet,
        ProtectMediaServlet,
        UnprotectMediaServlet,
        MediaInfoServlet,
        QuarantineMediaByUserServlet,
        UserMediaServlet,
        PurgeMediaCacheServlet,
    ):
        servlet(hs).register(http_server)
