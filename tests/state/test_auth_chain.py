"""The chain cover index answers as a walk of the auth DAG would."""

from __future__ import annotations

import random
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synapse.api.room_versions import RoomVersions
from synapse.state.auth_chain import AuthChainIndex
from tests.state import scenarios

# A DAG as a list of (key index or None, auth event indices), each citing earlier ones.
DagSpec = list[tuple[int | None, list[int]]]


@st.composite
def dags(draw: st.DrawFn) -> DagSpec:
    n = draw(st.integers(min_value=1, max_value=40))
    spec: DagSpec = []
    for i in range(n):
        key = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=4)))
        auth = draw(st.lists(st.integers(min_value=0, max_value=i - 1), max_size=4)) if i else []
        spec.append((key, auth))
    return spec


def _walk(auth: dict[str, list[str]], starts: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = [a for s in starts for a in auth[s]]
    while todo:
        e = todo.pop()
        if e not in seen:
            seen.add(e)
            todo.extend(auth[e])
    return seen


def _build(spec: DagSpec) -> tuple[AuthChainIndex, dict[str, list[str]]]:
    auth = {f"${i}": [f"${a}" for a in auths] for i, (_, auths) in enumerate(spec)}
    index = AuthChainIndex()
    for i, (key, _) in enumerate(spec):
        index.add(f"${i}", "!r", None if key is None else ("t", str(key)), auth[f"${i}"])
    return index, auth


@settings(max_examples=200, deadline=None)
@given(spec=dags(), data=st.data())
def test_matches_a_walk(spec: DagSpec, data: st.DataObject) -> None:
    index, auth = _build(spec)
    ids = sorted(auth)
    sets = data.draw(st.lists(st.sets(st.sampled_from(ids), max_size=6), min_size=1, max_size=3))
    chains = [_walk(auth, s) for s in sets]
    for s, chain in zip(sets, chains, strict=True):
        assert index.get_auth_chain(s) == chain
    expected = set().union(*chains) - set(chains[0]).intersection(*chains[1:])
    assert index.auth_chain_difference(sets) == expected

    # Cutting short the search for implied links keeps more links, never a wrong answer.
    with patch("synapse.state.auth_chain._PRUNING_BUDGET", 1):
        unpruned, _ = _build(spec)
    assert unpruned.link_count >= index.link_count
    assert unpruned.auth_chain_difference(sets) == expected
    for s in sets:
        assert unpruned.get_auth_chain(s) == _walk(auth, s)


def test_difference_with_an_empty_set_is_the_union() -> None:
    spec: DagSpec = [(None, []), (0, [0]), (0, [1]), (1, [0, 2])]
    index, auth = _build(spec)
    assert index.auth_chain_difference([{"$3"}, set()]) == {"$0", "$1", "$2"}
    assert index.auth_chain_difference([]) == set()


def test_runs_of_one_key_share_a_chain() -> None:
    dag, _ = scenarios.topic_reset(RoomVersions.V10)
    index = AuthChainIndex()
    index.add_events(dag.events)
    ipower = index.position(dag.id("IPOWER"))
    promote = index.position(dag.id("PROMOTE"))
    demote = index.position(dag.id("DEMOTE"))
    assert promote == (ipower[0], ipower[1] + 1)
    assert demote == (ipower[0], ipower[1] + 2)
    assert index.chain_count < len(dag.events)


def test_add_events_in_any_order() -> None:
    dag, states = scenarios.offtopic_branch(RoomVersions.V10)
    events = dag.events
    shuffled = list(events)
    random.Random(4).shuffle(shuffled)
    one, other = AuthChainIndex(), AuthChainIndex()
    one.add_events(events)
    other.add_events(shuffled)
    sets = [set(s.values()) for s in states]
    assert one.auth_chain_difference(sets) == other.auth_chain_difference(sets)


def test_missing_auth_event_is_refused() -> None:
    index = AuthChainIndex()
    with pytest.raises(ValueError):
        index.add("$1", "!r", None, ["$0"])
