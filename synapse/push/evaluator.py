"""Push rule conditions evaluated against one event.

One ``PushRuleEvaluator`` serves an event for every user it is evaluated for: the
result of each condition that does not depend on the user is remembered, so that a room
of many members with default rules evaluates each distinct condition once. Glob
patterns are compiled once (and cached across events); dotted keys are parsed once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from synapse.events import EventBase
from synapse.push.rules import LEGACY_MENTION_RULES, MEMBER_COUNT_RE, PushRule

# Characters that are not word boundaries in ``content.body`` matching.
_WORD_CHAR: Final = "(?-i:[A-Za-z0-9_])"
_MISSING: Final = object()
# The default level of ``notifications.room`` (and of any other notification key).
DEFAULT_NOTIFICATION_LEVEL: Final = 50


# --- dotted keys ----------------------------------------------------------------------


@functools.lru_cache(maxsize=10_000)
def parse_dotted_key(key: str) -> tuple[str, ...]:
    """The property names of a dot-separated path: ``\\.`` is a literal dot and ``\\\\``
    a literal backslash; any other backslash stands for itself."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(key):
        c = key[i]
        if c == "\\" and i + 1 < len(key) and key[i + 1] in ".\\":
            current.append(key[i + 1])
            i += 2
            continue
        if c == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    return tuple(parts)


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


def _condition_key(condition: Mapping[str, Any]) -> Any:
    """A hashable stand-in for a condition, to remember its result per event."""
    return tuple(sorted((k, repr(v)) for k, v in condition.items()))


# --- the evaluator --------------------------------------------------------------------


class PushRuleEvaluator:
    """Evaluates push rules against one event, for any number of users.

    ``sender_power_level`` and ``notification_levels`` (the ``notifications`` of the
    room's power levels) are those at the event.
    """

    def __init__(
        self,
        event: EventBase,
        room_member_count: int,
        sender_power_level: int,
        notification_levels: Mapping[str, int],
    ) -> None:
        self._event = event
        self._room_member_count = room_member_count
        self._sender_power_level = sender_power_level
        self._notification_levels = notification_levels
        self._has_mentions = "m.mentions" in event.content
        body = event.content.get("body")
        self._body: str | None = body if isinstance(body, str) else None
        self._results: dict[Any, bool] = {}

    def run(
        self, rules: Iterable[PushRule], user_id: str, display_name: str | None
    ) -> list[Any] | None:
        """The actions of the first enabled rule that matches (None: no rule matched)."""
        for rule in rules:
            if not rule.enabled:
                continue
            if self._has_mentions and rule.rule_id in LEGACY_MENTION_RULES:
                continue
            if all(self.matches(c, user_id, display_name) for c in rule.conditions):
                return list(rule.actions)
        return None

    def matches(self, condition: Mapping[str, Any], user_id: str, display_name: str | None) -> bool:
        """Whether one condition holds for the event (for ``user_id``)."""
        kind = condition.get("kind")
        if kind == "contains_display_name":
            return self._contains_display_name(display_name)
        key = _condition_key(condition)
        result = self._results.get(key)
        if result is None:
            result = self._results[key] = self._evaluate(kind, condition)
        return result

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
        return glob_matches(pattern, value, word_boundary=parse_dotted_key(key) == _BODY)

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
