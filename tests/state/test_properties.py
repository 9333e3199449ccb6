"""Property tests: resolution is deterministic and independent of the order of its inputs."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synapse.api.constants import EventTypes
from synapse.api.room_versions import RoomVersion, RoomVersions
from synapse.types import StateMap
from tests.state.dag import ALICE, BOB, CHARLIE, EVELYN, ZARA, Dag, Fork, resolve

USERS = [ALICE, BOB, CHARLIE, EVELYN, ZARA]
Action = tuple[str, int, int, int, int]

actions = st.tuples(
    st.sampled_from(["pl", "kick", "ban", "join", "leave", "topic", "jr", "msg"]),
    st.integers(0, len(USERS) - 1),  # sender
    st.integers(0, len(USERS) - 1),  # target
    st.sampled_from([0, 50, 100]),  # level
    st.integers(0, 5),  # timestamp: small, so that ties happen
)
scenarios = st.tuples(
    st.lists(actions, max_size=5),  # common history after the room is set up
    st.lists(st.lists(actions, min_size=1, max_size=6), min_size=2, max_size=3),
    st.randoms(use_true_random=False),
)


def _apply(fork: Fork, name: str, action: Action) -> None:
    kind, s, t, level, ts = action
    sender, target = USERS[s], USERS[t]
    if kind == "pl":
        current = fork.dag.by_id(fork.state[(EventTypes.PowerLevels, "")])
        users = dict(current.content.get("users", {}))
        users[target] = level
        if fork.dag.room_version.hydra:
            users.pop(ALICE, None)
        fork.power_levels(name, sender, users, ts=ts)
    elif kind in ("kick", "ban"):
        fork.member(name, sender, target, "leave" if kind == "kick" else "ban", ts=ts)
    elif kind in ("join", "leave"):
        fork.member(name, sender, sender, kind, ts=ts)
    elif kind == "topic":
        fork.topic(name, sender, f"topic {name}", ts=ts)
    elif kind == "jr":
        rule = "public" if level else "invite"
        fork.send(name, EventTypes.JoinRules, sender, {"join_rule": rule}, "", ts=ts)
    else:
        fork.send(name, EventTypes.Message, sender, {"body": name}, ts=ts)


def _build(
    room_version: RoomVersion, common: list[Action], forks: list[list[Action]]
) -> tuple[Dag, list[StateMap[str]]]:
    dag = Dag(room_version)
    users = {BOB: 50, CHARLIE: 50}
    if not room_version.hydra:
        users[ALICE] = 100
    base = dag.create_room(users, members=USERS[1:])
    for i, action in enumerate(common):
        _apply(base, f"C{i}", action)
    states: list[StateMap[str]] = []
    for f, fork_actions in enumerate(forks):
        fork = base.fork()
        for i, action in enumerate(fork_actions):
            _apply(fork, f"F{f}_{i}", action)
        states.append(fork.state)
    return dag, states


VERSIONS = [RoomVersions.V1, RoomVersions.V10, RoomVersions.V12]


@pytest.mark.parametrize("room_version", VERSIONS, ids=lambda v: f"v{v.identifier}")
@settings(max_examples=40, deadline=None)
@given(scenario=scenarios)
def test_independent_of_input_order(
    room_version: RoomVersion, scenario: tuple[list[Action], list[list[Action]], random.Random]
) -> None:
    common, forks, rnd = scenario
    dag, states = _build(room_version, common, forks)
    expected = resolve(dag, states)
    assert resolve(dag, states) == expected

    shuffled_states = list(states)
    rnd.shuffle(shuffled_states)
    events = dag.events
    rnd.shuffle(events)
    event_map = {e.event_id: e for e in events}
    stored = list(events)
    rnd.shuffle(stored)
    assert resolve(dag, shuffled_states, event_map=event_map, stored=stored) == expected

    # The forks' events known only through event_map: the same answer.
    base_ids = {e.event_id for n, e in dag.by_name.items() if not n.startswith("F")}
    only_in_map = {e.event_id: e for e in events if e.event_id not in base_ids}
    in_store = [e for e in events if e.event_id in base_ids]
    assert resolve(dag, states, event_map=only_in_map, stored=in_store) == expected


@pytest.mark.parametrize("room_version", VERSIONS, ids=lambda v: f"v{v.identifier}")
@settings(max_examples=20, deadline=None)
@given(scenario=scenarios)
def test_resolving_a_state_with_itself(
    room_version: RoomVersion, scenario: tuple[list[Action], list[list[Action]], random.Random]
) -> None:
    common, forks, _ = scenario
    dag, states = _build(room_version, common, forks)
    assert resolve(dag, [states[0], dict(states[0])]) == states[0]
