"""The measured scenarios: message sends, initial /sync, and send-to-/sync latency.

Every loop is bounded by a message count and by a ``Deadline``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer

from benchmarks.http.client import JsonDict, MatrixClient, sleep


class BenchTimeout(Exception):
    pass


@dataclass
class Deadline:
    seconds: float
    end: float = field(init=False)

    def __post_init__(self) -> None:
        self.end = time.monotonic() + self.seconds

    def check(self, what: str) -> None:
        if time.monotonic() > self.end:
            raise BenchTimeout(f"{what}: over the {self.seconds:.0f}s limit")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 200 values is the 198th smallest)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


async def gather(coroutines: list[Awaitable[Any]]) -> list[Any]:
    return await defer.gatherResults(
        [defer.ensureDeferred(c) for c in coroutines],  # type: ignore[arg-type]
        consumeErrors=True,
    )


async def run_limited(coroutines: list[Callable[[], Awaitable[Any]]], concurrency: int) -> None:
    """Run the thunks with at most ``concurrency`` in flight."""
    queue = list(reversed(coroutines))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await gather([worker() for _ in range(concurrency)])


@dataclass
class SendResult:
    messages: int
    seconds: float
    server_cpu_s: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds

    def figures(self, prefix: str) -> dict[str, float]:
        return {
            f"{prefix}.msgs_per_s": self.per_second,
            f"{prefix}.server_cpu_ms_per_msg": 1000 * self.server_cpu_s / self.messages,
            f"{prefix}.send_p50_ms": 1000 * percentile(self.latencies, 0.5),
            f"{prefix}.send_p99_ms": 1000 * percentile(self.latencies, 0.99),
        }


async def send_messages(
    senders: list[tuple[MatrixClient, str]],
    total: int,
    server_cpu: Callable[[], float],
    deadline: Deadline,
    warmup: int = 5,
) -> SendResult:
    """Each (client, room) pair sends ``total / len(senders)`` messages one after the
    other, all pairs at the same time."""
    per_sender = max(1, total // len(senders))
    latencies: list[float] = []

    async def sender(index: int, count: int, timed: bool) -> None:
        client, room_id = senders[index]
        for k in range(count):
            deadline.check("sending messages")
            start = time.perf_counter()
            await client.send_message(room_id, f"message {k} from sender {index}")
            if timed:
                latencies.append(time.perf_counter() - start)

    await gather([sender(i, warmup, False) for i in range(len(senders))])
    cpu_before = server_cpu()
    start = time.perf_counter()
    await gather([sender(i, per_sender, True) for i in range(len(senders))])
    seconds = time.perf_counter() - start
    return SendResult(per_sender * len(senders), seconds, server_cpu() - cpu_before, latencies)


def timeline_events(sync_body: JsonDict, room_id: str) -> list[JsonDict]:
    room = sync_body.get("rooms", {}).get("join", {}).get(room_id, {})
    events: list[JsonDict] = room.get("timeline", {}).get("events", [])
    return events


@dataclass
class SyncRunResult:
    first_s: float
    median_s: float
    runs_s: list[float]
    response_bytes: int
    server_cpu_s: float


async def initial_syncs(
    client: MatrixClient,
    room_ids: list[str],
    filter_json: str | None,
    expected_timeline: int,
    runs: int,
    server_cpu: Callable[[], float],
    deadline: Deadline,
) -> SyncRunResult:
    """``1 + runs`` initial syncs in a row; the first is reported apart from the median
    of the others (caches of the server filled by then)."""
    times: list[float] = []
    size = 0
    cpu_before = server_cpu()
    for _ in range(1 + runs):
        deadline.check("initial syncs")
        start = time.perf_counter()
        body = await client.sync(filter_json=filter_json)
        times.append(time.perf_counter() - start)
        size = len(json.dumps(body))
        joined = body.get("rooms", {}).get("join", {})
        missing = set(room_ids) - set(joined)
        if missing:
            raise AssertionError(f"initial sync lacks {len(missing)} of the rooms")
        for room_id in room_ids:
            count = sum(
                1 for e in timeline_events(body, room_id) if e.get("type") == "m.room.message"
            )
            if count != expected_timeline:
                raise AssertionError(
                    f"{room_id}: {count} messages in the timeline, expected {expected_timeline}"
                )
    cpu = server_cpu() - cpu_before
    return SyncRunResult(times[0], statistics.median(times[1:]), times, size, cpu / len(times))


@dataclass
class LatencyResult:
    delays: list[float]
    send_times: list[float]
    extra_wakeups: int

    def figures(self) -> dict[str, float]:
        return {
            "latency.p50_ms": 1000 * percentile(self.delays, 0.5),
            "latency.p99_ms": 1000 * percentile(self.delays, 0.99),
            "latency.send_p50_ms": 1000 * percentile(self.send_times, 0.5),
            "latency.extra_wakeups": float(self.extra_wakeups),
        }


async def send_to_sync_latency(
    sender: MatrixClient,
    receiver: MatrixClient,
    room_id: str,
    sends: int,
    deadline: Deadline,
    warmup: int = 5,
    park_s: float = 0.02,
) -> LatencyResult:
    """``receiver`` long-polls /sync (timeout 30 s); ``sender`` sends one message; the
    delay is from the start of the send to the arrival of the /sync response holding it."""
    limit_one = json.dumps({"room": {"timeline": {"limit": 1}}})
    since: str = (await receiver.sync(filter_json=limit_one))["next_batch"]
    delays: list[float] = []
    send_times: list[float] = []
    extra_wakeups = 0

    async def timed_sync(token: str) -> tuple[float, JsonDict]:
        body = await receiver.sync(since=token, timeout_ms=30000, filter_json=limit_one)
        return time.perf_counter(), body

    for i in range(warmup + sends):
        deadline.check("send-to-sync latency")
        waiting = defer.ensureDeferred(timed_sync(since))
        await sleep(park_s)
        marker = f"latency probe {i}"
        start = time.perf_counter()
        await sender.send_message(room_id, marker)
        sent = time.perf_counter()
        for _attempt in range(20):
            arrived, body = await waiting
            since = body["next_batch"]
            if any(
                e.get("content", {}).get("body") == marker for e in timeline_events(body, room_id)
            ):
                break
            if i >= warmup:
                extra_wakeups += 1
            waiting = defer.ensureDeferred(timed_sync(since))
        else:
            raise AssertionError(f"/sync never returned {marker!r}")
        if i >= warmup:
            delays.append(arrived - start)
            send_times.append(sent - start)
    return LatencyResult(delays, send_times, extra_wakeups)
