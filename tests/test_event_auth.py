"""Tests of the authorization rules of every room version (synapse.event_auth)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signedjson.key import encode_verify_key_base64, generate_signing_key, get_verify_key
from signedjson.sign import sign_json

from synapse import event_auth
from synapse.api.errors import AuthError
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion, RoomVersions
from synapse.events import EventBase, make_event_from_dict
from synapse.types import JsonDict, StateKey

ALL_VERSIONS = list(KNOWN_ROOM_VERSIONS.values())
VERSION_IDS = [v.identifier for v in ALL_VERSIONS]

CREATOR = "@creator:example.com"
MOD = "@mod:example.com"
ALICE = "@alice:example.com"
BOB = "@bob:other.org"
CAROL = "@carol:example.com"


def versions(predicate: Any = None) -> Any:
    """A pytest parametrisation over the room versions for which ``predicate`` holds."""
    chosen = [v for v in ALL_VERSIONS if predicate is None or predicate(v)]
    return pytest.mark.parametrize("rv", chosen, ids=[v.identifier for v in chosen])


def _domain(user_id: str) -> str:
    return user_id.split(":", 1)[1]


class Room:
    """Builds the events of one room, keeping its current state and its events by ID."""

    def __init__(self, rv: RoomVersion) -> None:
        self.rv = rv
        self.by_id: dict[str, EventBase] = {}
        self.state: dict[StateKey, EventBase] = {}
        self.forward: list[str] = []
        self.room_id = "!room:example.com"
        self._count = 0

    # -- building -----------------------------------------------------------------------
    def _ref(self, event_id: str) -> Any:
        return [event_id, {"sha256": "aaaa"}] if self.rv.event_ids_in_events else event_id

    def make(
        self,
        etype: str,
        sender: str,
        content: JsonDict,
        state_key: str | None = None,
        *,
        prev: list[str] | None = None,
        auth: list[str] | None = None,
        extra: JsonDict | None = None,
        drop: Iterable[str] = (),
        rejected_reason: str | None = None,
    ) -> EventBase:
        """An event of this room; its auth events are selected from the current state."""
        self._count += 1
        d: JsonDict = {
            "type": etype,
            "sender": sender,
            "content": content,
            "room_id": self.room_id,
            "depth": self._count,
            "origin_server_ts": 1_000_000 + self._count,
            "prev_events": [self._ref(e) for e in (self.forward if prev is None else prev)],
            "auth_events": [],
            "hashes": {"sha256": "aaaa"},
            "signatures": {_domain(sender): {"ed25519:a": "sig"}},
        }
        if state_key is not None:
            d["state_key"] = state_key
        if self.rv.event_ids_in_events:
            d["event_id"] = f"${self._count}:{_domain(sender)}"
        if auth is None:
            proto = make_event_from_dict(d, self.rv)
            wanted = event_auth.auth_types_for_event(self.rv, proto)
            auth = sorted(self.state[k].event_id for k in wanted if k in self.state)
        d["auth_events"] = [self._ref(e) for e in auth]
        d.update(extra or {})
        for key in drop:
            d.pop(key, None)
        return make_event_from_dict(d, self.rv, rejected_reason=rejected_reason)

    def check(self, event: EventBase) -> None:
        """Every rule: against the event's auth events, then against the current state."""
        event_auth.check_auth_rules_for_event(event, self.by_id)
        event_auth.check_state_dependent_auth_rules(event, self.state)

    def store(self, event: EventBase) -> EventBase:
        self.by_id[event.event_id] = event
        if event.is_state():
            self.state[(event.type, event.state_key)] = event
        self.forward = [event.event_id]
        return event

    def add(self, event: EventBase) -> EventBase:
        """Check then store ``event`` (raises AuthError if rejected)."""
        self.check(event)
        return self.store(event)

    def send(
        self, etype: str, sender: str, content: JsonDict, state_key: str | None = None
    ) -> EventBase:
        return self.add(self.make(etype, sender, content, state_key))

    # -- common events --------------------------------------------------------------------
    def create(self, content: JsonDict | None = None, sender: str = CREATOR) -> EventBase:
        if content is None:
            content = {"room_version": self.rv.identifier}
            if not self.rv.implicit_room_creator:
                content["creator"] = sender
        drop = ["room_id"] if self.rv.hydra else []
        event = self.make("m.room.create", sender, content, "", prev=[], auth=[], drop=drop)
        self.add(event)
        self.create_event = event
        self.room_id = event.room_id
        return event

    def member(self, sender: str, target: str, membership: str, **content: Any) -> EventBase:
        return self.make("m.room.member", sender, {"membership": membership, **content}, target)

    def set_member(self, sender: str, target: str, membership: str, **content: Any) -> EventBase:
        return self.add(self.member(sender, target, membership, **content))

    def force_member(self, target: str, membership: str) -> EventBase:
        """Put a membership into the state without checking it."""
        return self.store(self.member(target, target, membership))

    def power_levels(self, **overrides: Any) -> JsonDict:
        users = {} if self.rv.hydra else {CREATOR: 100}
        users[MOD] = 50
        content: JsonDict = {
            "users": users,
            "users_default": 0,
            "events_default": 0,
            "state_default": 50,
            "ban": 50,
            "kick": 50,
            "redact": 50,
            "invite": 0,
            "events": {"m.room.power_levels": 100, "m.room.name": 50},
        }
        content.update(overrides)
        return content


def new_room(rv: RoomVersion, join_rule: str = "public", **pl_overrides: Any) -> Room:
    """A room with the usual initial events: create, creator join, power levels, join
    rules, history visibility; MOD is joined with power level 50."""
    room = Room(rv)
    room.create()
    room.set_member(CREATOR, CREATOR, "join")
    room.send("m.room.power_levels", CREATOR, room.power_levels(**pl_overrides), "")
    room.send("m.room.join_rules", CREATOR, {"join_rule": join_rule}, "")
    room.send("m.room.history_visibility", CREATOR, {"history_visibility": "shared"}, "")
    room.force_member(MOD, "join")
    return room


def rejected(room: Room, event: EventBase) -> str:
    with pytest.raises(AuthError) as e:
        room.check(event)
    assert e.value.code == 403
    return e.value.msg


# ======================================================================================
# A valid room, in every room version
# ======================================================================================


@versions()
def test_initial_events_pass(rv: RoomVersion) -> None:
    room = new_room(rv)
    room.set_member(ALICE, ALICE, "join")
    room.send("m.room.message", ALICE, {"body": "hi", "msgtype": "m.text"})
    room.send("m.room.name", MOD, {"name": "room"}, "")
    expected_types = {
        "m.room.create",
        "m.room.member",
        "m.room.power_levels",
        "m.room.join_rules",
        "m.room.history_visibility",
        "m.room.name",
    }
    assert {etype for etype, _ in room.state} == expected_types


@versions()
def test_auth_types_for_event(rv: RoomVersion) -> None:
    room = new_room(rv)
    msg = room.make("m.room.message", ALICE, {})
    expected = {("m.room.power_levels", ""), ("m.room.member", ALICE)}
    if not rv.hydra:
        expected.add(("m.room.create", ""))
    assert event_auth.auth_types_for_event(rv, msg) == expected

    join = room.member(BOB, BOB, "join", join_authorised_via_users_server=MOD)
    expected_join = expected - {("m.room.member", ALICE)} | {
        ("m.room.member", BOB),
        ("m.room.join_rules", ""),
    }
    if rv.restricted_join_rule:
        expected_join.add(("m.room.member", MOD))
    assert event_auth.auth_types_for_event(rv, join) == expected_join

    invite = room.member(ALICE, BOB, "invite", third_party_invite={"signed": {"token": "tok"}})
    assert ("m.room.third_party_invite", "tok") in event_auth.auth_types_for_event(rv, invite)
    assert ("m.room.join_rules", "") in event_auth.auth_types_for_event(rv, invite)
    leave = room.member(ALICE, BOB, "leave")
    assert ("m.room.join_rules", "") not in event_auth.auth_types_for_event(rv, leave)
    assert event_auth.auth_types_for_event(rv, room.create_event) == set()


# ======================================================================================
# Rule 1: the create event
# ======================================================================================


def _create(rv: RoomVersion, content: JsonDict | None = None, **kw: Any) -> tuple[Room, EventBase]:
    room = Room(rv)
    if content is None:
        content = {"room_version": rv.identifier}
        if not rv.implicit_room_creator:
            content["creator"] = CREATOR
    drop = ["room_id"] if rv.hydra else []
    kw.setdefault("prev", [])
    kw.setdefault("auth", [])
    kw.setdefault("drop", drop)
    return room, room.make("m.room.create", CREATOR, content, "", **kw)


@versions()
def test_create_with_prev_events_rejected(rv: RoomVersion) -> None:
    room, good = _create(rv)
    room.check(good)
    room, bad = _create(rv, prev=[good.event_id])
    assert "prev_events" in rejected(room, bad)


@versions(lambda v: not v.hydra)
def test_create_room_id_domain_must_match_sender(rv: RoomVersion) -> None:
    room, bad = _create(rv, extra={"room_id": "!room:elsewhere.org"})
    rejected(room, bad)
    room, bad = _create(rv, extra={"room_id": "!nodomain"})
    rejected(room, bad)


def test_v12_create_with_room_id_rejected() -> None:
    room, bad = _create(RoomVersions.V12, drop=[], extra={"room_id": "!room:example.com"})
    assert "room_id" in rejected(room, bad)


@versions()
@pytest.mark.parametrize("room_version", ["999", 1, None])
def test_create_unknown_room_version_rejected(rv: RoomVersion, room_version: Any) -> None:
    content: JsonDict = {"creator": CREATOR, "room_version": room_version}
    room, bad = _create(rv, content)
    rejected(room, bad)
    # Absent is allowed (it means "1").
    room, good = _create(rv, {"creator": CREATOR})
    room.check(good)


@versions()
def test_create_creator_required_before_v11(rv: RoomVersion) -> None:
    room, event = _create(rv, {"room_version": rv.identifier})
    if rv.implicit_room_creator:
        room.check(event)
    else:
        assert "creator" in rejected(room, event)


@pytest.mark.parametrize(
    "additional,ok",
    [
        ([], True),
        ([ALICE, BOB], True),
        ("@alice:example.com", False),
        ([ALICE, 3], False),
        (["alice"], False),
        (["@alice:bad_server!"], False),
        (["@" + "a" * 300 + ":example.com"], False),
    ],
)
def test_v12_additional_creators(additional: Any, ok: bool) -> None:
    rv = RoomVersions.V12
    room, event = _create(rv, {"room_version": "12", "additional_creators": additional})
    if ok:
        room.check(event)
    else:
        rejected(room, event)
    # Before room version 12 the key means nothing.
    room, event = _create(RoomVersions.V11, {"additional_creators": additional})
    room.check(event)


# ======================================================================================
# Rule 2: the auth events (room version 12: rule 3), and the size limits
# ======================================================================================


@versions()
def test_duplicate_auth_events_rejected(rv: RoomVersion) -> None:
    room = new_room(rv)
    old_pl = room.state[("m.room.power_levels", "")]
    room.send("m.room.power_levels", CREATOR, room.power_levels(ban=60), "")
    good = room.make("m.room.message", MOD, {})
    room.check(good)
    bad = room.make("m.room.message", MOD, {}, auth=[*(good.auth_event_ids()), old_pl.event_id])
    assert "Duplicate" in rejected(room, bad)


@versions()
def test_auth_event_of_wrong_type_rejected(rv: RoomVersion) -> None:
    room = new_room(rv)
    good = room.make("m.room.message", MOD, {})
    join_rules = room.state[("m.room.join_rules", "")]
    bad = room.make("m.room.message", MOD, {}, auth=[*good.auth_event_ids(), join_rules.event_id])
    rejected(room, bad)
    # Another user's member event is not selected for a message either.
    creator_join = room.state[("m.room.member", CREATOR)]
    bad = room.make("m.room.message", MOD, {}, auth=[*good.auth_event_ids(), creator_join.event_id])
    rejected(room, bad)


def test_v12_create_event_in_auth_events_rejected() -> None:
    room = new_room(RoomVersions.V12)
    good = room.make("m.room.message", MOD, {})
    room.check(good)
    bad = room.make(
        "m.room.message", MOD, {}, auth=[*good.auth_event_ids(), room.create_event.event_id]
    )
    rejected(room, bad)


@versions()
def test_rejected_auth_event_rejected(rv: RoomVersion) -> None:
    room = new_room(rv)
    pl = room.state[("m.room.power_levels", "")]
    good = room.make("m.room.message", MOD, {})
    room.check(good)
    room.by_id[pl.event_id] = make_event_from_dict(
        pl.get_pdu_json(), rv, rejected_reason="auth_error"
    )
    assert "rejected" in rejected(room, good)


@versions(lambda v: not v.hydra)
def test_missing_create_auth_event_rejected(rv: RoomVersion) -> None:
    room = new_room(rv)
    good = room.make("m.room.message", MOD, {})
    room.check(good)
    without_create = [e for e in good.auth_event_ids() if e != room.create_event.event_id]
    bad = room.make("m.room.message", MOD, {}, auth=without_create)
    with pytest.raises(AuthError, match="create"):
        event_auth.check_state_independent_auth_rules(bad, room.by_id)


@versions()
def test_auth_event_from_another_room_rejected(rv: RoomVersion) -> None:
    room = new_room(rv)
    mod_member_elsewhere = room.make(
        "m.room.member", MOD, {"membership": "join"}, MOD, extra={"room_id": "!other:example.com"}
    )
    room.by_id[mod_member_elsewhere.event_id] = mod_member_elsewhere
    good = room.make("m.room.message", MOD, {})
    auth = [e for e in good.auth_event_ids() if e != room.state[("m.room.member", MOD)].event_id]
    bad = room.make("m.room.message", MOD, {}, auth=[*auth, mod_member_elsewhere.event_id])
    with pytest.raises(AuthError):
        event_auth.check_state_independent_auth_rules(bad, room.by_id)


@versions()
def test_unknown_auth_event_rejected(rv: RoomVersion) -> None:
    room = new_room(rv)
    good = room.make("m.room.message", MOD, {})
    unknown = "$unknown:example.com" if rv.event_ids_in_events else "$unknownunknown"
    bad = room.make("m.room.message", MOD, {}, auth=[*good.auth_event_ids(), unknown])
    with pytest.raises(AuthError, match="Unknown auth event"):
        event_auth.check_state_independent_auth_rules(bad, room.by_id)


def test_v12_room_id_must_name_accepted_create_event() -> None:
    rv = RoomVersions.V12
    room = new_room(rv)
    good = room.make("m.room.message", MOD, {})
    room.check(good)

    # A room ID that names no known event.
    room.room_id = "!" + "A" * 43
    bad = room.make("m.room.message", MOD, {}, auth=good.auth_event_ids())
    room.room_id = room.create_event.room_id
    with pytest.raises(AuthError):
        event_auth.check_state_independent_auth_rules(bad, room.by_id)

    # A room ID that names an event which is not a create event.
    message = room.send("m.room.message", MOD, {})
    room.room_id = "!" + message.event_id[1:]
    bad = room.make("m.room.message", MOD, {}, auth=[])
    room.room_id = room.create_event.room_id
    with pytest.raises(AuthError):
        event_auth.check_state_independent_auth_rules(bad, room.by_id)

    # A room ID that names an m.room.create event with a non-empty state_key.
    odd_create = room.make(
        "m.room.create", CREATOR, {"room_version": "12"}, "odd", prev=[], auth=[], drop=["room_id"]
    )
    room.by_id[odd_create.event_id] = odd_create
    room.room_id = "!" + odd_create.event_id[1:]
    bad = room.make("m.room.message", MOD, {}, auth=[])
    room.room_id = room.create_event.room_id
    with pytest.raises(AuthError):
        event_auth.check_state_independent_auth_rules(bad, room.by_id)

    # The create event was rejected.
    create = room.create_event
    room.by_id[create.event_id] = make_event_from_dict(
        create.get_pdu_json(), rv, rejected_reason="bad"
    )
    with pytest.raises(AuthError, match="rejected"):
        event_auth.check_state_independent_auth_rules(good, room.by_id)


@versions()
@pytest.mark.parametrize("field", ["sender", "type", "state_key", "room_id"])
def test_size_limits(rv: RoomVersion, field: str) -> None:
    room = new_room(rv)
    long_value = {
        "sender": "@" + "a" * 250 + ":example.com",
        "type": "m." + "t" * 254,
        "state_key": "k" * 256,
        "room_id": "!" + "r" * 255 + ":example.com",
    }[field]
    good = room.make("m.room.topic", MOD, {"topic": "x"}, "")
    event_auth.check_state_independent_auth_rules(good, room.by_id)
    bad = room.make("m.room.topic", MOD, {"topic": "x"}, "", extra={field: long_value})
    with pytest.raises(AuthError, match="255 bytes"):
        event_auth.check_state_independent_auth_rules(bad, room.by_id)
    # 255 bytes exactly is allowed, also when counted in UTF-8.
    assert len(("é" * 127 + "k").encode()) == 255
    fine = room.make("m.room.topic", MOD, {"topic": "x"}, "é" * 127 + "k")
    event_auth.check_state_independent_auth_rules(fine, room.by_id)


@versions(lambda v: v.event_ids_in_events)
def test_size_limit_of_event_id(rv: RoomVersion) -> None:
    room = new_room(rv)
    bad = room.make("m.room.message", MOD, {}, extra={"event_id": "$" + "e" * 250 + ":example.com"})
    with pytest.raises(AuthError, match="event_id"):
        event_auth.check_state_independent_auth_rules(bad, room.by_id)


@versions()
@pytest.mark.parametrize("value", [1.5, 2**53, -(2**53)])
def test_canonical_json_values(rv: RoomVersion, value: Any) -> None:
    room = new_room(rv)
    event = room.make("m.room.message", MOD, {"body": "x", "n": value})
    if rv.strict_canonicaljson:
        rejected(room, event)
    else:
        room.check(event)
    room.check(room.make("m.room.message", MOD, {"body": "x", "n": 2**53 - 1}))


# ======================================================================================
# Rule 3: m.federate
# ======================================================================================


@versions()
def test_m_federate_false(rv: RoomVersion) -> None:
    room = Room(rv)
    content: JsonDict = {"m.federate": False}
    if not rv.implicit_room_creator:
        content["creator"] = CREATOR
    room.create(content)
    room.set_member(CREATOR, CREATOR, "join")
    room.send("m.room.join_rules", CREATOR, {"join_rule": "public"}, "")
    room.set_member(ALICE, ALICE, "join")
    assert "federate" in rejected(room, room.member(BOB, BOB, "join"))
    # m.federate true (or absent) lets BOB in.
    room2 = Room(rv)
    content["m.federate"] = True
    room2.create(content)
    room2.set_member(CREATOR, CREATOR, "join")
    room2.send("m.room.join_rules", CREATOR, {"join_rule": "public"}, "")
    room2.set_member(BOB, BOB, "join")


# ======================================================================================
# Room versions 1 to 5, rule 4: m.room.aliases
# ======================================================================================


@versions()
def test_aliases(rv: RoomVersion) -> None:
    room = new_room(rv)
    # BOB is not in the room: only the special case of v1 to v5 lets him set aliases.
    own = room.make("m.room.aliases", BOB, {"aliases": ["#a:other.org"]}, "other.org")
    if rv.special_case_aliases_auth:
        room.check(own)
        assert "server" in rejected(
            room, room.make("m.room.aliases", BOB, {"aliases": []}, "example.com")
        )
        assert "state_key" in rejected(room, room.make("m.room.aliases", BOB, {"aliases": []}))
    else:
        rejected(room, own)
        # From v6, aliases are an ordinary state event.
        room.check(room.make("m.room.aliases", MOD, {"aliases": []}, "example.com"))


# ======================================================================================
# Rule 4: m.room.member
# ======================================================================================


@versions()
def test_member_needs_state_key_and_membership(rv: RoomVersion) -> None:
    room = new_room(rv)
    room.check(room.member(ALICE, ALICE, "join"))
    rejected(room, room.make("m.room.member", ALICE, {}, ALICE))
    rejected(room, room.make("m.room.member", ALICE, {"membership": "join"}))


@versions()
def test_unknown_membership_rejected(rv: RoomVersion) -> None:
    room = new_room(rv)
    assert "Unknown membership" in rejected(room, room.member(MOD, ALICE, "friend"))
    rejected(room, room.member(MOD, ALICE, None))  # type: ignore[arg-type]


@versions()
def test_first_join_only_for_the_creator(rv: RoomVersion) -> None:
    room = Room(rv)
    room.create()
    # Someone else cannot join straight after the create event (no join rules: invite).
    rejected(room, room.member(ALICE, ALICE, "join"))
    # The creator's first join must follow the create event alone.
    room.store(room.make("m.room.topic", CREATOR, {"topic": "x"}, ""))
    rejected(room, room.member(CREATOR, CREATOR, "join"))


def test_v12_first_join_is_for_the_create_sender_only() -> None:
    room = Room(RoomVersions.V12)
    room.create({"room_version": "12", "additional_creators": [ALICE]})
    rejected(room, room.member(ALICE, ALICE, "join"))
    room.check(room.member(CREATOR, CREATOR, "join"))


@versions()
def test_join_for_someone_else_rejected(rv: RoomVersion) -> None:
    room = new_room(rv)
    assert "themselves" in rejected(room, room.member(MOD, ALICE, "join"))


@versions()
def test_banned_user_cannot_join(rv: RoomVersion) -> None:
    room = new_room(rv)
    room.set_member(ALICE, ALICE, "join")
    room.set_member(MOD, ALICE, "ban")
    assert "banned" in rejected(room, room.member(ALICE, ALICE, "join"))
    room.set_member(CREATOR, ALICE, "leave")
    room.set_member(ALICE, ALICE, "join")


@versions()
def test_invite_join_rule(rv: RoomVersion) -> None:
    room = new_room(rv, join_rule="invite")
    rejected(room, room.member(ALICE, ALICE, "join"))
    room.set_member(MOD, ALICE, "invite")
    room.set_member(ALICE, ALICE, "join")
    # Already joined: a profile change is a join too.
    room.set_member(ALICE, ALICE, "join", displayname="Alice")


@versions()
def test_no_join_rules_event_means_invite(rv: RoomVersion) -> None:
    room = Room(rv)
    room.create()
    room.set_member(CREATOR, CREATOR, "join")
    rejected(room, room.member(ALICE, ALICE, "join"))
    room.set_member(CREATOR, ALICE, "invite")
    room.set_member(ALICE, ALICE, "join")


@versions()
def test_knock_join_rule_for_joins(rv: RoomVersion) -> None:
    room = new_room(rv, join_rule="knock")
    rejected(room, room.member(ALICE, ALICE, "join"))
    room.set_member(MOD, ALICE, "invite")
    if rv.knock_join_rule:
        room.set_member(ALICE, ALICE, "join")
    else:
        rejected(room, room.member(ALICE, ALICE, "join"))


@versions()
@pytest.mark.parametrize("rule", ["private", "unknown"])
def test_other_join_rules_reject_joins(rv: RoomVersion, rule: str) -> None:
    room = new_room(rv, join_rule=rule)
    rejected(room, room.member(ALICE, ALICE, "join"))
    room.set_member(MOD, ALICE, "invite")
    rejected(room, room.member(ALICE, ALICE, "join"))


def _restricted_join(
    room: Room, user: str, authoriser: str | None, signed_by: str | None
) -> EventBase:
    content: JsonDict = {"membership": "join"}
    if authoriser is not None:
        content["join_authorised_via_users_server"] = authoriser
    signatures: JsonDict = {_domain(user): {"ed25519:a": "sig"}}
    if signed_by is not None:
        signatures[signed_by] = {"ed25519:b": "sig"}
    return room.make("m.room.member", user, content, user, extra={"signatures": signatures})


@versions()
@pytest.mark.parametrize("rule", ["restricted", "knock_restricted"])
def test_restricted_joins(rv: RoomVersion, rule: str) -> None:
    supported = rv.restricted_join_rule if rule == "restricted" else rv.knock_restricted_join_rule
    room = new_room(rv, join_rule=rule, invite=10)
    good = _restricted_join(room, BOB, MOD, "example.com")
    if not supported:
        rejected(room, good)
        return
    room.check(good)
    # No authorising user.
    rejected(room, _restricted_join(room, BOB, None, None))
    # Not signed by the authorising user's server.
    assert "signed" in rejected(room, _restricted_join(room, BOB, MOD, None))
    with pytest.raises(AuthError, match="signed"):
        event_auth.check_state_independent_auth_rules(
            _restricted_join(room, BOB, MOD, None), room.by_id
        )
    # The authorising user is not joined (though able to invite).
    room.force_member(MOD, "invite")
    rejected(room, _restricted_join(room, BOB, MOD, "example.com"))
    room.force_member(MOD, "leave")
    rejected(room, _restricted_join(room, BOB, MOD, "example.com"))
    room.force_member(MOD, "join")
    room.check(good)
    # The authorising user cannot invite (level 0 < 10).
    room.force_member(CAROL, "join")
    rejected(room, _restricted_join(room, BOB, CAROL, "example.com"))
    # Not a user ID.
    rejected(room, _restricted_join(room, BOB, "example.com", "example.com"))
    # An invited user needs no authorising user.
    room.set_member(MOD, BOB, "invite")
    room.check(_restricted_join(room, BOB, None, None))
    # A banned user cannot join whatever the authorisation.
    room.set_member(MOD, BOB, "ban")
    rejected(room, _restricted_join(room, BOB, MOD, "example.com"))


@versions(lambda v: v.restricted_join_rule)
def test_authorising_signature_checked_on_any_membership(rv: RoomVersion) -> None:
    room = new_room(rv)
    room.set_member(ALICE, ALICE, "join")
    bad = room.member(ALICE, ALICE, "leave", join_authorised_via_users_server=BOB)
    rejected(room, bad)


@versions()
def test_public_join(rv: RoomVersion) -> None:
    room = new_room(rv)
    room.set_member(BOB, BOB, "join")
    room.set_member(BOB, BOB, "leave")
    room.set_member(BOB, BOB, "join")


# -- invite -----------------------------------------------------------------------------


@versions()
def test_invites(rv: RoomVersion) -> None:
    room = new_room(rv, invite=10)
    room.set_member(ALICE, ALICE, "join")
    # The sender's level is below the invite level.
    assert "invite level" in rejected(room, room.member(ALICE, BOB, "invite"))
    room.check(room.member(MOD, BOB, "invite"))
    # The sender is not in the room.
    rejected(room, room.member(CAROL, BOB, "invite"))
    room.force_member(CAROL, "invite")
    rejected(room, room.member(CAROL, BOB, "invite"))
    # The target is joined or banned.
    rejected(room, room.member(MOD, ALICE, "invite"))
    room.set_member(MOD, ALICE, "ban")
    rejected(room, room.member(MOD, ALICE, "invite"))
    # Invited again is fine.
    room.set_member(MOD, BOB, "invite")
    room.set_member(MOD, BOB, "invite")


def _tpi_room(rv: RoomVersion) -> tuple[Room, Any, str]:
    room = new_room(rv)
    key = generate_signing_key("1")
    public_key = encode_verify_key_base64(get_verify_key(key))
    room.send(
        "m.room.third_party_invite",
        MOD,
        {"display_name": "b...", "key_validity_url": "https://id/", "public_key": "aGVsbG8"},
        "tok",
    )
    # Replace with one listing the real key in public_keys only.
    room.send(
        "m.room.third_party_invite",
        MOD,
        {
            "display_name": "b...",
            "key_validity_url": "https://id/",
            "public_key": "notbase64!",
            "public_keys": [{"public_key": "aGVsbG8"}, "junk", {"public_key": public_key}],
        },
        "tok",
    )
    return room, key, public_key


def _signed(key: Any, mxid: str = BOB, token: str = "tok", **extra: Any) -> JsonDict:
    return sign_json({"mxid": mxid, "token": token, **extra}, "id.example.org", key)


@versions()
def test_third_party_invite(rv: RoomVersion) -> None:
    room, key, public_key = _tpi_room(rv)

    def invite(tpi: Any, sender: str = MOD, target: str = BOB) -> EventBase:
        return room.member(sender, target, "invite", third_party_invite=tpi)

    good = invite({"display_name": "b...", "signed": _signed(key)})
    room.check(good)
    # URL-safe or standard base64 keys both work; so does the single public_key.
    urlsafe_key = public_key.replace("+", "-").replace("/", "_")
    room.send(
        "m.room.third_party_invite",
        MOD,
        {"display_name": "b", "key_validity_url": "https://id/", "public_key": urlsafe_key},
        "tok2",
    )
    room.check(invite({"signed": _signed(key, token="tok2")}))

    # 1: the target is banned.
    room2, key2, _ = _tpi_room(rv)
    room2.force_member(BOB, "ban")
    rejected(room2, room2.member(MOD, BOB, "invite", third_party_invite={"signed": _signed(key2)}))
    # 2: no signed.
    rejected(room, invite({"display_name": "b"}))
    rejected(room, invite("not an object"))
    # 3: no mxid or no token.
    no_mxid = _signed(key)
    del no_mxid["mxid"]
    rejected(room, invite({"signed": no_mxid}))
    no_token = _signed(key)
    del no_token["token"]
    rejected(room, invite({"signed": no_token}))
    # 4: mxid is not the state_key.
    rejected(room, invite({"signed": _signed(key, mxid=CAROL)}))
    # 5: no m.room.third_party_invite with that token.
    rejected(room, invite({"signed": _signed(key, token="other")}))
    # 6: the sender did not send the m.room.third_party_invite.
    room.force_member(ALICE, "join")
    rejected(room, invite({"signed": _signed(key)}, sender=ALICE))
    # 7/8: not signed by a listed key.
    other_key = generate_signing_key("1")
    rejected(room, invite({"signed": _signed(other_key)}))
    tampered = _signed(key)
    tampered["extra"] = "changed after signing"
    rejected(room, invite({"signed": tampered}))
    unsigned = {"mxid": BOB, "token": "tok"}
    rejected(room, invite({"signed": unsigned}))
    # The usual invite rules do not apply: the target may be joined already.
    room.force_member(BOB, "join")
    room.check(good)


# -- leave ------------------------------------------------------------------------------


@versions()
def test_leave_self(rv: RoomVersion) -> None:
    room = new_room(rv, join_rule="knock")
    # Never in the room.
    assert "not in" in rejected(room, room.member(ALICE, ALICE, "leave"))
    # Rejecting an invite, leaving after joining.
    room.set_member(MOD, ALICE, "invite")
    room.set_member(ALICE, ALICE, "leave")
    rejected(room, room.member(ALICE, ALICE, "leave"))
    room.force_member(ALICE, "join")
    room.set_member(ALICE, ALICE, "leave")
    # Banned users cannot unban themselves.
    room.force_member(ALICE, "ban")
    rejected(room, room.member(ALICE, ALICE, "leave"))
    # Withdrawing a knock (room version 7+).
    room.force_member(ALICE, "knock")
    if rv.knock_join_rule:
        room.set_member(ALICE, ALICE, "leave")
    else:
        rejected(room, room.member(ALICE, ALICE, "leave"))


@versions()
def test_kick(rv: RoomVersion) -> None:
    room = new_room(rv)
    room.set_member(ALICE, ALICE, "join")
    room.set_member(CAROL, CAROL, "join")
    # Level 0 < kick level 50.
    rejected(room, room.member(CAROL, ALICE, "leave"))
    room.check(room.member(MOD, ALICE, "leave"))
    # Target at the sender's level.
    rejected(room, room.member(MOD, CREATOR, "leave"))
    # The sender is not in the room.
    room.force_member(MOD, "leave")
    rejected(room, room.member(MOD, ALICE, "leave"))


@versions()
def test_unban_needs_ban_level(rv: RoomVersion) -> None:
    room = new_room(rv, ban=60)
    room.force_member(ALICE, "ban")
    # MOD has the kick level (50) but not the ban level (60).
    assert "ban level" in rejected(room, room.member(MOD, ALICE, "leave"))
    room.check(room.member(CREATOR, ALICE, "leave"))


# -- ban --------------------------------------------------------------------------------


@versions()
def test_ban(rv: RoomVersion) -> None:
    room = new_room(rv)
    room.set_member(ALICE, ALICE, "join")
    room.check(room.member(MOD, ALICE, "ban"))
    # Anyone can be banned, even someone who never joined.
    room.check(room.member(MOD, BOB, "ban"))
    rejected(room, room.member(ALICE, MOD, "ban"))
    rejected(room, room.member(MOD, CREATOR, "ban"))
    room.force_member(MOD, "leave")
    rejected(room, room.member(MOD, ALICE, "ban"))
    room2 = new_room(rv, ban=60)
    room2.force_member(ALICE, "join")
    rejected(room2, room2.member(MOD, ALICE, "ban"))


# -- knock ------------------------------------------------------------------------------


@versions()
@pytest.mark.parametrize("rule", ["knock", "knock_restricted", "public", "invite", "restricted"])
def test_knock(rv: RoomVersion, rule: str) -> None:
    room = new_room(rv, join_rule=rule)
    event = room.member(BOB, BOB, "knock")
    allowed = rv.knock_join_rule and (
        rule == "knock" or (rule == "knock_restricted" and rv.knock_restricted_join_rule)
    )
    if not allowed:
        rejected(room, event)
        return
    room.add(event)
    # Only for oneself.
    rejected(room, room.member(CAROL, ALICE, "knock"))
    # Knocking again is fine; not when invited, joined or banned.
    room.check(room.member(BOB, BOB, "knock"))
    for membership in ("invite", "join", "ban"):
        room.force_member(BOB, membership)
        rejected(room, room.member(BOB, BOB, "knock"))


# ======================================================================================
# Rules 5 to 8
# ======================================================================================


@versions()
def test_sender_must_be_joined(rv: RoomVersion) -> None:
    room = new_room(rv)
    assert "not in the room" in rejected(room, room.make("m.room.message", ALICE, {}))
    room.force_member(ALICE, "invite")
    rejected(room, room.make("m.room.message", ALICE, {}))
    room.force_member(ALICE, "join")
    room.check(room.make("m.room.message", ALICE, {}))


@versions()
def test_third_party_invite_event_needs_invite_level(rv: RoomVersion) -> None:
    room = new_room(rv, invite=10)
    room.force_member(ALICE, "join")
    content = {"display_name": "x", "key_validity_url": "https://id/", "public_key": "aGVsbG8"}
    rejected(room, room.make("m.room.third_party_invite", ALICE, content, "t"))
    room.check(room.make("m.room.third_party_invite", MOD, content, "t"))


@versions()
def test_required_power_level(rv: RoomVersion) -> None:
    room = new_room(rv, events_default=5, events={"m.room.name": 50, "m.sticker": 0})
    room.force_member(ALICE, "join")
    # events_default.
    rejected(room, room.make("m.room.message", ALICE, {}))
    # events overrides it.
    room.check(room.make("m.sticker", ALICE, {}))
    # state_default for state events; events for named types.
    rejected(room, room.make("m.room.topic", ALICE, {}, ""))
    room.check(room.make("m.room.topic", MOD, {}, ""))
    rejected(room, room.make("m.room.name", ALICE, {}, ""))
    # An m.room.redaction is governed by events/events_default, not the redact level.
    room2 = new_room(rv, events={"m.room.redaction": 40})
    room2.force_member(ALICE, "join")
    rejected(room2, room2.make("m.room.redaction", ALICE, {}, extra={"redacts": "$x:example.com"}))


@versions()
def test_state_key_of_another_user_rejected(rv: RoomVersion) -> None:
    room = new_room(rv, state_default=0)
    room.force_member(ALICE, "join")
    room.check(room.make("m.custom", ALICE, {}, ALICE))
    room.check(room.make("m.custom", ALICE, {}, "alice"))
    assert "user ID" in rejected(room, room.make("m.custom", ALICE, {}, BOB))
    rejected(room, room.make("m.custom", MOD, {}, ALICE))


@versions()
def test_defaults_without_power_levels(rv: RoomVersion) -> None:
    room = Room(rv)
    room.create()
    room.set_member(CREATOR, CREATOR, "join")
    room.send("m.room.join_rules", CREATOR, {"join_rule": "public"}, "")
    room.set_member(ALICE, ALICE, "join")
    # Anyone may send messages (events_default 0); state needs 50, which only the creator has.
    room.send("m.room.message", ALICE, {})
    rejected(room, room.make("m.room.topic", ALICE, {}, ""))
    room.send("m.room.topic", CREATOR, {}, "")
    # The creator may kick and ban (50); others may invite (0).
    room.set_member(ALICE, BOB, "invite")
    room.check(room.member(CREATOR, ALICE, "ban"))
    rejected(room, room.member(ALICE, CREATOR, "leave"))
    expected = event_auth.CREATOR_POWER_LEVEL if rv.hydra else 100
    assert event_auth.get_user_power_level(CREATOR, room.state) == expected
    assert event_auth.get_user_power_level(ALICE, room.state) == 0


# ======================================================================================
# Rule 9: m.room.power_levels
# ======================================================================================


def _pl(room: Room, sender: str, **content: Any) -> EventBase:
    return room.make("m.room.power_levels", sender, content, "")


@versions()
@pytest.mark.parametrize("name", list(event_auth.NAMED_LEVEL_DEFAULTS))
def test_power_levels_named_values_must_be_integers(rv: RoomVersion, name: str) -> None:
    room = new_room(rv)
    base = room.power_levels()
    room.check(_pl(room, CREATOR, **{**base, name: 20}))
    stringy = _pl(room, CREATOR, **{**base, name: " +020 "})
    if rv.enforce_int_power_levels:
        rejected(room, stringy)
    else:
        room.check(stringy)
    for bad in (True, "twenty", "2.5", [20], None, {"a": 1}):
        rejected(room, _pl(room, CREATOR, **{**base, name: bad}))


@versions()
def test_power_levels_events_and_notifications_must_map_to_integers(rv: RoomVersion) -> None:
    room = new_room(rv)
    base = room.power_levels()
    room.check(_pl(room, CREATOR, **{**base, "events": {"m.x": 1}, "notifications": {"room": 1}}))
    for name in ("events", "notifications"):
        protected = name == "events" or rv.limit_notifications_power_levels
        for bad in ([1], 1, {"m.x": True}, {"m.x": "abc"}):
            event = _pl(room, CREATOR, **{**base, name: bad})
            if protected:
                rejected(room, event)
            else:
                room.check(event)
        stringy = _pl(room, CREATOR, **{**base, name: {"m.x": "10"}})
        if rv.enforce_int_power_levels and protected:
            rejected(room, stringy)
        else:
            room.check(stringy)


@versions()
def test_power_levels_users_must_map_user_ids_to_integers(rv: RoomVersion) -> None:
    room = new_room(rv)
    base = room.power_levels()
    users = dict(base["users"])
    room.check(_pl(room, CREATOR, **{**base, "users": {**users, ALICE: 10}}))
    for bad_users in (
        [ALICE],
        {**users, "alice": 10},
        {**users, "@alice": 10},
        {**users, ALICE: "ten"},
        {**users, ALICE: False},
    ):
        rejected(room, _pl(room, CREATOR, **{**base, "users": bad_users}))
    stringy = _pl(room, CREATOR, **{**base, "users": {**users, ALICE: "10"}})
    if rv.enforce_int_power_levels:
        rejected(room, stringy)
    else:
        room.check(stringy)


@versions(lambda v: v.hydra)
def test_v12_creators_cannot_be_listed(rv: RoomVersion) -> None:
    room = Room(rv)
    room.create({"room_version": "12", "additional_creators": [ALICE]})
    room.set_member(CREATOR, CREATOR, "join")
    rejected(room, _pl(room, CREATOR, users={CREATOR: 100}))
    rejected(room, _pl(room, CREATOR, users={ALICE: 100}))
    room.send("m.room.power_levels", CREATOR, {"users": {MOD: 100}}, "")
    # Creators have infinite power: ALICE (a creator) can ban MOD (100) once joined.
    room.force_member(ALICE, "join")
    room.force_member(MOD, "join")
    room.check(room.member(ALICE, MOD, "ban"))
    # MOD cannot touch a creator, nor a creator another creator.
    rejected(room, room.member(MOD, ALICE, "ban"))
    rejected(room, room.member(ALICE, CREATOR, "leave"))
    assert event_auth.get_user_power_level(ALICE, room.state) == event_auth.CREATOR_POWER_LEVEL
    assert event_auth.is_creator(ALICE, room.create_event)
    assert not event_auth.is_creator(MOD, room.create_event)


@versions()
def test_first_power_levels_allowed(rv: RoomVersion) -> None:
    room = Room(rv)
    room.create()
    room.set_member(CREATOR, CREATOR, "join")
    # Anything goes in the first power levels event (past the validity rules).
    room.check(_pl(room, CREATOR, users={ALICE: 1000}, ban=1000, events={"m.x": 1000}))


@versions()
def test_power_levels_named_changes(rv: RoomVersion) -> None:
    room = new_room(rv, events={"m.room.power_levels": 50}, ban=70)
    base = room.power_levels(events={"m.room.power_levels": 50}, ban=70)
    # Unchanged (also when spelled differently in v1-9) is fine.
    room.check(_pl(room, MOD, **base))
    if not rv.enforce_int_power_levels:
        room.check(_pl(room, MOD, **{**base, "ban": " 070"}))
    # Lowering kick from 50 to 40 is fine (old value not above MOD's 50).
    room.check(_pl(room, MOD, **{**base, "kick": 40}))
    # Raising it above the sender's level is not.
    rejected(room, _pl(room, MOD, **{**base, "kick": 51}))
    # Changing or removing a value above the sender's level is not.
    rejected(room, _pl(room, MOD, **{**base, "ban": 50}))
    rejected(room, _pl(room, MOD, **{k: v for k, v in base.items() if k != "ban"}))
    # Adding a value at the sender's level is fine; above it is not.
    without_redact = {k: v for k, v in base.items() if k != "redact"}
    room2 = new_room(rv, events={"m.room.power_levels": 50})
    room2.store(_pl(room2, CREATOR, **without_redact))
    room2.check(_pl(room2, MOD, **{**without_redact, "redact": 50}))
    rejected(room2, _pl(room2, MOD, **{**without_redact, "redact": 51}))


@versions()
def test_power_levels_events_and_notifications_changes(rv: RoomVersion) -> None:
    events = {"m.room.power_levels": 50, "m.high": 80, "m.low": 10}
    notifications = {"room": 80}
    room = new_room(rv, events=events, notifications=notifications)
    base = room.power_levels(events=events, notifications=notifications)
    room.check(_pl(room, MOD, **base))
    rejected(room, _pl(room, MOD, **{**base, "events": {**events, "m.high": 10}}))
    rejected(room, _pl(room, MOD, **{**base, "events": {**events, "m.low": 60}}))
    rejected(room, _pl(room, MOD, **{**base, "events": {**events, "m.new": 60}}))
    no_high = {k: v for k, v in events.items() if k != "m.high"}
    rejected(room, _pl(room, MOD, **{**base, "events": no_high}))
    room.check(_pl(room, MOD, **{**base, "events": {**events, "m.low": 50, "m.new": 0}}))
    # notifications are protected from room version 6.
    changes = [{"room": 10}, {}, {"room": 80, "other": 60}]
    for changed in changes:
        event = _pl(room, MOD, **{**base, "notifications": changed})
        if rv.limit_notifications_power_levels:
            rejected(room, event)
        else:
            room.check(event)
    room.check(_pl(room, MOD, **{**base, "notifications": {"room": 80, "other": 50}}))


@versions()
def test_power_levels_users_changes(rv: RoomVersion) -> None:
    room = new_room(rv, events={"m.room.power_levels": 50})
    base = room.power_levels(events={"m.room.power_levels": 50})
    users = dict(base["users"])
    room.store(_pl(room, CREATOR, **{**base, "users": {**users, ALICE: 50, CAROL: 20}}))
    users = {**users, ALICE: 50, CAROL: 20}
    # Promote to the sender's own level: fine. Above it: not.
    room.check(_pl(room, MOD, **{**base, "users": {**users, BOB: 50}}))
    rejected(room, _pl(room, MOD, **{**base, "users": {**users, BOB: 51}}))
    # Demote someone below: fine. Someone at the same level: not.
    room.check(_pl(room, MOD, **{**base, "users": {**users, CAROL: 0}}))
    rejected(room, _pl(room, MOD, **{**base, "users": {**users, ALICE: 0}}))
    rejected(
        room, _pl(room, MOD, **{**base, "users": {k: v for k, v in users.items() if k != ALICE}})
    )
    # Demote oneself: fine; promote oneself: not.
    room.check(_pl(room, MOD, **{**base, "users": {**users, MOD: 10}}))
    room.check(_pl(room, MOD, **{**base, "users": {k: v for k, v in users.items() if k != MOD}}))
    rejected(room, _pl(room, MOD, **{**base, "users": {**users, MOD: 51}}))


@pytest.mark.parametrize(
    "value,expected",
    [
        (5, 5),
        (-5, -5),
        ("100", 100),
        ("000100", 100),
        ("+100", 100),
        ("-100", -100),
        (" 100 ", 100),
        ("\t-0100\n", -100),
        ("1_000", None),
        ("1e3", None),
        ("", None),
        ("+-1", None),
        ("١٢", None),
        (True, None),
        (None, None),
    ],
)
def test_parse_power_level_strings(value: Any, expected: int | None) -> None:
    assert event_auth.parse_power_level(value, RoomVersions.V9) == expected
    strict = expected if isinstance(value, int) else None
    assert event_auth.parse_power_level(value, RoomVersions.V10) == strict


def test_parse_power_level_floats() -> None:
    assert event_auth.parse_power_level(5.114698e4, RoomVersions.V5) == 51146
    assert event_auth.parse_power_level(50.57, RoomVersions.V1) == 50
    assert event_auth.parse_power_level(-1.9, RoomVersions.V1) == -1
    assert event_auth.parse_power_level(float("inf"), RoomVersions.V1) is None
    assert event_auth.parse_power_level(float("nan"), RoomVersions.V1) is None
    assert event_auth.parse_power_level(50.5, RoomVersions.V6) is None


def test_floaty_power_levels_in_v1() -> None:
    room = new_room(RoomVersions.V1)
    base = room.power_levels()
    room.store(_pl(room, CREATOR, **{**base, "users": {CREATOR: 100, ALICE: 50.57}}))
    room.force_member(ALICE, "join")
    assert event_auth.get_user_power_level(ALICE, room.state) == 50
    room.check(room.make("m.room.topic", ALICE, {}, ""))


# ======================================================================================
# Redactions
# ======================================================================================


@versions()
def test_redactions(rv: RoomVersion) -> None:
    room = new_room(rv)
    room.force_member(ALICE, "join")
    room.force_member(BOB, "join")
    bob_message = room.send("m.room.message", BOB, {})
    alice_message = room.send("m.room.message", ALICE, {})

    def redaction(sender: str, target: EventBase) -> EventBase:
        if rv.updated_redaction_rules:
            return room.make("m.room.redaction", sender, {"redacts": target.event_id})
        return room.make("m.room.redaction", sender, {}, extra={"redacts": target.event_id})

    # ALICE (level 0) redacting BOB's event, on another server.
    cross = redaction(ALICE, bob_message)
    if rv.event_ids_in_events:
        assert "redact" in rejected(room, cross)
    else:
        room.check(cross)
    assert not event_auth.can_apply_redaction(cross, bob_message, room.state)
    # Her own event; and a moderator redacting anything.
    own = redaction(ALICE, alice_message)
    room.check(own)
    assert event_auth.can_apply_redaction(own, alice_message, room.state)
    by_mod = redaction(MOD, bob_message)
    room.check(by_mod)
    assert event_auth.can_apply_redaction(by_mod, bob_message, room.state)


# ======================================================================================
# Helpers
# ======================================================================================


@versions()
def test_helpers(rv: RoomVersion) -> None:
    room = new_room(rv, ban=70, events={"m.room.name": 40}, state_default=60, events_default=3)
    pl = room.state[("m.room.power_levels", "")]
    assert event_auth.get_named_level(room.state, "ban") == 70
    assert event_auth.get_named_level(list(room.state.values()), "kick") == 50
    assert event_auth.get_named_level(room.by_id, "unknown", 7) == 7
    assert event_auth.get_send_level("m.room.name", "", pl) == 40
    assert event_auth.get_send_level("m.room.topic", "", pl) == 60
    assert event_auth.get_send_level("m.room.message", None, pl) == 3
    assert event_auth.get_send_level("m.room.topic", "", None) == 50
    assert event_auth.get_send_level("m.room.message", None, None) == 0
    for auth_events in (room.state, room.by_id, list(room.state.values())):
        assert event_auth.get_user_power_level(MOD, auth_events) == 50
        assert event_auth.get_user_power_level(ALICE, auth_events) == 0
        creator_level = event_auth.get_user_power_level(CREATOR, auth_events)
        assert creator_level == (event_auth.CREATOR_POWER_LEVEL if rv.hydra else 100)
    assert event_auth.is_creator(CREATOR, room.create_event)
    assert event_auth.get_room_creators(room.create_event) == {CREATOR}


def test_state_dependent_needs_create_event() -> None:
    room = new_room(RoomVersions.V10)
    event = room.make("m.room.message", MOD, {})
    state = {k: v for k, v in room.state.items() if k != ("m.room.create", "")}
    with pytest.raises(AuthError, match="create"):
        event_auth.check_state_dependent_auth_rules(event, state)


@versions()
def test_soft_fail_against_current_state(rv: RoomVersion) -> None:
    """An event its auth events allow can still fail against a later state."""
    room = new_room(rv)
    room.set_member(ALICE, ALICE, "join")
    message = room.make("m.room.message", ALICE, {"body": "hi"})
    room.set_member(MOD, ALICE, "ban")
    # Allowed by the state it cites...
    event_auth.check_auth_rules_for_event(message, room.by_id)
    # ...but not by the current state.
    with pytest.raises(AuthError):
        event_auth.check_state_dependent_auth_rules(message, room.state)


@versions()
def test_state_dependent_accepts_any_shape_of_state(rv: RoomVersion) -> None:
    room = new_room(rv)
    event = room.make("m.room.topic", MOD, {"topic": "x"}, "")
    event_auth.check_state_dependent_auth_rules(event, room.state)
    event_auth.check_state_dependent_auth_rules(event, list(room.state.values()))
    event_auth.check_state_dependent_auth_rules(event, iter(room.state.values()))
    event_auth.check_state_dependent_auth_rules(event, {e.event_id: e for e in room.state.values()})
    # Extra state (other users, unrelated keys) is ignored.
    room.force_member(BOB, "ban")
    event_auth.check_state_dependent_auth_rules(event, room.state)


@versions()
def test_state_independent_ignores_state(rv: RoomVersion) -> None:
    """The state-independent rules pass an event whose sender is not in the room."""
    room = new_room(rv)
    event = room.make("m.room.message", ALICE, {})
    event_auth.check_state_independent_auth_rules(event, room.by_id)
    with pytest.raises(AuthError):
        event_auth.check_state_dependent_auth_rules(event, room.state)


def test_v12_state_must_hold_the_rooms_create_event() -> None:
    rv = RoomVersions.V12
    room = new_room(rv)
    other = Room(rv)
    other.create({"room_version": "12", "m.federate": True})
    event = room.make("m.room.message", MOD, {})
    state = dict(room.state)
    state[("m.room.create", "")] = other.create_event
    with pytest.raises(AuthError):
        event_auth.check_state_dependent_auth_rules(event, state)
    state[("m.room.create", "")] = make_event_from_dict(
        room.create_event.get_pdu_json(), rv, rejected_reason="bad"
    )
    with pytest.raises(AuthError):
        event_auth.check_state_dependent_auth_rules(event, state)
    event_auth.check_state_dependent_auth_rules(event, room.state)


@versions()
def test_create_event_checks(rv: RoomVersion) -> None:
    """The create event passes both halves; the other half is a no-op for it."""
    room, create = _create(rv)
    event_auth.check_state_independent_auth_rules(create, {})
    event_auth.check_state_dependent_auth_rules(create, [])
    room, bad = _create(rv, prev=["$x:example.com" if rv.event_ids_in_events else "$x"])
    with pytest.raises(AuthError):
        event_auth.check_state_dependent_auth_rules(bad, [])


# ======================================================================================
# Property tests
# ======================================================================================

MEMBERSHIPS = [None, "invite", "join", "leave", "ban", "knock"]
JOIN_RULES = ["public", "invite", "knock", "restricted", "knock_restricted", "private"]
PROPERTY_VERSIONS = [
    RoomVersions.V1,
    RoomVersions.V6,
    RoomVersions.V7,
    RoomVersions.V8,
    RoomVersions.V10,
    RoomVersions.V11,
    RoomVersions.V12,
]
INFINITY = float("inf")


def model_membership_allowed(
    rv: RoomVersion,
    membership: str,
    sender_is_target: bool,
    sender_m: str | None,
    target_m: str | None,
    sender_level: float,
    target_level: float,
    join_rule: str,
    levels: dict[str, int],
    authoriser_m: str | None,
    authoriser_level: float | None,
) -> bool:
    """The membership rules restated as one boolean table, independently of event_auth.

    ``authoriser_level`` is None when the join names no join_authorised_via_users_server;
    levels are floats so that a room version 12 creator can be infinitely powerful.
    """
    knock_ok = rv.knock_join_rule
    if membership == "join":
        invite_like = {"invite"} | ({"knock"} if knock_ok else set())
        restricted_like = set()
        if rv.restricted_join_rule:
            restricted_like.add("restricted")
        if rv.knock_restricted_join_rule:
            restricted_like.add("knock_restricted")
        authorised = (
            authoriser_level is not None
            and authoriser_m == "join"
            and authoriser_level >= levels["invite"]
        )
        return (
            sender_is_target
            and sender_m != "ban"
            and (
                join_rule == "public"
                or (join_rule in invite_like | restricted_like and sender_m in ("invite", "join"))
                or (join_rule in restricted_like and authorised)
            )
        )
    if membership == "invite":
        return (
            sender_m == "join"
            and target_m not in ("join", "ban")
            and sender_level >= levels["invite"]
        )
    if membership == "leave":
        if sender_is_target:
            return sender_m in ({"invite", "join", "knock"} if knock_ok else {"invite", "join"})
        return (
            sender_m == "join"
            and not (target_m == "ban" and sender_level < levels["ban"])
            and sender_level >= levels["kick"]
            and target_level < sender_level
        )
    if membership == "ban":
        return sender_m == "join" and sender_level >= levels["ban"] and target_level < sender_level
    if membership == "knock":
        knockable = {"knock"} | ({"knock_restricted"} if rv.knock_restricted_join_rule else set())
        return (
            knock_ok
            and join_rule in knockable
            and sender_is_target
            and sender_m not in ("ban", "invite", "join")
        )
    return False


level_values = st.integers(min_value=-5, max_value=105)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rv=st.sampled_from(PROPERTY_VERSIONS),
    membership=st.sampled_from(["join", "invite", "leave", "ban", "knock", "other"]),
    sender_is_target=st.booleans(),
    sender_m=st.sampled_from(MEMBERSHIPS),
    target_m=st.sampled_from(MEMBERSHIPS),
    sender_level=level_values,
    target_level=level_values,
    join_rule=st.sampled_from(JOIN_RULES),
    invite=level_values,
    kick=level_values,
    ban=level_values,
    with_power_levels=st.booleans(),
    creators=st.sets(st.sampled_from([ALICE, BOB, CAROL])),
    authoriser=st.sampled_from([None, CAROL, MOD]),
    authoriser_m=st.sampled_from(MEMBERSHIPS),
    authoriser_level=level_values,
)
def test_membership_rules_agree_with_model(
    rv: RoomVersion,
    membership: str,
    sender_is_target: bool,
    sender_m: str | None,
    target_m: str | None,
    sender_level: int,
    target_level: int,
    join_rule: str,
    invite: int,
    kick: int,
    ban: int,
    with_power_levels: bool,
    creators: set[str],
    authoriser: str | None,
    authoriser_m: str | None,
    authoriser_level: int,
) -> None:
    sender = ALICE
    target = ALICE if sender_is_target else BOB
    if sender_is_target:
        target_m, target_level = sender_m, sender_level
    if not rv.hydra:
        creators = set()
    room = Room(rv)
    create_content: JsonDict = {"room_version": rv.identifier, "creator": CREATOR}
    if rv.hydra:
        create_content["additional_creators"] = sorted(creators)
    room.create(create_content)
    room.store(room.member(CREATOR, CREATOR, "join"))
    levels = {"invite": invite, "kick": kick, "ban": ban}
    users = {sender: sender_level, target: target_level, CAROL: authoriser_level}
    if with_power_levels:
        users = {u: level for u, level in users.items() if u not in creators}
        content = {"users": users, **levels}
        room.store(room.make("m.room.power_levels", CREATOR, content, ""))
    else:
        levels = {"invite": 0, "kick": 50, "ban": 50}
    room.store(room.make("m.room.join_rules", CREATOR, {"join_rule": join_rule}, ""))
    if sender_m is not None:
        room.force_member(sender, sender_m)
    if target_m is not None and not sender_is_target:
        room.force_member(target, target_m)
    if authoriser == CAROL and authoriser_m is not None:
        room.force_member(CAROL, authoriser_m)
    if authoriser == MOD:
        # MOD has no membership at all.
        authoriser_m = None

    def level(user: str) -> float:
        if user in creators:
            return INFINITY
        return users.get(user, 0) if with_power_levels else 0

    extra_content = {}
    if authoriser is not None:
        extra_content["join_authorised_via_users_server"] = authoriser
    event = room.member(sender, target, membership, **extra_content)
    expected = model_membership_allowed(
        rv,
        membership,
        sender_is_target,
        sender_m,
        target_m,
        level(sender),
        level(target),
        join_rule,
        levels,
        authoriser_m,
        None if authoriser is None else level(authoriser),
    )
    try:
        room.check(event)
        allowed = True
    except AuthError:
        allowed = False
    assert allowed == expected


def model_power_levels_allowed(
    rv: RoomVersion, old: JsonDict, new: JsonDict, sender: str, sender_level: float
) -> bool:
    """Rules 9.5 to 9.9, restated over the union of keys of each section."""

    def changed(a: Any, b: Any) -> bool:
        return a != b

    for name in (
        "users_default",
        "events_default",
        "state_default",
        "ban",
        "redact",
        "kick",
        "invite",
    ):
        a, b = old.get(name), new.get(name)
        if changed(a, b) and (
            (a is not None and a > sender_level) or (b is not None and b > sender_level)
        ):
            return False
    sections = ["events"] + (["notifications"] if rv.limit_notifications_power_levels else [])
    for section in sections:
        a_map, b_map = old.get(section, {}), new.get(section, {})
        for key in set(a_map) | set(b_map):
            a, b = a_map.get(key), b_map.get(key)
            if changed(a, b) and (
                (a is not None and a > sender_level) or (b is not None and b > sender_level)
            ):
                return False
    a_users, b_users = old.get("users", {}), new.get("users", {})
    for user in set(a_users) | set(b_users):
        a, b = a_users.get(user), b_users.get(user)
        if not changed(a, b):
            continue
        if a is not None and user != sender and a >= sender_level:
            return False
        if b is not None and b > sender_level:
            return False
    return True


small_levels = st.integers(min_value=0, max_value=100)
level_sections = st.fixed_dictionaries(
    {},
    optional={
        "ban": small_levels,
        "kick": small_levels,
        "redact": small_levels,
        "invite": small_levels,
        "users_default": small_levels,
        "events_default": small_levels,
        "state_default": small_levels,
        "events": st.dictionaries(st.sampled_from(["m.a", "m.b", "m.c"]), small_levels, max_size=3),
        "notifications": st.dictionaries(st.sampled_from(["room", "x"]), small_levels, max_size=2),
        "users": st.dictionaries(st.sampled_from([ALICE, BOB, CAROL]), small_levels, max_size=3),
    },
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rv=st.sampled_from(PROPERTY_VERSIONS),
    old=level_sections,
    new=level_sections,
    sender_level=small_levels,
    sender_is_creator=st.booleans(),
    list_a_creator=st.booleans(),
)
def test_power_level_changes_agree_with_model(
    rv: RoomVersion,
    old: JsonDict,
    new: JsonDict,
    sender_level: int,
    sender_is_creator: bool,
    list_a_creator: bool,
) -> None:
    """Random changes of power levels, by a sender of random level (in room version 12,
    possibly a creator), agree with the model; listing a creator fails in version 12."""
    sender = MOD
    sender_is_creator = sender_is_creator and rv.hydra
    old = copy.deepcopy(old)
    new = copy.deepcopy(new)
    old.setdefault("events", {})["m.room.power_levels"] = 0
    new.setdefault("events", {}).setdefault("m.room.power_levels", 0)
    old.setdefault("users", {})
    new.setdefault("users", {})
    if not sender_is_creator:
        old["users"][sender] = sender_level
    if not rv.hydra:
        old["users"][CREATOR] = 100
        new["users"].setdefault(CREATOR, 100)
    elif list_a_creator:
        new["users"][CREATOR] = 0

    room = Room(rv)
    create_content: JsonDict = {"room_version": rv.identifier, "creator": CREATOR}
    if sender_is_creator:
        create_content["additional_creators"] = [sender]
    room.create(create_content)
    room.store(room.member(CREATOR, CREATOR, "join"))
    room.store(room.make("m.room.power_levels", CREATOR, old, ""))
    room.force_member(sender, "join")
    event = room.make("m.room.power_levels", sender, new, "")

    level = INFINITY if sender_is_creator else sender_level
    expected = model_power_levels_allowed(rv, old, new, sender, level)
    if rv.hydra and list_a_creator:
        expected = False
    try:
        room.check(event)
        allowed = True
    except AuthError:
        allowed = False
    assert allowed == expected


@settings(max_examples=300, deadline=None)
@given(
    level=st.integers(min_value=-(10**6), max_value=10**6),
    zeros=st.integers(min_value=0, max_value=3),
    sign=st.sampled_from(["", "+", "-"]),
    lead=st.text(" \t\n\r", max_size=3),
    trail=st.text(" \t\n\r", max_size=3),
)
def test_stringy_power_levels_roundtrip(
    level: int, zeros: int, sign: str, lead: str, trail: str
) -> None:
    magnitude = "0" * zeros + str(abs(level))
    if level < 0:
        text, expected = f"{lead}-{magnitude}{trail}", -abs(level)
    else:
        text, expected = f"{lead}{sign}{magnitude}{trail}", (-level if sign == "-" else level)
    for rv in (RoomVersions.V1, RoomVersions.V6, RoomVersions.V9):
        assert event_auth.parse_power_level(text, rv) == expected
    assert event_auth.parse_power_level(text, RoomVersions.V10) is None


MUTATIONS = [
    "sender_not_joined",
    "sender_state_key_other_user",
    "duplicate_auth_event",
    "missing_auth_event",
    "auth_event_extra_type",
    "long_type",
    "long_sender",
    "required_level",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rv=st.sampled_from(ALL_VERSIONS),
    mutation=st.sampled_from(MUTATIONS),
    is_state=st.booleans(),
    body=st.text(max_size=20),
)
def test_one_mutation_of_a_valid_event_rejects_it(
    rv: RoomVersion, mutation: str, is_state: bool, body: str
) -> None:
    room = new_room(rv, state_default=0, events_default=0)
    room.force_member(ALICE, "join")
    state_key = "" if is_state else None
    etype = "m.custom.state" if is_state else "m.custom"
    good = room.make(etype, ALICE, {"body": body}, state_key)
    room.check(good)
    auth = good.auth_event_ids()
    if mutation == "sender_not_joined":
        bad = room.make(etype, CAROL, {"body": body}, state_key)
    elif mutation == "sender_state_key_other_user":
        bad = room.make("m.custom.state", ALICE, {"body": body}, BOB)
    elif mutation == "duplicate_auth_event":
        bad = room.make(etype, ALICE, {"body": body}, state_key, auth=[*auth, auth[0]])
    elif mutation == "missing_auth_event":
        unknown = "$nope:example.com" if rv.event_ids_in_events else "$nope"
        bad = room.make(etype, ALICE, {"body": body}, state_key, auth=[*auth, unknown])
    elif mutation == "auth_event_extra_type":
        extra = room.state[("m.room.history_visibility", "")].event_id
        bad = room.make(etype, ALICE, {"body": body}, state_key, auth=[*auth, extra])
    elif mutation == "long_type":
        bad = room.make("m." + "x" * 300, ALICE, {"body": body}, state_key)
    elif mutation == "long_sender":
        room.force_member("@" + "a" * 260 + ":example.com", "join")
        bad = room.make(etype, "@" + "a" * 260 + ":example.com", {"body": body}, state_key)
    else:
        room.store(
            room.make(
                "m.room.power_levels",
                CREATOR,
                room.power_levels(events={etype: 1, "m.room.power_levels": 100}),
                "",
            )
        )
        bad = room.make(etype, ALICE, {"body": body}, state_key)
        room.check(room.make(etype, MOD, {"body": body}, state_key))
    rejected(room, bad)
