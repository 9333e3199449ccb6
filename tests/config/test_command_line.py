"""The command line: --generate-config, --generate-keys, several --config-path, errors."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
import unittest

import yaml
from signedjson.key import read_signing_keys

from synapse.config._base import ConfigError
from synapse.config.homeserver import load_or_generate_config

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(argv: list[str]) -> object:
    with contextlib.redirect_stdout(io.StringIO()):
        return load_or_generate_config("test", argv)


class GenerateConfigTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.config_path = os.path.join(self.dir, "homeserver.yaml")
        self.key_path = os.path.join(self.dir, "my.domain.signing.key")
        self.log_config_path = os.path.join(self.dir, "my.domain.log.config")

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def generate(self, *extra: str) -> object:
        return run(
            [
                "--generate-config",
                "--server-name",
                "my.domain",
                "--report-stats=no",
                "-c",
                self.config_path,
                "--data-directory",
                self.dir,
                *extra,
            ]
        )

    def test_generate_config_writes_every_file(self) -> None:
        self.assertIsNone(self.generate())
        with open(self.config_path) as f:
            text = f.read()
        config = yaml.safe_load(text)
        self.assertEqual(config["server_name"], "my.domain")
        self.assertFalse(config["report_stats"])
        (listener,) = config["listeners"]
        self.assertEqual(listener["port"], 8008)
        self.assertEqual(sorted(listener["bind_addresses"]), ["127.0.0.1", "::1"])
        self.assertEqual(listener["resources"][0]["names"], ["client", "federation"])
        self.assertEqual(config["database"]["name"], "sqlite3")
        self.assertEqual(
            config["database"]["args"]["database"], os.path.join(self.dir, "homeserver.db")
        )
        for secret in ("registration_shared_secret", "macaroon_secret_key", "form_secret"):
            self.assertGreaterEqual(len(config[secret]), 30, secret)
        self.assertIn("#rc_message:", text, "the generated config carries the commented sample")

        with open(self.key_path) as f:
            line = f.read().strip()
        alg, version, _ = line.split(" ")
        self.assertEqual(alg, "ed25519")
        self.assertRegex(version, r"^a_[A-Za-z0-9]{4}$")
        self.assertEqual(len(read_signing_keys(line.splitlines())), 1)

        with open(self.log_config_path) as f:
            log_config = yaml.safe_load(f)
        self.assertIn("%(request)s", log_config["formatters"]["precise"]["format"])
        self.assertEqual(
            log_config["handlers"]["file"]["filename"], os.path.join(self.dir, "homeserver.log")
        )

        # The generated config loads as it is.
        loaded = run(["-c", self.config_path])
        assert loaded is not None
        self.assertEqual(loaded.server.server_name, "my.domain")  # type: ignore[attr-defined]

    def test_secrets_differ_between_runs(self) -> None:
        self.generate()
        with open(self.config_path) as f:
            first = yaml.safe_load(f)
        os.unlink(self.config_path)
        self.generate()
        with open(self.config_path) as f:
            second = yaml.safe_load(f)
        self.assertNotEqual(first["macaroon_secret_key"], second["macaroon_secret_key"])

    def test_rerun_only_fills_in_missing_files(self) -> None:
        self.generate()
        with open(self.config_path, "a") as f:
            f.write("\n# edited by hand\n")
        with open(self.key_path) as f:
            key = f.read()
        os.unlink(self.log_config_path)

        self.assertIsNone(run(["--generate-config", "-c", self.config_path]))
        with open(self.config_path) as f:
            self.assertTrue(f.read().endswith("# edited by hand\n"))
        with open(self.key_path) as f:
            self.assertEqual(f.read(), key)
        self.assertTrue(os.path.exists(self.log_config_path))

        os.unlink(self.key_path)
        self.assertIsNone(run(["--generate-config", "-c", self.config_path]))
        self.assertTrue(os.path.exists(self.key_path))
        with open(self.key_path) as f:
            self.assertNotEqual(f.read(), key)

    def test_generate_keys(self) -> None:
        self.generate()
        os.unlink(self.key_path)
        os.unlink(self.log_config_path)
        self.assertIsNone(run(["--generate-keys", "-c", self.config_path]))
        self.assertTrue(os.path.exists(self.key_path))
        self.assertFalse(os.path.exists(self.log_config_path))
        self.assertIsNone(run(["--generate-missing-configs", "-c", self.config_path]))
        self.assertTrue(os.path.exists(self.log_config_path))

    def test_keys_directory(self) -> None:
        keys_dir = os.path.join(self.dir, "keys")
        self.generate("--keys-directory", keys_dir)
        self.assertTrue(os.path.exists(os.path.join(keys_dir, "my.domain.signing.key")))
        self.assertTrue(os.path.exists(os.path.join(keys_dir, "my.domain.log.config")))

    def test_docker_style_arguments(self) -> None:
        """The arguments Synapse's container start script passes."""
        conf_dir = os.path.join(self.dir, "conf")
        self.generate("--config-directory", conf_dir, "--open-private-ports")
        self.assertTrue(os.path.exists(os.path.join(conf_dir, "my.domain.signing.key")))
        self.assertTrue(os.path.exists(os.path.join(conf_dir, "my.domain.log.config")))
        with open(self.config_path) as f:
            config = yaml.safe_load(f)
        self.assertEqual(config["listeners"][0]["bind_addresses"], ["::", "0.0.0.0"])

    def test_generate_needs_report_stats_and_server_name(self) -> None:
        with self.assertRaises(ConfigError) as cm:
            run(["--generate-config", "--server-name", "x", "-c", self.config_path])
        self.assertIn("--report-stats", str(cm.exception))
        with self.assertRaises(ConfigError) as cm:
            run(["--generate-config", "--report-stats=yes", "-c", self.config_path])
        self.assertIn("server name", str(cm.exception))
        self.assertFalse(os.path.exists(self.config_path))

    def test_missing_signing_key_is_a_clear_error(self) -> None:
        self.generate()
        os.unlink(self.key_path)
        with self.assertRaises(ConfigError) as cm:
            run(["-c", self.config_path])
        self.assertIn("signing_key_path", str(cm.exception))


class ConfigPathsTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def write(self, name: str, content: dict) -> str:
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            yaml.safe_dump(content, f)
        return path

    def base(self) -> dict:
        return {
            "server_name": "example.com",
            "signing_key": "ed25519 a_test Zm9vYmFyYmF6Zm9vYmFyYmF6Zm9vYmFyYmF6Zm9vYmE",
            "database": {"name": "sqlite3", "args": {"database": ":memory:"}},
        }

    def test_later_files_win(self) -> None:
        first = self.write(
            "a.yaml", {**self.base(), "max_upload_size": "1M", "enable_metrics": True}
        )
        second = self.write("b.yaml", {"max_upload_size": "2M"})
        config = run(["-c", first, "--config-path", second])
        assert config is not None
        self.assertEqual(config.media.max_upload_size, 2 * 1024 * 1024)  # type: ignore[attr-defined]
        self.assertTrue(config.metrics.enable_metrics)  # type: ignore[attr-defined]

        config = run(["-c", second, "-c", first])
        assert config is not None
        self.assertEqual(config.media.max_upload_size, 1024 * 1024)  # type: ignore[attr-defined]

    def test_directory_reads_yaml_files_in_order(self) -> None:
        self.write(
            "conf.d/10-base.yaml", {**self.base(), "max_upload_size": "1M", "bcrypt_rounds": 5}
        )
        self.write("conf.d/20-override.yaml", {"max_upload_size": "3M"})
        self.write("conf.d/30-notes.txt", {"max_upload_size": "9M"})
        override = self.write("last.yaml", {"bcrypt_rounds": 6})
        config = run(["-c", os.path.join(self.dir, "conf.d"), "-c", override])
        assert config is not None
        self.assertEqual(config.media.max_upload_size, 3 * 1024 * 1024)  # type: ignore[attr-defined]
        self.assertEqual(config.registration.bcrypt_rounds, 6)  # type: ignore[attr-defined]

    def test_no_config_path(self) -> None:
        with self.assertRaises(ConfigError) as cm:
            run([])
        self.assertIn("--config-path", str(cm.exception))

    def test_bad_yaml(self) -> None:
        path = os.path.join(self.dir, "bad.yaml")
        with open(path, "w") as f:
            f.write("server_name: [unclosed\n")
        with self.assertRaises(ConfigError) as cm:
            run(["-c", path])
        self.assertIn("not valid YAML", str(cm.exception))


class MainExitTestCase(unittest.TestCase):
    """The daemon's entry point turns config errors into one line and exit status 1."""

    def run_main(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PYTHONPATH=REPO_ROOT)
        return subprocess.run(
            [sys.executable, "-m", "synapse.app.homeserver", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    def test_wrong_type_exits_1_naming_the_key(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "hs.yaml")
            with open(path, "w") as f:
                f.write("server_name: example.com\nlisteners:\n  - port: eighty\n")
            result = self.run_main("-c", path)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("listeners.0.port", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)

    def test_missing_setting_exits_1(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "hs.yaml")
            with open(path, "w") as f:
                f.write("listeners: []\n")
            result = self.run_main("-c", path)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(
            result.stderr.strip(),
            "Error in configuration at 'server_name': missing required setting",
        )

    def test_unusable_log_config_exits_1(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            log_config = os.path.join(d, "log.config")
            with open(log_config, "w") as f:
                f.write("version: 1\nhandlers:\n  h:\n    class: no.such.Handler\n")
            path = os.path.join(d, "hs.yaml")
            with open(path, "w") as f:
                f.write(f"server_name: example.com\nsigning_key: 'ed25519 a_x {'A' * 43}'\n")
                f.write(f"log_config: {log_config}\n")
            result = self.run_main("-c", path)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("log_config", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_missing_config_exits_1(self) -> None:
        result = self.run_main("-c", "/nonexistent/homeserver.yaml")
        self.assertEqual(result.returncode, 1)
        self.assertIn("/nonexistent/homeserver.yaml", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_generate_config_exits_0(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "hs.yaml")
            args = ["-c", path, "--generate-config", "-H", "example.com", "--report-stats=no"]
            result = self.run_main(*args, "--data-directory", d)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertTrue(os.path.exists(os.path.join(d, "example.com.signing.key")))
            result = self.run_main(*args)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("already exists", result.stdout)
