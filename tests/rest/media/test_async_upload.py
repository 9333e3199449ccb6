"""Asynchronous uploads: POST /_matrix/media/v1/create, then PUT /upload/{serverName}/{mediaId}."""

from __future__ import annotations

from typing import Any

from tests.matrix_spec import assert_response_matches_spec
from tests.rest.media._base import MediaTestCase
from tests.server import FakeChannel, make_request
from tests.unittest import override_config

CONTENT_REPO = "client-server/content-repo.yaml"
AUTHED_CONTENT_REPO = "client-server/authed-content-repo.yaml"
DAY_MS = 24 * 60 * 60 * 1000


class AsyncUploadTestCase(MediaTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.bob = self.register_user("bob", "password")
        self.bob_token = self.create_access_token(self.bob)

    def create(self, token: str | None = None) -> FakeChannel:
        return self.make_request(
            "POST", "/_matrix/media/v1/create", {}, access_token=token or self.token
        )

    def create_media_id(self) -> str:
        channel = self.create()
        self.assertEqual(channel.code, 200, channel.result)
        return str(channel.json_body["content_uri"]).rsplit("/", 1)[1]

    def put(
        self,
        media_id: str,
        data: bytes,
        token: str | None = None,
        server_name: str = "test",
        filename: str | None = None,
    ) -> FakeChannel:
        path = f"/_matrix/media/v3/upload/{server_name}/{media_id}"
        if filename:
            path += f"?filename={filename}"
        return make_request(
            self.reactor,
            self.site,
            "PUT",
            path,
            data,
            access_token=token or self.token,
            content_type=b"text/plain",
        )

    def test_create_then_upload(self) -> None:
        now = self.clock.time_msec()
        channel = self.create()
        self.assertEqual(channel.code, 200, channel.result)
        assert_response_matches_spec(channel.json_body, CONTENT_REPO, "/media/v1/create", "post")
        self.assertEqual(channel.json_body["unused_expires_at"], now + DAY_MS)
        media_id = channel.json_body["content_uri"].rsplit("/", 1)[1]
        self.assertEqual(channel.json_body["content_uri"], f"mxc://test/{media_id}")

        channel = self.put(media_id, b"later", filename="note.txt")
        self.assertEqual(channel.code, 200, channel.result)
        self.assertEqual(channel.json_body, {})
        assert_response_matches_spec(
            channel.json_body, CONTENT_REPO, "/media/v3/upload/{serverName}/{mediaId}", "put"
        )

        channel = self.download(media_id)
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.result["body"], b"later")
        self.assertEqual(self.header(channel, "Content-Type"), "text/plain; charset=UTF-8")
        self.assertEqual(self.header(channel, "Content-Disposition"), 'inline; filename="note.txt"')

    def test_cannot_overwrite(self) -> None:
        media_id = self.create_media_id()
        self.assertEqual(self.put(media_id, b"first").code, 200)
        channel = self.put(media_id, b"second")
        self.assertEqual(channel.code, 409, channel.result)
        self.assertEqual(channel.json_body["errcode"], "M_CANNOT_OVERWRITE_MEDIA")
        self.assertEqual(self.download(media_id).result["body"], b"first")

    def test_another_users_media_id(self) -> None:
        media_id = self.create_media_id()
        channel = self.put(media_id, b"mine", token=self.bob_token)
        self.assertEqual(channel.code, 403, channel.result)
        self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        self.assertEqual(self.put(media_id, b"mine").code, 200)

    def test_unknown_media_ids(self) -> None:
        channel = self.put("abcdefghijklmnopqrstuvwx", b"data")
        self.assertEqual(channel.code, 404, channel.result)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")
        media_id = self.create_media_id()
        channel = self.put(media_id, b"data", server_name="other.example")
        self.assertEqual(channel.code, 404)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")
        # Not a media ID: never reaches the disk.
        channel = self.put("..", b"data")
        self.assertEqual(channel.code, 400)
        self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM")

    def test_auth(self) -> None:
        channel = self.make_request("POST", "/_matrix/media/v1/create", {})
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")
        media_id = self.create_media_id()
        channel = self.make_request("PUT", f"/_matrix/media/v3/upload/test/{media_id}", b"x")
        self.assertEqual(channel.code, 401)

    @override_config({"max_upload_size": 10})
    def test_too_large(self) -> None:
        media_id = self.create_media_id()
        channel = self.put(media_id, b"x" * 11)
        self.assertEqual(channel.code, 413)
        self.assertEqual(channel.json_body["errcode"], "M_TOO_LARGE")
        self.assertEqual(self.put(media_id, b"x" * 10).code, 200)

    def test_download_before_upload(self) -> None:
        media_id = self.create_media_id()
        for authenticated in (True, False):
            channel = self.download(media_id, authenticated=authenticated, query="timeout_ms=0")
            self.assertEqual(channel.code, 504, channel.result)
            self.assertEqual(channel.json_body["errcode"], "M_NOT_YET_UPLOADED")
            assert_response_matches_spec(
                channel.json_body,
                AUTHED_CONTENT_REPO,
                "/media/download/{serverName}/{mediaId}",
                "get",
                status=504,
            )

        # A waiting download is answered as soon as the content arrives.
        channel = self.download(media_id, query="timeout_ms=10000", await_result=False)
        self.reactor.advance(1)
        self.assertFalse(channel.is_finished())
        self.assertEqual(self.put(media_id, b"arrived").code, 200)
        channel.await_result()
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.result["body"], b"arrived")

    def test_download_times_out(self) -> None:
        media_id = self.create_media_id()
        channel = self.download(media_id, query="timeout_ms=3000", await_result=False)
        self.reactor.advance(2.5)
        self.assertFalse(channel.is_finished())
        channel.await_result(timeout_ms=1000)
        self.assertEqual(channel.code, 504)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_YET_UPLOADED")

    def test_expiry(self) -> None:
        media_id = self.create_media_id()
        self.reactor.advance(DAY_MS / 1000 + 1)
        channel = self.put(media_id, b"too late")
        self.assertEqual(channel.code, 404)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")
        channel = self.download(media_id, query="timeout_ms=0")
        self.assertEqual(channel.code, 404)

    @override_config({"max_pending_media_uploads": 2})
    def test_pending_uploads_are_limited(self) -> None:
        first = self.create_media_id()
        self.create_media_id()
        channel = self.create()
        self.assertEqual(channel.code, 429, channel.result)
        self.assertEqual(channel.json_body["errcode"], "M_LIMIT_EXCEEDED")
        # Others are not affected; and an upload frees a place.
        self.assertEqual(self.create(token=self.bob_token).code, 200)
        self.assertEqual(self.put(first, b"done").code, 200)
        self.assertEqual(self.create().code, 200)

    @override_config({"rc_media_create": {"per_second": 0.1, "burst_count": 2}})
    def test_rate_limit(self) -> None:
        self.create_media_id()
        self.create_media_id()
        channel = self.create()
        self.assertEqual(channel.code, 429, channel.result)
        self.assertEqual(channel.json_body["errcode"], "M_LIMIT_EXCEEDED")
        self.assertGreater(channel.json_body["retry_after_ms"], 0)
        assert_response_matches_spec(
            channel.json_body, CONTENT_REPO, "/media/v1/create", "post", status=429
        )
        self.reactor.advance(10)
        self.assertEqual(self.create().code, 200)
