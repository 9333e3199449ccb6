"""Benchmark of event persistence, state groups and the stream reads /sync relies on.

Runs the real stores and persistence queue on a fake reactor whose database work runs in
the calling thread (SQLite in memory, or PostgreSQL with SYNAPSE_POSTGRES=1), so the
figures are the CPU and database cost of the code, without thread hand-offs.

    .venv/bin/python -m benchmarks.persist_events [--members 1000] [--messages 500]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from twisted.internet import defer

from synapse.api.constants import EventTypes
from synapse.server import HomeServer
from synapse.storage.database import DatabasePool, LoggingTransaction
from synapse.types import RoomStreamToken
from tests.persistence._room import RoomMaker
from tests.utils import (
    ThreadedMemoryReactorClock,
    cleanup_test_database,
    setup_test_database_config,
    stand_in_homeserver_config,
)

T = TypeVar("T")


class Bench:
    def __init__(self) -> None:
        self.reactor = ThreadedMemoryReactorClock()
        self.db_config = setup_test_database_config()
        config = stand_in_homeserver_config(self.db_config)
        self.hs = HomeServer("test", config, reactor=self.reactor)  # type: ignore[arg-type]
        self.stores = self.hs.get_datastores().main

    def run(self, awaitable: Awaitable[T]) -> T:
        d: defer.Deferred[T] = defer.ensureDeferred(awaitable)  # type: ignore[arg-type]
        self.reactor.advance(0)
        result: Any = d.result
        if isinstance(result, Exception):
            raise result
        if hasattr(result, "raiseException"):
            result.raiseException()
        return result

    def count(self, table: str) -> int:
        rows = self.run(self.stores.db_pool.execute("count", f"SELECT COUNT(*) FROM {table}"))
        return int(rows[0][0])

    def close(self) -> None:
        self.hs.get_datastores().close()
        cleanup_test_database(self.db_config)


class Counts:
    """Transactions (autocommitted single statements included) and statements sent to the
    database: steadier than time on a busy machine."""

    transactions = 0
    statements = 0

    @classmethod
    def install(cls) -> None:
        real_txn = DatabasePool._new_transaction
        real_timed = LoggingTransaction._timed

        def new_transaction(self: DatabasePool, *args: Any, **kwargs: Any) -> Any:
            cls.transactions += 1
            return real_txn(self, *args, **kwargs)

        def _timed(self: LoggingTransaction, *args: Any, **kwargs: Any) -> Any:
            cls.statements += 1
            return real_timed(self, *args, **kwargs)

        DatabasePool._new_transaction = new_transaction  # type: ignore[method-assign]
        LoggingTransaction._timed = _timed  # type: ignore[method-assign]


_last_counts = (0, 0)


def start() -> float:
    global _last_counts
    _last_counts = (Counts.transactions, Counts.statements)
    return time.perf_counter()


def timed(label: str, n: int, t0: float) -> None:
    elapsed = time.perf_counter() - t0
    n = max(n, 1)
    txns = (Counts.transactions - _last_counts[0]) / n
    stmts = (Counts.statements - _last_counts[1]) / n
    print(
        f"{label:<48} {n:>5} events {elapsed * 1000:8.1f} ms {elapsed * 1e6 / n:7.0f} µs/event"
        f" {txns:5.2f} txn/event {stmts:6.2f} stmt/event"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--rooms", type=int, default=500, help="rooms for the stream read")
    args = parser.parse_args()

    Counts.install()
    bench = Bench()
    try:
        room = RoomMaker(bench.hs, bench.run)
        room.create()

        t0 = start()
        for i in range(args.members):
            room.join(f"@user{i}:test")
        timed("joins, one request each", args.members, t0)

        rows = bench.count("state_groups_state")
        groups = bench.count("state_groups")
        t0 = start()
        for i in range(args.messages):
            room.message("@user1:test", f"m{i}")
        timed("messages, one request each", args.messages, t0)
        print(
            f"  state rows written by the messages: {bench.count('state_groups_state') - rows}"
            f" (groups: {bench.count('state_groups') - groups})"
        )

        events = [
            room.make(EventTypes.Message, "@user2:test", {"body": str(i)})
            for i in range(args.messages)
        ]
        t0 = start()
        contexts = [room.context_for(e) for e in events]
        timed("  contexts of a chain, computed up front", args.messages, t0)
        t0 = start()
        bench.run(
            bench.hs.get_persistence_queue().persist_events(
                list(zip(events, contexts, strict=True))
            )
        )
        timed("messages, one request for all (batched)", args.messages, t0)

        rows = bench.count("state_groups_state")
        t0 = start()
        room.send(EventTypes.Topic, "@alice:test", {"topic": "t"}, "")
        timed("a state event in the room", 1, t0)
        print(f"  state rows written: {bench.count('state_groups_state') - rows}")

        # Two branches of state changes, then a message that merges them.
        base = room.last
        t0 = start()
        for i in range(20):
            room.send(
                EventTypes.Member,
                f"@user{i}:test",
                {"membership": "leave"},
                f"@user{i}:test",
                prev=base if i == 0 else None,
            )
        branch_a = room.last
        for i in range(20, 40):
            room.send(
                EventTypes.Member,
                f"@user{i}:test",
                {"membership": "leave"},
                f"@user{i}:test",
                prev=base if i == 20 else None,
            )
        timed("two forks of 20 leaves (forward extremities 2)", 40, t0)
        t0 = start()
        room.message("@alice:test", "merge", prev=branch_a + room.last)
        timed("the merging message (state resolution)", 1, t0)
        members = bench.run(bench.stores.roommember.get_users_in_room(room.room_id))
        print(f"  joined members after the merge: {len(members)}")

        state_store = bench.stores.state
        state_store._group_state_cache.clear()
        state_store._current_state_cache.clear()
        t0 = start()
        state = bench.run(state_store.get_current_state_ids(room.room_id))
        timed(f"current state, cold ({len(state)} entries)", 1, t0)
        t0 = start()
        state = bench.run(state_store.get_state_ids_for_event(room.last[0]))
        timed(f"state at an event, cold ({len(state)} entries)", 1, t0)

        # /sync's question over many rooms, when one of them changed.
        others = []
        for i in range(args.rooms):
            other = RoomMaker(bench.hs, bench.run, name=f"r{i}")
            other.create()
            others.append(other.room_id)
        since = bench.stores.stream.get_room_max_token()
        room.message("@alice:test", "new")
        now = bench.stores.stream.get_room_max_token()
        t0 = start()
        result = bench.run(
            bench.stores.stream.get_room_events_stream_for_rooms(
                others + [room.room_id], since, now, limit=10
            )
        )
        timed(f"stream read over {len(others) + 1} rooms, one changed", 1, t0)
        assert [len(v[0]) for v in result.values()].count(1) == 1
        t0 = start()
        bench.run(
            bench.stores.stream.get_room_events_stream_for_rooms(
                others + [room.room_id], RoomStreamToken(stream=0), now, limit=10
            )
        )
        timed(f"stream read over {len(others) + 1} rooms, from the start", 1, t0)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
