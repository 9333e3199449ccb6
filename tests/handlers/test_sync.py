"""``SyncHandler`` used directly: what it reads (and does not read) to answer, the hooks
later streams fill, and the stores of receipts, account data and typing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from unittest.mock import patch

from synapse.api.filtering import FilterCollection
from synapse.handlers.sync import SyncConfig, SyncResult
from synapse.storage.databases.main.event_push_actions import NotifCounts, RoomNotifCounts
from synapse.storage.state_filter import StateFilter
from synapse.types import JsonDict, JsonMapping, StreamToken, create_requester
from tests.rest.client.sync_test_base import SyncTestCase


class SyncHandlerTestCase(SyncTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.handler = hs.get_sync_handler()
        self.requester = create_requester(self.user, device_id="DEV")
        self.rooms = [self.helper.create_room_as(self.user, tok=self.tok) for _ in range(5)]

    def config(self, filter_json: JsonDict | None = None, key: Any = None) -> SyncConfig:
        return SyncConfig(
            requester=self.requester,
            filter_collection=FilterCollection(self.hs, filter_json or {}),
            request_key=(key if key is not None else object(),),
        )

    def sync(self, since: StreamToken | None = None, **kwargs: Any) -> SyncResult:  # type: ignore[override]
        filter_json = kwargs.pop("filter_json", None)
        return self.get_success(
            self.handler.wait_for_sync_for_user(self.config(filter_json), since, **kwargs)
        )

    def test_empty_result_is_false(self) -> None:
        first = self.sync()
        self.assertTrue(first)
        self.assertEqual(len(first.joined), 5)
        again = self.sync(first.next_batch)
        self.assertFalse(again)
        self.assertEqual(again.next_batch, first.next_batch)

    def test_quiet_rooms_are_not_queried(self) -> None:
        since = self.sync().next_batch
        self.helper.send(self.rooms[2], "only here", tok=self.tok)
        stream = self.stores.stream
        calls: list[Mapping[str, Any]] = []
        original = stream.get_recent_event_ids_for_rooms

        async def spy(ranges: Mapping[str, Any], limit: int) -> Any:
            calls.append(dict(ranges))
            return await original(ranges, limit)

        with patch.object(stream, "get_recent_event_ids_for_rooms", spy):
            result = self.sync(since)
            self.assertEqual([r.room_id for r in result.joined], [self.rooms[2]])
            self.assertEqual([list(c) for c in calls], [[self.rooms[2]]])
            calls.clear()
            self.assertFalse(self.sync(result.next_batch))
            self.assertEqual(calls, [])

    def test_limited_incremental_sync_reads_only_the_changed_state(self) -> None:
        room = self.rooms[0]
        since = self.sync().next_batch
        self.helper.send_state(room, "m.room.topic", {"topic": "gap"}, tok=self.tok)
        for i in range(4):
            self.helper.send(room, f"m{i}", tok=self.tok)
        state_store = self.stores.state
        filters: list[StateFilter] = []
        original = state_store.get_state_ids_for_groups

        async def spy(groups: Any, state_filter: StateFilter | None = None) -> Any:
            filters.append(state_filter or StateFilter.all())
            return await original(groups, state_filter)

        with patch.object(state_store, "get_state_ids_for_groups", spy):
            result = self.sync(since, filter_json={"room": {"timeline": {"limit": 2}}})
        joined = result.joined[0]
        self.assertTrue(joined.timeline.limited)
        self.assertEqual(
            [(e.type, e.content) for e in joined.state], [("m.room.topic", {"topic": "gap"})]
        )
        # No read of a whole state: only the keys written in the gap (and what the
        # history visibility check needs).
        self.assertTrue(any(set(f.types) == {"m.room.topic"} for f in filters), filters)
        for state_filter in filters:
            self.assertFalse(state_filter.include_others, state_filter)

    def test_full_state_without_since_answers_at_once(self) -> None:
        result = self.sync(None, timeout=30000)
        self.assertEqual(len(result.joined), 5)

    def test_global_account_data_source(self) -> None:
        seen: list[tuple[str, StreamToken | None]] = []

        async def push_rules(
            user_id: str, since: StreamToken | None, now: StreamToken
        ) -> Mapping[str, JsonMapping]:
            seen.append((user_id, since))
            return {"m.push_rules": {"global": {}}} if since is None else {}

        self.handler.register_global_account_data_source(push_rules)
        first = self.sync()
        self.assertEqual(first.account_data, [{"type": "m.push_rules", "content": {"global": {}}}])
        again = self.sync(first.next_batch)
        self.assertEqual(again.account_data, [])
        self.assertEqual(seen, [(self.user, None), (self.user, first.next_batch)])

    def test_unread_counts_hook(self) -> None:
        room = self.rooms[1]
        counts = RoomNotifCounts(NotifCounts(3, 1), {"$root": NotifCounts(2, 0)})

        async def get_counts(
            user_id: str, room_ids: Any, thread_counts: bool
        ) -> dict[str, RoomNotifCounts]:
            self.assertEqual(user_id, self.user)
            return {room: counts} if room in room_ids else {}

        with patch.object(
            self.stores.event_push_actions, "get_unread_counts_for_rooms", get_counts
        ):
            body = super().sync(
                self.tok, filter={"room": {"timeline": {"unread_thread_notifications": True}}}
            )
            joined = body["rooms"]["join"][room]
            self.assertEqual(
                joined["unread_notifications"], {"notification_count": 3, "highlight_count": 1}
            )
            self.assertEqual(
                joined["unread_thread_notifications"],
                {"$root": {"notification_count": 2, "highlight_count": 0}},
            )
            other = body["rooms"]["join"][self.rooms[0]]
            self.assertNotIn(
                "unread_thread_notifications", super().sync(self.tok)["rooms"]["join"][room]
            )
            self.assertEqual(
                other["unread_notifications"], {"notification_count": 0, "highlight_count": 0}
            )

    def test_typing_token_from_before_a_restart(self) -> None:
        typing = self.hs.get_typing_handler()
        typing.set_typing(self.rooms[0], self.user, True, 10000)
        # A token from an earlier process may be ahead of this one's typing stream.
        events = typing.get_typing_events(self.rooms, typing.get_current_token() + 50)
        self.assertEqual(list(events), [self.rooms[0]])


class ReceiptsStoreTestCase(SyncTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.store = self.stores.receipts
        self.room = self.helper.create_room_as(self.user, tok=self.tok)
        self.events = [
            self.helper.send(self.room, f"m{i}", tok=self.tok)["event_id"] for i in range(2)
        ]

    def insert(
        self, event_index: int, thread_id: str | None = None, ordering: int | None = None
    ) -> int | None:
        event = self.get_success(self.stores.events.get_event(self.events[event_index]))
        return self.get_success(
            self.store.insert_receipt(
                self.room,
                "m.read",
                self.user,
                event.event_id,
                thread_id,
                {"ts": 1},
                ordering if ordering is not None else event.internal_metadata.stream_ordering,
            )
        )

    def test_positions_and_ranges(self) -> None:
        start = self.store.get_max_receipt_stream_id()
        first = self.insert(0)
        assert first is not None
        self.assertEqual(self.store.get_max_receipt_stream_id(), first)
        self.assertIsNone(self.insert(0))
        self.assertIsNone(self.insert(0, ordering=0))
        second = self.insert(1)
        assert second is not None and second > first
        # A thread's receipt is its own.
        third = self.insert(0, thread_id="main")
        assert third is not None
        all_receipts = self.get_success(
            self.store.get_linearized_receipts_for_rooms([self.room], third)
        )
        self.assertEqual(
            sorted((r.event_id, r.thread_id) for r in all_receipts[self.room]),
            sorted([(self.events[1], None), (self.events[0], "main")]),
        )
        changed = self.get_success(
            self.store.get_linearized_receipts_for_rooms([self.room], third, second)
        )
        self.assertEqual([r.thread_id for r in changed[self.room]], ["main"])
        self.assertEqual(
            self.get_success(
                self.store.get_linearized_receipts_for_rooms([self.room], third, third)
            ),
            {},
        )
        self.assertEqual(
            self.get_success(
                self.store.get_linearized_receipts_for_rooms(["!other:test"], third, start)
            ),
            {},
        )


class AccountDataStoreTestCase(SyncTestCase):
    def test_ranges_and_tags(self) -> None:
        store = self.stores.account_data
        start = store.get_max_account_data_stream_id()
        a = self.get_success(store.add_account_data_for_user(self.user, "org.a", {"v": 1}))
        b = self.get_success(
            store.add_account_data_to_room(self.user, "!r:test", "org.b", {"v": 2})
        )
        self.assertGreater(b, a)
        self.assertFalse(store.has_account_data_changed(self.other, start))
        self.assertEqual(
            self.get_success(store.get_updated_account_data_for_user(self.user, start, b)),
            ({"org.a": {"v": 1}}, {"!r:test": {"org.b": {"v": 2}}}),
        )
        self.assertEqual(
            self.get_success(store.get_updated_account_data_for_user(self.user, a, b)),
            ({}, {"!r:test": {"org.b": {"v": 2}}}),
        )
        self.assertEqual(
            self.get_success(store.get_updated_account_data_for_user(self.other, start, b)),
            ({}, {}),
        )
        self.get_success(store.add_tag_to_room(self.user, "!r:test", "u.one", {"order": 0.5}))
        self.get_success(store.add_tag_to_room(self.user, "!r:test", "u.two", {}))
        self.assertIsNone(
            self.get_success(store.remove_tag_from_room(self.user, "!r:test", "u.none"))
        )
        self.get_success(store.remove_tag_from_room(self.user, "!r:test", "u.one"))
        self.assertEqual(
            self.get_success(store.get_tags_for_room(self.user, "!r:test")), {"u.two": {}}
        )
        # The global cache follows writes.
        self.assertEqual(
            self.get_success(store.get_global_account_data_by_type_for_user(self.user, "org.a")),
            {"v": 1},
        )
        self.get_success(store.add_account_data_for_user(self.user, "org.a", {"v": 3}))
        self.assertEqual(
            self.get_success(store.get_global_account_data_by_type_for_user(self.user, "org.a")),
            {"v": 3},
        )
