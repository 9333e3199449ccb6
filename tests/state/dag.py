"""Build room DAGs compactly for state resolution tests, with the real event classes."""

from __future__ import annotations

from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from synapse.api.constants import EventTypes
from synapse.api.room_versions import EventFormatVersions, RoomVersion
from synapse.event_auth import auth_types_for_event
from synapse.events import EventBase, make_event_from_dict
from synapse.state import resolve_events_with_store
from synapse.state.memory import InMemoryStateResolutionStore
from synapse.types import JsonDict, MutableStateMap, StateMap

ALICE = "@alice:example.com"
BOB = "@bob:example.com"
CHARLIE = "@charlie:example.com"
EVELYN = "@evelyn:example.com"
ZARA = "@zara:example.com"

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits on anything (state resolution is pure)."""
    try:
        coro.send(None)
    except StopIteration as e:
        return e.value
    coro.close()
    raise RuntimeError("the coroutine waited on something")


class Dag:
    """A room's events by name; ``Fork`` objects append to it."""

    def __init__(self, room_version: RoomVersion) -> None:
        self.room_version = room_version
        self.by_name: dict[str, EventBase] = {}
        self.room_id = "!room:example.com"
        self._depth: dict[str, int] = {}
        self._ts = 0

    def id(self, name: str) -> str:
        return self.by_name[name].event_id

    def by_id(self, event_id: str) -> EventBase:
        return next(e for e in self.by_name.values() if e.event_id == event_id)

    def ids(self, *names: str) -> set[str]:
        return {self.id(n) for n in names}

    @property
    def events(self) -> list[EventBase]:
        return list(self.by_name.values())

    def _refs(self, ids: Sequence[str]) -> list[Any]:
        if self.room_version.event_format == EventFormatVersions.ROOM_V1_V2:
            return [[i, {"sha256": "AAAA"}] for i in ids]
        return list(ids)

    def make_event(
        self,
        name: str,
        etype: str,
        sender: str,
        content: JsonDict,
        state_key: str | None,
        state: StateMap[str],
        prev: Sequence[str],
        ts: int | None = None,
    ) -> EventBase:
        """Build and record an event whose auth events are selected from ``state``."""
        if ts is None:
            self._ts += 1
            ts = self._ts
        d: JsonDict = {
            "type": etype,
            "sender": sender,
            "content": content,
            "origin_server_ts": ts,
            "depth": max((self._depth[p] for p in prev), default=0) + 1,
            "prev_events": self._refs(prev),
            "auth_events": [],
            "hashes": {"sha256": "AAAA"},
            "signatures": {},
        }
        if state_key is not None:
            d["state_key"] = state_key
        is_create = etype == EventTypes.Create
        if not (self.room_version.hydra and is_create):
            d["room_id"] = self.room_id
        if self.room_version.event_format == EventFormatVersions.ROOM_V1_V2:
            d["event_id"] = f"${name}:example.com"
        provisional = make_event_from_dict(d, self.room_version)
        auth_types = auth_types_for_event(self.room_version, provisional)
        d["auth_events"] = self._refs([state[k] for k in sorted(auth_types) if k in state])
        event = make_event_from_dict(d, self.room_version)
        if is_create:
            self.room_id = event.room_id if self.room_version.hydra else self.room_id
        self.by_name[name] = event
        self._depth[event.event_id] = d["depth"]
        return event

    def create_room(
        self,
        users: dict[str, int],
        members: Iterable[str] = (),
        join_rule: str = "public",
        creator: str = ALICE,
        **levels: int,
    ) -> Fork:
        """Create, the creator's join, power levels, join rules, then ``members`` join."""
        fork = Fork(self, {}, [])
        content: JsonDict = {"room_version": self.room_version.identifier}
        if not self.room_version.implicit_room_creator:
            content["creator"] = creator
        fork.send("CREATE", EventTypes.Create, creator, content, state_key="")
        fork.member("IMA", creator, creator, "join")
        fork.power_levels("IPOWER", creator, users, **levels)
        fork.send("IJR", EventTypes.JoinRules, creator, {"join_rule": join_rule}, state_key="")
        for user in members:
            fork.member(f"IM{user[1:].split(':')[0].upper()}", user, user, "join")
        return fork


class Fork:
    """A line of events in a ``Dag`` and the room state after its last event."""

    def __init__(self, dag: Dag, state: MutableStateMap[str], head: list[str]) -> None:
        self.dag = dag
        self.state = state
        self.head = head

    def fork(self) -> Fork:
        return Fork(self.dag, dict(self.state), list(self.head))

    def send(
        self,
        name: str,
        etype: str,
        sender: str,
        content: JsonDict,
        state_key: str | None = None,
        ts: int | None = None,
    ) -> EventBase:
        event = self.dag.make_event(
            name, etype, sender, content, state_key, self.state, self.head, ts
        )
        self.head = [event.event_id]
        if state_key is not None:
            self.state[(etype, state_key)] = event.event_id
        return event

    def member(
        self, name: str, sender: str, target: str, membership: str, ts: int | None = None
    ) -> EventBase:
        return self.send(name, EventTypes.Member, sender, {"membership": membership}, target, ts)

    def power_levels(
        self, name: str, sender: str, users: dict[str, int], ts: int | None = None, **levels: int
    ) -> EventBase:
        content: JsonDict = {"users": users, **levels}
        return self.send(name, EventTypes.PowerLevels, sender, content, "", ts)

    def topic(self, name: str, sender: str, topic: str, ts: int | None = None) -> EventBase:
        return self.send(name, EventTypes.Topic, sender, {"topic": topic}, "", ts)


def resolve(
    dag: Dag,
    state_sets: Sequence[StateMap[str]],
    event_map: dict[str, EventBase] | None = None,
    stored: Iterable[EventBase] | None = None,
) -> StateMap[str]:
    """Resolve with an in-memory store holding ``stored`` (by default every event)."""
    store = InMemoryStateResolutionStore(dag.events if stored is None else stored)
    return run(
        resolve_events_with_store(dag.room_id, dag.room_version, state_sets, event_map, store)
    )
