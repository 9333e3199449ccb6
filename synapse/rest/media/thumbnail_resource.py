"""Thumbnails: ``GET /thumbnail/{serverName}/{mediaId}?width=&height=&method=&animated=``."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import parse_boolean, parse_integer, parse_string
from synapse.media._base import respond_with_file
from synapse.media.media_repository import DEFAULT_MAX_TIMEOUT_MS
from synapse.rest.media._base import MEDIA_ID_PATH, MediaFetchServlet

if TYPE_CHECKING:
    from twisted.web.server import Request


THUMBNAIL_PATH = f"/thumbnail{MEDIA_ID_PATH}$"


class ThumbnailServlet(MediaFetchServlet):
    """Sends a thumbnail of a piece of media."""

    async def on_GET(self, request: Request, server_name: str, media_id: str) -> None:
        await self.check_request(request, server_name, media_id)
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
            self.check_remote_allowed(request)
            file = await self.media_repo.get_remote_thumbnail(
                server_name, media_id, width, height, method
            )
        await respond_with_file(self.hs, request, file)
