"""``hash_password`` and the config handling of ``register_new_matrix_user``."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import unittest

import bcrypt

from synapse._scripts import hash_password, register_new_matrix_user
from synapse.rest.admin.register import compute_registration_mac


class HashPasswordTestCase(unittest.TestCase):
    def _run(self, argv: list[str]) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            hash_password.main(argv)
        return out.getvalue().strip()

    def test_defaults(self) -> None:
        hashed = self._run(["-p", "secret"])
        self.assertTrue(hashed.startswith("$2b$12$"))
        self.assertTrue(bcrypt.checkpw(b"secret", hashed.encode()))

    def test_rounds_and_pepper_from_config(self) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("bcrypt_rounds: 5\npassword_config:\n  pepper: 'spicy'\n")
        self.addCleanup(os.unlink, f.name)
        hashed = self._run(["-c", f.name, "-p", "secret"])
        self.assertTrue(hashed.startswith("$2b$05$"))
        self.assertTrue(bcrypt.checkpw(b"secretspicy", hashed.encode()))
        self.assertFalse(bcrypt.checkpw(b"secret", hashed.encode()))


class RegisterNewMatrixUserTestCase(unittest.TestCase):
    def test_mac_matches_documented_construction(self) -> None:
        import hashlib
        import hmac

        want = hmac.new(
            b"key", b"abc\x00alice\x00pw\x00admin\x00bot", digestmod=hashlib.sha1
        ).hexdigest()
        self.assertEqual(compute_registration_mac("key", "abc", "alice", "pw", True, "bot"), want)
        want = hmac.new(
            b"key", b"abc\x00alice\x00pw\x00notadmin", digestmod=hashlib.sha1
        ).hexdigest()
        self.assertEqual(compute_registration_mac("key", "abc", "alice", "pw", False), want)

    def test_server_url_from_listeners(self) -> None:
        config = {
            "listeners": [
                {"port": 8448, "tls": True, "resources": [{"names": ["client"]}]},
                {"port": 9000, "type": "metrics"},
                {"port": 8080, "type": "http", "resources": [{"names": ["federation"]}]},
                {"port": 8008, "type": "http", "resources": [{"names": ["client", "federation"]}]},
            ]
        }
        self.assertEqual(
            register_new_matrix_user._server_url_from_config(config), "http://localhost:8008"
        )
        self.assertIsNone(register_new_matrix_user._server_url_from_config({}))

    def test_shared_secret_path(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "secret.txt"), "w") as f:
                f.write("from-file\n")
            config_path = os.path.join(d, "homeserver.yaml")
            secret = register_new_matrix_user._shared_secret_from_config(
                {"registration_shared_secret_path": "secret.txt"}, config_path
            )
            self.assertEqual(secret, "from-file")
            self.assertEqual(
                register_new_matrix_user._shared_secret_from_config(
                    {"registration_shared_secret": "inline"}, config_path
                ),
                "inline",
            )

    def test_config_without_secret_fails(self) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("server_name: test\n")
        self.addCleanup(os.unlink, f.name)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as cm:
            register_new_matrix_user.main(["-c", f.name, "-u", "a", "-p", "b", "-a"])
        self.assertEqual(cm.exception.code, 1)
        self.assertIn("registration_shared_secret", err.getvalue())

    def test_unreachable_server_fails(self) -> None:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as cm:
            register_new_matrix_user.main(
                ["-k", "s", "-u", "a", "-p", "b", "--no-admin", "http://127.0.0.1:1"]
            )
        self.assertEqual(cm.exception.code, 1)
        self.assertIn("ERROR", err.getvalue())


class HashPasswordLongTestCase(unittest.TestCase):
    def test_long_password(self) -> None:
        hashed = hash_password.hash_password("q" * 100, "pep", 4)
        self.assertTrue(bcrypt.checkpw(b"q" * 72, hashed.encode()))


class PasswordFileTestCase(unittest.TestCase):
    def test_password_file_and_password_are_exclusive(self) -> None:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as cm:
            register_new_matrix_user.main(["-k", "s", "-u", "a", "-p", "b", "--password-file", "f"])
        self.assertEqual(cm.exception.code, 2)

    def test_missing_password_file(self) -> None:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as cm:
            register_new_matrix_user.main(
                ["-k", "s", "-u", "a", "--password-file", "/nonexistent/pw", "-a"]
            )
        self.assertEqual(cm.exception.code, 1)
        self.assertIn("password file", err.getvalue())
