"""The real daemon as a subprocess: start from a generated config, systemd readiness,
/health, SIGHUP log reopening, SIGTERM clean exit, and a friendly error for a busy port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid

import yaml

from tests.app.daemon import START_TIMEOUT, daemon_env, free_port, run_cli


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@unittest.skipUnless(sys.platform.startswith("linux"), "abstract unix sockets need Linux")
class DaemonTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.config_path = os.path.join(self.dir, "homeserver.yaml")
        self.env = daemon_env()
        result = self.run_cli(
            "--generate-config",
            "--server-name",
            "daemon.test",
            "--report-stats=no",
            "--config-path",
            self.config_path,
            "--data-directory",
            self.dir,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.port = free_port()
        with open(self.config_path) as f:
            config = yaml.safe_load(f)
        config["listeners"][0]["port"] = self.port
        config["listeners"][0]["bind_addresses"] = ["127.0.0.1"]
        config["no_such_setting"] = True
        config["oidc_providers"] = [{"idp_id": "example"}]
        with open(self.config_path, "w") as f:
            yaml.safe_dump(config, f)
        self.pid_file = config["pid_file"]

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.dir, *args, env=self.env)

    def start(self, env: dict[str, str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "--config-path", self.config_path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=self.dir,
        )
        self.addCleanup(self._kill, proc)
        return proc

    def _wait_for_notification(self, notify: socket.socket, proc: subprocess.Popen[str]) -> bytes:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                return notify.recv(4096)
            except TimeoutError:
                if proc.poll() is not None:
                    _, err = proc.communicate()
                    self.fail(f"the server exited with {proc.returncode} before READY=1: {err}")
        proc.kill()
        _, err = proc.communicate()
        self.fail(f"no READY=1 within {START_TIMEOUT}s; stderr: {err}")

    @staticmethod
    def _kill(proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def test_start_ready_health_sighup_sigterm(self) -> None:
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(notify.close)
        name = f"synapse-test-{uuid.uuid4().hex}"
        notify.bind("\0" + name)
        notify.settimeout(0.2)

        proc = self.start(dict(self.env, NOTIFY_SOCKET="@" + name))
        message = self._wait_for_notification(notify, proc)
        self.assertEqual(message, b"READY=1")

        # Ready means listening: no retries needed.
        base = f"http://127.0.0.1:{self.port}"
        self.assertEqual(_get(base + "/health"), (200, b"OK"))
        code, body = _get(base + "/_matrix/client/versions")
        if code != 404:
            self.assertEqual(code, 200)
            self.assertIn(b'"versions"', body)

        with open(self.pid_file) as f:
            self.assertEqual(int(f.read().strip()), proc.pid)

        # logrotate: move the file away, SIGHUP, and logging starts a new file.
        log_file = os.path.join(self.dir, "homeserver.log")
        self.assertTrue(os.path.exists(log_file))
        os.rename(log_file, log_file + ".1")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not os.path.exists(log_file) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(os.path.exists(log_file), "SIGHUP did not reopen the log file")
        self.assertIsNone(proc.poll(), "SIGHUP must not stop the server")

        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=START_TIMEOUT)
        self.assertEqual(proc.returncode, 0, err)
        self.assertNotIn("Traceback", err)
        self.assertFalse(os.path.exists(self.pid_file), "the pid file is removed on a clean exit")
        self.assertEqual(notify.recv(4096), b"STOPPING=1")
        with open(log_file + ".1") as f:
            first_log = f.read()
        self.assertEqual(first_log.count("Unknown config key 'no_such_setting'"), 1, first_log)
        self.assertEqual(first_log.count("'oidc_providers'"), 1, first_log)
        with open(log_file) as f:
            self.assertIn("Shutdown complete", f.read())
        with socket.socket() as s:
            self.assertNotEqual(s.connect_ex(("127.0.0.1", self.port)), 0, "the port is closed")

    def test_port_in_use_exits_1_with_one_message(self) -> None:
        with socket.socket() as busy:
            busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            busy.bind(("127.0.0.1", self.port))
            busy.listen()
            proc = self.start(self.env)
            _, err = proc.communicate(timeout=START_TIMEOUT)
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn(f"port {self.port}", err)
        self.assertIn("in use", err)
        self.assertNotIn("Traceback", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
