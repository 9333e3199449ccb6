"""The media settings the media repository reads."""

from __future__ import annotations

import unittest
from typing import Any

from synapse.config._base import ConfigError
from synapse.config.media import MediaConfig, MediaUploadLimit


def parse(config: dict[str, Any]) -> MediaConfig:
    media = MediaConfig()
    media.read_config(config, config_dir_path="", data_dir_path="/data")
    return media


class MediaConfigTestCase(unittest.TestCase):
    def test_defaults(self) -> None:
        media = parse({})
        self.assertEqual(media.media_store_path, "/data/media_store")
        self.assertEqual(media.max_pending_media_uploads, 5)
        self.assertEqual(media.unused_expiration_time, 24 * 3600 * 1000)
        self.assertEqual(media.media_upload_limits, [])

    def test_upload_limits(self) -> None:
        media = parse({"media_upload_limits": [{"time_period": "1h", "max_size": "10M"}]})
        self.assertEqual(
            media.media_upload_limits, [MediaUploadLimit(3600 * 1000, 10 * 1024 * 1024)]
        )
        for bad in ([{"time_period": "1h"}], ["1h"], [{"time_period": "x", "max_size": 1}]):
            with self.assertRaises(ConfigError, msg=repr(bad)) as cm:
                parse({"media_upload_limits": bad})
            self.assertIn("media_upload_limits", str(cm.exception))

    def test_pending_uploads(self) -> None:
        self.assertEqual(parse({"max_pending_media_uploads": 2}).max_pending_media_uploads, 2)
        with self.assertRaises(ConfigError):
            parse({"max_pending_media_uploads": 0})
