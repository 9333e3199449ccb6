"""The media store on disk: layout, atomic writes, deletion."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from typing import Any
from unittest import mock

from synapse.media.media_storage import MediaFilePaths, MediaStorage, _write_atomically
from tests.unittest import HomeserverTestCase


class MediaFilePathsTestCase(HomeserverTestCase):
    def test_layout(self) -> None:
        paths = MediaFilePaths("/srv/media")
        self.assertEqual(
            paths.local_media_filepath("abcdefghij"), "/srv/media/local_content/ab/cd/efghij"
        )
        self.assertEqual(
            paths.local_media_thumbnail("abcdefghij", 32, 24, "image/png", "crop"),
            "/srv/media/local_thumbnails/ab/cd/efghij/32-24-image-png-crop",
        )

    def test_refuses_ids_that_could_escape(self) -> None:
        paths = MediaFilePaths("/srv/media")
        for media_id in ["../../etc/passwd", "abcd/../x", "abc", "", "abcde\x00", "ab cdef"]:
            with self.assertRaises(ValueError, msg=media_id):
                paths.local_media_filepath(media_id)


class MediaStorageTestCase(HomeserverTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.paths = MediaFilePaths(self.dir.name)
        self.storage = MediaStorage(hs, self.paths)

    def files(self) -> list[str]:
        return sorted(
            os.path.relpath(os.path.join(root, name), self.dir.name)
            for root, _, names in os.walk(self.dir.name)
            for name in names
        )

    def test_store_file(self) -> None:
        data = os.urandom(200 * 1024)
        path = self.paths.local_media_filepath("abcdefghij")
        length, sha256 = self.get_success(self.storage.store_file(path, io.BytesIO(data)))
        self.assertEqual((length, sha256), (len(data), hashlib.sha256(data).hexdigest()))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), data)
        # No temporary file is left beside it.
        self.assertEqual(self.files(), ["local_content/ab/cd/efghij"])

    def test_failed_write_leaves_nothing(self) -> None:
        path = self.paths.local_media_filepath("abcdefghij")

        class Broken(io.BytesIO):
            def read(self, size: int | None = -1) -> bytes:
                raise OSError("disk on fire")

        with self.assertRaises(OSError):
            _write_atomically(path, Broken())
        self.assertEqual(self.files(), [])
        # A failed rename leaves the old file as it was.
        _write_atomically(path, b"old")
        with mock.patch("os.replace", side_effect=OSError("no")):
            with self.assertRaises(OSError):
                _write_atomically(path, b"new")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"old")
        self.assertEqual(self.files(), ["local_content/ab/cd/efghij"])

    def test_delete(self) -> None:
        for media_id in ("abcdefghij", "abcdXYZ"):
            self.get_success(
                self.storage.store_file(self.paths.local_media_filepath(media_id), b"x")
            )
        self.get_success(
            self.storage.store_file(
                self.paths.local_media_thumbnail("abcdefghij", 1, 1, "image/png", "crop"), b"t"
            )
        )
        self.get_success(self.storage.delete_local_media("abcdefghij"))
        self.assertEqual(self.files(), ["local_content/ab/cd/XYZ"])
        self.get_success(self.storage.delete_local_media("abcdXYZ"))
        self.assertEqual(self.files(), [])
        # The top directories stay; the emptied shards go.
        self.assertEqual(sorted(os.listdir(self.dir.name)), ["local_content", "local_thumbnails"])
        self.assertEqual(os.listdir(os.path.join(self.dir.name, "local_content")), [])
        # Deleting what is not there is fine.
        self.get_success(self.storage.delete_local_media("abcdefghij"))
