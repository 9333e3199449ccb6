"""Thumbnails of images with Pillow: ``scale`` (fit in a box) and ``crop`` (fill a box).

An image is read upright (its EXIF orientation applied), never upscaled, and only its
first frame is used unless an animated thumbnail is asked for. Everything here blocks:
run it on a thread.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from PIL import Image, ImageSequence, features

logger = logging.getLogger(__name__)

# Types of content thumbnails are made of.
THUMBNAILABLE_TYPES = frozenset(
    {"image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/apng", "image/gif", "image/webp"}
)

_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}

# EXIF orientation -> the transposition that puts the image upright.
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG = 0x0112

JPEG_QUALITY = 80


class ThumbnailError(Exception):
    """The content is not an image Pillow can read, or could not be thumbnailed."""


class ThumbnailTooLarge(ThumbnailError):
    """The image has more pixels than ``max_image_pixels`` allows."""


def static_thumbnail_type(media_type: str) -> str:
    """JPEG thumbnails for JPEG content, PNG (which keeps transparency) for the rest."""
    return "image/jpeg" if media_type in ("image/jpeg", "image/jpg", "image/pjpeg") else "image/png"


def animated_thumbnail_type() -> str:
    """Animated thumbnails are WebP where this Pillow can write it, else GIF."""
    return "image/webp" if features.check("webp") else "image/gif"


def fit_in_box(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The size of a ``width`` x ``height`` image scaled to fit in ``max_width`` x ``max_height``."""
    if max_width * height < max_height * width:
        return max_width, max(max_width * height // width, 1)
    return max(max_height * width // height, 1), max_height


def thumbnail_size(
    width: int, height: int, req_width: int, req_height: int, method: str
) -> tuple[int, int]:
    """The size of the ``method`` thumbnail of a ``width`` x ``height`` image for a
    request of ``req_width`` x ``req_height``, never larger than the image itself.

    ``scale`` keeps the image's aspect ratio and fits the box; ``crop`` has the box's
    aspect ratio and its size, or (for a smaller image) the largest such area of the image.
    """
    if method == "crop":
        if width >= req_width and height >= req_height:
            return req_width, req_height
        if width * req_height > height * req_width:
            return max(height * req_width // req_height, 1), height
        return width, max(width * req_height // req_width, 1)
    scaled = fit_in_box(width, height, req_width, req_height)
    if scaled[0] >= width or scaled[1] >= height:
        return width, height
    return scaled


class Thumbnailer:
    """An image opened for thumbnailing. ``width`` and ``height`` are its upright size."""

    def __init__(self, path: str, max_image_pixels: int) -> None:
        try:
            self.image = Image.open(path)
        except (OSError, Image.DecompressionBombError, ValueError) as e:
            raise ThumbnailError(f"Cannot read the image: {e}")
        width, height = self.image.size
        if width * height > max_image_pixels:
            self.image.close()
            raise ThumbnailTooLarge(f"The image has {width * height} pixels")
        try:
            orientation = self.image.getexif().get(_EXIF_ORIENTATION_TAG)
        except Exception:
            orientation = None
        self._transpose = _ORIENTATION_TRANSPOSE.get(orientation) if orientation else None
        # Whether the stored pixels are not upright (the EXIF orientation turns them).
        self.rotated = self._transpose is not None
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        self.width = width
        self.height = height
        frames = int(getattr(self.image, "n_frames", 1))
        # Every frame is decoded for an animated thumbnail: bound that work too.
        self.animated = (
            bool(getattr(self.image, "is_animated", False))
            and frames > 1
            and width * height * frames <= max_image_pixels
        )

    def close(self) -> None:
        self.image.close()

    def __enter__(self) -> Thumbnailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- making thumbnails --------------------------------------------------------------

    def scale(self, width: int, height: int, output_type: str, animated: bool = False) -> bytes:
        """The image resized to ``width`` x ``height`` (the caller keeps the aspect ratio)."""
        return self._make(lambda frame: self._resize(frame, width, height), output_type, animated)

    def crop(self, width: int, height: int, output_type: str, animated: bool = False) -> bytes:
        """The image scaled to cover ``width`` x ``height``, then cut to it, centred."""

        def _crop(frame: Image.Image) -> Image.Image:
            if width * self.height > height * self.width:
                scaled_w, scaled_h = width, max(self.height * width // self.width, height)
            else:
                scaled_w, scaled_h = max(self.width * height // self.height, width), height
            scaled = self._resize(frame, scaled_w, scaled_h)
            left = (scaled_w - width) // 2
            top = (scaled_h - height) // 2
            return scaled.crop((left, top, left + width, top + height))

        return self._make(_crop, output_type, animated)

    # --- internals ----------------------------------------------------------------------

    def _upright(self, frame: Image.Image) -> Image.Image:
        if frame.mode not in ("RGB", "RGBA", "L", "LA"):
            has_alpha = frame.mode in ("PA", "RGBa", "La") or "transparency" in frame.info
            frame = frame.convert("RGBA" if has_alpha else "RGB")
        if self._transpose is not None:
            frame = frame.transpose(self._transpose)
        return frame

    @staticmethod
    def _resize(frame: Image.Image, width: int, height: int) -> Image.Image:
        if frame.size == (width, height):
            return frame
        return frame.resize((width, height), Image.Resampling.LANCZOS)

    def _make(self, transform: Any, output_type: str, animated: bool) -> bytes:
        pil_format = _PIL_FORMATS.get(output_type)
        if pil_format is None:
            raise ThumbnailError(f"Cannot write {output_type} thumbnails")
        try:
            if animated and self.animated:
                return self._encode_animation(transform, output_type, pil_format)
            self.image.seek(0)
            frame = transform(self._upright(self.image.copy()))
            return self._encode(frame, output_type, pil_format)
        except ThumbnailError:
            raise
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise ThumbnailError(f"Cannot thumbnail the image: {e}")

    @staticmethod
    def _encode(frame: Image.Image, output_type: str, pil_format: str) -> bytes:
        out = io.BytesIO()
        if output_type == "image/jpeg":
            if frame.mode in ("RGBA", "LA"):
                # JPEG has no transparency: put the image on white.
                background = Image.new("RGB", frame.size, (255, 255, 255))
                background.paste(frame, mask=frame.getchannel("A"))
                frame = background
            elif frame.mode != "RGB":
                frame = frame.convert("RGB")
            frame.save(out, pil_format, quality=JPEG_QUALITY, progressive=True)
        else:
            frame.save(out, pil_format)
        return out.getvalue()

    def _encode_animation(self, transform: Any, output_type: str, pil_format: str) -> bytes:
        frames: list[Image.Image] = []
        durations: list[int] = []
        for frame in ImageSequence.Iterator(self.image):
            durations.append(int(frame.info.get("duration", 100)) or 100)
            frames.append(transform(self._upright(frame.convert("RGBA"))))
        out = io.BytesIO()
        options: dict[str, Any] = {
            "save_all": True,
            "append_images": frames[1:],
            "duration": durations,
            "loop": int(self.image.info.get("loop", 0)),
        }
        if output_type == "image/gif":
            options["disposal"] = 2
        frames[0].save(out, pil_format, **options)
        return out.getvalue()
