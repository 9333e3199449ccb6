"""End to end: an encrypted conversation against the real daemon, with matrix-nio's own
Olm/Megolm machinery (vodozemac).

Alice and Bob upload device and one-time keys, Alice creates an encrypted room and
invites Bob, learns Bob's device through ``device_lists`` and ``/keys/query``, claims
one of his one-time keys, shares her Megolm session with him in a to-device message and
sends an encrypted message, which Bob's client decrypts. Skipped unless nio's encryption
extras (vodozemac, peewee, cachetools, atomicwrites) are installed.
"""

from __future__ import annotations

import asyncio
import tempfile
import unittest
from typing import Any

from tests.app.daemon import start_daemon
from tests.utils import USE_POSTGRES

try:
    import nio
    from nio.crypto import ENCRYPTION_ENABLED
except ImportError:  # pragma: no cover - the test extra installs it
    nio = None
    ENCRYPTION_ENABLED = False

SERVER_NAME = "localhost"
STEP_TIMEOUT = 20.0


@unittest.skipIf(nio is None or not ENCRYPTION_ENABLED, "matrix-nio without encryption support")
class NioEncryptionTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.daemon = start_daemon(self, server_name=SERVER_NAME, postgres=USE_POSTGRES)
        store = tempfile.TemporaryDirectory()
        self.addCleanup(store.cleanup)
        self.store_path = store.name

    def test_encrypted_message_is_decrypted_by_the_other_device(self) -> None:
        asyncio.run(asyncio.wait_for(self._flow(), 120))

    async def _client(self, name: str) -> Any:
        assert nio is not None
        config = nio.AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True)
        registrar = nio.AsyncClient(self.daemon.url, name)
        resp = await registrar.register(name, "secret-password", device_name=f"{name} test")
        self.assertIsInstance(resp, nio.RegisterResponse, resp)
        await registrar.close()
        client = nio.AsyncClient(
            self.daemon.url,
            f"@{name}:{SERVER_NAME}",
            store_path=self.store_path,
            config=config,
        )
        login = await client.login("secret-password", device_name=f"{name} phone")
        self.assertIsInstance(login, nio.LoginResponse, login)
        self.assertTrue(client.should_upload_keys)
        upload = await client.keys_upload()
        self.assertIsInstance(upload, nio.KeysUploadResponse, upload)
        self.assertGreater(upload.signed_curve25519_count, 0)
        return client

    async def _sync(self, client: Any) -> Any:
        resp = await asyncio.wait_for(client.sync(timeout=0, full_state=False), STEP_TIMEOUT)
        self.assertIsInstance(resp, nio.SyncResponse, resp)
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            query = await client.keys_query()
            self.assertIsInstance(query, nio.KeysQueryResponse, query)
        return resp

    async def _flow(self) -> None:
        assert nio is not None
        alice = await self._client("alice")
        bob = await self._client("bob")
        try:
            await self._sync(alice)
            await self._sync(bob)
            created = await alice.room_create(
                invite=[bob.user_id],
                initial_state=[
                    {
                        "type": "m.room.encryption",
                        "state_key": "",
                        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                    }
                ],
            )
            self.assertIsInstance(created, nio.RoomCreateResponse, created)
            room_id = created.room_id

            await self._sync(bob)
            joined = await bob.join(room_id)
            self.assertIsInstance(joined, nio.JoinResponse, joined)
            await self._sync(bob)

            # Alice learns of Bob's join, hence of his devices, and fetches his keys.
            await self._sync(alice)
            self.assertIn(bob.device_id, alice.device_store[bob.user_id])
            self.assertTrue(alice.rooms[room_id].encrypted)

            sent = await alice.room_send(
                room_id,
                "m.room.message",
                {"msgtype": "m.text", "body": "a secret for bob"},
                ignore_unverified_devices=True,
            )
            self.assertIsInstance(sent, nio.RoomSendResponse, sent)

            # Bob receives the Megolm session over to-device and decrypts the message.
            decrypted: list[str] = []
            for _ in range(3):
                resp = await self._sync(bob)
                room = resp.rooms.join.get(room_id)
                if room is None:
                    continue
                for event in room.timeline.events:
                    if isinstance(event, nio.RoomMessageText):
                        decrypted.append(event.body)
                    self.assertNotIsInstance(event, nio.MegolmEvent, "not decrypted")
                if decrypted:
                    break
            self.assertEqual(decrypted, ["a secret for bob"])
        finally:
            await alice.close()
            await bob.close()
