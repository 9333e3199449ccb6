"""The presence handler used directly: the timeout and notification rules, the presence
stream and its store, restarts, remote states and the federation hooks."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from synapse.api.constants import PresenceState
from synapse.api.presence import UserPresenceState, format_presence_content
from synapse.handlers.presence import (
    FEDERATION_TIMEOUT_MS,
    IDLE_TIMER_MS,
    LAST_ACTIVE_GRANULARITY_MS,
    SYNC_ONLINE_TIMEOUT_MS,
    PresenceHandler,
    handle_timeout,
    should_notify,
)
from synapse.storage.databases.main.presence import PresenceStore
from synapse.types import StreamKeyType
from tests import unittest
from tests.rest.client.sync_test_base import SyncTestCase

ONLINE = PresenceState.ONLINE
UNAVAILABLE = PresenceState.UNAVAILABLE
OFFLINE = PresenceState.OFFLINE
NOW = 10_000_000_000


def state(**kwargs: Any) -> UserPresenceState:
    return UserPresenceState(user_id="@a:test", **kwargs)


class RulesTestCase(unittest.TestCase):
    def test_local_timeouts(self) -> None:
        active = state(
            state=ONLINE, last_active_ts=NOW, last_user_sync_ts=NOW, currently_active=True
        )
        self.assertIsNone(handle_timeout(active, True, False, NOW + 1000))
        # No longer currently active after the granularity.
        later = NOW + LAST_ACTIVE_GRANULARITY_MS
        new = handle_timeout(active.copy_and_replace(last_user_sync_ts=later), True, False, later)
        self.assertEqual(
            new, active.copy_and_replace(last_user_sync_ts=later, currently_active=False)
        )
        # Idle: unavailable, even while syncing.
        idle = NOW + IDLE_TIMER_MS + 1
        new = handle_timeout(active, True, True, idle)
        assert new is not None
        self.assertEqual((new.state, new.currently_active), (UNAVAILABLE, False))
        # Not syncing for long: offline, whatever the state; not while a sync is in flight.
        gone = NOW + SYNC_ONLINE_TIMEOUT_MS + 1
        for s in (ONLINE, UNAVAILABLE):
            current = active.copy_and_replace(state=s, currently_active=s == ONLINE)
            new = handle_timeout(current, True, False, gone)
            assert new is not None
            self.assertEqual((new.state, new.currently_active), (OFFLINE, False))
            self.assertEqual(new.last_active_ts, NOW)
            self.assertIsNone(handle_timeout(current, True, True, gone))
        # Recent activity counts like a recent sync.
        recently_active = active.copy_and_replace(last_user_sync_ts=0)
        self.assertIsNone(handle_timeout(recently_active, True, False, NOW + 1000))
        self.assertIsNone(handle_timeout(state(), True, False, NOW))

    def test_remote_timeouts(self) -> None:
        remote = state(state=ONLINE, last_federation_update_ts=NOW, last_active_ts=NOW)
        self.assertIsNone(handle_timeout(remote, False, False, NOW + FEDERATION_TIMEOUT_MS))
        new = handle_timeout(remote, False, False, NOW + FEDERATION_TIMEOUT_MS + 1)
        assert new is not None
        self.assertEqual(new.state, OFFLINE)

    def test_should_notify(self) -> None:
        online = state(state=ONLINE, last_active_ts=NOW, currently_active=True)
        self.assertTrue(should_notify(online, online.copy_and_replace(state=UNAVAILABLE)))
        self.assertTrue(should_notify(online, online.copy_and_replace(status_msg="hi")))
        self.assertTrue(should_notify(online, online.copy_and_replace(currently_active=False)))
        # Activity while currently active is not news; timestamps of syncs never are.
        bumped = online.copy_and_replace(last_active_ts=NOW + 10 * LAST_ACTIVE_GRANULARITY_MS)
        self.assertFalse(should_notify(online, bumped))
        self.assertFalse(should_notify(online, online.copy_and_replace(last_user_sync_ts=NOW)))
        # Activity of someone not currently active is.
        idle = online.copy_and_replace(state=UNAVAILABLE, currently_active=False)
        self.assertTrue(
            should_notify(
                idle, idle.copy_and_replace(last_active_ts=NOW + 2 * LAST_ACTIVE_GRANULARITY_MS)
            )
        )
        self.assertFalse(should_notify(idle, idle.copy_and_replace(last_active_ts=NOW + 1)))

    def test_format(self) -> None:
        self.assertEqual(format_presence_content(state(), NOW), {"presence": OFFLINE})
        content = format_presence_content(
            state(state=ONLINE, last_active_ts=NOW - 5, status_msg="x", currently_active=True), NOW
        )
        self.assertEqual(
            content,
            {"presence": ONLINE, "last_active_ago": 5, "status_msg": "x", "currently_active": True},
        )
        content = format_presence_content(
            state(state=UNAVAILABLE, last_active_ts=NOW, status_msg=""), NOW
        )
        self.assertEqual(content, {"presence": UNAVAILABLE, "last_active_ago": 0})


class PresenceHandlerTestCase(SyncTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.handler: PresenceHandler = hs.get_presence_handler()
        self.store: PresenceStore = self.stores.presence
        self.room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room, tok=self.other_tok)

    def restart(self) -> PresenceHandler:
        """A new store and handler on the same database, as after a restart."""
        self.stores.presence = PresenceStore(self.stores.db_pool, self.hs)
        return PresenceHandler(self.hs)

    def row(self, user_id: str) -> tuple[Any, ...] | None:
        rows = self.get_success(
            self.stores.db_pool.execute(
                "row",
                "SELECT state, status_msg, last_active_ts, last_user_sync_ts, stream_id"
                " FROM presence_stream WHERE user_id = ?",
                user_id,
            )
        )
        return tuple(rows[0]) if rows else None

    def test_each_announced_change_moves_the_stream(self) -> None:
        notifier = self.hs.get_notifier()
        start = notifier.get_current_token().presence_key
        self.get_success(self.handler.set_state(self.user, ONLINE, "hi"))
        first = self.store.get_current_presence_token()
        self.assertEqual(first, start + 1)
        self.assertEqual(notifier.get_current_token().presence_key, first)
        # Nothing clients see changed: no new position.
        self.get_success(self.handler.bump_presence_active_time(self.user))
        self.assertEqual(self.store.get_current_presence_token(), first)
        self.get_success(self.handler.set_state(self.user, UNAVAILABLE, "hi"))
        self.assertEqual(self.store.get_current_presence_token(), first + 1)
        row = self.row(self.user)
        assert row is not None
        self.assertEqual(row[:2], (UNAVAILABLE, "hi"))
        self.assertEqual(row[4], first + 1)
        changed = self.get_success(self.store.get_users_with_presence_changes(start, first + 1))
        self.assertEqual(changed, {self.user})
        self.assertEqual(
            self.get_success(self.store.get_users_with_presence_changes(first + 1, first + 1)),
            set(),
        )

    def test_changes_after_a_restart_are_read_from_the_database(self) -> None:
        start = self.store.get_current_presence_token()
        self.get_success(self.handler.set_state(self.user, ONLINE))
        self.get_success(self.handler.set_state(self.other, ONLINE))
        end = self.store.get_current_presence_token()
        self.restart()
        store = self.stores.presence
        self.assertEqual(store.get_current_presence_token(), end)
        self.assertEqual(
            self.get_success(store.get_users_with_presence_changes(start, end)),
            {self.user, self.other},
        )
        self.assertEqual(
            self.get_success(store.get_users_with_presence_changes(start + 1, end)), {self.other}
        )

    def test_state_survives_a_restart_and_then_times_out(self) -> None:
        self.get_success(self.handler.set_state(self.user, UNAVAILABLE, "in a meeting"))
        self.get_success(self.handler.set_state(self.other, OFFLINE, "on holiday"))
        handler = self.restart()
        alice = self.get_success(handler.get_state(self.user))
        self.assertEqual((alice.state, alice.status_msg), (UNAVAILABLE, "in a meeting"))
        bob = self.get_success(handler.get_state(self.other))
        self.assertEqual((bob.state, bob.status_msg), (OFFLINE, "on holiday"))
        # Nobody syncs after the restart: offline once the timeout passes.
        self.reactor.advance(SYNC_ONLINE_TIMEOUT_MS / 1000 + 6)
        alice = self.get_success(handler.get_state(self.user))
        self.assertEqual((alice.state, alice.status_msg), (OFFLINE, "in a meeting"))
        row = self.row(self.user)
        assert row is not None
        self.assertEqual(row[0], OFFLINE)

    def test_an_offline_users_message_is_kept_when_they_come_back(self) -> None:
        self.get_success(self.handler.set_state(self.user, OFFLINE, "see you"))
        handler = self.restart()
        with_sync = handler.user_syncing(self.user, True, ONLINE)
        self.get_success(with_sync.__aenter__())
        alice = self.get_success(handler.get_state(self.user))
        self.assertEqual((alice.state, alice.status_msg), (ONLINE, "see you"))
        self.get_success(with_sync.__aexit__(None, None, None))

    def test_sync_timestamps_are_written_in_the_background(self) -> None:
        first_sync = self.handler.user_syncing(self.user, True, ONLINE)
        self.get_success(first_sync.__aenter__())
        self.get_success(self.handler.set_state(self.user, UNAVAILABLE))
        self.get_success(first_sync.__aexit__(None, None, None))
        row = self.row(self.user)
        assert row is not None
        stream_id = row[4]
        self.reactor.advance(10)
        # A sync changes nothing clients see: only the row's timestamp, a while later.
        with_sync = self.handler.user_syncing(self.user, True, ONLINE)
        self.get_success(with_sync.__aenter__())
        synced_at = self.clock.time_msec()
        row = self.row(self.user)
        assert row is not None
        self.assertLess(row[3], synced_at)
        self.reactor.advance(60)
        row = self.row(self.user)
        assert row is not None
        self.assertEqual(row[3], synced_at)
        self.assertEqual(row[4], stream_id)
        self.get_success(with_sync.__aexit__(None, None, None))

    def test_remote_states_and_their_timeout(self) -> None:
        remote = "@zoe:remote.example"
        since = self.sync(self.tok)["next_batch"]
        self.get_success(
            self.handler.set_remote_states(
                [UserPresenceState(remote, state=ONLINE, last_active_ts=self.clock.time_msec())]
            )
        )
        # Local users' states are not taken from federation.
        self.get_success(
            self.handler.set_remote_states([UserPresenceState(self.other, state=ONLINE)])
        )
        self.assertEqual(self.get_success(self.handler.get_state(self.other)).state, OFFLINE)
        zoe = self.get_success(self.handler.get_state(remote))
        self.assertEqual(zoe.state, ONLINE)
        self.assertEqual(zoe.last_federation_update_ts, self.clock.time_msec())
        # Not sharing a room with alice: not in her sync.
        body = self.sync(self.tok, since=since)
        self.assertNotIn(remote, [e["sender"] for e in body["presence"]["events"]])
        self.reactor.advance(FEDERATION_TIMEOUT_MS / 1000 + 6)
        self.assertEqual(self.get_success(self.handler.get_state(remote)).state, OFFLINE)

    def test_listeners_hear_local_announced_changes(self) -> None:
        heard: list[list[UserPresenceState]] = []
        self.handler.add_presence_listener(heard.append)
        self.get_success(self.handler.set_state(self.user, ONLINE, "x"))
        self.get_success(self.handler.bump_presence_active_time(self.user))
        self.get_success(
            self.handler.set_remote_states([UserPresenceState("@z:remote.example", state=ONLINE)])
        )
        self.assertEqual(len(heard), 1)
        self.assertEqual([s.user_id for s in heard[0]], [self.user])

    def test_a_presence_change_wakes_only_those_sharing_a_room(self) -> None:
        carol = self.register_user("carol", "pass")
        notifier = self.hs.get_notifier()
        woken: list[tuple[str, Any, Any]] = []
        original = notifier.on_new_event

        def spy(key: str, token: Any, users: Any = (), rooms: Any = ()) -> None:
            woken.append((key, set(users), set(rooms)))
            original(key, token, users=users, rooms=rooms)

        with patch.object(notifier, "on_new_event", spy):
            self.get_success(self.handler.set_state(self.other, ONLINE))
            self.get_success(self.handler.set_state(carol, ONLINE))
        presence = [w for w in woken if w[0] == StreamKeyType.PRESENCE]
        self.assertEqual(
            presence,
            [
                (StreamKeyType.PRESENCE, {self.other}, {self.room}),
                (StreamKeyType.PRESENCE, {carol}, set()),
            ],
        )

    def test_rooms_with_only_messages_cost_no_member_query(self) -> None:
        since = self.sync(self.tok)["next_batch"]
        stream = self.stores.stream
        calls: list[Any] = []
        original = stream.get_state_keys_changed_in_rooms

        async def spy(ranges: Any) -> Any:
            calls.append(set(ranges))
            return await original(ranges)

        with patch.object(stream, "get_state_keys_changed_in_rooms", spy):
            self.helper.send(self.room, "just talking", tok=self.other_tok)
            since = self.sync(self.tok, since=since)["next_batch"]
            self.assertEqual(calls, [])
            carol = self.register_user("carol", "pass")
            carol_tok = self.login("carol", "pass")
            self.get_success(self.handler.set_state(carol, UNAVAILABLE))
            self.helper.join(self.room, tok=carol_tok)
            body = self.sync(self.tok, since=since)
        self.assertEqual(calls, [{self.room}])
        self.assertIn(carol, [e["sender"] for e in body["presence"]["events"]])
