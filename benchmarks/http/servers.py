"""Start and stop a homeserver daemon for the benchmark: ours from this checkout, or the
reference Synapse from its own virtualenv, each from a config its own ``--generate-config``
wrote and the same overrides (loopback port, database, registration, rate limits).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_NAME = "bench.test"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0

# High enough that no request of the benchmark is ever rate limited.
UNLIMITED = {"per_second": 1_000_000, "burst_count": 1_000_000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresDatabase:
    """A fresh PostgreSQL database, created for one server run and dropped afterwards."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    name: str = field(default_factory=lambda: f"bench_http_{os.getpid()}_{secrets.token_hex(4)}")

    def _admin_connection(self) -> Any:
        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname="postgres")
        conn.autocommit = True
        return conn

    def create(self) -> None:
        conn = self._admin_connection()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"CREATE DATABASE \"{self.name}\" ENCODING 'UTF8' LC_COLLATE='C' "
                    "LC_CTYPE='C' TEMPLATE template0"
                )
        finally:
            conn.close()

    def drop(self) -> None:
        conn = self._admin_connection()
        try:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            conn.close()

    def config(self) -> dict[str, Any]:
        return {
            "name": "psycopg2",
            "args": {
                "user": self.user,
                "host": self.host,
                "port": self.port,
                "database": self.name,
                "cp_min": 5,
                "cp_max": 10,
            },
        }


@dataclass
class ServerKind:
    """How to run one homeserver implementation."""

    name: str
    python: str
    # Extra environment: ours is imported from the checkout, Synapse from its venv only.
    pythonpath: str | None


def server_kind(name: str, synapse_python: str) -> ServerKind:
    if name == "ours":
        return ServerKind("ours", sys.executable, REPO_ROOT)
    if name == "synapse":
        return ServerKind("synapse", synapse_python, None)
    raise ValueError(f"unknown server {name!r}")


class ServerProcess:
    """One daemon in a temporary directory outside the checkout (so that Synapse's
    ``import synapse`` cannot pick up this repository's package)."""

    def __init__(
        self,
        kind: ServerKind,
        db: str,
        keep: bool = False,
        profile_to: str | None = None,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.db = db
        self.keep = keep
        self.profile_to = profile_to
        self.extra_config = extra_config or {}
        self.dir = tempfile.mkdtemp(prefix=f"http-bench-{kind.name}-{db}-")
        if os.path.commonpath([self.dir, REPO_ROOT]) == REPO_ROOT:
            raise RuntimeError(f"temporary directory {self.dir} is inside the checkout")
        self.config_path = os.path.join(self.dir, "homeserver.yaml")
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.postgres = PostgresDatabase() if db == "postgres" else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.shared_secret = ""
        self._stderr_path = os.path.join(self.dir, "stderr.log")

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env.pop("NOTIFY_SOCKET", None)
        if self.kind.pythonpath:
            env["PYTHONPATH"] = self.kind.pythonpath
        return env

    def _generate_config(self) -> None:
        subprocess.run(
            [
                self.kind.python,
                "-m",
                "synapse.app.homeserver",
                "--generate-config",
                "--server-name",
                SERVER_NAME,
                "--report-stats=no",
                "--config-path",
                self.config_path,
                "--data-directory",
                self.dir,
            ],
            check=True,
            capture_output=True,
            env=self._env(),
            cwd=self.dir,
            timeout=START_TIMEOUT_S,
        )
        with open(self.config_path) as f:
            config: dict[str, Any] = yaml.safe_load(f)
        self.shared_secret = str(config["registration_shared_secret"])
        config.update(
            {
                "listeners": [
                    {
                        "port": self.port,
                        "tls": False,
                        "type": "http",
                        "x_forwarded": False,
                        "bind_addresses": ["127.0.0.1"],
                        "resources": [{"names": ["client"], "compress": False}],
                    }
                ],
                "enable_registration": True,
                "enable_registration_without_verification": True,
                "trusted_key_servers": [],
                "suppress_key_server_warning": True,
                # Neither server has other users to tell; ours has no presence at all.
                "presence": {"enabled": False},
                # Repeated initial syncs must be computed, not answered from the cache.
                "caches": {"sync_response_cache_duration": 0},
                "rc_message": UNLIMITED,
                "rc_registration": UNLIMITED,
                "rc_login": {
                    "address": UNLIMITED,
                    "account": UNLIMITED,
                    "failed_attempts": UNLIMITED,
                },
                "rc_joins": {"local": UNLIMITED, "remote": UNLIMITED},
                "rc_joins_per_room": UNLIMITED,
                "rc_invites": {
                    "per_room": UNLIMITED,
                    "per_user": UNLIMITED,
                    "per_issuer": UNLIMITED,
                },
                "rc_room_creation": UNLIMITED,
            }
        )
        if self.postgres is not None:
            config["database"] = self.postgres.config()
        config.update(self.extra_config)
        with open(self.config_path, "w") as f:
            yaml.safe_dump(config, f)

    def start(self) -> None:
        if self.postgres is not None:
            self.postgres.create()
        self._generate_config()
        command = [self.kind.python]
        if self.profile_to:
            command += ["-m", "cProfile", "-o", self.profile_to]
        command += ["-m", "synapse.app.homeserver", "--config-path", self.config_path]
        with open(self._stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=self._env(),
                cwd=self.dir,
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind.name} exited with {self.proc.returncode} while starting:\n"
                    + self._stderr_tail()
                )
            try:
                with urllib.request.urlopen(
                    self.base_url + "/_matrix/client/versions", timeout=2
                ) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind.name} did not answer within {START_TIMEOUT_S}s")

    def _stderr_tail(self) -> str:
        try:
            with open(self._stderr_path, "rb") as f:
                return f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the daemon process so far (all its threads)."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            if self.postgres is not None:
                self.postgres.drop()
            if not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
