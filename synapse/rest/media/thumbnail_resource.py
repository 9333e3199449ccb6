"""Thumbnails: ``GET /thumbnail/{serverName}/{mediaId}?width=&height=&method=&animated=``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.http.servlet import RestServlet, parse_boolean, parse_integer, parse_string
from synapse.media._base import respond_with_file
from synapse.media.media_repository import DEFAULT_MAX_TIMEOUT_MS
from synapse.rest.media._base import MEDIA_ID_PATH, check_media_path

if TYPE_CHECKING:
    from twisted.web.server import Request

    from synapse.server import HomeServer

THUMBNAIL_PATH = f"/thumbnail{MEDIA_ID_PATH}$"


class ThumbnailServlet(RestServlet):
    """Sends a thumbnail of a piece of media (served like ``DownloadServlet``)."""

    def __init__(
        self, hs: HomeServer, patterns: Iterable[re.Pattern[str]], require_auth: bool
    ) -> None:
        self.hs = hs
        self.PATTERNS = list(patterns)
        self.require_auth = require_auth
        self.auth = hs.get_auth()
        self.media_repo = hs.get_media_repository()

    async def on_GET(self, request: Request, server_name: str, media_id: str) -> None:
        if self.require_auth:
            await self.auth.get_user_by_req(request, allow_guest=True)
        check_media_path(server_name, media_id)
        width = parse_integer(request, "width", required=True)
        height = parse_integer(request, "height", required=True)
        assert width is not None and height is not None
        if width < 1 or height < 1:
            raise SynapseError(
                HTTPStatus.BAD_REQUEST,
                "Thumbnail width and height must be positive",
                Codes.INVALID_PARAM,
            )
        method = parse_string(request, "method", "scale", allowed_values=("crop", "scale"))
        animated = parse_boolean(request, "animated", default=False)
        max_timeout_ms = parse_integer(request, "timeout_ms", default=DEFAULT_MAX_TIMEOUT_MS)
        if server_name == self.hs.hostname:
            file = await self.media_repo.get_local_thumbnail(
                media_id, width, height, method, animated, max_timeout_ms
            )
        else:
            if not self.require_auth and not parse_boolean(request, "allow_remote", default=True):
                raise NotFoundError("Not found")
            file = await self.media_repo.get_remote_thumbnail(
                server_name, media_id, width, height, method
            )
        await respond_with_file(self.hs, request, file)
