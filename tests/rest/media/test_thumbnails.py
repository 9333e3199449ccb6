"""Thumbnails over HTTP: configured sizes, dynamic sizes, methods, types and errors."""

from __future__ import annotations

from synapse.media.thumbnailer import animated_thumbnail_type
from tests.matrix_spec import assert_response_matches_spec
from tests.media.images import animated_gif_bytes, jpeg_bytes, open_image, png_bytes
from tests.rest.media._base import MediaTestCase
from tests.unittest import override_config

AUTHED_CONTENT_REPO = "client-server/authed-content-repo.yaml"
THUMBNAIL_PATH = "/media/thumbnail/{serverName}/{mediaId}"


class ThumbnailTestCase(MediaTestCase):
    def thumbnail_size(
        self, media_id: str, width: int, height: int, method: str
    ) -> tuple[int, int]:
        channel = self.thumbnail(media_id, width, height, method)
        self.assertEqual(channel.code, 200, channel.result)
        return open_image(channel.result["body"]).size

    def test_configured_sizes_are_made_on_upload(self) -> None:
        media_id = self.upload_media(png_bytes(800, 600), content_type=b"image/png")
        stored = self.get_success(self.store.get_local_media_thumbnails(media_id))
        self.assertEqual(
            sorted((t.width, t.height, t.method, t.type) for t in stored),
            [
                (32, 32, "crop", "image/png"),
                (96, 96, "crop", "image/png"),
                (320, 240, "scale", "image/png"),
                (640, 480, "scale", "image/png"),
            ],
        )
        thumbnail_files = [f for f in self.stored_files() if f.startswith("local_thumbnails")]
        self.assertEqual(len(thumbnail_files), 4)
        self.assertIn(
            f"local_thumbnails/{media_id[:2]}/{media_id[2:4]}/{media_id[4:]}/32-32-image-png-crop",
            thumbnail_files,
        )

        channel = self.thumbnail(media_id, 32, 32, "crop")
        self.assertEqual(channel.code, 200, channel.result)
        self.assertEqual(self.header(channel, "Content-Type"), "image/png")
        self.assertEqual(
            self.header(channel, "Content-Disposition"), 'inline; filename="thumbnail.png"'
        )
        self.assertEqual(self.header(channel, "Cross-Origin-Resource-Policy"), "cross-origin")
        self.assertEqual(open_image(channel.result["body"]).size, (32, 32))

        self.assertEqual(self.thumbnail_size(media_id, 40, 40, "crop"), (96, 96))
        self.assertEqual(self.thumbnail_size(media_id, 320, 240, "scale"), (320, 240))
        self.assertEqual(self.thumbnail_size(media_id, 100, 100, "scale"), (320, 240))
        self.assertEqual(self.thumbnail_size(media_id, 500, 400, "scale"), (640, 480))
        # Larger than every thumbnail: the image itself.
        channel = self.thumbnail(media_id, 1000, 1000, "scale")
        self.assertEqual(channel.result["body"], png_bytes(800, 600))

    def test_unauthenticated_thumbnail(self) -> None:
        media_id = self.upload_media(png_bytes(100, 100))
        channel = self.thumbnail(media_id, 32, 32, "crop", authenticated=False)
        self.assertEqual(channel.code, 200)
        channel = self.make_request(
            "GET", f"/_matrix/client/v1/media/thumbnail/test/{media_id}?width=32&height=32"
        )
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")

    def test_jpeg_thumbnails_are_jpeg(self) -> None:
        media_id = self.upload_media(jpeg_bytes(400, 300), content_type=b"image/jpeg")
        channel = self.thumbnail(media_id, 96, 96, "crop")
        self.assertEqual(channel.code, 200)
        self.assertEqual(self.header(channel, "Content-Type"), "image/jpeg")
        image = open_image(channel.result["body"])
        self.assertEqual((image.format, image.size), ("JPEG", (96, 96)))

    def test_exif_orientation(self) -> None:
        media_id = self.upload_media(
            jpeg_bytes(400, 200, orientation=8), content_type=b"image/jpeg"
        )
        self.assertEqual(self.thumbnail_size(media_id, 320, 240, "scale"), (120, 240))

    def test_small_images_are_served_as_they_are(self) -> None:
        data = png_bytes(16, 16)
        media_id = self.upload_media(data)
        self.assertEqual(self.get_success(self.store.get_local_media_thumbnails(media_id)), [])
        channel = self.thumbnail(media_id, 32, 32, "crop")
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.result["body"], data)
        self.assertEqual(self.header(channel, "Content-Type"), "image/png")
        self.assertEqual(
            self.header(channel, "Content-Disposition"), 'inline; filename="thumbnail.png"'
        )
        # A type the thumbnail API may not answer with is made into a thumbnail anyway.
        media_id = self.upload_media(jpeg_bytes(16, 16), content_type=b"image/jpg")
        channel = self.thumbnail(media_id, 32, 32, "crop")
        self.assertEqual(self.header(channel, "Content-Type"), "image/jpeg")
        self.assertEqual(open_image(channel.result["body"]).size, (16, 16))

    @override_config({"dynamic_thumbnails": True})
    def test_dynamic_thumbnails(self) -> None:
        media_id = self.upload_media(png_bytes(300, 200))
        # Nothing is made until asked for.
        self.assertEqual(self.get_success(self.store.get_local_media_thumbnails(media_id)), [])
        self.assertEqual(self.thumbnail_size(media_id, 50, 50, "crop"), (50, 50))
        self.assertEqual(self.thumbnail_size(media_id, 50, 50, "scale"), (50, 33))
        self.assertEqual(self.thumbnail_size(media_id, 250, 80, "crop"), (250, 80))
        # Never upscaled.
        self.assertEqual(self.thumbnail_size(media_id, 600, 600, "crop"), (200, 200))
        stored = self.get_success(self.store.get_local_media_thumbnails(media_id))
        self.assertEqual(len(stored), 4)
        # Asked again: served from the store.
        self.assertEqual(self.thumbnail_size(media_id, 50, 50, "crop"), (50, 50))
        self.assertEqual(len(self.get_success(self.store.get_local_media_thumbnails(media_id))), 4)

    def test_animated(self) -> None:
        media_id = self.upload_media(
            animated_gif_bytes(200, 200, frames=3), content_type=b"image/gif"
        )
        channel = self.thumbnail(media_id, 96, 96, "crop")
        self.assertEqual(channel.code, 200)
        self.assertEqual(self.header(channel, "Content-Type"), "image/png")
        self.assertEqual(getattr(open_image(channel.result["body"]), "n_frames", 1), 1)

        for extra in ("&animated=false", ""):
            channel = self.thumbnail(media_id, 96, 96, "crop", extra=extra)
            self.assertEqual(self.header(channel, "Content-Type"), "image/png")

        channel = self.thumbnail(media_id, 96, 96, "crop", extra="&animated=true")
        self.assertEqual(channel.code, 200, channel.result)
        self.assertEqual(self.header(channel, "Content-Type"), animated_thumbnail_type())
        image = open_image(channel.result["body"])
        self.assertEqual((image.size, getattr(image, "n_frames", 1)), ((96, 96), 3))

        # A still image asked for an animated thumbnail gets a still one.
        still = self.upload_media(png_bytes(200, 200))
        channel = self.thumbnail(still, 96, 96, "crop", extra="&animated=true")
        self.assertEqual(self.header(channel, "Content-Type"), "image/png")

    def test_content_that_is_no_image(self) -> None:
        for data, content_type in [(b"hello", b"text/plain"), (b"not a png", b"image/png")]:
            media_id = self.upload_media(data, content_type=content_type)
            channel = self.thumbnail(media_id, 32, 32, "crop")
            self.assertEqual(channel.code, 400, channel.result)
            self.assertEqual(channel.json_body["errcode"], "M_UNKNOWN")
            assert_response_matches_spec(
                channel.json_body, AUTHED_CONTENT_REPO, THUMBNAIL_PATH, "get", status=400
            )

    @override_config({"thumbnail_sizes": []})
    def test_no_thumbnail_sizes(self) -> None:
        media_id = self.upload_media(png_bytes(100, 100))
        channel = self.thumbnail(media_id, 32, 32, "crop")
        self.assertEqual(channel.code, 400, channel.result)
        self.assertEqual(channel.json_body["errcode"], "M_UNKNOWN")

    @override_config({"max_image_pixels": 1000})
    def test_too_many_pixels(self) -> None:
        media_id = self.upload_media(png_bytes(40, 40))
        self.assertEqual(self.get_success(self.store.get_local_media_thumbnails(media_id)), [])
        channel = self.thumbnail(media_id, 32, 32, "crop")
        self.assertEqual(channel.code, 413, channel.result)
        self.assertEqual(channel.json_body["errcode"], "M_TOO_LARGE")
        assert_response_matches_spec(
            channel.json_body, AUTHED_CONTENT_REPO, THUMBNAIL_PATH, "get", status=413
        )

    def test_bad_parameters(self) -> None:
        media_id = self.upload_media(png_bytes(100, 100))
        prefix = f"/_matrix/client/v1/media/thumbnail/test/{media_id}"
        for query, errcode in [
            ("height=32", "M_MISSING_PARAM"),
            ("width=32", "M_MISSING_PARAM"),
            ("width=0&height=32", "M_INVALID_PARAM"),
            ("width=-1&height=32", "M_INVALID_PARAM"),
            ("width=x&height=32", "M_INVALID_PARAM"),
            ("width=32&height=32&method=stretch", "M_INVALID_PARAM"),
            ("width=32&height=32&animated=yes", "M_INVALID_PARAM"),
        ]:
            channel = self.make_request("GET", f"{prefix}?{query}", access_token=self.token)
            self.assertEqual(channel.code, 400, (query, channel.result))
            self.assertEqual(channel.json_body["errcode"], errcode, query)

    def test_unknown_media(self) -> None:
        channel = self.thumbnail("abcdefghijklmnopqrstuvwx", 32, 32)
        self.assertEqual(channel.code, 404)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")
        channel = self.make_request(
            "GET",
            "/_matrix/client/v1/media/thumbnail/other.example/abcdef?width=32&height=32",
            access_token=self.token,
        )
        self.assertEqual(channel.code, 404)
