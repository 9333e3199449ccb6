"""Benchmark of state resolution v2 and of the auth chain difference.

Builds a room with N state events (the members' joins, a few power level changes and
topics) and two forks of it with conflicting power level changes, kicks, bans, joins and
leaves, then times the auth difference and the resolution of the forks' states.

    .venv/bin/python -m benchmarks.state_res [--sizes 1000 10000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from synapse.api.constants import EventTypes
from synapse.api.room_versions import EventFormatVersions, RoomVersion, RoomVersions
from synapse.event_auth import auth_types_for_event
from synapse.events import EventBase, make_event_from_dict
from synapse.state import resolve_events_with_store
from synapse.state.memory import InMemoryStateResolutionStore
from synapse.types import JsonDict, MutableStateMap, StateMap

T = TypeVar("T")
ADMIN = "@admin:example.com"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits on anything."""
    try:
        coro.send(None)
    except StopIteration as e:
        return e.value
    coro.close()
    raise RuntimeError("the coroutine waited on something")


class RoomBuilder:
    """Appends events to one line of a room DAG, selecting auth events from its state."""

    def __init__(self, room_version: RoomVersion, events: list[EventBase]) -> None:
        self.room_version = room_version
        self.events = events
        self.room_id = "!bench:example.com"
        self.state: MutableStateMap[str] = {}
        self.head: list[str] = []
        self.depth = 0
        self.ts = 0
        self.power_users: dict[str, int] = {}

    def fork(self) -> RoomBuilder:
        other = RoomBuilder(self.room_version, self.events)
        other.room_id = self.room_id
        other.state = dict(self.state)
        other.head = list(self.head)
        other.depth, other.ts = self.depth, self.ts
        other.power_users = dict(self.power_users)
        return other

    def send(
        self, etype: str, sender: str, content: JsonDict, state_key: str | None = None
    ) -> EventBase:
        self.depth += 1
        self.ts += 1
        d: JsonDict = {
            "type": etype,
            "sender": sender,
            "content": content,
            "origin_server_ts": self.ts,
            "depth": self.depth,
            "prev_events": list(self.head),
            "auth_events": [],
            "hashes": {"sha256": "AAAA"},
            "signatures": {},
        }
        if state_key is not None:
            d["state_key"] = state_key
        is_create = etype == EventTypes.Create
        if not (self.room_version.hydra and is_create):
            d["room_id"] = self.room_id
        assert self.room_version.event_format != EventFormatVersions.ROOM_V1_V2
        provisional = make_event_from_dict(d, self.room_version)
        types = auth_types_for_event(self.room_version, provisional)
        d["auth_events"] = [self.state[k] for k in sorted(types) if k in self.state]
        event = make_event_from_dict(d, self.room_version)
        if is_create and self.room_version.hydra:
            self.room_id = event.room_id
        self.events.append(event)
        self.head = [event.event_id]
        if state_key is not None:
            self.state[(etype, state_key)] = event.event_id
        return event

    def member(self, sender: str, target: str, membership: str) -> EventBase:
        return self.send(EventTypes.Member, sender, {"membership": membership}, target)

    def power_levels(self, sender: str) -> EventBase:
        users = dict(self.power_users)
        if self.room_version.hydra:
            users.pop(ADMIN, None)
        return self.send(EventTypes.PowerLevels, sender, {"users": users}, "")


def build_room(
    room_version: RoomVersion, n_state: int, fork_size: int, seed: int = 1
) -> tuple[list[EventBase], str, list[StateMap[str]]]:
    """A room of ``n_state`` state events and two forks of ``fork_size`` events each."""
    rnd = random.Random(seed)
    events: list[EventBase] = []
    main = RoomBuilder(room_version, events)
    content: JsonDict = {"room_version": room_version.identifier}
    if not room_version.implicit_room_creator:
        content["creator"] = ADMIN
    main.send(EventTypes.Create, ADMIN, content, "")
    main.member(ADMIN, ADMIN, "join")
    main.power_users = {ADMIN: 100}
    main.power_levels(ADMIN)
    main.send(EventTypes.JoinRules, ADMIN, {"join_rule": "public"}, "")
    members: list[str] = []
    mods: list[str] = []
    i = 0
    while len(main.state) < n_state:
        i += 1
        if i % 500 == 0:
            mod = rnd.choice(members)
            main.power_users[mod] = 50
            mods.append(mod)
            main.power_levels(ADMIN)
        elif i % 300 == 0:
            main.send(EventTypes.Topic, rnd.choice([ADMIN, *mods]), {"topic": f"t{i}"}, "")
        else:
            user = f"@user{i}:example.com"
            main.member(user, user, "join")
            members.append(user)
            main.send(EventTypes.Message, user, {"body": "hi"})
    if not mods:
        mods.append(members[0])
        main.power_users[members[0]] = 50
        main.power_levels(ADMIN)

    states: list[StateMap[str]] = []
    for f in range(2):
        fork = main.fork()
        joined = [m for m in members if m not in mods]
        for j in range(fork_size):
            roll = rnd.random()
            if roll < 0.1:
                # The admin promotes or demotes someone.
                who = rnd.choice(joined + mods)
                fork.power_users[who] = rnd.choice([0, 50])
                fork.power_levels(ADMIN)
            elif roll < 0.3 and joined:
                target = joined.pop(rnd.randrange(len(joined)))
                fork.member(rnd.choice(mods), target, rnd.choice(["leave", "ban"]))
            elif roll < 0.5 and joined:
                user = joined.pop(rnd.randrange(len(joined)))
                fork.member(user, user, "leave")
            elif roll < 0.9:
                user = f"@fork{f}_{j}:example.com"
                fork.member(user, user, "join")
                joined.append(user)
            else:
                fork.send(EventTypes.Topic, rnd.choice(mods), {"topic": f"f{f} {j}"}, "")
        states.append(fork.state)
    return events, main.room_id, states


def _time(fn: Callable[[], object], repeat: int) -> str:
    """The best of ``repeat`` runs: wall-clock time, and this process's CPU time (which
    other processes on the machine disturb less)."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return f"{min(walls) * 1000:7.1f}ms (cpu {min(cpus) * 1000:7.1f}ms)"


def bench(room_version: RoomVersion, n_state: int, fork_size: int, repeat: int) -> None:
    start = time.perf_counter()
    events, room_id, states = build_room(room_version, n_state, fork_size)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    store = InMemoryStateResolutionStore(events)
    index_s = time.perf_counter() - start
    sets = [set(s.values()) for s in states]

    diff = store.auth_chains.auth_chain_difference(sets)
    diff_s = _time(lambda: store.auth_chains.auth_chain_difference(sets), repeat)

    def resolve() -> StateMap[str]:
        return run(resolve_events_with_store(room_id, room_version, states, None, store))

    resolved = resolve()
    resolve_s = _time(resolve, repeat)
    conflicted = sum(
        1 for k in set(states[0]) | set(states[1]) if states[0].get(k) != states[1].get(k)
    )
    print(
        f"room v{room_version.identifier:<3} state={len(resolved):>6} events={len(events):>6} "
        f"fork={fork_size:>4} conflicted keys={conflicted:>4} auth diff={len(diff):>4} "
        f"chains={store.auth_chains.chain_count:>6} links={store.auth_chains.link_count:>6} | "
        f"build {build_s:6.2f}s index {index_s * 1000:7.1f}ms "
        f"auth diff {diff_s} resolve {resolve_s}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--fork-fraction", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the largest resolve")
    args = parser.parse_args()
    for room_version in (RoomVersions.V10, RoomVersions.V12):
        for n in args.sizes:
            bench(room_version, n, max(10, int(n * args.fork_fraction)), args.repeat)
    if args.profile:
        n = max(args.sizes)
        events, room_id, states = build_room(RoomVersions.V10, n, int(n * args.fork_fraction))
        store = InMemoryStateResolutionStore(events)
        profiler = cProfile.Profile()
        profiler.enable()
        run(resolve_events_with_store(room_id, RoomVersions.V10, states, None, store))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
