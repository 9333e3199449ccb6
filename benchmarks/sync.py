"""Benchmark of ``/sync`` for a user in many rooms: initial, quiet, one new message, a
limited timeline with a state change in the gap, and lazy loading.

Runs the real handlers and stores on a fake reactor whose database work runs in the
calling thread (SQLite in memory, or PostgreSQL with SYNAPSE_POSTGRES=1), so the figures
are the CPU and database cost of the code, without thread hand-offs or HTTP.

    .venv/bin/python -m benchmarks.sync [--rooms 200] [--messages 20] [--members 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.internet import defer

from benchmarks.persist_events import Counts
from synapse.api.filtering import FilterCollection
from synapse.handlers.sync import SyncConfig, SyncResult
from synapse.types import JsonDict, Requester, StreamToken, create_requester
from tests.server import default_config, get_clock, setup_test_homeserver

T = TypeVar("T")


class Bench:
    def __init__(self) -> None:
        self.cleanups: list[Callable[[], None]] = []
        self.reactor, clock = get_clock()
        config = default_config("test")
        config["caches"] = {"sync_response_cache_duration": 0}
        config["rc_message"] = {"per_second": 1e9, "burst_count": 1e9}
        self.hs = setup_test_homeserver(
            self.cleanups.append, "test", config=config, reactor=self.reactor, clock=clock
        )
        self.sync_handler = self.hs.get_sync_handler()

    def run(self, awaitable: Awaitable[T]) -> T:
        d: defer.Deferred[T] = defer.ensureDeferred(awaitable)  # type: ignore[arg-type]
        self.reactor.advance(0)
        result: Any = d.result
        if hasattr(result, "raiseException"):
            result.raiseException()
        return result

    def user(self, localpart: str) -> Requester:
        user_id = self.run(self.hs.get_registration_handler().register_user(localpart=localpart))
        return create_requester(user_id, device_id="DEVICE")

    def sync(
        self, requester: Requester, since: StreamToken | None, filter_json: JsonDict
    ) -> SyncResult:
        config = SyncConfig(
            requester=requester,
            filter_collection=FilterCollection(self.hs, filter_json),
            request_key=(object(),),
        )
        return self.run(self.sync_handler.wait_for_sync_for_user(config, since))

    def close(self) -> None:
        self.hs.get_datastores().close()
        for cleanup in self.cleanups:
            cleanup()


def measure(label: str, repeat: int, fn: Callable[[], SyncResult]) -> SyncResult:
    """Best wall-clock time of ``repeat`` runs, and the transactions and statements of one."""
    best = float("inf")
    result: SyncResult | None = None
    for _ in range(repeat):
        txns, stmts = Counts.transactions, Counts.statements
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
        txns, stmts = Counts.transactions - txns, Counts.statements - stmts
    assert result is not None
    print(
        f"{label:<52} {best * 1000:8.1f} ms {txns:5d} txn {stmts:6d} stmt"
        f"  ({len(result.joined)} rooms sent)"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20, help="messages per room")
    parser.add_argument("--members", type=int, default=3, help="members per room")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    Counts.install()
    bench = Bench()
    try:
        alice = bench.user("alice")
        others = [bench.user(f"user{i}") for i in range(max(args.members - 1, 1))]
        rooms_handler = bench.hs.get_room_creation_handler()
        members = bench.hs.get_room_member_handler()
        messages = bench.hs.get_event_creation_handler()

        def send(requester: Requester, room_id: str, body: str) -> None:
            bench.run(
                messages.create_and_send_nonmember_event(
                    requester,
                    {
                        "type": "m.room.message",
                        "room_id": room_id,
                        "sender": requester.user.to_string(),
                        "content": {"msgtype": "m.text", "body": body},
                    },
                    ratelimit=False,
                )
            )

        t0 = time.perf_counter()
        rooms: list[str] = []
        for r in range(args.rooms):
            room_id, _, _ = bench.run(
                rooms_handler.create_room(alice, {"preset": "public_chat"}, ratelimit=False)
            )
            rooms.append(room_id)
            for other in others:
                bench.run(
                    members.update_membership(other, other.user, room_id, "join", ratelimit=False)
                )
            for m in range(args.messages):
                send(others[m % len(others)], room_id, f"room {r} message {m}")
        print(
            f"set-up: {args.rooms} rooms, {args.members} members, {args.messages} messages"
            f" each: {time.perf_counter() - t0:.1f} s"
        )

        limit10: JsonDict = {"room": {"timeline": {"limit": 10}}}
        lazy: JsonDict = {"room": {"timeline": {"limit": 10}, "state": {"lazy_load_members": True}}}
        initial = measure(
            "initial sync (limit 10)", args.repeat, lambda: bench.sync(alice, None, limit10)
        )
        measure(
            "initial sync, lazy-loaded members", args.repeat, lambda: bench.sync(alice, None, lazy)
        )
        since = initial.next_batch
        measure("incremental, nothing new", args.repeat, lambda: bench.sync(alice, since, limit10))
        send(others[0], rooms[0], "one more")
        measure(
            "incremental, one new message", args.repeat, lambda: bench.sync(alice, since, limit10)
        )
        since = bench.sync(alice, since, limit10).next_batch
        bench.run(
            messages.create_and_send_nonmember_event(
                alice,
                {
                    "type": "m.room.topic",
                    "room_id": rooms[1],
                    "sender": alice.user.to_string(),
                    "state_key": "",
                    "content": {"topic": "in the gap"},
                },
                ratelimit=False,
            )
        )
        for m in range(20):
            send(others[0], rooms[1], f"burst {m}")
        result = measure(
            "incremental, limited (20 new, topic in the gap)",
            args.repeat,
            lambda: bench.sync(alice, since, limit10),
        )
        assert result.joined[0].timeline.limited
        assert [e.type for e in result.joined[0].state] == ["m.room.topic"]
    finally:
        bench.close()


if __name__ == "__main__":
    main()
