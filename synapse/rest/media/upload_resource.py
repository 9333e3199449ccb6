"""Uploads: ``POST /upload``, and ``POST /v1/create`` + ``PUT /upload/{serverName}/{mediaId}``."""

from __future__ import annotations

import os
from http import HTTPStatus
from typing import IO, TYPE_CHECKING

from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.http.servlet import RestServlet, parse_string
from synapse.rest.media._base import (
    MEDIA_ID_PATH,
    check_media_path,
    media_patterns,
    upload_content_type,
)
from synapse.types import JsonDict

if TYPE_CHECKING:
    from twisted.web.server import Request

    from synapse.server import HomeServer


def _upload_body(request: Request) -> tuple[IO[bytes], int]:
    """The request body (already received) and its size."""
    content: IO[bytes] | None = request.content
    if content is None:
        raise SynapseError(HTTPStatus.BAD_REQUEST, "No content", Codes.MISSING_PARAM)
    content.seek(0, os.SEEK_END)
    length = content.tell()
    content.seek(0)
    return content, length


def _declared_length(request: Request) -> int | None:
    header = request.getHeader(b"Content-Length")
    if header is None:
        return None
    try:
        return int(header)
    except ValueError:
        raise SynapseError(HTTPStatus.BAD_REQUEST, "Invalid Content-Length", Codes.INVALID_PARAM)


class UploadServlet(RestServlet):
    """``POST /_matrix/media/v3/upload?filename=``: store the body, answer its mxc URI."""

    PATTERNS = media_patterns("/upload$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.media_repo = hs.get_media_repository()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        self.media_repo.check_upload_size(_declared_length(request))
        upload_name = parse_string(request, "filename")
        media_type = upload_content_type(request)
        content, length = _upload_body(request)
        content_uri = await self.media_repo.create_content(
            media_type, upload_name or None, content, length, requester
        )
        return HTTPStatus.OK, {"content_uri": content_uri}


class AsyncUploadServlet(RestServlet):
    """``PUT /_matrix/media/v3/upload/{serverName}/{mediaId}``: the content of a created ID."""

    PATTERNS = media_patterns(f"/upload{MEDIA_ID_PATH}$", versions=("r0", "v3"))

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.auth = hs.get_auth()
        self.media_repo = hs.get_media_repository()

    async def on_PUT(
        self, request: Request, server_name: str, media_id: str
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        check_media_path(server_name, media_id)
        if server_name != self.hs.hostname:
            raise NotFoundError("Media IDs of other servers cannot be uploaded to")
        self.media_repo.check_upload_size(_declared_length(request))
        upload_name = parse_string(request, "filename")
        media_type = upload_content_type(request)
        content, length = _upload_body(request)
        await self.media_repo.update_content(
            media_id, media_type, upload_name or None, content, length, requester
        )
        return HTTPStatus.OK, {}


class CreateServlet(RestServlet):
    """``POST /_matrix/media/v1/create``: reserve an mxc URI for content uploaded later."""

    PATTERNS = media_patterns("/create$", versions=("v1",))

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.media_repo = hs.get_media_repository()

    async def on_POST(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        content_uri, unused_expires_at = await self.media_repo.create_media_id(requester)
        return HTTPStatus.OK, {"content_uri": content_uri, "unused_expires_at": unused_expires_at}
