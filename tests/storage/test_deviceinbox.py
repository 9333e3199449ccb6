"""The to-device stream's store: delivered messages are deleted, yet the stream never
goes back after a restart (its position is kept apart from the rows)."""

from __future__ import annotations

from synapse.storage.databases.main.deviceinbox import DeviceInboxStore
from tests.storage._base import DatabaseTestCase


class DeviceInboxStoreTestCase(DatabaseTestCase):
    def test_position_survives_deleting_every_message(self) -> None:
        store = self.databases.main.device_inbox
        message = {"type": "m.test", "sender": "@a:test", "content": {}}
        last = 0
        for i in range(3):
            stream_id = self.get_success(
                store.add_messages("@a:test", "A", f"t{i}", {"@b:test": {"B": message}}, {}, 0)
            )
            assert stream_id is not None
            last = stream_id
        self.assertEqual(store.get_to_device_stream_id(), last)
        messages, upto = self.get_success(
            store.get_messages_for_device("@b:test", "B", 0, last, 10)
        )
        self.assertEqual((len(messages), upto), (3, last))
        self.assertEqual(
            self.get_success(store.delete_messages_for_device("@b:test", "B", last)), 3
        )

        # A new process: the stream goes on from where it was, not from the empty table.
        restarted = DeviceInboxStore(self.db, self.hs)
        self.assertEqual(restarted.get_to_device_stream_id(), last)
        stream_id = self.get_success(
            restarted.add_messages("@a:test", "A", "t9", {"@b:test": {"B": message}}, {}, 0)
        )
        assert stream_id is not None
        self.assertGreater(stream_id, last)

    def test_a_used_transaction_id_queues_nothing(self) -> None:
        store = self.databases.main.device_inbox
        message = {"type": "m.test", "sender": "@a:test", "content": {}}
        first = self.get_success(
            store.add_messages("@a:test", "A", "t", {"@b:test": {"B": message}}, {}, 0)
        )
        again = self.get_success(
            store.add_messages("@a:test", "A", "t", {"@b:test": {"B": message}}, {}, 0)
        )
        self.assertIsNotNone(first)
        self.assertIsNone(again)
        other_device = self.get_success(
            store.add_messages("@a:test", "A2", "t", {"@b:test": {"B": message}}, {}, 0)
        )
        self.assertIsNotNone(other_device)

    def test_position_kept_in_stream_positions_is_honoured(self) -> None:
        """A database ported from SQLite brings the stream's position in stream_positions."""
        self.get_success(
            self.db.simple_insert(
                "stream_positions",
                {"stream_name": "to_device", "instance_name": "master", "stream_id": 50},
            )
        )
        restarted = DeviceInboxStore(self.db, self.hs)
        self.assertEqual(restarted.get_to_device_stream_id(), 50)
        message = {"type": "m.test", "sender": "@a:test", "content": {}}
        stream_id = self.get_success(
            restarted.add_messages("@a:test", "A", "t", {"@b:test": {"B": message}}, {}, 0)
        )
        assert stream_id is not None
        self.assertGreater(stream_id, 50)
