"""The classic forks of state resolution, built for any room version.

Each returns the DAG and the states at the tips of its forks. In room version 12 the
creator (Alice) has no entry in ``users``: creators have infinite power there.
"""

from __future__ import annotations

from synapse.api.constants import EventTypes
from synapse.api.room_versions import RoomVersion
from synapse.types import StateMap
from tests.state.dag import ALICE, BOB, CHARLIE, EVELYN, Dag

Scenario = tuple[Dag, list[StateMap[str]]]


def _users(room_version: RoomVersion, users: dict[str, int]) -> dict[str, int]:
    if room_version.hydra:
        return {u: level for u, level in users.items() if u != ALICE}
    return users


def ban_vs_power_levels(room_version: RoomVersion) -> Scenario:
    """Alice demotes Bob on one fork; on the other Bob, a moderator, bans Evelyn (earlier)."""
    dag = Dag(room_version)
    base = dag.create_room(_users(room_version, {ALICE: 100, BOB: 50}), members=[BOB, EVELYN])
    a, b = base.fork(), base.fork()
    a.power_levels("DEMOTE", ALICE, _users(room_version, {ALICE: 100, BOB: 0}), ts=1000)
    b.member("BAN", BOB, EVELYN, "ban", ts=500)
    return dag, [a.state, b.state]


def topic_reset(room_version: RoomVersion) -> Scenario:
    """Alice sets a topic and makes Bob a moderator; Bob then changes the topic on one
    fork while Alice demotes him on the other."""
    dag = Dag(room_version)
    base = dag.create_room(_users(room_version, {ALICE: 100}), members=[BOB])
    base.topic("T1", ALICE, "first")
    base.power_levels("PROMOTE", ALICE, _users(room_version, {ALICE: 100, BOB: 50}))
    a, b = base.fork(), base.fork()
    a.topic("T2", BOB, "bob's", ts=2000)
    b.power_levels("DEMOTE", ALICE, _users(room_version, {ALICE: 100, BOB: 0}), ts=1000)
    return dag, [a.state, b.state]


def join_rules_changed(room_version: RoomVersion) -> Scenario:
    """Alice makes a public room invite-only on one fork; Charlie joins on the other."""
    dag = Dag(room_version)
    base = dag.create_room(_users(room_version, {ALICE: 100}), members=[BOB])
    a, b = base.fork(), base.fork()
    a.send("INVITE_ONLY", EventTypes.JoinRules, ALICE, {"join_rule": "invite"}, "", ts=1000)
    b.member("CHARLIE_JOINS", CHARLIE, CHARLIE, "join", ts=2000)
    return dag, [a.state, b.state]


def kicked_and_sending(room_version: RoomVersion) -> Scenario:
    """Bob, a moderator, kicks Charlie on one fork; Charlie names the room on the other."""
    dag = Dag(room_version)
    base = dag.create_room(
        _users(room_version, {ALICE: 100, BOB: 50}), members=[BOB, CHARLIE], state_default=0
    )
    a, b = base.fork(), base.fork()
    a.member("KICK", BOB, CHARLIE, "leave", ts=2000)
    b.send("NAME", EventTypes.Name, CHARLIE, {"name": "charlie's"}, "", ts=1000)
    return dag, [a.state, b.state]


def offtopic_branch(room_version: RoomVersion) -> Scenario:
    """One fork promotes Charlie; the other chats and Bob, a moderator, sets the topic:
    nothing conflicts in substance, so both changes survive."""
    dag = Dag(room_version)
    base = dag.create_room(_users(room_version, {ALICE: 100, BOB: 50}), members=[BOB, CHARLIE])
    a, b = base.fork(), base.fork()
    a.power_levels("PROMOTE", ALICE, _users(room_version, {ALICE: 100, BOB: 50, CHARLIE: 50}))
    for i in range(5):
        b.send(f"MSG{i}", EventTypes.Message, CHARLIE, {"body": f"hello {i}"})
    b.topic("TOPIC", BOB, "off topic")
    b.send("MSG_LAST", EventTypes.Message, BOB, {"body": "bye"})
    return dag, [a.state, b.state]


def reset_through_common_event(room_version: RoomVersion) -> Scenario:
    """Power levels PL1 -> PL2 (Bob made moderator) -> PL3 (by Bob); Charlie joined under
    PL2. One state has PL3, the other (itself a reset) still PL1 but Charlie's join.

    PL2 is in both auth chains, so not in the auth difference: v2 checks PL3 against PL1
    and loses it; v2.1 adds PL2, on the auth path from PL3 to PL1, and keeps PL3.
    """
    dag = Dag(room_version)
    base = dag.create_room(_users(room_version, {ALICE: 100}), members=[BOB])
    pl1 = base.state[(EventTypes.PowerLevels, "")]
    base.power_levels("PL2", ALICE, _users(room_version, {ALICE: 100, BOB: 50}))
    base.member("CHARLIE_JOINS", CHARLIE, CHARLIE, "join")
    a, b = base.fork(), base.fork()
    a.power_levels("PL3", BOB, _users(room_version, {ALICE: 100, BOB: 50, CHARLIE: 50}))
    b.state[(EventTypes.PowerLevels, "")] = pl1
    return dag, [a.state, b.state]


def ban_by_member_who_left(room_version: RoomVersion) -> Scenario:
    """Bob, a moderator, bans Evelyn on one fork; on the other Evelyn leaves. Bob then
    leaves, and that leave is in both states (unconflicted)."""
    dag = Dag(room_version)
    base = dag.create_room(_users(room_version, {ALICE: 100, BOB: 50}), members=[BOB, EVELYN])
    a, b = base.fork(), base.fork()
    a.member("BAN", BOB, EVELYN, "ban")
    b.member("EVELYN_LEAVES", EVELYN, EVELYN, "leave")
    leave = b.member("BOB_LEAVES", BOB, BOB, "leave")
    a.state[(EventTypes.Member, BOB)] = leave.event_id
    return dag, [a.state, b.state]
