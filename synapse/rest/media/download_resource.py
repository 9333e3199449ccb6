"""Downloads: ``GET /download/{serverName}/{mediaId}[/{fileName}]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.http.servlet import parse_integer
from synapse.media._base import respond_with_file
from synapse.media.media_repository import DEFAULT_MAX_TIMEOUT_MS
from synapse.rest.media._base import FILE_NAME_PATH, MEDIA_ID_PATH, MediaFetchServlet

if TYPE_CHECKING:
    from twisted.web.server import Request


DOWNLOAD_PATH = f"/download{MEDIA_ID_PATH}{FILE_NAME_PATH}$"


class DownloadServlet(MediaFetchServlet):
    """Sends the content of a piece of media."""

    async def on_GET(
        self, request: Request, server_name: str, media_id: str, file_name: str | None = None
    ) -> None:
        await self.check_request(request, server_name, media_id)
        max_timeout_ms = parse_integer(request, "timeout_ms", default=DEFAULT_MAX_TIMEOUT_MS)
        name = file_name or None
        if server_name == self.hs.hostname:
            file = await self.media_repo.get_local_media(media_id, name, max_timeout_ms)
        else:
            self.check_remote_allowed(request)
            file = await self.media_repo.get_remote_media(
                server_name, media_id, name, max_timeout_ms
            )
        await respond_with_file(self.hs, request, file)
