"""AuthHandler: passwords, token format, and the UI auth session expiry."""

from __future__ import annotations

import zlib
from typing import Any

import bcrypt

from synapse.handlers.auth import UI_AUTH_SESSION_EXPIRY_MS, _base62
from synapse.types import UserID
from tests.unittest import HomeserverTestCase, override_config


class AuthHandlerTestCase(HomeserverTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.handler = hs.get_auth_handler()

    def test_hash_and_validate(self) -> None:
        hashed = self.get_success(self.handler.hash("password"))
        self.assertTrue(hashed.startswith("$2b$04$"))
        self.assertTrue(self.get_success(self.handler.validate_hash("password", hashed)))
        self.assertFalse(self.get_success(self.handler.validate_hash("Password", hashed)))
        self.assertFalse(self.get_success(self.handler.validate_hash("password", "")))
        self.assertFalse(self.get_success(self.handler.validate_hash("password", "not a hash")))

    @override_config({"password_config": {"pepper": "pepper!"}, "bcrypt_rounds": 5})
    def test_pepper_and_rounds(self) -> None:
        hashed = self.get_success(self.handler.hash("password"))
        self.assertTrue(hashed.startswith("$2b$05$"))
        self.assertTrue(bcrypt.checkpw(b"passwordpepper!", hashed.encode()))
        self.assertFalse(bcrypt.checkpw(b"password", hashed.encode()))

    def test_token_shape(self) -> None:
        token = self.handler.generate_access_token(UserID("alice", "test"))
        prefix, b64, random_part, crc = token.split("_")
        self.assertEqual(prefix, "syt")
        self.assertEqual(b64, "YWxpY2U")
        self.assertGreaterEqual(len(random_part), 22)
        self.assertEqual(crc, _base62(zlib.crc32(f"syt_{b64}_{random_part}".encode()), 6))
        self.assertNotEqual(token, self.handler.generate_access_token(UserID("alice", "test")))

    def test_old_ui_auth_sessions_expire(self) -> None:
        store = self.hs.get_datastores().main.ui_auth
        session = self.get_success(store.create_ui_auth_session({}, "/u", "POST", "d"))
        self.reactor.advance(UI_AUTH_SESSION_EXPIRY_MS / 1000 + 600)
        self.get_failure(store.get_ui_auth_session(session.session_id), Exception)

    def test_check_user_exists(self) -> None:
        self.register_user("alice", "pw")
        self.assertEqual(
            self.get_success(self.handler.check_user_exists("@ALICE:test")), "@alice:test"
        )
        self.assertIsNone(self.get_success(self.handler.check_user_exists("@bob:test")))

    def test_long_password(self) -> None:
        """bcrypt reads 72 bytes: longer passwords hash and check, as older hashes did."""
        long_password = "p" * 100
        hashed = self.get_success(self.handler.hash(long_password))
        self.assertTrue(self.get_success(self.handler.validate_hash(long_password, hashed)))
        self.assertTrue(bcrypt.checkpw(long_password.encode()[:72], hashed.encode()))
