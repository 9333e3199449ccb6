"""A homeserver serving the media repository from a temporary media store."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any
from urllib.parse import quote

from twisted.web.resource import Resource

from synapse.http.resource_tree import max_request_body_size, resources_for_listener
from synapse.types import JsonDict
from tests.server import FakeChannel, make_request
from tests.unittest import HomeserverTestCase


class MediaTestCase(HomeserverTestCase):
    """Serves what a ``client`` listener serves (the client API, ``/_matrix/media`` and
    the admin API), with the body size limit of such a listener."""

    def default_config(self) -> JsonDict:
        config = super().default_config()
        self.media_store_path = tempfile.mkdtemp(prefix="synapse-test-media-")
        self.addCleanup(shutil.rmtree, self.media_store_path, ignore_errors=True)
        config.setdefault("media_store_path", self.media_store_path)
        return config

    def create_resource_dict(self) -> dict[str, Resource]:
        return resources_for_listener(self.hs, ["client"])

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.site.max_request_body_size = max_request_body_size(hs, ["client"])
        self.media_repo = hs.get_media_repository()
        self.store = hs.get_datastores().main.media
        self.user = self.register_user("alice", "password")
        self.token = self.create_access_token(self.user)

    # --- requests ---------------------------------------------------------------------------

    def upload(
        self,
        data: bytes,
        token: str | None = None,
        content_type: bytes = b"application/octet-stream",
        filename: str | None = None,
        chunked: bool = False,
    ) -> FakeChannel:
        path = "/_matrix/media/v3/upload"
        if filename is not None:
            path += "?filename=" + quote(filename)
        return make_request(
            self.reactor,
            self.site,
            "POST",
            path,
            data,
            access_token=token if token is not None else self.token,
            content_type=content_type,
            chunked=chunked,
        )

    def upload_media(self, data: bytes, content_type: bytes = b"image/png", **kwargs: Any) -> str:
        """Upload ``data`` and return its media ID."""
        channel = self.upload(data, content_type=content_type, **kwargs)
        self.assertEqual(channel.code, 200, channel.result)
        uri = channel.json_body["content_uri"]
        prefix = f"mxc://{self.hs.hostname}/"
        self.assertTrue(uri.startswith(prefix), uri)
        return uri[len(prefix) :]

    def download(
        self,
        media_id: str,
        token: str | None = None,
        authenticated: bool = True,
        file_name: str | None = None,
        server_name: str | None = None,
        query: str = "",
        await_result: bool = True,
    ) -> FakeChannel:
        server_name = server_name or self.hs.hostname
        prefix = "/_matrix/client/v1/media" if authenticated else "/_matrix/media/v3"
        path = f"{prefix}/download/{server_name}/{media_id}"
        if file_name is not None:
            path += "/" + quote(file_name, safe="")
        if query:
            path += "?" + query
        if token is None and authenticated:
            token = self.token
        return self.make_request("GET", path, access_token=token, await_result=await_result)

    def thumbnail(
        self,
        media_id: str,
        width: int,
        height: int,
        method: str = "scale",
        authenticated: bool = True,
        extra: str = "",
    ) -> FakeChannel:
        prefix = "/_matrix/client/v1/media" if authenticated else "/_matrix/media/v3"
        path = (
            f"{prefix}/thumbnail/{self.hs.hostname}/{media_id}"
            f"?width={width}&height={height}&method={method}{extra}"
        )
        return self.make_request("GET", path, access_token=self.token if authenticated else None)

    # --- the media store --------------------------------------------------------------------

    def stored_files(self) -> list[str]:
        """Every file under the media store, relative to it."""
        found = []
        for root, _dirs, files in os.walk(self.media_store_path):
            for name in files:
                found.append(os.path.relpath(os.path.join(root, name), self.media_store_path))
        return sorted(found)

    def header(self, channel: FakeChannel, name: str) -> str | None:
        values = channel.headers.getRawHeaders(name)
        return values[0] if values else None
