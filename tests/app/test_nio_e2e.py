"""End to end: the real daemon on a loopback port, driven by matrix-nio and the admin script."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import unittest

from tests.app.daemon import REPO_ROOT, start_daemon

try:
    import nio
except ImportError:  # pragma: no cover - the test extra installs it
    nio = None


@unittest.skipIf(nio is None, "matrix-nio is not installed")
class NioEndToEndTestCase(unittest.TestCase):
    """Starts ``python -m synapse.app.homeserver`` with a generated SQLite config."""

    def setUp(self) -> None:
        self.daemon = start_daemon(self, server_name="localhost")
        self.config_path = self.daemon.config_path
        self.url = self.daemon.url

    def _db_path(self) -> str:
        return self.daemon.sqlite_path

    def test_client_flow(self) -> None:
        asyncio.run(self._client_flow())

    async def _client_flow(self) -> None:
        assert nio is not None
        client = nio.AsyncClient(self.url, "alice")
        try:
            resp = await client.register("alice", "wonderland", device_name="nio test")
            self.assertIsInstance(resp, nio.RegisterResponse, resp)
            self.assertEqual(resp.user_id, "@alice:localhost")

            taken = await client.register("alice", "again")
            self.assertIsInstance(taken, nio.ErrorResponse)
            self.assertEqual(taken.status_code, "M_USER_IN_USE")

            await client.close()
            client = nio.AsyncClient(self.url, "@alice:localhost")
            bad = await client.login("wrong password")
            self.assertIsInstance(bad, nio.LoginError)
            self.assertEqual(bad.status_code, "M_FORBIDDEN")

            login = await client.login("wonderland", device_name="laptop")
            self.assertIsInstance(login, nio.LoginResponse, login)
            self.assertEqual(login.user_id, "@alice:localhost")

            whoami = await client.whoami()
            self.assertIsInstance(whoami, nio.WhoamiResponse, whoami)
            self.assertEqual(whoami.user_id, "@alice:localhost")
            self.assertEqual(whoami.device_id, login.device_id)

            set_name = await client.set_displayname("Alice L.")
            self.assertIsInstance(set_name, nio.ProfileSetDisplayNameResponse, set_name)
            name = await client.get_displayname()
            self.assertIsInstance(name, nio.ProfileGetDisplayNameResponse, name)
            self.assertEqual(name.displayname, "Alice L.")

            token = client.access_token
            logout = await client.logout()
            self.assertIsInstance(logout, nio.LogoutResponse, logout)
            client.access_token = token
            after = await client.whoami()
            self.assertIsInstance(after, nio.WhoamiError)
            self.assertEqual(after.status_code, "M_UNKNOWN_TOKEN")
        finally:
            await client.close()

        # The database holds no usable token.
        with sqlite3.connect(self._db_path()) as conn:
            rows = conn.execute("SELECT token_hash FROM access_tokens").fetchall()
        self.assertTrue(all(token not in row[0] for row in rows))

    def test_register_new_matrix_user_script(self) -> None:
        script = os.path.join(REPO_ROOT, "scripts", "register_new_matrix_user")
        cmd = [
            sys.executable,
            script,
            "-c",
            self.config_path,
            "-u",
            "admin",
            "-p",
            "adminpass",
            "-a",
            self.url,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("Success!", result.stdout)

        with sqlite3.connect(self._db_path()) as conn:
            row = conn.execute("SELECT admin FROM users WHERE name = '@admin:localhost'").fetchone()
        self.assertEqual(row, (1,))

        again = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(again.returncode, 1, again.stdout + again.stderr)
        self.assertIn("already taken", again.stderr)
        ok = subprocess.run([*cmd, "--exists-ok"], capture_output=True, text=True, timeout=60)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)

        asyncio.run(self._admin_login())

        password_file = os.path.join(self.daemon.directory, "password.txt")
        with open(password_file, "w") as f:
            f.write("botpass\n")
        bot = subprocess.run(
            [
                sys.executable,
                script,
                "-c",
                self.config_path,
                "-u",
                "bot",
                "--password-file",
                password_file,
                "--no-admin",
                "-t",
                "bot",
                self.url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(bot.returncode, 0, bot.stdout + bot.stderr)
        with sqlite3.connect(self._db_path()) as conn:
            row = conn.execute(
                "SELECT admin, user_type FROM users WHERE name = '@bot:localhost'"
            ).fetchone()
        self.assertEqual(row, (0, "bot"))

    async def _admin_login(self) -> None:
        assert nio is not None
        client = nio.AsyncClient(self.url, "admin")
        try:
            login = await client.login("adminpass")
            self.assertIsInstance(login, nio.LoginResponse, login)
            self.assertEqual(login.user_id, "@admin:localhost")
        finally:
            await client.close()
