"""Push rule conditions against events: every condition kind, with the spec's examples."""

from __future__ import annotations

from typing import Any
from unittest import TestCase

from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.events import EventBase, make_event_from_dict
from synapse.push.evaluator import (
    PowerLevelsNeeded,
    PushRuleEvaluator,
    actions_highlight,
    actions_notify,
    compile_glob,
    glob_matches,
    parse_dotted_key,
)
from synapse.push.rules import PushRule, UserContext, build_ruleset, build_template
from synapse.storage.databases.main.push_rule import UserPushRules
from synapse.types import JsonDict

ME = "@me:test"


def make_event(
    content: JsonDict | None = None,
    type: str = "m.room.message",
    sender: str = "@sender:test",
    state_key: str | None = None,
    **extra: Any,
) -> EventBase:
    d: JsonDict = {
        "type": type,
        "sender": sender,
        "room_id": "!room:test",
        "content": content if content is not None else {},
        "origin_server_ts": 1,
        "depth": 1,
        "prev_events": [],
        "auth_events": [],
        **extra,
    }
    if state_key is not None:
        d["state_key"] = state_key
    return make_event_from_dict(d, KNOWN_ROOM_VERSIONS["10"])


def evaluator(
    event: EventBase,
    members: int = 3,
    sender_level: int = 0,
    notification_levels: dict[str, int] | None = None,
) -> PushRuleEvaluator:
    return PushRuleEvaluator(event, members, sender_level, notification_levels or {})


def holds(
    condition: JsonDict, event: EventBase, display_name: str | None = None, **kw: Any
) -> bool:
    return evaluator(event, **kw).matches(condition, UserContext(ME, display_name))


def match(key: str, pattern: str) -> JsonDict:
    return {"kind": "event_match", "key": key, "pattern": pattern}


class DottedKeyTestCase(TestCase):
    def test_plain(self) -> None:
        self.assertEqual(parse_dotted_key("content.body"), ("content", "body"))

    def test_escaped_dot_and_backslash(self) -> None:
        self.assertEqual(parse_dotted_key("content.m\\.relates_to"), ("content", "m.relates_to"))
        self.assertEqual(parse_dotted_key("content.m\\\\foo"), ("content", "m\\foo"))

    def test_other_escapes_are_literal(self) -> None:
        self.assertEqual(parse_dotted_key("content.m\\xfoo"), ("content", "m\\xfoo"))
        self.assertEqual(parse_dotted_key("a\\"), ("a\\",))


class EventMatchTestCase(TestCase):
    def test_spec_topic_example(self) -> None:
        condition = match("content.topic", "lunc?*")
        for topic in ("Lunch plans", "LUNCH"):
            event = make_event({"topic": topic}, type="m.room.topic", state_key="")
            self.assertTrue(holds(condition, event), topic)
        bad_topics: tuple[str | None, ...] = (" lunch", "lunc", None)
        for bad in bad_topics:
            event = make_event({"topic": bad}, type="m.room.topic", state_key="")
            self.assertFalse(holds(condition, event), bad)

    def test_whole_value_must_match(self) -> None:
        self.assertFalse(holds(match("type", "m.room"), make_event()))
        self.assertTrue(holds(match("type", "m.room.*"), make_event()))
        self.assertTrue(holds(match("type", "M.ROOM.MESSAGE"), make_event()))

    def test_absent_or_non_string_never_matches(self) -> None:
        self.assertFalse(holds(match("content.missing", "*"), make_event()))
        self.assertFalse(holds(match("content.n", "*"), make_event({"n": 1})))
        self.assertFalse(holds(match("content.obj", "*"), make_event({"obj": {"a": "b"}})))
        self.assertFalse(holds(match("content.body.deeper", "*"), make_event({"body": "x"})))

    def test_question_mark_is_one_character(self) -> None:
        self.assertTrue(
            holds(match("content.msgtype", "m.te?t"), make_event({"msgtype": "m.text"}))
        )
        self.assertFalse(
            holds(match("content.msgtype", "m.te?t"), make_event({"msgtype": "m.tet"}))
        )

    def test_regex_characters_are_literal(self) -> None:
        event = make_event({"x": "a+b(c)[d]"})
        self.assertTrue(holds(match("content.x", "a+b(c)[d]"), event))
        self.assertFalse(holds(match("content.x", "a+b(c)[e]"), event))
        self.assertFalse(holds(match("content.x", "a.b(c)[d]"), make_event({"x": "aab(c)[d]"})))

    def test_escaped_keys(self) -> None:
        event = make_event({"m.relates_to": {"rel_type": "m.thread"}, "a\\b": "v"})
        self.assertTrue(holds(match("content.m\\.relates_to.rel_type", "m.thread"), event))
        self.assertFalse(holds(match("content.m.relates_to.rel_type", "m.thread"), event))
        self.assertTrue(holds(match("content.a\\\\b", "v"), event))
        # An escape that means nothing stands for itself.
        self.assertTrue(holds(match("content.a\\b", "v"), event))

    def test_top_level_keys(self) -> None:
        event = make_event(sender="@Bob:test")
        self.assertTrue(holds(match("sender", "@bob:test"), event))
        self.assertTrue(holds(match("room_id", "!room:test"), event))
        self.assertTrue(holds(match("event_id", event.event_id), event))
        self.assertFalse(holds(match("state_key", "*"), event))
        self.assertTrue(holds(match("state_key", ""), make_event(state_key="")))

    def test_body_spec_examples(self) -> None:
        condition = match("content.body", "ex*ple")
        for body in ("An example event.", "exple", "An exciting triple-whammy"):
            self.assertTrue(holds(condition, make_event({"body": body})), body)

    def test_body_word_boundaries(self) -> None:
        condition = match("content.body", "cake")
        for body in ("cake", "I like cake!", "cake, please", "(cake)", "ça cake"):
            self.assertTrue(holds(condition, make_event({"body": body})), body)
        for body in ("cakes", "pancake", "cake_x", "cake1", "Ecake", ""):
            self.assertFalse(holds(condition, make_event({"body": body})), body)
        # Letters outside A-Z are word boundaries too.
        self.assertTrue(holds(condition, make_event({"body": "écakeé"})))
        self.assertTrue(holds(condition, make_event({"body": "I like CAKE"})))

    def test_body_pattern_spans_lines(self) -> None:
        self.assertTrue(holds(match("content.body", "a*b"), make_event({"body": "a\nb"})))

    def test_room_pattern_is_a_word(self) -> None:
        condition = match("content.body", "@room")
        self.assertTrue(holds(condition, make_event({"body": "hey @room, lunch"})))
        self.assertFalse(holds(condition, make_event({"body": "hey @roommates"})))
        self.assertFalse(holds(condition, make_event({"body": "x@room"})))

    def test_globs_are_compiled_once(self) -> None:
        compile_glob.cache_clear()
        glob_matches("a*b", "axb")
        glob_matches("a*b", "ayb")
        self.assertEqual(compile_glob.cache_info().misses, 1)
        self.assertEqual(compile_glob.cache_info().hits, 1)

    def test_many_stars_collapse(self) -> None:
        self.assertTrue(glob_matches("a" + "*" * 50 + "b", "a" + "x" * 10_000 + "b"))


class PropertyIsTestCase(TestCase):
    def cond(self, key: str, value: Any) -> JsonDict:
        return {"kind": "event_property_is", "key": key, "value": value}

    def test_spec_example(self) -> None:
        condition = self.cond("content.m\\.federate", True)
        self.assertTrue(holds(condition, make_event({"m.federate": True})))
        self.assertFalse(holds(condition, make_event({"m.federate": "true"})))
        self.assertFalse(holds(condition, make_event({"m.federate": 1})))
        self.assertFalse(holds(condition, make_event({})))

    def test_types_are_not_cast(self) -> None:
        self.assertFalse(holds(self.cond("content.n", 1), make_event({"n": True})))
        self.assertFalse(holds(self.cond("content.n", 1), make_event({"n": "1"})))
        self.assertTrue(holds(self.cond("content.n", 1), make_event({"n": 1})))
        self.assertTrue(holds(self.cond("content.s", "x"), make_event({"s": "x"})))
        self.assertFalse(holds(self.cond("content.s", "X"), make_event({"s": "x"})))

    def test_null(self) -> None:
        self.assertTrue(holds(self.cond("content.v", None), make_event({"v": None})))
        self.assertFalse(holds(self.cond("content.v", None), make_event({})))

    def test_compound_values_never_match(self) -> None:
        self.assertFalse(holds(self.cond("content.v", None), make_event({"v": {}})))
        self.assertFalse(holds(self.cond("content.v", None), make_event({"v": []})))

    def test_without_value_never_matches(self) -> None:
        condition = {"kind": "event_property_is", "key": "content.v"}
        self.assertFalse(holds(condition, make_event({"v": None})))


class PropertyContainsTestCase(TestCase):
    def cond(self, key: str, value: Any) -> JsonDict:
        return {"kind": "event_property_contains", "key": key, "value": value}

    def test_spec_example(self) -> None:
        event = make_event(
            {
                "alias": "#somewhere:localhost",
                "alt_aliases": ["#somewhere:example.org", "#myroom:example.com"],
            },
            type="m.room.canonical_alias",
            state_key="",
        )
        self.assertTrue(holds(self.cond("content.alt_aliases", "#myroom:example.com"), event))
        self.assertFalse(holds(self.cond("content.alt_aliases", ":example.com"), event))

    def test_not_an_array(self) -> None:
        self.assertFalse(holds(self.cond("content.v", "a"), make_event({"v": "a"})))
        self.assertFalse(holds(self.cond("content.v", "a"), make_event({})))

    def test_exact_typed_values(self) -> None:
        event = make_event({"v": [1, "2", True, None, {"x": 1}, [3]]})
        self.assertTrue(holds(self.cond("content.v", 1), event))
        self.assertTrue(holds(self.cond("content.v", "2"), event))
        self.assertTrue(holds(self.cond("content.v", True), event))
        self.assertTrue(holds(self.cond("content.v", None), event))
        self.assertFalse(holds(self.cond("content.v", 2), event))
        self.assertFalse(holds(self.cond("content.v", 3), event))
        self.assertFalse(holds(self.cond("content.v", False), event))

    def test_user_mentions(self) -> None:
        condition = self.cond("content.m\\.mentions.user_ids", ME)
        self.assertTrue(holds(condition, make_event({"m.mentions": {"user_ids": [ME]}})))
        self.assertFalse(holds(condition, make_event({"m.mentions": {"user_ids": ["@x:test"]}})))
        self.assertFalse(holds(condition, make_event({"m.mentions": {"user_ids": ME}})))


class DisplayNameTestCase(TestCase):
    condition: JsonDict = {"kind": "contains_display_name"}

    def test_word_in_body(self) -> None:
        for body in ("hi Alice Smith!", "alice smith", "ALICE SMITH: lunch?"):
            event = make_event({"body": body})
            self.assertTrue(holds(self.condition, event, "Alice Smith"), body)
        for body in ("hi AliceSmith", "Alice Smiths", "Alice", "x"):
            event = make_event({"body": body})
            self.assertFalse(holds(self.condition, event, "Alice Smith"), body)

    def test_name_is_literal(self) -> None:
        self.assertTrue(holds(self.condition, make_event({"body": "hey a*b"}), "a*b"))
        self.assertFalse(holds(self.condition, make_event({"body": "hey axxb"}), "a*b"))

    def test_no_name_or_body(self) -> None:
        self.assertFalse(holds(self.condition, make_event({"body": "Alice"}), None))
        self.assertFalse(holds(self.condition, make_event({"body": "Alice"}), ""))
        self.assertFalse(holds(self.condition, make_event({"body": 3}), "Alice"))
        self.assertFalse(holds(self.condition, make_event({}), "Alice"))

    def test_depends_on_the_user(self) -> None:
        ev = evaluator(make_event({"body": "hi Bob"}))
        self.assertTrue(ev.matches(self.condition, UserContext("@b:test", "Bob")))
        self.assertFalse(ev.matches(self.condition, UserContext("@c:test", "Carol")))


class MemberCountTestCase(TestCase):
    def check(self, is_: Any, count: int) -> bool:
        return holds({"kind": "room_member_count", "is": is_}, make_event(), members=count)

    def test_operators(self) -> None:
        cases = [
            ("2", 2, True),
            ("2", 3, False),
            ("==2", 2, True),
            ("==2", 1, False),
            ("<2", 1, True),
            ("<2", 2, False),
            (">2", 3, True),
            (">2", 2, False),
            ("<=2", 2, True),
            ("<=2", 3, False),
            (">=2", 2, True),
            (">=2", 1, False),
            ("10", 10, True),
        ]
        for is_, count, expected in cases:
            self.assertEqual(self.check(is_, count), expected, (is_, count))

    def test_malformed_never_matches(self) -> None:
        for is_ in ("", "=2", "!2", "2.0", " 2", "two", "<", 2, None, "２"):
            self.assertFalse(self.check(is_, 2), is_)


class SenderPermissionTestCase(TestCase):
    condition: JsonDict = {"kind": "sender_notification_permission", "key": "room"}

    def test_default_level_is_50(self) -> None:
        self.assertTrue(holds(self.condition, make_event(), sender_level=50))
        self.assertFalse(holds(self.condition, make_event(), sender_level=49))

    def test_level_from_power_levels(self) -> None:
        levels = {"room": 10}
        self.assertTrue(
            holds(self.condition, make_event(), sender_level=10, notification_levels=levels)
        )
        self.assertFalse(
            holds(self.condition, make_event(), sender_level=9, notification_levels=levels)
        )

    def test_other_keys_and_malformed(self) -> None:
        other = {"kind": "sender_notification_permission", "key": "custom"}
        self.assertTrue(holds(other, make_event(), sender_level=50))
        self.assertFalse(
            holds({"kind": "sender_notification_permission"}, make_event(), sender_level=100)
        )


class UnknownConditionTestCase(TestCase):
    def test_never_matches(self) -> None:
        for condition in (
            {"kind": "org.example.custom"},
            {"kind": 3},
            {},
            {"kind": "device", "profile_tag": "x"},
        ):
            self.assertFalse(holds(condition, make_event({"body": "x"})), condition)

    def test_rule_with_unknown_condition_is_effectively_disabled(self) -> None:
        rule = PushRule(
            "override",
            "r",
            [{"kind": "event_match", "key": "type", "pattern": "*"}, {"kind": "nope"}],
            ["notify"],
        )
        self.assertIsNone(evaluator(make_event()).run([rule], UserContext(ME)))


class RunTestCase(TestCase):
    def test_first_enabled_match_wins(self) -> None:
        anything: list[JsonDict] = []
        rules = [
            PushRule("override", "off", anything, ["notify", {"set_tweak": "a"}], enabled=False),
            PushRule("override", "no", [match("type", "nope")], ["notify"]),
            PushRule("override", "yes", anything, ["notify", {"set_tweak": "b"}]),
            PushRule("underride", "later", anything, []),
        ]
        self.assertEqual(
            evaluator(make_event()).run(rules, UserContext(ME)), ["notify", {"set_tweak": "b"}]
        )

    def test_no_rule_matches(self) -> None:
        self.assertIsNone(evaluator(make_event()).run([], UserContext(ME)))

    def test_legacy_mention_rules_skipped_with_mentions(self) -> None:
        ruleset = build_ruleset(ME, UserPushRules())
        # The body names the user, but m.mentions (empty) says who is mentioned.
        with_mentions = make_event({"body": "hi me", "msgtype": "m.text", "m.mentions": {}})
        without = make_event({"body": "hi me", "msgtype": "m.text"})
        actions = evaluator(with_mentions).run(ruleset.rules, UserContext(ME, "me"))
        assert actions is not None
        self.assertFalse(actions_highlight(actions))
        actions = evaluator(without).run(ruleset.rules, UserContext(ME, "me"))
        assert actions is not None
        self.assertTrue(actions_highlight(actions))

    def test_condition_results_are_shared_between_users(self) -> None:
        rule = PushRule("override", "r", [match("content.body", "x")], ["notify"])
        ev = evaluator(make_event({"body": "x"}))
        self.assertEqual(ev.run([rule], UserContext("@a:test")), ["notify"])
        # Answered from memory for the next user.
        ev._event = make_event({"body": "y"})
        self.assertEqual(ev.run([rule], UserContext("@b:test")), ["notify"])
        fresh = evaluator(make_event({"body": "y"}))
        self.assertIsNone(fresh.run([rule], UserContext("@b:test")))


class ActionsTestCase(TestCase):
    def test_notify(self) -> None:
        self.assertTrue(actions_notify(["notify"]))
        self.assertFalse(actions_notify([]))
        self.assertFalse(actions_notify(["dont_notify", {"set_tweak": "highlight"}]))

    def test_highlight(self) -> None:
        self.assertTrue(actions_highlight(["notify", {"set_tweak": "highlight"}]))
        self.assertTrue(actions_highlight([{"set_tweak": "highlight", "value": True}]))
        self.assertFalse(actions_highlight([{"set_tweak": "highlight", "value": False}]))
        self.assertFalse(actions_highlight([{"set_tweak": "sound", "value": "default"}]))
        self.assertFalse(actions_highlight(["notify"]))


class QuickTestsTestCase(TestCase):
    """The substring pre-tests never turn a match into a miss."""

    def test_non_ascii_body_and_pattern(self) -> None:
        self.assertTrue(holds(match("content.body", "école"), make_event({"body": "À L'ÉCOLE"})))
        self.assertTrue(holds(match("content.body", "ecole"), make_event({"body": "an ECOLE é"})))
        self.assertFalse(holds(match("content.body", "ecole"), make_event({"body": "écolé"})))

    def test_display_name_with_wildcard_characters(self) -> None:
        condition: JsonDict = {"kind": "contains_display_name"}
        self.assertTrue(holds(condition, make_event({"body": "hi ?bob*"}), "?bob*"))
        self.assertFalse(holds(condition, make_event({"body": "hi xbobx"}), "?bob*"))

    def test_user_values_in_default_rules(self) -> None:
        template = build_template(UserPushRules())
        event = make_event({"body": "hey Alice.Smith: ok?", "msgtype": "m.text"})
        ev = evaluator(event)
        plan = ev.plan(template)
        actions = ev.actions_for(plan, UserContext("@alice.smith:test"))
        assert actions is not None
        self.assertTrue(actions_highlight(actions))
        # "alice" is a word of the body too ("." is a word boundary).
        actions = ev.actions_for(plan, UserContext("@alice:test"))
        assert actions is not None
        self.assertTrue(actions_highlight(actions))
        actions = ev.actions_for(plan, UserContext("@smithy:test"))
        assert actions is not None
        self.assertFalse(actions_highlight(actions))


class PlanTestCase(TestCase):
    def test_plan_per_template(self) -> None:
        template = build_template(UserPushRules())
        event = make_event({"body": "hi", "msgtype": "m.text", "m.mentions": {"user_ids": [ME]}})
        ev = evaluator(event)
        plan = ev.plan(template)
        self.assertIs(ev.plan(template), plan)
        # Only the user mention is left to check per user; the rest is decided.
        self.assertEqual(len(plan.candidates), 1)
        self.assertEqual(plan.generic_actions, ["notify"])
        self.assertFalse(plan.needs_display_name)
        mentioned = ev.actions_for(plan, UserContext(ME))
        self.assertEqual(
            mentioned,
            ["notify", {"set_tweak": "sound", "value": "default"}, {"set_tweak": "highlight"}],
        )
        self.assertEqual(ev.actions_for(plan, UserContext("@other:test")), ["notify"])

    def test_rules_that_hold_for_nobody_are_dropped(self) -> None:
        template = build_template(UserPushRules())
        ev = evaluator(make_event({"body": "hi", "msgtype": "m.text", "m.mentions": {}}))
        plan = ev.plan(template)
        self.assertEqual(plan.candidates, ())
        self.assertEqual(plan.generic_actions, ["notify"])

    def test_legacy_rules_need_the_display_name(self) -> None:
        template = build_template(UserPushRules())
        plan = evaluator(make_event({"body": "hi", "msgtype": "m.text"})).plan(template)
        self.assertTrue(plan.needs_display_name)

    def test_power_levels_read_only_when_needed(self) -> None:
        template = build_template(UserPushRules())
        quiet = PushRuleEvaluator(
            make_event({"body": "hi", "msgtype": "m.text", "m.mentions": {}}), 3
        )
        self.assertEqual(quiet.plan(template).generic_actions, ["notify"])
        loud = PushRuleEvaluator(make_event({"body": "@room", "msgtype": "m.text"}), 3)
        with self.assertRaises(PowerLevelsNeeded):
            loud.plan(template)
        loud.set_power_levels(100, {})
        plan = loud.plan(template)
        self.assertEqual(plan.generic_actions, ["notify", {"set_tweak": "highlight"}])
