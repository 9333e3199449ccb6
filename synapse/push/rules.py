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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attr

from synapse.api.errors import Codes, SynapseError
from synapse.storage.databases.main.push_rule import UserPushRules
from synapse.types import JsonDict, JsonMapping, UserID


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


@attr.s(slots=True, frozen=True, auto_attribs=True, eq=False)
class PushRule:
    """One rule of a user's ruleset, with the user's enabled/actions changes applied.

    ``conditions`` are what the rule tests, also for content, room and sender rules
    (whose clients see a ``pattern`` or only the rule ID instead).
    """

    kind: str
    rule_id: str
    conditions: Sequence[JsonMapping]
    actions: Sequence[Any]
    default: bool = False
    enabled: bool = True
    pattern: str | None = None

    def to_client(self) -> JsonDict:
        """The rule as the push rules API and ``m.push_rules`` show it."""
        out: JsonDict = {
            "rule_id": self.rule_id,
            "default": self.default,
            "enabled": self.enabled,
            "actions": [_copy_json(a) for a in self.actions],
        }
        if self.kind in CONDITION_KINDS:
            out["conditions"] = [dict(_copy_json(c)) for c in self.conditions]
        elif self.kind == PushRuleKind.CONTENT and self.pattern is not None:
            out["pattern"] = self.pattern
        return out


@attr.s(slots=True, frozen=True, auto_attribs=True)
class PushRuleset:
    """A user's rules in evaluation order."""

    rules: tuple[PushRule, ...]
    # The enabled rules that look at the user's display name.
    display_name_rules: frozenset[str] = frozenset()

    def get(self, kind: str, rule_id: str) -> PushRule | None:
        for rule in self.rules:
            if rule.kind == kind and rule.rule_id == rule_id:
                return rule
        return None

    def to_client(self) -> JsonDict:
        """``{kind: [rule, ...]}`` for every kind: the ``global`` ruleset."""
        out: JsonDict = {kind: [] for kind in KINDS}
        for rule in self.rules:
            out[rule.kind].append(rule.to_client())
        return out


def _copy_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_json(v) for v in value]
    return value


# --- the server-default rules ----------------------------------------------------------


def _event_match(key: str, pattern: str) -> JsonDict:
    return {"kind": "event_match", "key": key, "pattern": pattern}


def _default(
    kind: str,
    rule_id: str,
    conditions: list[JsonDict],
    actions: list[Any],
    enabled: bool = True,
    pattern: str | None = None,
) -> PushRule:
    return PushRule(kind, rule_id, conditions, actions, True, enabled, pattern)


def server_default_rules(user_id: str) -> list[PushRule]:
    """The server-default rules for ``user_id``, kind by kind, in the spec's order."""
    localpart = UserID.from_string(user_id).localpart
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


_DEFAULT_RULE_KEYS: Final = frozenset(
    (r.kind, r.rule_id) for r in server_default_rules("@placeholder:localhost")
)


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
    for rule in server_default_rules(user_id):
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
    display_name_rules = frozenset(
        rule.rule_id
        for rule in ordered
        if rule.enabled and any(c.get("kind") == "contains_display_name" for c in rule.conditions)
    )
    return PushRuleset(tuple(ordered), display_name_rules)


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
