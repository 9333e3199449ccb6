"""Images made on the fly for media tests (nothing is read from disk)."""

from __future__ import annotations

import io

from PIL import Image

EXIF_ORIENTATION_TAG = 0x0112


def _pattern(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue, with a green top row: orientation shows."""
    image = Image.new("RGB", (width, height), (255, 0, 0))
    image.paste((0, 0, 255), (width // 2, 0, width, height))
    image.paste((0, 255, 0), (0, 0, width, 1))
    return image.convert(mode)


def png_bytes(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    _pattern(width, height, mode).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(width: int, height: int, orientation: int | None = None) -> bytes:
    """A JPEG whose stored pixels are ``width`` x ``height``, with an EXIF orientation."""
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[EXIF_ORIENTATION_TAG] = orientation
    _pattern(width, height).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def animated_gif_bytes(width: int, height: int, frames: int = 3) -> bytes:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    images = [Image.new("RGB", (width, height), colours[i % len(colours)]) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
