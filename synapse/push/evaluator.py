"""Push rule conditions evaluated against one event.

One ``PushRuleEvaluator`` serves an event for every user it is evaluated for. The
result of each condition that does not depend on the user is remembered, and a
template of rules (shared by every user with the same stored rules) is planned once
per event: the plan is the first rule that matches for anyone, and the earlier rules
that may match for some users with only their user-dependent conditions (the user's
ID, localpart or display name) left to check. So in a room of many members with
default rules, each user costs a check of ``m.mentions`` or so. Glob patterns are
compiled once (and cached across events); dotted keys are parsed once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attr

from synapse.events import EventBase
from synapse.events.utils import parse_dotted_key
from synapse.push.rules import (
    LEGACY_MENTION_RULES,
    MEMBER_COUNT_RE,
    USER_ID,
    PushRule,
    RulesetTemplate,
    UserContext,
    UserValue,
    is_user_dependent,
    substitute,
)
from synapse.types import JsonMapping

# Characters that are not word boundaries in ``content.body`` matching.
_WORD_CHAR: Final = "(?-i:[A-Za-z0-9_])"
_MISSING: Final = object()
# The default level of ``notifications.room`` (and of any other notification key).
DEFAULT_NOTIFICATION_LEVEL: Final = 50


# --- dotted keys ----------------------------------------------------------------------


def lookup_property(event: EventBase, key: str) -> Any:
    """The value at a dotted key of the event, or ``_MISSING``."""
    path = parse_dotted_key(key)
    if path[0] == "event_id":
        node: Any = event.event_id
    elif path[0] == "unsigned":
        node = event.unsigned
    else:
        node = event.get(path[0], _MISSING)
    for name in path[1:]:
        if not isinstance(node, Mapping):
            return _MISSING
        node = node.get(name, _MISSING)
    return node


# --- globs ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=10_000)
def compile_glob(pattern: str, word_boundary: bool) -> re.Pattern[str]:
    """A case-insensitive regex for a glob (``*``: any run of characters, ``?``: one).

    With ``word_boundary`` it finds the glob in any substring that starts and ends at a
    word boundary (``content.body``); otherwise it must match the whole value.
    """
    parts: list[str] = []
    previous = ""
    for c in pattern:
        if c == "*":
            if previous != "*":
                parts.append(".*")
        elif c == "?":
            parts.append(".")
        else:
            parts.append(re.escape(c))
        previous = c
    body = "".join(parts)
    if word_boundary:
        body = f"(?<!{_WORD_CHAR}){body}(?!{_WORD_CHAR})"
    else:
        body = f"(?:{body})\\Z"
    return re.compile(body, re.IGNORECASE | re.DOTALL)


def glob_matches(pattern: str, value: str, word_boundary: bool = False) -> bool:
    regex = compile_glob(pattern, word_boundary)
    if word_boundary:
        return regex.search(value) is not None
    return regex.match(value) is not None


# --- exact values ---------------------------------------------------------------------


def _is_plain_value(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, bool)) and not isinstance(value, float)


def _same_value(a: Any, b: Any) -> bool:
    """Equal with the same JSON type (``true`` is not ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return type(a) is type(b) and a == b


# --- the evaluator --------------------------------------------------------------------


class PowerLevelsNeeded(Exception):
    """The evaluation reached a ``sender_notification_permission`` condition, and the
    evaluator was given no power levels: give them (``set_power_levels``) and retry."""


UserCheck = Callable[[UserContext], bool]


@attr.s(slots=True, frozen=True, auto_attribs=True)
class EvaluationPlan:
    """What a template of rules does with one event.

    ``candidates`` are the rules before ``generic_actions``'s whose conditions that do
    not depend on the user all hold, as their actions and the checks of their
    user-dependent conditions; ``generic_actions`` are the actions of the first rule
    that matches for anyone (None: no such rule). ``needs_display_name``: a check
    reads the user's display name.
    """

    candidates: tuple[tuple[list[Any], tuple[UserCheck, ...]], ...]
    generic_actions: list[Any] | None
    needs_display_name: bool = False


class PushRuleEvaluator:
    """Evaluates push rules against one event, for any number of users.

    ``sender_power_level`` and ``notification_levels`` (the ``notifications`` of the
    room's power levels) are those at the event; without them, a condition that needs
    them raises ``PowerLevelsNeeded``.
    """

    def __init__(
        self,
        event: EventBase,
        room_member_count: int,
        sender_power_level: int | None = None,
        notification_levels: Mapping[str, int] | None = None,
    ) -> None:
        self._event = event
        self._room_member_count = room_member_count
        self._sender_power_level = sender_power_level
        self._notification_levels = notification_levels or {}
        self._has_mentions = "m.mentions" in event.content
        body = event.content.get("body")
        self._body: str | None = body if isinstance(body, str) else None
        self._body_lower: str | None = None
        self._results: dict[str, bool] = {}
        self._plans: dict[int, tuple[RulesetTemplate, EvaluationPlan]] = {}
        self._user_checks: dict[int, tuple[JsonMapping, UserCheck | None]] = {}

    def set_power_levels(
        self, sender_power_level: int, notification_levels: Mapping[str, int]
    ) -> None:
        self._sender_power_level = sender_power_level
        self._notification_levels = notification_levels

    # --- whole rulesets --------------------------------------------------------------
    def plan(self, template: RulesetTemplate) -> EvaluationPlan:
        """What the template's rules do with the event (computed once per template)."""
        cached = self._plans.get(id(template))
        if cached is not None and cached[0] is template:
            return cached[1]
        candidates: list[tuple[list[Any], tuple[UserCheck, ...]]] = []
        generic: list[Any] | None = None
        needs_display_name = False
        for rule in template.rules:
            if not self._applies(rule):
                continue
            user_conditions: list[JsonMapping] = []
            for condition, key in zip(rule.conditions, rule.condition_keys, strict=True):
                if key is None:
                    user_conditions.append(condition)
                elif not self._shared_result(key, condition):
                    break
            else:
                if not user_conditions:
                    generic = list(rule.actions)
                    break
                checks = [self._user_check(c) for c in user_conditions]
                if any(check is None for check in checks):
                    # Holds for nobody (e.g. an empty list of mentioned users).
                    continue
                candidates.append((list(rule.actions), tuple(c for c in checks if c)))
                needs_display_name |= any(
                    c.get("kind") == "contains_display_name" for c in user_conditions
                )
        plan = EvaluationPlan(tuple(candidates), generic, needs_display_name)
        self._plans[id(template)] = (template, plan)
        return plan

    def actions_for(self, plan: EvaluationPlan, user: UserContext) -> list[Any] | None:
        """The actions of the first rule of a plan that matches for ``user`` (the plan's
        own lists: users notified alike share them)."""
        for actions, checks in plan.candidates:
            for check in checks:
                if not check(user):
                    break
            else:
                return actions
        return plan.generic_actions

    def run(self, rules: Iterable[PushRule], user: UserContext) -> list[Any] | None:
        """The actions of the first enabled rule that matches for ``user`` (None: no
        rule matched): rule by rule, without a plan."""
        for rule in rules:
            if not self._applies(rule):
                continue
            for condition, key in zip(rule.conditions, rule.condition_keys, strict=True):
                if key is None:
                    if not self._user_condition(condition, user):
                        break
                elif not self._shared_result(key, condition):
                    break
            else:
                return list(rule.actions)
        return None

    def matches(self, condition: JsonMapping, user: UserContext) -> bool:
        """Whether one condition holds for the event (for ``user``)."""
        if is_user_dependent(condition):
            return self._user_condition(condition, user)
        return self._evaluate(condition.get("kind"), condition)

    def _applies(self, rule: PushRule) -> bool:
        return rule.enabled and not (self._has_mentions and rule.rule_id in LEGACY_MENTION_RULES)

    def _shared_result(self, key: str, condition: JsonMapping) -> bool:
        result = self._results.get(key)
        if result is None:
            result = self._results[key] = self._evaluate(condition.get("kind"), condition)
        return result

    def _user_condition(self, condition: JsonMapping, user: UserContext) -> bool:
        """A condition that depends on the user: their display name, or placeholders."""
        check = self._user_check(condition)
        return check is not None and check(user)

    def _user_check(self, condition: JsonMapping) -> UserCheck | None:
        """A check of a user-dependent condition against this event, for any user (None:
        it holds for nobody). What does not depend on the user is read once."""
        entry = self._user_checks.get(id(condition))
        if entry is None or entry[0] is not condition:
            entry = self._user_checks[id(condition)] = (condition, self._make_user_check(condition))
        return entry[1]

    def _make_user_check(self, condition: JsonMapping) -> UserCheck | None:
        kind = condition.get("kind")
        if kind == "contains_display_name":
            if self._body is None:
                return None
            return lambda user: self._contains_display_name(user.display_name)
        key = condition.get("key")
        if kind == "event_property_contains" and isinstance(key, str):
            placeholder = condition.get("value")
            values = lookup_property(self._event, key)
            if isinstance(placeholder, UserValue):
                if not isinstance(values, (list, tuple)):
                    return None
                strings = {v for v in values if isinstance(v, str)}
                if not strings:
                    return None
                if placeholder is USER_ID:
                    return lambda user: user.user_id in strings
                return lambda user: user.localpart in strings
        if kind == "event_match" and isinstance(key, str):
            pattern = condition.get("pattern")
            value = lookup_property(self._event, key)
            if isinstance(pattern, UserValue):
                if not isinstance(value, str):
                    return None
                if parse_dotted_key(key) != _BODY:
                    return lambda user: glob_matches(user.value(pattern), value)
                return lambda user: (
                    self._may_contain(user.value(pattern))
                    and glob_matches(user.value(pattern), value, word_boundary=True)
                )
        return lambda user: self._evaluate(kind, substitute(condition, user))

    def _evaluate(self, kind: Any, condition: Mapping[str, Any]) -> bool:
        if kind == "event_match":
            return self._event_match(condition)
        if kind == "event_property_is":
            return self._event_property_is(condition)
        if kind == "event_property_contains":
            return self._event_property_contains(condition)
        if kind == "room_member_count":
            return self._room_member_count_matches(condition.get("is"))
        if kind == "sender_notification_permission":
            return self._sender_may_notify(condition.get("key"))
        # Unknown conditions never match.
        return False

    def _event_match(self, condition: Mapping[str, Any]) -> bool:
        key = condition.get("key")
        pattern = condition.get("pattern")
        if not isinstance(key, str) or not isinstance(pattern, str):
            return False
        value = lookup_property(self._event, key)
        if not isinstance(value, str):
            return False
        if parse_dotted_key(key) != _BODY:
            return glob_matches(pattern, value)
        if not self._may_contain(pattern):
            return False
        return glob_matches(pattern, value, word_boundary=True)

    def _may_contain(self, literal: str) -> bool:
        """False when the body surely does not contain ``literal`` (ignoring case): a
        quick test before a regex search, for the many users of one event. Only for
        ASCII text and patterns without wildcards, where lower-casing is exact."""
        if "*" in literal or "?" in literal or not literal.isascii():
            return True
        if self._body_lower is None:
            if self._body is None or not self._body.isascii():
                return True
            self._body_lower = self._body.lower()
        return literal.lower() in self._body_lower

    def _event_property_is(self, condition: Mapping[str, Any]) -> bool:
        key = condition.get("key")
        if not isinstance(key, str) or "value" not in condition:
            return False
        value = lookup_property(self._event, key)
        if value is _MISSING or not _is_plain_value(value):
            return False
        return _same_value(value, condition["value"])

    def _event_property_contains(self, condition: Mapping[str, Any]) -> bool:
        key = condition.get("key")
        if not isinstance(key, str) or "value" not in condition:
            return False
        values = lookup_property(self._event, key)
        if not isinstance(values, (list, tuple)):
            return False
        wanted = condition["value"]
        return any(_is_plain_value(v) and _same_value(v, wanted) for v in values)

    def _contains_display_name(self, display_name: str | None) -> bool:
        if not display_name or self._body is None:
            return False
        if not self._may_contain(display_name):
            return False
        regex = _display_name_regex(display_name)
        return regex.search(self._body) is not None

    def _room_member_count_matches(self, is_: Any) -> bool:
        if not isinstance(is_, str):
            return False
        m = MEMBER_COUNT_RE.fullmatch(is_)
        if m is None:
            return False
        op, number = m.group(1) or "==", int(m.group(2))
        count = self._room_member_count
        if op == "==":
            return count == number
        if op == "<":
            return count < number
        if op == ">":
            return count > number
        if op == "<=":
            return count <= number
        return count >= number

    def _sender_may_notify(self, key: Any) -> bool:
        if not isinstance(key, str):
            return False
        if self._sender_power_level is None:
            raise PowerLevelsNeeded()
        needed = self._notification_levels.get(key, DEFAULT_NOTIFICATION_LEVEL)
        return self._sender_power_level >= needed


_BODY: Final = ("content", "body")


@functools.lru_cache(maxsize=10_000)
def _display_name_regex(display_name: str) -> re.Pattern[str]:
    """The display name as a literal, between word boundaries, case-insensitively."""
    return re.compile(f"(?<!{_WORD_CHAR}){re.escape(display_name)}(?!{_WORD_CHAR})", re.IGNORECASE)


def actions_notify(actions: Iterable[Any]) -> bool:
    return any(a == "notify" for a in actions)


def actions_highlight(actions: Iterable[Any]) -> bool:
    """Whether the actions set the ``highlight`` tweak (no value means true)."""
    for action in actions:
        if isinstance(action, Mapping) and action.get("set_tweak") == "highlight":
            return action.get("value", True) is True
    return False
