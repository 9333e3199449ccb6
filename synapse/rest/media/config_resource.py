"""``GET /config``: the limits clients should respect (``m.upload.size``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from synapse.http.servlet import RestServlet
from synapse.types import JsonDict

if TYPE_CHECKING:
    from twisted.web.server import Request

    from synapse.server import HomeServer


class MediaConfigServlet(RestServlet):
    """The media repository's configuration, for signed-in users."""

    def __init__(self, hs: HomeServer, patterns: Iterable[re.Pattern[str]]) -> None:
        self.PATTERNS = list(patterns)
        self.auth = hs.get_auth()
        self.limits: JsonDict = {"m.upload.size": hs.config.media.max_upload_size}

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await self.auth.get_user_by_req(request, allow_guest=True)
        return HTTPStatus.OK, self.limits
