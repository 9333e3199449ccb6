"""The real homeserver daemon as a subprocess, for the tests that speak HTTP to it.

:func:`generate_config` writes a config with ``--generate-config``;
:class:`DaemonProcess` starts ``python -m synapse.app.homeserver`` on it (plus an
override file with a loopback listener on a free port), waits until it answers, and
stops it. :func:`start_daemon` does all of that for a test case and registers the
clean-up, so the process is stopped (and a PostgreSQL database dropped) whatever the
test does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import uuid
from typing import Any

import yaml

from tests.utils import POSTGRES_HOST, POSTGRES_PASSWORD, POSTGRES_PORT, POSTGRES_USER

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def daemon_env() -> dict[str, str]:
    """The environment for the daemon: this checkout first on the path, no systemd socket."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NOTIFY_SOCKET", None)
    return env


def run_cli(
    directory: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m synapse.app.homeserver ARGS`` in ``directory`` and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "synapse.app.homeserver", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else daemon_env(),
        cwd=directory,
        timeout=START_TIMEOUT,
    )


def generate_config(directory: str, server_name: str, data_directory: str | None = None) -> str:
    """``--generate-config`` into ``directory``; returns the path of ``homeserver.yaml``."""
    config_path = os.path.join(directory, "homeserver.yaml")
    args = ["--generate-config", "--server-name", server_name, "--report-stats=no"]
    args += ["--config-path", config_path]
    if data_directory is not None:
        args += ["--data-directory", data_directory]
    result = run_cli(directory, *args)
    if result.returncode != 0:
        raise RuntimeError(f"--generate-config failed: {result.stderr}")
    return config_path


def client_listener(port: int) -> dict[str, Any]:
    """A plain-HTTP client listener on 127.0.0.1."""
    return {
        "port": port,
        "type": "http",
        "tls": False,
        "bind_addresses": ["127.0.0.1"],
        "resources": [{"names": ["client"]}],
    }


class PostgresDatabase:
    """A new, empty PostgreSQL database for one daemon (the daemon prepares its schema),
    on the server the test suite uses (``SYNAPSE_POSTGRES_HOST`` and friends)."""

    def __init__(self) -> None:
        self.name = f"synapse_e2e_{uuid.uuid4().hex[:12]}"
        self._admin(
            f"CREATE DATABASE {self.name} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' "
            "TEMPLATE template0"
        )

    def _connect_args(self, database: str) -> dict[str, Any]:
        args: dict[str, Any] = {"database": database, "user": POSTGRES_USER, "host": POSTGRES_HOST}
        if POSTGRES_PASSWORD:
            args["password"] = POSTGRES_PASSWORD
        if POSTGRES_PORT:
            args["port"] = int(POSTGRES_PORT)
        return args

    def _admin(self, sql: str) -> None:
        import psycopg2

        conn = psycopg2.connect(**self._connect_args("postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def config(self) -> dict[str, Any]:
        """The ``database`` section of the daemon's config."""
        return {
            "name": "psycopg2",
            "args": {**self._connect_args(self.name), "cp_min": 1, "cp_max": 5},
        }

    def drop(self) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


class DaemonProcess:
    """``python -m synapse.app.homeserver --config-path ...`` with its output in a file."""

    def __init__(self, directory: str, config_paths: list[str]) -> None:
        self.directory = directory
        self.config_paths = config_paths
        self.log_path = os.path.join(directory, "stdout.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [sys.executable, "-m", "synapse.app.homeserver"]
        for path in self.config_paths:
            args += ["--config-path", path]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                args, cwd=self.directory, env=daemon_env(), stdout=log, stderr=subprocess.STDOUT
            )

    def wait_until_up(self, url: str) -> None:
        """Wait until ``url`` answers; raise with the daemon's output if it never does."""
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"homeserver exited with {self.proc.returncode}: {self.output()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"homeserver did not start: {self.output()}")

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it has not exited after :data:`STOP_TIMEOUT`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def output(self, tail: int = 8000) -> str:
        """The end of the daemon's standard output and of its log file, for failures."""
        parts = []
        for name in ("stdout.log", "homeserver.log"):
            try:
                with open(os.path.join(self.directory, name), "rb") as f:
                    text = f.read().decode("utf-8", errors="replace")
            except FileNotFoundError:
                continue
            parts.append(f"--- {name} ---\n{text[-tail:]}")
        return "\n".join(parts)


class RunningDaemon:
    """What :func:`start_daemon` gives a test: where the daemon is and how to reach it."""

    def __init__(
        self,
        directory: str,
        config_path: str,
        process: DaemonProcess,
        port: int,
        database: PostgresDatabase | None,
    ) -> None:
        self.directory = directory
        self.config_path = config_path
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.postgres = database

    @property
    def sqlite_path(self) -> str:
        return os.path.join(self.directory, "homeserver.db")

    def output(self) -> str:
        return self.process.output()


def start_daemon(
    test: unittest.TestCase,
    server_name: str = "localhost",
    overrides: dict[str, Any] | None = None,
    postgres: bool = False,
) -> RunningDaemon:
    """Generate a config in a temporary directory, override it with a client listener on
    a free loopback port, open registration and ``overrides``, start the daemon and wait
    until it serves ``/_matrix/client/versions``.

    With ``postgres`` the daemon uses a fresh PostgreSQL database, dropped afterwards;
    otherwise the generated config's SQLite file. Clean-ups registered on ``test`` stop
    the daemon, drop the database and remove the directory.
    """
    tmp = tempfile.TemporaryDirectory()
    test.addCleanup(tmp.cleanup)
    directory = tmp.name
    config_path = generate_config(directory, server_name)
    port = free_port()
    extra: dict[str, Any] = {
        "listeners": [client_listener(port)],
        "enable_registration": True,
        "enable_registration_without_verification": True,
        "bcrypt_rounds": 4,
    }
    database = None
    if postgres:
        database = PostgresDatabase()
        test.addCleanup(database.drop)
        extra["database"] = database.config()
    extra.update(overrides or {})
    extra_path = os.path.join(directory, "test.yaml")
    with open(extra_path, "w") as f:
        yaml.safe_dump(extra, f)

    process = DaemonProcess(directory, [config_path, extra_path])
    # Registered after the database's drop, so it runs before it.
    test.addCleanup(process.stop)
    process.start()
    daemon = RunningDaemon(directory, config_path, process, port, database)
    try:
        process.wait_until_up(f"{daemon.url}/_matrix/client/versions")
    except RuntimeError as e:
        test.fail(str(e))
    return daemon
