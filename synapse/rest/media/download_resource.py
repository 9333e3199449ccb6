"""Downloads: ``GET /download/{serverName}/{mediaId}[/{fileName}]``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from synapse.api.errors import NotFoundError
from synapse.http.servlet import RestServlet, parse_boolean, parse_integer
from synapse.media._base import respond_with_file
from synapse.media.media_repository import DEFAULT_MAX_TIMEOUT_MS
from synapse.rest.media._base import FILE_NAME_PATH, MEDIA_ID_PATH, check_media_path

if TYPE_CHECKING:
    from twisted.web.server import Request

    from synapse.server import HomeServer

DOWNLOAD_PATH = f"/download{MEDIA_ID_PATH}{FILE_NAME_PATH}$"


class DownloadServlet(RestServlet):
    """Sends the content of a piece of media.

    Served twice: under ``/_matrix/client/v1/media`` with ``require_auth``, and under the
    deprecated ``/_matrix/media/v3`` without (the latter also reads ``allow_remote``).
    """

    def __init__(
        self, hs: HomeServer, patterns: Iterable[re.Pattern[str]], require_auth: bool
    ) -> None:
        self.hs = hs
        self.PATTERNS = list(patterns)
        self.require_auth = require_auth
        self.auth = hs.get_auth()
        self.media_repo = hs.get_media_repository()

    async def on_GET(
        self, request: Request, server_name: str, media_id: str, file_name: str | None = None
    ) -> None:
        if self.require_auth:
            await self.auth.get_user_by_req(request, allow_guest=True)
        check_media_path(server_name, media_id)
        max_timeout_ms = parse_integer(request, "timeout_ms", default=DEFAULT_MAX_TIMEOUT_MS)
        name = file_name or None
        if server_name == self.hs.hostname:
            file = await self.media_repo.get_local_media(media_id, name, max_timeout_ms)
        else:
            if not self.require_auth and not parse_boolean(request, "allow_remote", default=True):
                raise NotFoundError("Not found")
            file = await self.media_repo.get_remote_media(
                server_name, media_id, name, max_timeout_ms
            )
        await respond_with_file(self.hs, request, file)
