"""The media store on disk: where each file goes, and writing and deleting files safely.

The layout is Synapse's, so that a media store copied from Synapse is served as it is:

    local_content/ab/cd/efghij...                      the content of media ``abcdefghij...``
    local_thumbnails/ab/cd/efghij.../W-H-TOP-SUB-METHOD  its thumbnails

Files are written to a temporary file beside their final path and renamed into place,
so that a reader never sees half a file and a crash leaves at most a stray temp file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from typing import IO, TYPE_CHECKING

from synapse.media._base import is_valid_media_id, run_in_thread

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

_COPY_CHUNK_SIZE = 64 * 1024

# A media ID is split into two directory levels of two characters each.
_MIN_SHARDED_ID_LENGTH = 5


class MediaFilePaths:
    """Paths of media files under ``base_path``; refuses IDs that could escape it."""

    def __init__(self, base_path: str) -> None:
        self.base_path = os.path.abspath(base_path)

    def _sharded(self, top: str, media_id: str) -> str:
        if not is_valid_media_id(media_id) or len(media_id) < _MIN_SHARDED_ID_LENGTH:
            raise ValueError(f"Not a media ID of this server: {media_id!r}")
        return os.path.join(self.base_path, top, media_id[0:2], media_id[2:4], media_id[4:])

    def local_media_filepath(self, media_id: str) -> str:
        return self._sharded("local_content", media_id)

    def local_media_thumbnail_dir(self, media_id: str) -> str:
        return self._sharded("local_thumbnails", media_id)

    def local_media_thumbnail(
        self, media_id: str, width: int, height: int, content_type: str, method: str
    ) -> str:
        top, _, sub = content_type.partition("/")
        name = f"{width}-{height}-{top}-{sub}-{method}"
        return os.path.join(self.local_media_thumbnail_dir(media_id), name)


def _write_atomically(path: str, source: IO[bytes] | bytes) -> tuple[int, str]:
    """Write ``source`` to ``path`` through a temp file and a rename: (length, sha256 hex)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    digest = hashlib.sha256()
    length = 0
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(source, bytes):
                out.write(source)
                digest.update(source)
                length = len(source)
            else:
                while True:
                    chunk = source.read(_COPY_CHUNK_SIZE)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    length += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_path, path)
    except BaseException:
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass
        raise
    return length, digest.hexdigest()


def _delete_media_files(paths: MediaFilePaths, media_id: str) -> None:
    """Remove the content and thumbnails of ``media_id`` and the shard directories they
    leave empty."""
    content = paths.local_media_filepath(media_id)
    try:
        os.remove(content)
    except FileNotFoundError:
        pass
    thumbnails = paths.local_media_thumbnail_dir(media_id)
    shutil.rmtree(thumbnails, ignore_errors=True)
    for leaf in (content, thumbnails):
        # The two shard levels (ab/cd), never the top directories.
        parent = os.path.dirname(leaf)
        for _ in range(2):
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = os.path.dirname(parent)


class MediaStorage:
    """Reads and writes the files of the media store, off the reactor thread."""

    def __init__(self, hs: HomeServer, paths: MediaFilePaths) -> None:
        self.hs = hs
        self.paths = paths

    async def store_file(self, path: str, source: IO[bytes] | bytes) -> tuple[int, str]:
        """Write ``source`` (a file read from where it is, or bytes) to ``path``
        atomically; returns its length and hex SHA-256."""
        return await run_in_thread(self.hs, _write_atomically, path, source)

    async def delete_local_media(self, media_id: str) -> None:
        """Remove every file of ``media_id`` (missing files are fine)."""
        await run_in_thread(self.hs, _delete_media_files, self.paths, media_id)

    async def exists(self, path: str) -> bool:
        return await run_in_thread(self.hs, os.path.exists, path)
