"""``GET /preview_url``: URL previews are not offered by this server."""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import RestServlet, parse_string
from synapse.types import JsonDict

if TYPE_CHECKING:
    from twisted.web.server import Request

    from synapse.server import HomeServer


class PreviewUrlServlet(RestServlet):
    """Answers 403 M_UNKNOWN: this server does not fetch pages for clients.

    ``url_preview_enabled`` is read but previews are not built (fetching other sites on
    behalf of users needs the IP range protections that come with them).
    """

    def __init__(self, hs: HomeServer, patterns: Iterable[re.Pattern[str]]) -> None:
        self.PATTERNS = list(patterns)
        self.auth = hs.get_auth()

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        await self.auth.get_user_by_req(request)
        parse_string(request, "url", required=True)
        raise SynapseError(HTTPStatus.FORBIDDEN, "URL previews are disabled", Codes.UNKNOWN)
