"""GET /config (both paths) and the refused URL previews."""

from __future__ import annotations

from tests.matrix_spec import assert_response_matches_spec
from tests.rest.media._base import MediaTestCase
from tests.unittest import override_config

CONFIG_PATHS = [
    ("/_matrix/client/v1/media/config", "client-server/authed-content-repo.yaml", "/media/config"),
    ("/_matrix/media/v3/config", "client-server/content-repo.yaml", "/media/v3/config"),
]
PREVIEW_PATHS = ["/_matrix/client/v1/media/preview_url", "/_matrix/media/v3/preview_url"]


class MediaConfigTestCase(MediaTestCase):
    @override_config({"max_upload_size": "10M"})
    def test_config(self) -> None:
        for path, api_file, spec_path in CONFIG_PATHS:
            channel = self.make_request("GET", path, access_token=self.token)
            self.assertEqual(channel.code, 200, channel.result)
            assert_response_matches_spec(channel.json_body, api_file, spec_path, "get")
            self.assertEqual(channel.json_body, {"m.upload.size": 10 * 1024 * 1024})

            channel = self.make_request("GET", path)
            self.assertEqual(channel.code, 401)
            self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")

    def test_preview_url_is_disabled(self) -> None:
        for path in PREVIEW_PATHS:
            channel = self.make_request(
                "GET", f"{path}?url=https%3A%2F%2Fmatrix.org", access_token=self.token
            )
            self.assertEqual(channel.code, 403, channel.result)
            self.assertEqual(
                channel.json_body, {"errcode": "M_UNKNOWN", "error": "URL previews are disabled"}
            )
            channel = self.make_request("GET", path, access_token=self.token)
            self.assertEqual(channel.code, 400)
            self.assertEqual(channel.json_body["errcode"], "M_MISSING_PARAM")
            channel = self.make_request("GET", f"{path}?url=https%3A%2F%2Fmatrix.org")
            self.assertEqual(channel.code, 401)

    @override_config({"enable_media_repo": False})
    def test_media_repo_disabled(self) -> None:
        for path, _, _ in CONFIG_PATHS:
            channel = self.make_request("GET", path, access_token=self.token)
            self.assertEqual(channel.code, 404)
            self.assertEqual(channel.json_body["errcode"], "M_UNRECOGNIZED")
