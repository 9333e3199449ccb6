"""``GET /_matrix/key/v2/server``: this server's signing keys, signed with each of them.

The deprecated ``/_matrix/key/v2/server/{keyId}`` gives the same response.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING

from twisted.web.server import Request

from synapse.http.servlet import RestServlet
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.server import HomeServer


class LocalKeyServlet(RestServlet):
    PATTERNS = [re.compile(r"^/_matrix/key/v2/server(?:/(?P<key_id>[^/]*))?/?$")]

    def __init__(self, hs: HomeServer) -> None:
        super().__init__()
        self._handler = hs.get_key_server_handler()

    async def on_GET(self, request: Request, key_id: str | None = None) -> tuple[int, JsonDict]:
        return HTTPStatus.OK, self._handler.local_key_response()
