"""The media repository's REST API: ``/_matrix/media`` and ``/_matrix/client/v1/media``.

``listener_resources(hs)`` gives the ``media`` resource of a listener;
``register_client_servlets`` adds the authenticated endpoints to the client API.
Nothing is served when ``enable_media_repo`` is false (a media worker serves it).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from synapse.http.server import JsonResource
from synapse.rest.media._base import MEDIA_PREFIX, client_media_patterns, media_patterns
from synapse.rest.media.config_resource import MediaConfigServlet
from synapse.rest.media.download_resource import DOWNLOAD_PATH, DownloadServlet
from synapse.rest.media.preview_url_resource import PreviewUrlServlet
from synapse.rest.media.thumbnail_resource import THUMBNAIL_PATH, ThumbnailServlet
from synapse.rest.media.upload_resource import AsyncUploadServlet, CreateServlet, UploadServlet

if TYPE_CHECKING:
    from twisted.web.resource import Resource

    from synapse.server import HomeServer

logger = logging.getLogger(__name__)


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    """The servlets of ``/_matrix/media``: uploads, and the deprecated unauthenticated
    downloads and thumbnails."""
    if not hs.config.media.enable_media_repo:
        return
    UploadServlet(hs).register(http_server)
    AsyncUploadServlet(hs).register(http_server)
    CreateServlet(hs).register(http_server)
    DownloadServlet(hs, media_patterns(DOWNLOAD_PATH), require_auth=False).register(http_server)
    ThumbnailServlet(hs, media_patterns(THUMBNAIL_PATH), require_auth=False).register(http_server)
    MediaConfigServlet(hs, media_patterns("/config$")).register(http_server)
    PreviewUrlServlet(hs, media_patterns("/preview_url$")).register(http_server)


def register_client_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    """The authenticated media endpoints of the client API (``/_matrix/client/v1/media``)."""
    if not hs.config.media.enable_media_repo:
        return
    DownloadServlet(hs, client_media_patterns(DOWNLOAD_PATH), require_auth=True).register(
        http_server
    )
    ThumbnailServlet(hs, client_media_patterns(THUMBNAIL_PATH), require_auth=True).register(
        http_server
    )
    MediaConfigServlet(hs, client_media_patterns("/config$")).register(http_server)
    PreviewUrlServlet(hs, client_media_patterns("/preview_url$")).register(http_server)


class MediaRepositoryResource(JsonResource):
    """The JSON resource mounted at ``/_matrix/media``."""

    def __init__(self, hs: HomeServer) -> None:
        super().__init__(hs, canonical_json=False)
        register_servlets(hs, self)


def listener_resources(hs: HomeServer) -> dict[str, Resource]:
    """The ``media`` resource of a listener (none when the media repository is off)."""
    if not hs.config.media.enable_media_repo:
        return {}
    if hs.config.media.url_preview_enabled:
        logger.warning("url_preview_enabled: URL previews are not supported yet; ignoring it")
    return {MEDIA_PREFIX: MediaRepositoryResource(hs)}
