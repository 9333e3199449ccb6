"""The thumbnailer: sizes, methods, orientation, animation and bad input."""

from __future__ import annotations

import os
import tempfile
import unittest

from synapse.media.media_repository import ThumbnailSpec, select_thumbnail
from synapse.media.thumbnailer import (
    Thumbnailer,
    ThumbnailError,
    ThumbnailTooLarge,
    animated_thumbnail_type,
    fit_in_box,
    static_thumbnail_type,
    thumbnail_size,
)
from tests.media.images import animated_gif_bytes, jpeg_bytes, open_image, png_bytes

MAX_PIXELS = 32 * 1024 * 1024


class SizeTestCase(unittest.TestCase):
    def test_fit_in_box(self) -> None:
        self.assertEqual(fit_in_box(800, 600, 320, 240), (320, 240))
        self.assertEqual(fit_in_box(800, 600, 100, 100), (100, 75))
        self.assertEqual(fit_in_box(600, 800, 100, 100), (75, 100))
        self.assertEqual(fit_in_box(10000, 1, 100, 100), (100, 1))

    def test_scale_never_upscales(self) -> None:
        self.assertEqual(thumbnail_size(800, 600, 320, 240, "scale"), (320, 240))
        self.assertEqual(thumbnail_size(800, 600, 800, 600, "scale"), (800, 600))
        self.assertEqual(thumbnail_size(100, 50, 640, 480, "scale"), (100, 50))

    def test_crop_never_upscales(self) -> None:
        self.assertEqual(thumbnail_size(800, 600, 96, 96, "crop"), (96, 96))
        # Smaller than the box: the largest area of the box's shape.
        self.assertEqual(thumbnail_size(20, 10, 32, 32, "crop"), (10, 10))
        self.assertEqual(thumbnail_size(10, 40, 32, 16, "crop"), (10, 5))

    def test_select_thumbnail(self) -> None:
        crops = [
            ThumbnailSpec(32, 32, "crop", "image/png"),
            ThumbnailSpec(96, 96, "crop", "image/png"),
        ]
        scales = [
            ThumbnailSpec(320, 240, "scale", "image/png"),
            ThumbnailSpec(640, 480, "scale", "image/png"),
        ]
        both = crops + scales
        self.assertEqual(select_thumbnail(both, 40, 40, "crop"), crops[1])
        self.assertEqual(select_thumbnail(both, 20, 20, "crop"), crops[0])
        # Nothing big enough: the largest of the method.
        self.assertEqual(select_thumbnail(both, 200, 200, "crop"), crops[1])
        self.assertEqual(select_thumbnail(both, 100, 100, "scale"), scales[0])
        self.assertEqual(select_thumbnail(both, 400, 300, "scale"), scales[1])
        self.assertEqual(select_thumbnail(both, 2000, 2000, "scale"), scales[1])
        # Another method only when the requested one has nothing.
        self.assertEqual(select_thumbnail(scales, 32, 32, "crop"), scales[0])
        self.assertIsNone(select_thumbnail([], 32, 32, "crop"))

    def test_types(self) -> None:
        self.assertEqual(static_thumbnail_type("image/jpeg"), "image/jpeg")
        self.assertEqual(static_thumbnail_type("image/png"), "image/png")
        self.assertEqual(static_thumbnail_type("image/gif"), "image/png")
        self.assertIn(animated_thumbnail_type(), ("image/webp", "image/gif"))


class ThumbnailerTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def write(self, data: bytes) -> str:
        fd, path = tempfile.mkstemp(dir=self.dir.name)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def open(self, data: bytes, max_pixels: int = MAX_PIXELS) -> Thumbnailer:
        thumbnailer = Thumbnailer(self.write(data), max_pixels)
        self.addCleanup(thumbnailer.close)
        return thumbnailer

    def test_scale(self) -> None:
        image = self.open(png_bytes(80, 60))
        self.assertEqual((image.width, image.height, image.animated), (80, 60, False))
        out = open_image(image.scale(40, 30, "image/png"))
        self.assertEqual((out.format, out.size), ("PNG", (40, 30)))
        out = open_image(image.scale(40, 30, "image/jpeg"))
        self.assertEqual((out.format, out.size, out.mode), ("JPEG", (40, 30), "RGB"))

    def test_crop_keeps_the_centre(self) -> None:
        # Red left half, blue right half: a centred square crop of a wide image keeps both.
        image = self.open(png_bytes(200, 50))
        out = open_image(image.crop(20, 20, "image/png")).convert("RGB")
        self.assertEqual(out.size, (20, 20))
        left = out.getpixel((2, 10))
        right = out.getpixel((17, 10))
        assert isinstance(left, tuple) and isinstance(right, tuple)
        self.assertGreater(left[0], 200)
        self.assertGreater(right[2], 200)

    def test_transparency(self) -> None:
        image = self.open(png_bytes(40, 40, mode="RGBA"))
        self.assertEqual(open_image(image.scale(20, 20, "image/png")).mode, "RGBA")
        # JPEG has none: the image goes on a background.
        self.assertEqual(open_image(image.scale(20, 20, "image/jpeg")).mode, "RGB")
        palette = self.open(png_bytes(40, 40, mode="P"))
        self.assertEqual(open_image(palette.scale(20, 20, "image/png")).size, (20, 20))

    def test_exif_orientation(self) -> None:
        # Stored 60x20, to be shown turned a quarter: upright it is 20x60.
        image = self.open(jpeg_bytes(60, 20, orientation=6))
        self.assertEqual((image.width, image.height, image.rotated), (20, 60, True))
        out = open_image(image.scale(10, 30, "image/jpeg"))
        self.assertEqual(out.size, (10, 30))
        # Turned clockwise: the stored left half (red) is now on top, the right (blue) below.
        upright = out.convert("RGB")
        top, bottom = upright.getpixel((5, 3)), upright.getpixel((5, 27))
        assert isinstance(top, tuple) and isinstance(bottom, tuple)
        self.assertGreater(top[0], 200)
        self.assertGreater(bottom[2], 200)
        self.assertFalse(self.open(jpeg_bytes(60, 20, orientation=1)).rotated)

    def test_animated(self) -> None:
        image = self.open(animated_gif_bytes(40, 40, frames=3))
        self.assertTrue(image.animated)
        static = open_image(image.scale(20, 20, "image/png"))
        self.assertEqual(getattr(static, "n_frames", 1), 1)
        animated_type = animated_thumbnail_type()
        moving = open_image(image.crop(20, 20, animated_type, animated=True))
        self.assertEqual(moving.size, (20, 20))
        self.assertEqual(getattr(moving, "n_frames", 1), 3)

    def test_animation_is_bounded(self) -> None:
        # Decoding every frame would be too much work: treated as a still image.
        self.assertFalse(self.open(animated_gif_bytes(40, 40, frames=3), max_pixels=4000).animated)

    def test_bad_input(self) -> None:
        with self.assertRaises(ThumbnailError):
            self.open(b"not an image")
        with self.assertRaises(ThumbnailTooLarge):
            self.open(png_bytes(100, 100), max_pixels=9999)
        with self.assertRaises(ThumbnailError):
            self.open(png_bytes(10, 10)).scale(5, 5, "image/tiff")
        # A truncated image is found out when its pixels are read.
        truncated = png_bytes(64, 64)[:60]
        with self.assertRaises(ThumbnailError):
            self.open(truncated).scale(5, 5, "image/png")
