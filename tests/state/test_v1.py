"""State resolution v1 (room version 1) on the classic forks."""

from __future__ import annotations

import hashlib

from synapse.api.constants import EventTypes
from synapse.api.room_versions import RoomVersions
from synapse.state.v1 import separate
from tests.state import scenarios
from tests.state.dag import ALICE, BOB, CHARLIE, EVELYN, Dag, resolve
from tests.state.test_v2 import JR, NAME, PL, TOPIC, member, names

V1 = RoomVersions.V1


def test_ban_vs_power_levels() -> None:
    dag, states = scenarios.ban_vs_power_levels(V1)
    result = names(dag, resolve(dag, states))
    # Power levels first: the older, then the demotion; the ban then fails under it.
    assert result[PL] == "DEMOTE"
    assert result[member(EVELYN)] == "IMEVELYN"


def test_topic_reset() -> None:
    dag, states = scenarios.topic_reset(V1)
    result = names(dag, resolve(dag, states))
    assert result[PL] == "DEMOTE"
    # The deepest topic, Bob's, is not allowed any more; Alice's is.
    assert result[TOPIC] == "T1"


def test_join_rules_changed_on_one_fork() -> None:
    dag, states = scenarios.join_rules_changed(V1)
    result = names(dag, resolve(dag, states))
    assert result[JR] == "INVITE_ONLY"
    # Only one state has Charlie: no conflict in v1, so the join stays (unlike v2).
    assert result[member(CHARLIE)] == "CHARLIE_JOINS"


def test_kicked_on_one_fork_sending_on_the_other() -> None:
    dag, states = scenarios.kicked_and_sending(V1)
    result = names(dag, resolve(dag, states))
    assert result[member(CHARLIE)] == "KICK"
    # The name is in one state only: not a conflict in v1, so it stays.
    assert result[NAME] == "NAME"


def test_offtopic_branch() -> None:
    dag, states = scenarios.offtopic_branch(V1)
    result = names(dag, resolve(dag, states))
    assert result[PL] == "PROMOTE"
    assert result[TOPIC] == "TOPIC"


def test_power_levels_stop_at_the_first_not_allowed() -> None:
    """Sorted by depth, the demotion of Bob comes before his own change: it stops there."""
    dag = Dag(V1)
    base = dag.create_room({ALICE: 100, BOB: 50}, members=[BOB])
    a, b = base.fork(), base.fork()
    a.power_levels("DEMOTE", ALICE, {ALICE: 100, BOB: 0})
    b.topic("FILLER", ALICE, "deeper")
    b.power_levels("BOB_PL", BOB, {ALICE: 100, BOB: 50}, state_default=40)
    result = names(dag, resolve(dag, [a.state, b.state]))
    assert result[PL] == "DEMOTE"


def test_other_conflicts_pick_the_deepest_allowed_then_lowest_sha1() -> None:
    dag = Dag(V1)
    base = dag.create_room({ALICE: 100}, members=[BOB])
    forks = [base.fork() for _ in range(3)]
    forks[0].topic("SHALLOW", ALICE, "a")
    for i, f in enumerate(forks[1:], 1):
        f.send(f"MSG_{i}", EventTypes.Message, ALICE, {"body": "deeper"})
        f.topic(f"DEEP_{i}", ALICE, f"topic {i}")
    # Same depth for both deep topics: the lower sha1 of the event ID wins.
    result = names(dag, resolve(dag, [f.state for f in forks]))
    deep = sorted(["DEEP_1", "DEEP_2"], key=lambda n: hashlib.sha1(dag.id(n).encode()).digest())
    assert result[TOPIC] == deep[0]


def test_separate() -> None:
    a = {("t", "1"): "$a", ("t", "2"): "$b", ("t", "3"): "$c"}
    b = {("t", "1"): "$a", ("t", "2"): "$x"}
    unconflicted, conflicted = separate([a, b])
    # A key in one state only is not a conflict in v1.
    assert unconflicted == {("t", "1"): "$a", ("t", "3"): "$c"}
    assert conflicted == {("t", "2"): {"$b", "$x"}}
