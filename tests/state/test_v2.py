"""State resolution v2 (room versions 2-11) and v2.1 (room version 12) on hand-built forks."""

from __future__ import annotations

import pytest

from synapse.api.constants import EventTypes
from synapse.api.room_versions import RoomVersion, RoomVersions
from synapse.events import EventBase, make_event_from_dict
from synapse.state.event_source import EventSource
from synapse.state.memory import InMemoryStateResolutionStore
from synapse.state.v2 import (
    conflicted_subgraph,
    is_power_event,
    mainline_sort,
    reverse_topological_power_sort,
    separate,
)
from synapse.types import StateMap
from tests.state import scenarios
from tests.state.dag import ALICE, BOB, CHARLIE, EVELYN, ZARA, Dag, resolve, run

V2_VERSIONS = [RoomVersions.V2, RoomVersions.V10, RoomVersions.V11, RoomVersions.V12]
PL = (EventTypes.PowerLevels, "")
JR = (EventTypes.JoinRules, "")
TOPIC = (EventTypes.Topic, "")
NAME = (EventTypes.Name, "")


def member(user: str) -> tuple[str, str]:
    return (EventTypes.Member, user)


def names(dag: Dag, state: StateMap[str]) -> dict[tuple[str, str], str]:
    by_id = {e.event_id: name for name, e in dag.by_name.items()}
    return {k: by_id[v] for k, v in state.items()}


@pytest.mark.parametrize("room_version", V2_VERSIONS, ids=lambda v: f"v{v.identifier}")
class TestClassicForks:
    def test_ban_vs_power_levels(self, room_version: RoomVersion) -> None:
        dag, states = scenarios.ban_vs_power_levels(room_version)
        result = names(dag, resolve(dag, states))
        # The demotion comes first (Alice outranks Bob), so the earlier ban fails.
        assert result[PL] == "DEMOTE"
        assert result[member(EVELYN)] == "IMEVELYN"

    def test_topic_reset(self, room_version: RoomVersion) -> None:
        dag, states = scenarios.topic_reset(room_version)
        result = names(dag, resolve(dag, states))
        assert result[PL] == "DEMOTE"
        # Bob's topic is no longer allowed: the topic goes back to Alice's.
        assert result[TOPIC] == "T1"

    def test_join_rules_changed_on_one_fork(self, room_version: RoomVersion) -> None:
        dag, states = scenarios.join_rules_changed(room_version)
        result = names(dag, resolve(dag, states))
        assert result[JR] == "INVITE_ONLY"
        # Charlie's join only passed the public join rule.
        assert member(CHARLIE) not in result
        assert result[member(BOB)] == "IMBOB"

    def test_kicked_on_one_fork_sending_on_the_other(self, room_version: RoomVersion) -> None:
        dag, states = scenarios.kicked_and_sending(room_version)
        result = names(dag, resolve(dag, states))
        assert result[member(CHARLIE)] == "KICK"
        # The name was sent earlier, but the kick is a power event and goes first.
        assert NAME not in result

    def test_offtopic_branch(self, room_version: RoomVersion) -> None:
        dag, states = scenarios.offtopic_branch(room_version)
        result = names(dag, resolve(dag, states))
        assert result[PL] == "PROMOTE"
        assert result[TOPIC] == "TOPIC"
        assert result[member(CHARLIE)] == "IMCHARLIE"

    def test_no_conflict_is_the_state_itself(self, room_version: RoomVersion) -> None:
        dag, states = scenarios.offtopic_branch(room_version)
        assert resolve(dag, [states[0], dict(states[0])]) == states[0]

    def test_unpersisted_events_in_event_map(self, room_version: RoomVersion) -> None:
        # The tips of the forks (and what only they cite) are only in event_map.
        dag, states = scenarios.ban_vs_power_levels(room_version)
        tips = {dag.by_name[n].event_id: dag.by_name[n] for n in ("DEMOTE", "BAN")}
        stored = [e for e in dag.events if e.event_id not in tips]
        expected = resolve(dag, states)
        assert resolve(dag, states, event_map=tips, stored=stored) == expected

    def test_unknown_conflicted_events_are_left_out(self, room_version: RoomVersion) -> None:
        dag, states = scenarios.ban_vs_power_levels(room_version)
        with_unknown = {**states[0], NAME: "$unknown:example.com"}
        result = names(dag, resolve(dag, [with_unknown, states[1]]))
        assert NAME not in result
        assert result == names(dag, resolve(dag, states))


@pytest.mark.parametrize("room_version", [RoomVersions.V10, RoomVersions.V11])
def test_v2_resets_through_a_common_auth_event(room_version: RoomVersion) -> None:
    dag, states = scenarios.reset_through_common_event(room_version)
    result = names(dag, resolve(dag, states))
    # PL3 is checked against PL1, under which Bob may not promote Charlie.
    assert result[PL] == "IPOWER"


def test_v2_1_keeps_the_conflicted_state_subgraph() -> None:
    dag, states = scenarios.reset_through_common_event(RoomVersions.V12)
    result = names(dag, resolve(dag, states))
    # PL2 is on the auth path from PL3 to PL1, so it is replayed and PL3 passes.
    assert result[PL] == "PL3"


def test_v2_1_starts_the_iterative_auth_checks_from_empty_state() -> None:
    # v2 checks Bob's ban against the unconflicted state, where Bob has left.
    dag, states = scenarios.ban_by_member_who_left(RoomVersions.V11)
    assert names(dag, resolve(dag, states))[member(EVELYN)] == "EVELYN_LEAVES"
    # v2.1 checks it against its own auth events, where Bob is a joined moderator.
    dag, states = scenarios.ban_by_member_who_left(RoomVersions.V12)
    assert names(dag, resolve(dag, states))[member(EVELYN)] == "BAN"


def test_rejected_auth_events_are_not_used() -> None:
    dag, states = scenarios.ban_by_member_who_left(RoomVersions.V12)
    bob_join = dag.by_name["IMBOB"]
    rejected = make_event_from_dict(
        bob_join.get_pdu_json(), bob_join.room_version, rejected_reason="auth_error"
    )
    assert rejected.event_id == bob_join.event_id
    stored = [rejected if e is bob_join else e for e in dag.events]
    # Without Bob's membership the ban fails; Evelyn's own leave then applies.
    assert names(dag, resolve(dag, states, stored=stored))[member(EVELYN)] == "EVELYN_LEAVES"


def test_separate() -> None:
    a = {("t", "1"): "$a", ("t", "2"): "$b", ("t", "3"): "$c"}
    b = {("t", "1"): "$a", ("t", "2"): "$x"}
    unconflicted, conflicted = separate([a, b])
    assert unconflicted == {("t", "1"): "$a"}
    # A key missing from one state is a conflict in v2.
    assert conflicted == {("t", "2"): {"$b", "$x"}, ("t", "3"): {"$c"}}


def test_power_events() -> None:
    dag, _ = scenarios.kicked_and_sending(RoomVersions.V10)
    ev = dag.by_name
    assert is_power_event(ev["IPOWER"]) and is_power_event(ev["IJR"])
    assert is_power_event(ev["KICK"])
    assert not is_power_event(ev["IMBOB"]) and not is_power_event(ev["NAME"])
    assert not is_power_event(ev["CREATE"])


def _source(dag: Dag) -> EventSource:
    store = InMemoryStateResolutionStore(dag.events)
    source = EventSource(dag.room_id, dag.room_version, None, store)
    run(source.load(e.event_id for e in dag.events))
    return source


def test_reverse_topological_power_ordering_tie_breaks() -> None:
    dag = Dag(RoomVersions.V10)
    base = dag.create_room({ALICE: 100, BOB: 50, CHARLIE: 50}, members=[BOB, CHARLIE, ZARA])
    # Independent of each other: sender power first, then timestamp, then event ID.
    events: dict[str, EventBase] = {
        "BOB_LATE": base.fork().member("BOB_LATE", BOB, ZARA, "ban", ts=30),
        "CHARLIE_EARLY": base.fork().member("CHARLIE_EARLY", CHARLIE, ZARA, "ban", ts=10),
        "ALICE_LATEST": base.fork().member("ALICE_LATEST", ALICE, ZARA, "ban", ts=99),
        "SAME_TS_1": base.fork().member("SAME_TS_1", BOB, ZARA, "leave", ts=20),
        "SAME_TS_2": base.fork().member("SAME_TS_2", CHARLIE, ZARA, "leave", ts=20),
    }
    source = _source(dag)
    selected = {e.event_id for e in events.values()} | {dag.id("IPOWER")}
    order = reverse_topological_power_sort(selected, set(), source)
    same_ts = sorted([dag.id("SAME_TS_1"), dag.id("SAME_TS_2")])
    assert order == [
        dag.id("IPOWER"),  # in the auth chain of all the others
        dag.id("ALICE_LATEST"),
        dag.id("CHARLIE_EARLY"),
        *same_ts,
        dag.id("BOB_LATE"),
    ]


def test_mainline_ordering() -> None:
    dag = Dag(RoomVersions.V10)
    base = dag.create_room({ALICE: 100}, members=[BOB])
    base.topic("UNDER_P0", BOB, "a", ts=50)
    base.power_levels("P1", ALICE, {ALICE: 100, BOB: 10})
    old_fork = base.fork()
    base.topic("UNDER_P1", BOB, "b", ts=5)
    base.power_levels("P2", ALICE, {ALICE: 100, BOB: 20})
    base.topic("UNDER_P2_EARLY", BOB, "c", ts=1)
    base.topic("UNDER_P2_LATE", BOB, "d", ts=2)
    old_fork.power_levels("SIDE_PL", ALICE, {ALICE: 100, BOB: 30})
    old_fork.topic("UNDER_SIDE", BOB, "e", ts=3)
    source = _source(dag)
    to_sort = [
        dag.id(n) for n in ("UNDER_P2_LATE", "UNDER_P1", "UNDER_SIDE", "UNDER_P2_EARLY", "UNDER_P0")
    ]
    order = run(mainline_sort(to_sort, dag.id("P2"), source))
    # Earlier in the mainline first; SIDE_PL is off the mainline, so UNDER_SIDE has the
    # position of P1, its first ancestor on it, and sorts by timestamp with UNDER_P1.
    assert order == [
        dag.id(n) for n in ("UNDER_P0", "UNDER_SIDE", "UNDER_P1", "UNDER_P2_EARLY", "UNDER_P2_LATE")
    ]


def test_conflicted_subgraph() -> None:
    dag, states = scenarios.reset_through_common_event(RoomVersions.V12)
    source = _source(dag)
    conflicted = dag.ids("PL3", "IPOWER")
    sub = run(conflicted_subgraph(conflicted, source))
    # IJR is on the way too: Bob's join cites it, and it cites PL1.
    assert sub == dag.ids("PL3", "PL2", "IMBOB", "IJR", "IPOWER")
