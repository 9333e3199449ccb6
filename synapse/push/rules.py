"""Push rules: the server-default rule set and a user's ruleset built on top of it.

A user's ruleset is, kind by kind in evaluation order (override, content, room, sender,
underride): ``.m.rule.master`` first, then the user's own rules of the kind (most
important first), then the server-default rules of the kind. Users may enable, disable
and change the actions of server-default rules; those changes are stored apart from the
rules themselves (``push_rules_default_overrides``), so that a newer server-default
definition still applies.

Besides the rules the spec lists today, the legacy mention rules it used to list
(``.m.rule.contains_display_name``, ``.m.rule.roomnotif``, ``.m.rule.contains_user_name``)
are kept in their historical places, as clients still show and toggle them; like the
spec asked when intentional mentions arrived, they are skipped for events whose content
has ``m.mentions``.

The server-default rules name the user (``.m.rule.invite_for_me``,
``.m.rule.is_user_mention``, ``.m.rule.contains_user_name``) through placeholders
(``USER_ID``, ``USER_LOCALPART``) rather than the values: so every user who changed
nothing shares one ``RulesetTemplate``, and an event is evaluated once per template
with only the user-dependent conditions checked per user (see ``evaluator.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attr

from synapse.api.errors import Codes, SynapseError
from synapse.storage.databases.main.push_rule import UserPushRules
from synapse.types import JsonDict, JsonMapping


class PushRuleKind:
    OVERRIDE: Final = "override"
    CONTENT: Final = "content"
    ROOM: Final = "room"
    SENDER: Final = "sender"
    UNDERRIDE: Final = "underride"


# Kinds in the order they are evaluated.
KINDS: Final = (
    PushRuleKind.OVERRIDE,
    PushRuleKind.CONTENT,
    PushRuleKind.ROOM,
    PushRuleKind.SENDER,
    PushRuleKind.UNDERRIDE,
)

# Kinds whose rules carry their own conditions.
CONDITION_KINDS: Final = frozenset((PushRuleKind.OVERRIDE, PushRuleKind.UNDERRIDE))

MASTER_RULE_ID: Final = ".m.rule.master"

# The mention rules that predate ``m.mentions``: not applied to events that have it.
LEGACY_MENTION_RULES: Final = frozenset(
    (".m.rule.contains_display_name", ".m.rule.roomnotif", ".m.rule.contains_user_name")
)

# Actions the spec retired: ignored wherever they appear.
HISTORICAL_ACTIONS: Final = frozenset(("dont_notify", "coalesce"))

_SOUND_DEFAULT: Final = {"set_tweak": "sound", "value": "default"}
_HIGHLIGHT: Final = {"set_tweak": "highlight"}


@attr.s(slots=True, frozen=True, auto_attribs=True)
class UserValue:
    """A placeholder in a server-default rule for a value of the user it is evaluated for."""

    name: str


USER_ID: Final = UserValue("user_id")
USER_LOCALPART: Final = UserValue("localpart")


class UserContext:
    """What user-dependent conditions look at: the user and their display name in the room."""

    __slots__ = ("user_id", "display_name", "_localpart")

    def __init__(self, user_id: str, display_name: str | None = None) -> None:
        self.user_id = user_id
        self.display_name = display_name
        self._localpart: str | None = None

    @property
    def localpart(self) -> str:
        if self._localpart is None:
            self._localpart = self.user_id[1:].partition(":")[0]
        return self._localpart

    def value(self, placeholder: UserValue) -> str:
        return self.user_id if placeholder is USER_ID else self.localpart


def substitute(value: Any, user: UserContext) -> Any:
    """``value`` with its placeholders replaced by the user's values."""
    if isinstance(value, UserValue):
        return user.value(value)
    if isinstance(value, Mapping):
        return {k: substitute(v, user) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [substitute(v, user) for v in value]
    return value


def is_user_dependent(condition: JsonMapping) -> bool:
    """Whether a condition's result depends on the user it is evaluated for."""
    return condition.get("kind") == "contains_display_name" or any(
        isinstance(v, UserValue) for v in condition.values()
    )


@attr.s(slots=True, frozen=True, auto_attribs=True, eq=False)
class PushRule:
    """One rule, with the user's enabled/actions changes applied.

    ``conditions`` are what the rule tests, also for content, room and sender rules
    (whose clients see a ``pattern`` or only the rule ID instead); in server-default
    rules they may hold placeholders (``UserValue``).
    """

    kind: str
    rule_id: str
    conditions: Sequence[JsonMapping]
    actions: Sequence[Any]
    default: bool = False
    enabled: bool = True
    pattern: str | UserValue | None = None
    # Per condition, a key under which its result for one event is shared between
    # users (None: the condition depends on the user).
    condition_keys: tuple[str | None, ...] = attr.ib(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(
            self, "condition_keys", tuple(_condition_key(c) for c in self.conditions)
        )

    def to_client(self, user_id: str) -> JsonDict:
        """The rule as the push rules API and ``m.push_rules`` show it to ``user_id``."""
        user = UserContext(user_id)
        out: JsonDict = {
            "rule_id": self.rule_id,
            "default": self.default,
            "enabled": self.enabled,
            "actions": substitute(self.actions, user),
        }
        if self.kind in CONDITION_KINDS:
            out["conditions"] = substitute(self.conditions, user)
        elif self.kind == PushRuleKind.CONTENT and self.pattern is not None:
            out["pattern"] = substitute(self.pattern, user)
        return out


@attr.s(slots=True, frozen=True, auto_attribs=True, eq=False)
class RulesetTemplate:
    """Rules in evaluation order, shared by every user whose stored rules are the same."""

    rules: tuple[PushRule, ...]


@attr.s(slots=True, frozen=True, auto_attribs=True)
class PushRuleset:
    """A user's rules in evaluation order."""

    user_id: str
    template: RulesetTemplate

    @property
    def rules(self) -> tuple[PushRule, ...]:
        return self.template.rules

    def get(self, kind: str, rule_id: str) -> JsonDict | None:
        """One rule as clients see it, or None."""
        for rule in self.template.rules:
            if rule.kind == kind and rule.rule_id == rule_id:
                return rule.to_client(self.user_id)
        return None

    def to_client(self) -> JsonDict:
        """``{kind: [rule, ...]}`` for every kind: the ``global`` ruleset."""
        out: JsonDict = {kind: [] for kind in KINDS}
        for rule in self.template.rules:
            out[rule.kind].append(rule.to_client(self.user_id))
        return out


def _condition_key(condition: JsonMapping) -> str | None:
    if is_user_dependent(condition):
        return None
    return json.dumps(condition, sort_keys=True, default=repr)


# --- the server-default rules ----------------------------------------------------------


def _event_match(key: str, pattern: str | UserValue) -> JsonDict:
    return {"kind": "event_match", "key": key, "pattern": pattern}


def _default(
    kind: str,
    rule_id: str,
    conditions: list[JsonDict],
    actions: list[Any],
    enabled: bool = True,
    pattern: str | UserValue | None = None,
) -> PushRule:
    return PushRule(kind, rule_id, conditions, actions, True, enabled, pattern)


def server_default_rules() -> list[PushRule]:
    """The server-default rules, kind by kind, in the spec's order (with placeholders
    for the user's ID and localpart)."""
    user_id, localpart = USER_ID, USER_LOCALPART
    o, u = PushRuleKind.OVERRIDE, PushRuleKind.UNDERRIDE
    return [
        _default(o, MASTER_RULE_ID, [], [], enabled=False),
        _default(o, ".m.rule.suppress_notices", [_event_match("content.msgtype", "m.notice")], []),
        _default(
            o,
            ".m.rule.invite_for_me",
            [
                _event_match("type", "m.room.member"),
                _event_match("content.membership", "invite"),
                _event_match("state_key", user_id),
            ],
            ["notify", _SOUND_DEFAULT],
        ),
        _default(o, ".m.rule.member_event", [_event_match("type", "m.room.member")], []),
        _default(
            o,
            ".m.rule.is_user_mention",
            [
                {
                    "kind": "event_property_contains",
                    "key": "content.m\\.mentions.user_ids",
                    "value": user_id,
                }
            ],
            ["notify", _SOUND_DEFAULT, _HIGHLIGHT],
        ),
        _default(
            o,
            ".m.rule.contains_display_name",
            [{"kind": "contains_display_name"}],
            ["notify", _SOUND_DEFAULT, _HIGHLIGHT],
        ),
        _default(
            o,
            ".m.rule.is_room_mention",
            [
                {"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": True},
                {"kind": "sender_notification_permission", "key": "room"},
            ],
            ["notify", _HIGHLIGHT],
        ),
        _default(
            o,
            ".m.rule.roomnotif",
            [
                _event_match("content.body", "@room"),
                {"kind": "sender_notification_permission", "key": "room"},
            ],
            ["notify", _HIGHLIGHT],
        ),
        _default(
            o,
            ".m.rule.tombstone",
            [_event_match("type", "m.room.tombstone"), _event_match("state_key", "")],
            ["notify", _HIGHLIGHT],
        ),
        _default(o, ".m.rule.reaction", [_event_match("type", "m.reaction")], []),
        _default(
            o,
            ".m.rule.room.server_acl",
            [_event_match("type", "m.room.server_acl"), _event_match("state_key", "")],
            [],
        ),
        _default(
            o,
            ".m.rule.suppress_edits",
            [
                {
                    "kind": "event_property_is",
                    "key": "content.m\\.relates_to.rel_type",
                    "value": "m.replace",
                }
            ],
            [],
        ),
        _default(
            PushRuleKind.CONTENT,
            ".m.rule.contains_user_name",
            [_event_match("content.body", localpart)],
            ["notify", _SOUND_DEFAULT, _HIGHLIGHT],
            pattern=localpart,
        ),
        _default(
            u,
            ".m.rule.call",
            [_event_match("type", "m.call.invite")],
            ["notify", {"set_tweak": "sound", "value": "ring"}],
        ),
        _default(
            u,
            ".m.rule.encrypted_room_one_to_one",
            [{"kind": "room_member_count", "is": "2"}, _event_match("type", "m.room.encrypted")],
            ["notify", _SOUND_DEFAULT],
        ),
        _default(
            u,
            ".m.rule.room_one_to_one",
            [{"kind": "room_member_count", "is": "2"}, _event_match("type", "m.room.message")],
            ["notify", _SOUND_DEFAULT],
        ),
        _default(u, ".m.rule.message", [_event_match("type", "m.room.message")], ["notify"]),
        _default(u, ".m.rule.encrypted", [_event_match("type", "m.room.encrypted")], ["notify"]),
    ]


_DEFAULT_RULES: Final = tuple(server_default_rules())
_DEFAULT_RULE_KEYS: Final = frozenset((r.kind, r.rule_id) for r in _DEFAULT_RULES)


def is_server_default_rule(kind: str, rule_id: str) -> bool:
    """Whether ``rule_id`` names a server-default rule of that kind."""
    return (kind, rule_id) in _DEFAULT_RULE_KEYS


# --- a user's ruleset ------------------------------------------------------------------


def user_rule_conditions(
    kind: str, rule_id: str, conditions: Sequence[JsonMapping], pattern: str | None
) -> list[JsonMapping]:
    """What a user-defined rule tests: its own conditions, or those its kind implies."""
    if kind in CONDITION_KINDS:
        return list(conditions)
    if kind == PushRuleKind.CONTENT:
        return [_event_match("content.body", pattern or "")]
    key = "room_id" if kind == PushRuleKind.ROOM else "sender"
    return [{"kind": "event_property_is", "key": key, "value": rule_id}]


def build_ruleset(user_id: str, stored: UserPushRules) -> PushRuleset:
    """The user's ruleset: their own rules merged with the server defaults."""
    return PushRuleset(user_id, build_template(stored))


def build_template(stored: UserPushRules) -> RulesetTemplate:
    """The rules of everyone with these stored rules, in evaluation order."""
    own: dict[str, list[PushRule]] = {kind: [] for kind in KINDS}
    for r in stored.rules:
        if r.kind not in own:
            continue
        own[r.kind].append(
            PushRule(
                kind=r.kind,
                rule_id=r.rule_id,
                conditions=user_rule_conditions(r.kind, r.rule_id, r.conditions, r.pattern),
                actions=strip_historical_actions(r.actions),
                default=False,
                enabled=r.enabled,
                pattern=r.pattern if r.kind == PushRuleKind.CONTENT else None,
            )
        )
    defaults: dict[str, list[PushRule]] = {kind: [] for kind in KINDS}
    master: PushRule | None = None
    for rule in _DEFAULT_RULES:
        override = stored.overrides.get((rule.kind, rule.rule_id))
        if override is not None:
            rule = attr.evolve(
                rule,
                enabled=rule.enabled if override.enabled is None else override.enabled,
                actions=(
                    rule.actions
                    if override.actions is None
                    else strip_historical_actions(override.actions)
                ),
            )
        if rule.rule_id == MASTER_RULE_ID:
            master = rule
        else:
            defaults[rule.kind].append(rule)
    ordered: list[PushRule] = [master] if master is not None else []
    for kind in KINDS:
        ordered.extend(own[kind])
        ordered.extend(defaults[kind])
    return RulesetTemplate(tuple(ordered))


def template_signature(stored: UserPushRules) -> str:
    """Equal for stored rules that give the same template."""
    return json.dumps(
        [
            [attr.astuple(r) for r in stored.rules],
            sorted((k, attr.astuple(v)) for k, v in stored.overrides.items()),
        ],
        sort_keys=True,
        default=repr,
    )


# --- checking what clients send ----------------------------------------------------------

_KNOWN_ACTIONS: Final = frozenset(("notify", *HISTORICAL_ACTIONS))
# ``is`` of a room_member_count condition: an optional comparison and a count.
MEMBER_COUNT_RE: Final = re.compile(r"(==|<=|>=|<|>)?([0-9]+)")
# Integers canonical JSON can hold.
_MAX_SAFE_INT: Final = 2**53 - 1


def _invalid(message: str) -> SynapseError:
    return SynapseError(400, message, Codes.INVALID_PARAM)


def strip_historical_actions(actions: Iterable[Any]) -> list[Any]:
    """``actions`` without ``dont_notify`` and ``coalesce``, which mean nothing now."""
    return [a for a in actions if not (isinstance(a, str) and a in HISTORICAL_ACTIONS)]


def check_actions(actions: Sequence[Any]) -> list[Any]:
    """The actions to store for a client's list: known string actions and ``set_tweak``
    objects (400 M_INVALID_PARAM otherwise), historical actions dropped."""
    for action in actions:
        if isinstance(action, str):
            if action not in _KNOWN_ACTIONS:
                raise _invalid(f"Unknown push rule action {action!r}")
        elif isinstance(action, Mapping):
            tweak = action.get("set_tweak")
            if not isinstance(tweak, str) or not tweak:
                raise _invalid("An action object must have a set_tweak string")
        else:
            raise _invalid("Each action must be a string or an object")
    return strip_historical_actions(actions)


def check_conditions(conditions: Sequence[Any]) -> None:
    """400 M_INVALID_PARAM for a condition of a known kind without the parameters it
    needs. Conditions of unknown kinds are kept: they never match."""
    for condition in conditions:
        if not isinstance(condition, Mapping):
            raise _invalid("Each condition must be an object")
        kind = condition.get("kind")
        if kind == "event_match":
            if not isinstance(condition.get("key"), str) or not isinstance(
                condition.get("pattern"), str
            ):
                raise _invalid("event_match conditions need a key and a pattern")
        elif kind in ("event_property_is", "event_property_contains"):
            if not isinstance(condition.get("key"), str) or "value" not in condition:
                raise _invalid(f"{kind} conditions need a key and a value")
            value = condition["value"]
            if not (
                value is None
                or isinstance(value, (str, bool))
                or (isinstance(value, int) and abs(value) <= _MAX_SAFE_INT)
            ):
                raise _invalid(f"{kind} values must be strings, integers, booleans or null")
        elif kind == "room_member_count":
            is_ = condition.get("is")
            if not isinstance(is_, str) or not MEMBER_COUNT_RE.fullmatch(is_):
                raise _invalid("room_member_count conditions need 'is', e.g. '>=2'")
        elif kind == "sender_notification_permission":
            if not isinstance(condition.get("key"), str):
                raise _invalid("sender_notification_permission conditions need a key")
