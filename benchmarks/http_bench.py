"""Client-Server HTTP benchmark of rooms, messages and /sync, against our daemon or Synapse.

Starts the daemon from its own generated config on a free loopback port (SQLite, or a
fresh PostgreSQL database created and dropped here), registers users with the shared
secret admin API, and measures over HTTP:

1. messages sent per second by 1 sender, by 16 senders each in its own room, and by
   16 senders in one room;
2. initial /sync of a user in 50 rooms of 100 messages (default filter, and a timeline
   limit of 100), the first run and the median of the next ones;
3. the delay from a send to the return of another user's waiting /sync (timeout 30 s).

    .venv/bin/python -m benchmarks.http_bench --db sqlite --server ours
    SYNAPSE_REF_PYTHON=/path/to/synapse-venv/bin/python \
        .venv/bin/python -m benchmarks.http_bench --db postgres --server ours synapse
    .venv/bin/python -m benchmarks.http_bench --db sqlite --server ours --py-spy /tmp/prof
    .venv/bin/python -m benchmarks.http.pyspy_top /tmp/prof-ours-sqlite-sync-limit100.txt

Results can be kept in a JSON file (``--json``) across runs and printed side by side
(``--table results.json [more.json ...]``, the best value of each figure over the files).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, task

from benchmarks.http.client import MatrixClient, make_http_client, sleep
from benchmarks.http.scenarios import (
    Deadline,
    initial_syncs,
    run_limited,
    send_messages,
    send_to_sync_latency,
)
from benchmarks.http.servers import ServerProcess, server_kind

SCENARIOS = ("send1", "send16", "send16-one-room", "sync", "latency")
SENDERS = 16

# (key, label, unit, higher is better)
ROWS: list[tuple[str, str, str, bool]] = [
    ("send1.msgs_per_s", "send, 1 sender, 1 room", "msg/s", True),
    ("send16.msgs_per_s", "send, 16 senders, 16 rooms", "msg/s", True),
    ("send16-one-room.msgs_per_s", "send, 16 senders, 1 room", "msg/s", True),
    ("fill.msgs_per_s", "send, 16 at a time over 50 rooms (sync set-up)", "msg/s", True),
    ("send1.send_p50_ms", "send round trip p50, 1 sender", "ms", False),
    ("send16.send_p50_ms", "send round trip p50, 16 senders, 16 rooms", "ms", False),
    ("send16-one-room.send_p50_ms", "send round trip p50, 16 senders, 1 room", "ms", False),
    ("send1.server_cpu_ms_per_msg", "server CPU per message, 1 sender", "ms", False),
    ("send16.server_cpu_ms_per_msg", "server CPU per message, 16 senders, 16 rooms", "ms", False),
    (
        "send16-one-room.server_cpu_ms_per_msg",
        "server CPU per message, 16 senders, 1 room",
        "ms",
        False,
    ),
    ("sync.default.first_ms", "initial sync 50x100, default filter, first", "ms", False),
    ("sync.default.median_ms", "initial sync 50x100, default filter, median", "ms", False),
    ("sync.default.kib", "initial sync 50x100, default filter, response size", "KiB", False),
    ("sync.limit100.first_ms", "initial sync 50x100, timeline limit 100, first", "ms", False),
    ("sync.limit100.median_ms", "initial sync 50x100, timeline limit 100, median", "ms", False),
    ("sync.limit100.kib", "initial sync 50x100, timeline limit 100, response size", "KiB", False),
    ("sync.default.server_cpu_ms", "server CPU per initial sync, default filter", "ms", False),
    ("sync.limit100.server_cpu_ms", "server CPU per initial sync, timeline limit 100", "ms", False),
    ("latency.p50_ms", "send -> waiting /sync returns, p50", "ms", False),
    ("latency.p99_ms", "send -> waiting /sync returns, p99", "ms", False),
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Profiler:
    """``py-spy record`` attached to the daemon during the measured part of each scenario,
    writing the collapsed stacks of every thread to ``<prefix>-<scenario>.txt``."""

    def __init__(self, args: argparse.Namespace, server: ServerProcess) -> None:
        self.args = args
        self.server = server
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, scenario: str) -> None:
        if not self.args.py_spy or self.server.proc is None:
            return
        output = f"{self.args.py_spy}-{self.server.kind.name}-{self.server.db}-{scenario}.txt"
        self.proc = subprocess.Popen(
            [self.args.py_spy_executable, "record", "--pid", str(self.server.proc.pid)]
            + ["--rate", "200", "--format", "raw", "--threads", "--nonblocking"]
            + ["--output", output]
            + (["--idle"] if self.args.py_spy_idle else []),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await sleep(1.0)  # attached before the first measured request

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


async def register_users(
    make_client: Callable[[], MatrixClient], secret: str, names: list[str]
) -> dict[str, MatrixClient]:
    clients = {name: make_client() for name in names}

    def register(name: str) -> Callable[[], Any]:
        return lambda: clients[name].register_with_shared_secret(secret, name, f"pw-{name}")

    await run_limited([register(name) for name in names], concurrency=4)
    return clients


async def run_scenarios(
    args: argparse.Namespace, server: ServerProcess, profiler: Profiler, figures: dict[str, float]
) -> None:
    http, pool = make_http_client(connections=4 * SENDERS)
    try:
        base = server.base_url

        def new_client() -> MatrixClient:
            return MatrixClient(http, base)

        names = [f"sender{i}" for i in range(SENDERS)] + ["builder", "reader", "alice", "bob"]
        start = time.perf_counter()
        users = await register_users(new_client, server.shared_secret, names)
        log(f"  registered {len(names)} users in {time.perf_counter() - start:.1f}s")
        senders = [users[f"sender{i}"] for i in range(SENDERS)]
        chosen = set(args.only)

        def done(prefix: str, result: dict[str, float]) -> None:
            profiler.stop()
            figures.update(result)
            log("  " + ", ".join(f"{k}={v:.2f}" for k, v in result.items() if k.startswith(prefix)))

        if "send1" in chosen:
            room = await senders[0].create_room()
            await profiler.start("send1")
            result = await send_messages(
                [(senders[0], room)], args.messages, server.cpu_seconds, Deadline(args.max_seconds)
            )
            done("send1", result.figures("send1"))

        if "send16" in chosen:
            rooms = await defer.gatherResults(
                [defer.ensureDeferred(s.create_room()) for s in senders]
            )
            await profiler.start("send16")
            result = await send_messages(
                list(zip(senders, rooms, strict=True)),
                args.messages,
                server.cpu_seconds,
                Deadline(args.max_seconds),
            )
            done("send16", result.figures("send16"))

        if "send16-one-room" in chosen:
            room = await senders[0].create_room()
            for s in senders[1:]:
                await s.join(room)
            await profiler.start("send16-one-room")
            result = await send_messages(
                [(s, room) for s in senders],
                args.messages,
                server.cpu_seconds,
                Deadline(args.max_seconds),
            )
            done("send16-one-room", result.figures("send16-one-room"))

        if "sync" in chosen:
            await sync_scenario(args, server, profiler, users["builder"], users["reader"], done)

        if "latency" in chosen:
            alice, bob = users["alice"], users["bob"]
            room = await alice.create_room()
            await bob.join(room)
            await profiler.start("latency")
            latency = await send_to_sync_latency(
                alice, bob, room, args.latency_sends, Deadline(args.max_seconds)
            )
            done("latency", latency.figures())
    finally:
        await pool.closeCachedConnections()


async def sync_scenario(
    args: argparse.Namespace,
    server: ServerProcess,
    profiler: Profiler,
    builder: MatrixClient,
    reader: MatrixClient,
    done: Callable[[str, dict[str, float]], None],
) -> None:
    deadline = Deadline(args.max_seconds)
    room_ids: list[str] = []
    for _ in range(args.rooms):
        deadline.check("creating rooms")
        room_id = await builder.create_room()
        await reader.join(room_id)
        room_ids.append(room_id)

    # 16 workers, each filling its share of the rooms one message at a time.
    def fill(worker: int) -> Callable[[], Any]:
        async def run() -> None:
            for room_id in room_ids[worker::SENDERS]:
                for k in range(args.room_messages):
                    deadline.check("filling rooms")
                    await builder.send_message(room_id, f"history {k}")

        return run

    start = time.perf_counter()
    await run_limited([fill(w) for w in range(SENDERS)], concurrency=SENDERS)
    fill_seconds = time.perf_counter() - start
    done("fill", {"fill.msgs_per_s": args.rooms * args.room_messages / fill_seconds})

    cases = [
        ("default", None, min(10, args.room_messages)),
        (
            "limit100",
            json.dumps({"room": {"timeline": {"limit": 100}}}),
            min(100, args.room_messages),
        ),
    ]
    for name, filter_json, expected in cases:
        await profiler.start(f"sync-{name}")
        result = await initial_syncs(
            reader,
            room_ids,
            filter_json,
            expected,
            args.sync_runs,
            server.cpu_seconds,
            Deadline(args.max_seconds),
        )
        prefix = f"sync.{name}"
        done(
            prefix,
            {
                f"{prefix}.first_ms": 1000 * result.first_s,
                f"{prefix}.median_ms": 1000 * result.median_s,
                f"{prefix}.kib": result.response_bytes / 1024,
                f"{prefix}.server_cpu_ms": 1000 * result.server_cpu_s,
            },
        )


async def bench_one(args: argparse.Namespace, kind_name: str) -> dict[str, float]:
    kind = server_kind(kind_name, args.synapse_python)
    profile_to = None
    if args.cprofile and kind_name == "ours":
        profile_to = os.path.abspath(args.cprofile)
    server = ServerProcess(kind, args.db, keep=args.keep, profile_to=profile_to)
    figures: dict[str, float] = {}
    profiler = Profiler(args, server)
    log(f"{kind_name} on {args.db}: starting in {server.dir}")
    try:
        server.start()
        await run_scenarios(args, server, profiler, figures)
    finally:
        profiler.stop()
        server.stop()
    return figures


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "msg/s" or value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def table(results: dict[str, dict[str, float]]) -> str:
    columns = sorted(
        results, key=lambda c: (c.split("/")[1] != "sqlite", c.split("/")[0] != "ours")
    )
    lines = [
        "| figure | unit | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for key, label, unit, _ in ROWS:
        values = [results[c].get(key) for c in columns]
        if all(v is None for v in values):
            continue
        cells = " | ".join(format_value(v, unit) for v in values)
        lines.append(f"| {label} | {unit} | {cells} |")
    return "\n".join(lines)


def best_of(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per column and figure, the best value over several runs (the highest rate, the
    lowest time): on a shared machine the other load only ever makes a figure worse."""
    higher_is_better = {key: higher for key, _, _, higher in ROWS}
    best: dict[str, dict[str, float]] = {}
    for run in runs:
        for column, figures in run.items():
            merged = best.setdefault(column, {})
            for key, value in figures.items():
                if key not in merged:
                    merged[key] = value
                elif higher_is_better.get(key, False):
                    merged[key] = max(merged[key], value)
                else:
                    merged[key] = min(merged[key], value)
    return best


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--server", nargs="+", choices=("ours", "synapse"), default=["ours"], dest="servers"
    )
    parser.add_argument(
        "--synapse-python",
        default=os.environ.get("SYNAPSE_REF_PYTHON", "python3"),
        help="the Python of a virtualenv with matrix-synapse installed"
        " (default: $SYNAPSE_REF_PYTHON, else python3)",
    )
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--messages", type=int, default=2000, help="messages per send case")
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--room-messages", type=int, default=100)
    parser.add_argument("--sync-runs", type=int, default=5, help="initial syncs after the first")
    parser.add_argument("--latency-sends", type=int, default=200)
    parser.add_argument(
        "--max-seconds", type=float, default=900, help="time limit of each scenario"
    )
    parser.add_argument("--json", help="merge the figures into this JSON file")
    parser.add_argument(
        "--table",
        nargs="+",
        metavar="JSON",
        help="only print the table of JSON results files (the best value of each figure)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the server's directory")
    parser.add_argument("--cprofile", help="run our daemon under cProfile, stats to this file")
    parser.add_argument(
        "--py-spy",
        metavar="PREFIX",
        help="record the daemon with py-spy during each scenario (PREFIX-<server>-<db>-<scenario>.txt)",
    )
    parser.add_argument("--py-spy-executable", default="py-spy")
    parser.add_argument(
        "--py-spy-idle",
        action="store_true",
        help="sample waiting threads too (time spent waiting on PostgreSQL)",
    )
    return parser.parse_args(argv)


async def main(reactor: Any, argv: list[str]) -> None:
    args = parse_args(argv)
    if args.table:
        runs = []
        for path in args.table:
            with open(path) as f:
                runs.append(json.load(f))
        print(table(best_of(runs)))
        return
    log(f"load average before: {os.getloadavg()}")
    results: dict[str, dict[str, float]] = {}
    for kind_name in args.servers:
        results[f"{kind_name}/{args.db}"] = await bench_one(args, kind_name)
    log(f"load average after: {os.getloadavg()}")
    if args.json:
        stored: dict[str, dict[str, float]] = {}
        if os.path.exists(args.json):
            with open(args.json) as f:
                stored = json.load(f)
        stored.update(results)
        with open(args.json, "w") as f:
            json.dump(stored, f, indent=1, sort_keys=True)
    print(table(results))


if __name__ == "__main__":
    task.react(main, (sys.argv[1:],))
