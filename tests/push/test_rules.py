"""The server-default rules against the spec's definitions, and rulesets built from them."""

from __future__ import annotations

import json
import re
from typing import Any
from unittest import SkipTest, TestCase

from synapse.api.errors import SynapseError
from synapse.push.rules import (
    KINDS,
    LEGACY_MENTION_RULES,
    PushRuleKind,
    PushRuleset,
    build_ruleset,
    build_template,
    check_actions,
    check_conditions,
    is_server_default_rule,
    server_default_rules,
    template_signature,
)
from synapse.storage.databases.main.push_rule import (
    DefaultRuleOverride,
    StoredPushRule,
    UserPushRules,
)
from synapse.types import JsonDict
from tests.matrix_spec import SPEC_ROOT

ME = "@alice:example.com"
PUSH_MD = SPEC_ROOT / "content" / "client-server-api" / "modules" / "push.md"

# "**`.m.rule.x`**" (possibly after an anchor), then a JSON block after "Definition:".
_RULE_RE = re.compile(
    r"\*\*(?:<a [^>]*></a>)?`(\.m\.rule\.[a-z_.]+)`\*\*.*?Definition:\s*```json\n(.*?)```", re.S
)


def spec_default_rules() -> dict[str, list[JsonDict]]:
    """The spec's predefined rules by kind, in its order, for ``ME``."""
    if not PUSH_MD.is_file():
        raise SkipTest("the Matrix spec is not available")
    text = PUSH_MD.read_text(encoding="utf-8")
    out: dict[str, list[JsonDict]] = {}
    for section, kind in (
        ("##### Default Override Rules", PushRuleKind.OVERRIDE),
        ("##### Default Content Rules", PushRuleKind.CONTENT),
        ("##### Default Underride Rules", PushRuleKind.UNDERRIDE),
    ):
        start = text.find(section)
        if start < 0:
            out[kind] = []
            continue
        end = text.find("\n##### ", start + len(section))
        end = text.find("\n#### ", start) if end < 0 else end
        body = text[start:end]
        rules = []
        for rule_id, definition in _RULE_RE.findall(body):
            rule = json.loads(definition.replace("[the user's Matrix ID]", ME))
            assert rule["rule_id"] == rule_id
            rules.append(rule)
        out[kind] = rules
    return out


def by_kind(rules: Any) -> dict[str, list[JsonDict]]:
    out: dict[str, list[JsonDict]] = {kind: [] for kind in KINDS}
    for rule in rules:
        out[rule.kind].append(rule.to_client(ME))
    return out


class DefaultRulesTestCase(TestCase):
    def test_match_the_spec_definitions_in_order(self) -> None:
        spec = spec_default_rules()
        ours = by_kind(server_default_rules())
        self.assertGreater(len(spec[PushRuleKind.OVERRIDE]), 5)
        self.assertGreater(len(spec[PushRuleKind.UNDERRIDE]), 3)
        for kind, spec_rules in spec.items():
            # Ours are the spec's, in its order, plus the legacy mention rules.
            current = [r for r in ours[kind] if r["rule_id"] not in LEGACY_MENTION_RULES]
            self.assertEqual([r["rule_id"] for r in current], [r["rule_id"] for r in spec_rules])
            for mine, theirs in zip(current, spec_rules, strict=True):
                self.assertEqual(mine, theirs, theirs["rule_id"])

    def test_legacy_rules_in_their_historical_places(self) -> None:
        ours = by_kind(server_default_rules())
        override = [r["rule_id"] for r in ours[PushRuleKind.OVERRIDE]]
        self.assertEqual(
            override.index(".m.rule.contains_display_name"),
            override.index(".m.rule.is_user_mention") + 1,
        )
        self.assertEqual(
            override.index(".m.rule.roomnotif"), override.index(".m.rule.is_room_mention") + 1
        )
        self.assertEqual(
            ours[PushRuleKind.CONTENT],
            [
                {
                    "rule_id": ".m.rule.contains_user_name",
                    "default": True,
                    "enabled": True,
                    "actions": [
                        "notify",
                        {"set_tweak": "sound", "value": "default"},
                        {"set_tweak": "highlight"},
                    ],
                    "pattern": "alice",
                }
            ],
        )

    def test_every_rule_id_starts_with_a_dot_and_is_unique(self) -> None:
        ids = [r.rule_id for r in server_default_rules()]
        self.assertTrue(all(i.startswith(".m.rule.") for i in ids))
        self.assertEqual(len(ids), len(set(ids)))
        self.assertTrue(is_server_default_rule("override", ".m.rule.master"))
        self.assertFalse(is_server_default_rule("underride", ".m.rule.master"))
        self.assertFalse(is_server_default_rule("override", "mine"))


class BuildRulesetTestCase(TestCase):
    def test_defaults_alone(self) -> None:
        ruleset = build_ruleset(ME, UserPushRules())
        self.assertEqual(ruleset.rules[0].rule_id, ".m.rule.master")
        self.assertEqual(
            [r.kind for r in ruleset.rules],
            sorted((r.kind for r in ruleset.rules), key=KINDS.index),
        )

    def test_user_rules_before_defaults_after_master(self) -> None:
        stored = UserPushRules(
            rules=[
                StoredPushRule("override", "o1", 2, [], ["notify"], None, True),
                StoredPushRule("override", "o2", 1, [], [], None, False),
                StoredPushRule("room", "!r:x", 1, [], ["dont_notify"], None, True),
                StoredPushRule("sender", "@s:x", 1, [], [], None, True),
                StoredPushRule("content", "c", 1, [], ["notify"], "cake*", True),
                StoredPushRule("underride", "u", 1, [{"kind": "x"}], ["notify"], None, True),
            ]
        )
        ruleset = build_ruleset(ME, stored)
        ids = [r.rule_id for r in ruleset.rules]
        self.assertEqual(ids[:4], [".m.rule.master", "o1", "o2", ".m.rule.suppress_notices"])
        self.assertLess(ids.index("c"), ids.index(".m.rule.contains_user_name"))
        self.assertLess(ids.index(".m.rule.contains_user_name"), ids.index("!r:x"))
        self.assertLess(ids.index("!r:x"), ids.index("@s:x"))
        self.assertLess(ids.index("@s:x"), ids.index("u"))
        self.assertLess(ids.index("u"), ids.index(".m.rule.call"))

        client = ruleset.to_client()
        self.assertEqual(
            client["room"],
            [{"rule_id": "!r:x", "default": False, "enabled": True, "actions": []}],
        )
        self.assertEqual(client["content"][0]["pattern"], "cake*")
        self.assertNotIn("conditions", client["content"][0])
        self.assertEqual(client["underride"][0]["conditions"], [{"kind": "x"}])
        # Room, sender and content rules test what their kind implies.
        rules = {r.rule_id: r for r in ruleset.rules}
        self.assertEqual(
            list(rules["!r:x"].conditions),
            [{"kind": "event_property_is", "key": "room_id", "value": "!r:x"}],
        )
        content_rule = rules["c"]
        self.assertEqual(
            list(content_rule.conditions),
            [{"kind": "event_match", "key": "content.body", "pattern": "cake*"}],
        )

    def test_default_overrides(self) -> None:
        stored = UserPushRules(
            overrides={
                ("override", ".m.rule.master"): DefaultRuleOverride(enabled=True),
                ("underride", ".m.rule.message"): DefaultRuleOverride(actions=["dont_notify"]),
                ("override", ".m.rule.contains_display_name"): DefaultRuleOverride(enabled=False),
                ("override", ".m.rule.gone"): DefaultRuleOverride(enabled=True),
            }
        )
        ruleset = build_ruleset(ME, stored)
        master = ruleset.get("override", ".m.rule.master")
        message = ruleset.get("underride", ".m.rule.message")
        assert master is not None and message is not None
        self.assertTrue(master["enabled"])
        self.assertEqual(message["actions"], [])
        self.assertTrue(message["default"])
        self.assertIsNone(ruleset.get("override", ".m.rule.gone"))

    def test_users_with_the_same_stored_rules_share_a_template(self) -> None:
        changed = UserPushRules(
            overrides={("override", ".m.rule.master"): DefaultRuleOverride(True)}
        )
        self.assertEqual(template_signature(UserPushRules()), template_signature(UserPushRules()))
        self.assertNotEqual(template_signature(UserPushRules()), template_signature(changed))
        # Placeholders stand for the user in the template, and are filled in for clients.
        template = build_template(UserPushRules())
        a = PushRuleset("@a:test", template).get("override", ".m.rule.is_user_mention")
        b = PushRuleset("@b:test", template).get("override", ".m.rule.is_user_mention")
        assert a is not None and b is not None
        self.assertEqual(a["conditions"][0]["value"], "@a:test")
        self.assertEqual(b["conditions"][0]["value"], "@b:test")


class CheckInputTestCase(TestCase):
    def test_actions(self) -> None:
        self.assertEqual(
            check_actions(
                ["notify", "dont_notify", "coalesce", {"set_tweak": "sound", "value": "x"}]
            ),
            ["notify", {"set_tweak": "sound", "value": "x"}],
        )
        for bad in (["ring"], [{"value": 1}], [{"set_tweak": ""}], [1], [None]):
            with self.assertRaises(SynapseError) as cm:
                check_actions(bad)
            self.assertEqual(cm.exception.errcode, "M_INVALID_PARAM", bad)

    def test_conditions(self) -> None:
        check_conditions(
            [
                {"kind": "event_match", "key": "type", "pattern": "x"},
                {"kind": "event_property_is", "key": "k", "value": None},
                {"kind": "event_property_contains", "key": "k", "value": 2**53 - 1},
                {"kind": "room_member_count", "is": ">=3"},
                {"kind": "sender_notification_permission", "key": "room"},
                {"kind": "contains_display_name"},
                {"kind": "org.example.future", "anything": [1]},
            ]
        )
        for bad in (
            {"kind": "event_match", "key": "type"},
            {"kind": "event_match", "pattern": "x"},
            {"kind": "event_property_is", "key": "k"},
            {"kind": "event_property_is", "key": "k", "value": 1.5},
            {"kind": "event_property_contains", "key": "k", "value": 2**53},
            {"kind": "event_property_contains", "key": "k", "value": [1]},
            {"kind": "room_member_count", "is": "=>3"},
            {"kind": "room_member_count"},
            {"kind": "sender_notification_permission"},
        ):
            with self.assertRaises(SynapseError) as cm:
                check_conditions([bad])
            self.assertEqual(cm.exception.errcode, "M_INVALID_PARAM", bad)
