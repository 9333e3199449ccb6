"""Uploads and downloads of local media over HTTP."""

from __future__ import annotations

import hashlib
import os

from synapse.media.media_repository import MEDIA_ID_LENGTH
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.media._base import MediaTestCase
from tests.server import make_request
from tests.unittest import override_config

CONTENT_REPO = "client-server/content-repo.yaml"
SPEC_CSP = (
    "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf;"
    " style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"
)


class UploadDownloadTestCase(MediaTestCase):
    def test_round_trip(self) -> None:
        data = bytes(range(256)) * 40
        channel = self.upload(data, content_type=b"image/png", filename="cat.png")
        self.assertEqual(channel.code, 200, channel.result)
        assert_response_matches_spec(channel.json_body, CONTENT_REPO, "/media/v3/upload", "post")
        uri = channel.json_body["content_uri"]
        media_id = uri.rsplit("/", 1)[1]
        self.assertEqual(uri, f"mxc://test/{media_id}")
        self.assertEqual(len(media_id), MEDIA_ID_LENGTH)

        for authenticated in (True, False):
            channel = self.download(media_id, authenticated=authenticated)
            self.assertEqual(channel.code, 200, channel.result)
            self.assertEqual(channel.result["body"], data)
            self.assertEqual(self.header(channel, "Content-Type"), "image/png")
            self.assertEqual(self.header(channel, "Content-Length"), str(len(data)))
            self.assertEqual(
                self.header(channel, "Content-Disposition"), 'inline; filename="cat.png"'
            )
            self.assertEqual(self.header(channel, "Content-Security-Policy"), SPEC_CSP)
            self.assertEqual(self.header(channel, "Cross-Origin-Resource-Policy"), "cross-origin")
            self.assertEqual(self.header(channel, "Access-Control-Allow-Origin"), "*")

        # Stored once, in Synapse's sharded layout, with its hash.
        self.assertEqual(
            self.stored_files(),
            [os.path.join("local_content", media_id[:2], media_id[2:4], media_id[4:])],
        )
        media = self.get_success(self.store.get_local_media(media_id))
        assert media is not None
        self.assertEqual(media.sha256, hashlib.sha256(data).hexdigest())
        self.assertEqual((media.media_length, media.user_id), (len(data), self.user))
        self.assertEqual(media.upload_name, "cat.png")

    def test_empty_upload(self) -> None:
        media_id = self.upload_media(b"", content_type=b"text/plain")
        channel = self.download(media_id)
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.result["body"], b"")
        self.assertEqual(self.header(channel, "Content-Type"), "text/plain; charset=UTF-8")
        self.assertEqual(self.header(channel, "Content-Disposition"), "inline")

    def test_unsafe_types_are_attachments(self) -> None:
        media_id = self.upload_media(
            b"<script>x</script>", content_type=b"text/html", filename="a.html"
        )
        channel = self.download(media_id)
        self.assertEqual(channel.code, 200)
        self.assertEqual(
            self.header(channel, "Content-Disposition"), 'attachment; filename="a.html"'
        )
        self.assertEqual(self.header(channel, "Content-Type"), "text/html; charset=UTF-8")

    def test_file_names(self) -> None:
        media_id = self.upload_media(b"x", content_type=b"text/plain", filename='résumé "1".txt')
        channel = self.download(media_id)
        self.assertEqual(
            self.header(channel, "Content-Disposition"),
            "inline; filename*=utf-8''r%C3%A9sum%C3%A9%20%221%22.txt",
        )
        # The name in the path wins over the uploaded one.
        for authenticated in (True, False):
            channel = self.download(media_id, file_name="other.txt", authenticated=authenticated)
            self.assertEqual(channel.code, 200)
            self.assertEqual(
                self.header(channel, "Content-Disposition"), 'inline; filename="other.txt"'
            )

    def test_head(self) -> None:
        media_id = self.upload_media(b"hello", content_type=b"text/plain")
        channel = self.make_request(
            "HEAD", f"/_matrix/client/v1/media/download/test/{media_id}", access_token=self.token
        )
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.result["body"], b"")
        self.assertEqual(self.header(channel, "Content-Length"), "5")

    def test_large_file_is_streamed(self) -> None:
        data = os.urandom(300 * 1024)
        media_id = self.upload_media(data, content_type=b"application/octet-stream")
        channel = self.download(media_id)
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.result["body"], data)
        self.assertEqual(self.header(channel, "Content-Disposition"), "attachment")

    def test_auth(self) -> None:
        channel = self.make_request("POST", "/_matrix/media/v3/upload", b"data")
        self.assertEqual(channel.code, 401, channel.result)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")
        channel = self.upload(b"data", token="not_a_token")
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], "M_UNKNOWN_TOKEN")

        media_id = self.upload_media(b"data")
        channel = self.make_request("GET", f"/_matrix/client/v1/media/download/test/{media_id}")
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")
        # The deprecated endpoint still serves local media to anyone.
        channel = self.download(media_id, authenticated=False)
        self.assertEqual(channel.code, 200)

    @override_config({"max_upload_size": 1000})
    def test_too_large(self) -> None:
        for chunked in (False, True):
            channel = self.upload(b"x" * 1001, chunked=chunked)
            self.assertEqual(channel.code, 413, channel.result)
            self.assertEqual(channel.json_body["errcode"], "M_TOO_LARGE")
            assert_response_matches_spec(
                channel.json_body, CONTENT_REPO, "/media/v3/upload", "post", status=413
            )
        # Far over the limit: refused by the listener before the body is read.
        channel = self.upload(b"x" * (200 * 1024))
        self.assertEqual(channel.code, 413)
        self.assertEqual(channel.json_body["errcode"], "M_TOO_LARGE")
        self.assertEqual(self.stored_files(), [])
        self.assertEqual(self.upload(b"x" * 1000).code, 200)

    def test_unknown_media(self) -> None:
        for authenticated in (True, False):
            channel = self.download("abcdefghijklmnopqrstuvwx", authenticated=authenticated)
            self.assertEqual(channel.code, 404, channel.result)
            self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")
            # Remote media needs federation, which is not there yet.
            channel = self.download(
                "abcdefghijklmnopqrstuvwx", server_name="other.example", authenticated=authenticated
            )
            self.assertEqual(channel.code, 404)
            self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")

    def test_malformed_ids(self) -> None:
        for server_name, media_id in [
            ("test", "..%2F..%2Fetc"),
            ("test", "a.b"),
            ("bad%20server", "abc"),
            ("test", "%C3%A9"),
        ]:
            channel = self.download(media_id, server_name=server_name)
            self.assertEqual(channel.code, 400, (server_name, media_id, channel.result))
            self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM")

    def test_last_access_time(self) -> None:
        media_id = self.upload_media(b"data")
        media = self.get_success(self.store.get_local_media(media_id))
        assert media is not None
        self.assertIsNone(media.last_access_ts)
        downloaded_at = self.clock.time_msec()
        self.download(media_id)
        # Written in batches, once a minute.
        self.reactor.advance(61)
        media = self.get_success(self.store.get_local_media(media_id))
        assert media is not None and media.last_access_ts is not None
        self.assertTrue(downloaded_at <= media.last_access_ts <= self.clock.time_msec())

    @override_config({"enable_media_repo": False})
    def test_media_repo_disabled(self) -> None:
        channel = self.upload(b"data")
        self.assertEqual(channel.code, 404)
        self.assertEqual(channel.json_body["errcode"], "M_UNRECOGNIZED")
        channel = self.download("abcdefghijklmnopqrstuvwx")
        self.assertEqual(channel.code, 404)
        self.assertEqual(channel.json_body["errcode"], "M_UNRECOGNIZED")


class UploadQuotaTestCase(MediaTestCase):
    @override_config(
        {
            "media_upload_limits": [
                {"time_period": "1h", "max_size": 100},
                {"time_period": "1d", "max_size": 150},
            ]
        }
    )
    def test_quotas(self) -> None:
        self.assertEqual(self.upload(b"x" * 60).code, 200)
        channel = self.upload(b"x" * 41)
        self.assertEqual(channel.code, 403, channel.result)
        self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        assert_response_matches_spec(
            channel.json_body, CONTENT_REPO, "/media/v3/upload", "post", status=403
        )
        self.assertEqual(self.upload(b"x" * 40).code, 200)
        # An hour later the hourly quota has room again, but not the daily one.
        self.reactor.advance(3601)
        self.assertEqual(self.upload(b"x" * 50).code, 200)
        self.assertEqual(self.upload(b"x" * 1).code, 403)
        # Async uploads count too.
        media_id = self.get_success(
            self.media_repo.create_media_id(
                self.get_success(self.hs.get_auth().get_user_by_access_token(self.token))
            )
        )[0].rsplit("/", 1)[1]
        channel = make_request(
            self.reactor,
            self.site,
            "PUT",
            f"/_matrix/media/v3/upload/test/{media_id}",
            b"x",
            access_token=self.token,
            content_type=b"text/plain",
        )
        self.assertEqual(channel.code, 403)
        # Quotas are per user.
        bob = self.create_access_token(self.register_user("bob", "password"))
        self.assertEqual(self.upload(b"x" * 100, token=bob).code, 200)
