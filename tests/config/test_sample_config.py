"""``homeserver.yaml.sample`` must be what the config modules generate today."""

from __future__ import annotations

import os
import re
import unittest

import yaml

from synapse.config.generate_sample import generate_sample_config
from synapse.config.homeserver import HomeServerConfig

SAMPLE_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "homeserver.yaml.sample",
)


class SampleConfigTestCase(unittest.TestCase):
    def test_sample_is_up_to_date(self) -> None:
        with open(SAMPLE_PATH) as f:
            committed = f.read()
        self.assertEqual(
            committed,
            generate_sample_config(),
            "homeserver.yaml.sample is stale: run scripts/generate_sample_config and commit the result",
        )

    def test_sample_parses(self) -> None:
        """Its active settings make a valid config (once the placeholders are filled in)."""
        with open(SAMPLE_PATH) as f:
            sample = yaml.safe_load(f)
        sample.pop("signing_key_path")
        sample.pop("log_config")
        config = HomeServerConfig.parse_config_dict(sample)
        self.assertEqual(config.server.server_name, "SERVERNAME")
        self.assertEqual(config.server.listeners[0].port, 8008)
        self.assertEqual(
            [w for w in config.warnings if "Unknown" in w or "not support" in w],
            [],
            "the sample only has known keys",
        )

    def test_every_key_in_the_sample_is_read(self) -> None:
        """Each key the sample shows, commented out or not, is one a section reads;
        set to null it means its default."""
        with open(SAMPLE_PATH) as f:
            keys = set(re.findall(r"^#?([a-z_0-9]+):", f.read(), re.M))
        self.assertGreater(len(keys), 50)
        config_dict = dict.fromkeys(keys - {"signing_key_path", "log_config"})
        config_dict["server_name"] = "example.com"
        config = HomeServerConfig.parse_config_dict(config_dict)
        self.assertEqual([w for w in config.warnings if "matrix.org" not in w], [])
        self.assertEqual(config.server.default_room_version.identifier, "10")
