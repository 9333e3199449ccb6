"""Path patterns and request parsing shared by the media servlets."""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.http.servlet import RestServlet, parse_boolean
from synapse.media._base import is_valid_media_id
from synapse.types import is_valid_server_name

if TYPE_CHECKING:
    from twisted.web.server import Request

    from synapse.server import HomeServer

MEDIA_PREFIX = "/_matrix/media"
# The versions of /_matrix/media that clients use (r0 and v1 are older names of v3).
MEDIA_VERSIONS = ("r0", "v3", "v1")
CLIENT_MEDIA_PREFIX = "/_matrix/client/v1/media"

# ``{serverName}/{mediaId}`` in a path, and an optional ``/{fileName}`` after them.
MEDIA_ID_PATH = "/(?P<server_name>[^/]*)/(?P<media_id>[^/]*)"
FILE_NAME_PATH = "(?:/(?P<file_name>[^/]*))?"


def media_patterns(
    path_regex: str, versions: Iterable[str] = MEDIA_VERSIONS
) -> list[re.Pattern[str]]:
    """``path_regex`` under ``/_matrix/media/<version>`` for each of ``versions``."""
    return [re.compile("^" + re.escape(f"{MEDIA_PREFIX}/{v}") + path_regex) for v in versions]


def client_media_patterns(path_regex: str) -> list[re.Pattern[str]]:
    """``path_regex`` under the authenticated ``/_matrix/client/v1/media``."""
    return [re.compile("^" + re.escape(CLIENT_MEDIA_PREFIX) + path_regex)]


def check_media_path(server_name: str, media_id: str) -> None:
    """400 M_INVALID_PARAM unless the server name and media ID follow the spec's grammar
    (which keeps them from reaching outside the media store)."""
    if not is_valid_server_name(server_name):
        raise SynapseError(HTTPStatus.BAD_REQUEST, "Invalid server name", Codes.INVALID_PARAM)
    if not is_valid_media_id(media_id):
        raise SynapseError(HTTPStatus.BAD_REQUEST, "Invalid media ID", Codes.INVALID_PARAM)


def upload_content_type(request: Request) -> str:
    """The type of uploaded content: its ``Content-Type``, else ``application/octet-stream``."""
    header = request.getHeader(b"Content-Type")
    if not header:
        return "application/octet-stream"
    try:
        value = header.decode("ascii").strip()
    except UnicodeDecodeError:
        raise SynapseError(HTTPStatus.BAD_REQUEST, "Invalid Content-Type", Codes.INVALID_PARAM)
    return value or "application/octet-stream"


class MediaFetchServlet(RestServlet):
    """A servlet that sends stored media (download, thumbnail).

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

    async def check_request(self, request: Request, server_name: str, media_id: str) -> None:
        """The caller's access token (where required) and the path's grammar."""
        if self.require_auth:
            await self.auth.get_user_by_req(request, allow_guest=True)
        check_media_path(server_name, media_id)

    def check_remote_allowed(self, request: Request) -> None:
        """404 for remote media when the deprecated endpoint is asked ``allow_remote=false``."""
        if not self.require_auth and not parse_boolean(request, "allow_remote", default=True):
            raise NotFoundError("Not found")
