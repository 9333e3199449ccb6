"""The push rules API (``/pushrules/...``) and the ``m.push_rules`` account data in ``/sync``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from synapse.api.errors import Codes
from synapse.rest.client import push_rule
from synapse.types import JsonDict
from tests.matrix_spec import (
    SPEC_ROOT,
    assert_response_matches_spec,
    resolve_refs,
    spec_available,
    spec_errors,
)
from tests.rest.client.sync_test_base import SyncTestCase, q
from tests.server import FakeChannel

API = "client-server/pushrules.yaml"
RULE_PATH = "/pushrules/global/{kind}/{ruleId}"
PUSH_RULES_EVENT = SPEC_ROOT / "data" / "event-schemas" / "schema" / "m.push_rules.yaml"


def assert_push_rules_event(test: Any, event: JsonDict) -> None:
    """The ``m.push_rules`` event matches the spec's event schema."""
    if not spec_available():
        return
    path = Path(PUSH_RULES_EVENT).resolve()
    schema = resolve_refs(yaml.safe_load(path.read_text(encoding="utf-8")), path)
    test.assertEqual(spec_errors(event, schema), [])


class PushRuleTestCase(SyncTestCase):
    servlets = [*SyncTestCase.servlets, push_rule.register_servlets]

    # --- helpers -----------------------------------------------------------------------
    def rule_url(self, kind: str, rule_id: str, suffix: str = "") -> str:
        return f"pushrules/global/{q(kind)}/{q(rule_id)}{suffix}"

    def put_rule(
        self,
        kind: str,
        rule_id: str,
        body: Any,
        tok: str | None = None,
        query: str = "",
    ) -> FakeChannel:
        return self.make_request(
            "PUT", self.rule_url(kind, rule_id) + query, body, access_token=tok or self.tok
        )

    def ok_rule(self, kind: str, rule_id: str, body: Any, query: str = "") -> None:
        channel = self.put_rule(kind, rule_id, body, query=query)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {})
        assert_response_matches_spec(channel.json_body, API, RULE_PATH, "put")

    def ruleset(self, tok: str | None = None) -> JsonDict:
        channel = self.make_request("GET", "pushrules/global/", access_token=tok or self.tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, API, "/pushrules/global/", "get")
        return channel.json_body

    def ids(self, kind: str, user_only: bool = True) -> list[str]:
        return [r["rule_id"] for r in self.ruleset()[kind] if not (user_only and r["default"])]

    def get_rule(self, kind: str, rule_id: str, suffix: str = "") -> FakeChannel:
        return self.make_request("GET", self.rule_url(kind, rule_id, suffix), access_token=self.tok)

    def stream_position(self) -> int:
        return self.hs.get_datastores().main.push_rules.get_max_push_rules_stream_id()

    def expect_error(self, channel: FakeChannel, code: int, errcode: str) -> None:
        self.assertEqual(channel.code, code, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], errcode, channel.json_body)
        self.assertIsInstance(channel.json_body.get("error"), str)


class ReadRulesTestCase(PushRuleTestCase):
    def test_get_all_rulesets(self) -> None:
        channel = self.make_request("GET", "pushrules/", access_token=self.tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, API, "/pushrules/", "get")
        self.assertEqual(list(channel.json_body), ["global"])
        self.assertEqual(channel.json_body["global"], self.ruleset())

    def test_default_ruleset(self) -> None:
        ruleset = self.ruleset()
        self.assertEqual(set(ruleset), {"override", "content", "room", "sender", "underride"})
        self.assertEqual(ruleset["override"][0]["rule_id"], ".m.rule.master")
        self.assertFalse(ruleset["override"][0]["enabled"])
        self.assertTrue(all(r["default"] for kind in ruleset.values() for r in kind))
        self.assertEqual(ruleset["room"], [])
        self.assertEqual(ruleset["sender"], [])
        # The user's own ID and localpart are in the rules that need them.
        invite = next(r for r in ruleset["override"] if r["rule_id"] == ".m.rule.invite_for_me")
        self.assertIn(
            {"kind": "event_match", "key": "state_key", "pattern": self.user}, invite["conditions"]
        )
        self.assertEqual(ruleset["content"][0]["pattern"], "alice")
        self.assertEqual(
            [r["rule_id"] for r in ruleset["underride"]],
            [
                ".m.rule.call",
                ".m.rule.encrypted_room_one_to_one",
                ".m.rule.room_one_to_one",
                ".m.rule.message",
                ".m.rule.encrypted",
            ],
        )

    def test_get_one_default_rule(self) -> None:
        channel = self.get_rule("underride", ".m.rule.message")
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, API, RULE_PATH, "get")
        self.assertEqual(
            channel.json_body,
            {
                "rule_id": ".m.rule.message",
                "default": True,
                "enabled": True,
                "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.message"}],
                "actions": ["notify"],
            },
        )

    def test_unknown_rule_is_not_found(self) -> None:
        for kind, rule_id in (
            ("override", "nope"),
            ("underride", ".m.rule.master"),
            ("room", ".m.rule.x"),
        ):
            channel = self.get_rule(kind, rule_id)
            self.expect_error(channel, 404, Codes.NOT_FOUND)
            assert_response_matches_spec(channel.json_body, API, RULE_PATH, "get", 404)
            for suffix in ("/enabled", "/actions"):
                self.expect_error(self.get_rule(kind, rule_id, suffix), 404, Codes.NOT_FOUND)

    def test_unknown_kind(self) -> None:
        self.expect_error(self.get_rule("middle", "x"), 400, Codes.INVALID_PARAM)

    def test_needs_a_token(self) -> None:
        for path in ("pushrules/", "pushrules/global/", self.rule_url("override", "x")):
            channel = self.make_request("GET", path)
            self.expect_error(channel, 401, Codes.MISSING_TOKEN)
        channel = self.make_request("PUT", self.rule_url("override", "x"), {"actions": []})
        self.expect_error(channel, 401, Codes.MISSING_TOKEN)

    def test_rules_are_per_user(self) -> None:
        self.ok_rule("override", "mine", {"actions": []})
        self.assertEqual(self.ids("override"), ["mine"])
        others = self.ruleset(self.other_tok)
        self.assertEqual([r for r in others["override"] if not r["default"]], [])


class WriteRulesTestCase(PushRuleTestCase):
    def test_create_and_read_back_each_kind(self) -> None:
        cases: list[tuple[str, str, JsonDict, JsonDict]] = [
            (
                "override",
                "beer",
                {
                    "conditions": [
                        {"kind": "event_match", "key": "content.body", "pattern": "beer"},
                        {"kind": "room_member_count", "is": "<=10"},
                    ],
                    "actions": ["notify", {"set_tweak": "sound", "value": "beeroclock.wav"}],
                },
                {
                    "conditions": [
                        {"kind": "event_match", "key": "content.body", "pattern": "beer"},
                        {"kind": "room_member_count", "is": "<=10"},
                    ],
                    "actions": ["notify", {"set_tweak": "sound", "value": "beeroclock.wav"}],
                },
            ),
            (
                "content",
                "cake",
                {"pattern": "cake*lie", "actions": ["notify"]},
                {"pattern": "cake*lie", "actions": ["notify"]},
            ),
            ("room", "!dj234r78wl45Gh4D:matrix.org", {"actions": []}, {"actions": []}),
            ("sender", "@spambot:matrix.org", {"actions": []}, {"actions": []}),
            (
                "underride",
                "quiet",
                {"actions": ["notify"]},
                {"conditions": [], "actions": ["notify"]},
            ),
        ]
        for kind, rule_id, body, expected in cases:
            self.ok_rule(kind, rule_id, body)
            channel = self.get_rule(kind, rule_id)
            self.assertEqual(channel.code, 200, channel.json_body)
            assert_response_matches_spec(channel.json_body, API, RULE_PATH, "get")
            self.assertEqual(
                channel.json_body,
                {"rule_id": rule_id, "default": False, "enabled": True, **expected},
            )
            self.assertIn(rule_id, self.ids(kind))

    def test_keys_of_other_kinds_are_ignored(self) -> None:
        self.ok_rule(
            "room",
            "!a:test",
            {
                "actions": ["notify"],
                "pattern": "x",
                "conditions": [{"kind": "event_match", "key": "a", "pattern": "b"}],
            },
        )
        body = self.get_rule("room", "!a:test").json_body
        self.assertNotIn("pattern", body)
        self.assertNotIn("conditions", body)

    def test_historical_actions_are_dropped(self) -> None:
        self.ok_rule("override", "old", {"actions": ["dont_notify", "coalesce"]})
        self.assertEqual(self.get_rule("override", "old").json_body["actions"], [])

    def test_new_rules_go_first(self) -> None:
        for rule_id in ("a", "b", "c"):
            self.ok_rule("override", rule_id, {"actions": []})
        self.assertEqual(self.ids("override"), ["c", "b", "a"])
        # User rules come after the master rule and before the other server defaults.
        all_ids = self.ids("override", user_only=False)
        self.assertEqual(all_ids[:5], [".m.rule.master", "c", "b", "a", ".m.rule.suppress_notices"])

    def test_before_and_after(self) -> None:
        for rule_id in ("a", "b", "c"):
            self.ok_rule("override", rule_id, {"actions": []})
        # c b a
        self.ok_rule("override", "d", {"actions": []}, query="?before=a")
        self.assertEqual(self.ids("override"), ["c", "b", "d", "a"])
        self.ok_rule("override", "e", {"actions": []}, query="?after=c")
        self.assertEqual(self.ids("override"), ["c", "e", "b", "d", "a"])
        self.ok_rule("override", "f", {"actions": []}, query="?after=a")
        self.assertEqual(self.ids("override"), ["c", "e", "b", "d", "a", "f"])
        self.ok_rule("override", "g", {"actions": []}, query="?before=c")
        self.assertEqual(self.ids("override"), ["g", "c", "e", "b", "d", "a", "f"])
        # Both: the rule goes just before ``before``.
        self.ok_rule("override", "h", {"actions": []}, query="?before=d&after=g")
        self.assertEqual(self.ids("override"), ["g", "c", "e", "b", "h", "d", "a", "f"])

    def test_update_keeps_place_and_enabled_unless_moved(self) -> None:
        for rule_id in ("a", "b", "c"):
            self.ok_rule("override", rule_id, {"actions": []})
        self.assertEqual(
            self.make_request(
                "PUT",
                self.rule_url("override", "b", "/enabled"),
                {"enabled": False},
                access_token=self.tok,
            ).code,
            200,
        )
        self.ok_rule("override", "b", {"actions": ["notify"]})
        self.assertEqual(self.ids("override"), ["c", "b", "a"])
        body = self.get_rule("override", "b").json_body
        self.assertEqual(body["actions"], ["notify"])
        self.assertFalse(body["enabled"])
        # Moving an existing rule.
        self.ok_rule("override", "c", {"actions": []}, query="?after=a")
        self.assertEqual(self.ids("override"), ["b", "a", "c"])
        self.ok_rule("override", "c", {"actions": []}, query="?before=b")
        self.assertEqual(self.ids("override"), ["c", "b", "a"])

    def test_ordering_is_per_kind(self) -> None:
        self.ok_rule("override", "x", {"actions": []})
        self.ok_rule("underride", "x", {"actions": ["notify"]})
        self.ok_rule("underride", "y", {"actions": []}, query="?after=x")
        self.assertEqual(self.ids("override"), ["x"])
        self.assertEqual(self.ids("underride"), ["x", "y"])
        self.assertEqual(self.get_rule("underride", "x").json_body["actions"], ["notify"])

    def test_delete(self) -> None:
        self.ok_rule("sender", "@spambot:test", {"actions": []})
        channel = self.make_request(
            "DELETE", self.rule_url("sender", "@spambot:test"), access_token=self.tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, API, RULE_PATH, "delete")
        self.expect_error(self.get_rule("sender", "@spambot:test"), 404, Codes.NOT_FOUND)
        channel = self.make_request(
            "DELETE", self.rule_url("sender", "@spambot:test"), access_token=self.tok
        )
        self.expect_error(channel, 404, Codes.NOT_FOUND)
        assert_response_matches_spec(channel.json_body, API, RULE_PATH, "delete", 404)

    def test_recreated_rule_is_enabled_again(self) -> None:
        self.ok_rule("override", "a", {"actions": []})
        self.make_request(
            "PUT",
            self.rule_url("override", "a", "/enabled"),
            {"enabled": False},
            access_token=self.tok,
        )
        self.make_request("DELETE", self.rule_url("override", "a"), access_token=self.tok)
        self.ok_rule("override", "a", {"actions": []})
        self.assertTrue(self.get_rule("override", "a").json_body["enabled"])


class EnabledAndActionsTestCase(PushRuleTestCase):
    def put(self, kind: str, rule_id: str, suffix: str, body: Any) -> FakeChannel:
        return self.make_request(
            "PUT", self.rule_url(kind, rule_id, suffix), body, access_token=self.tok
        )

    def test_enabled_of_a_user_rule(self) -> None:
        self.ok_rule("content", "tea", {"pattern": "tea", "actions": ["notify"]})
        channel = self.get_rule("content", "tea", "/enabled")
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, API, RULE_PATH + "/enabled", "get")
        self.assertEqual(channel.json_body, {"enabled": True})
        channel = self.put("content", "tea", "/enabled", {"enabled": False})
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, API, RULE_PATH + "/enabled", "put")
        self.assertEqual(self.get_rule("content", "tea", "/enabled").json_body, {"enabled": False})
        self.assertFalse(self.get_rule("content", "tea").json_body["enabled"])

    def test_enabled_of_a_default_rule(self) -> None:
        self.assertEqual(
            self.put("override", ".m.rule.master", "/enabled", {"enabled": True}).code, 200
        )
        body = self.get_rule("override", ".m.rule.master").json_body
        self.assertTrue(body["enabled"])
        self.assertTrue(body["default"])
        self.assertEqual(
            self.put("override", ".m.rule.master", "/enabled", {"enabled": False}).code, 200
        )
        self.assertFalse(self.get_rule("override", ".m.rule.master").json_body["enabled"])

    def test_actions_of_user_and_default_rules(self) -> None:
        self.ok_rule("room", "!r:test", {"actions": ["notify"]})
        channel = self.put("room", "!r:test", "/actions", {"actions": []})
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, API, RULE_PATH + "/actions", "put")
        channel = self.get_rule("room", "!r:test", "/actions")
        assert_response_matches_spec(channel.json_body, API, RULE_PATH + "/actions", "get")
        self.assertEqual(channel.json_body, {"actions": []})

        actions = ["notify", {"set_tweak": "highlight"}]
        self.assertEqual(
            self.put("underride", ".m.rule.message", "/actions", {"actions": actions}).code, 200
        )
        self.assertEqual(
            self.get_rule("underride", ".m.rule.message", "/actions").json_body,
            {"actions": actions},
        )
        rule = self.get_rule("underride", ".m.rule.message").json_body
        self.assertTrue(rule["default"])
        self.assertTrue(rule["enabled"])
        # Enabling does not reset actions, nor the other way round.
        self.assertEqual(
            self.put("underride", ".m.rule.message", "/enabled", {"enabled": False}).code, 200
        )
        rule = self.get_rule("underride", ".m.rule.message").json_body
        self.assertEqual(rule["actions"], actions)
        self.assertFalse(rule["enabled"])

    def test_unknown_rules(self) -> None:
        for kind, rule_id in (
            ("override", "nope"),
            ("override", ".m.rule.nope"),
            ("content", ".m.rule.master"),
        ):
            for suffix, body in (("/enabled", {"enabled": True}), ("/actions", {"actions": []})):
                before = self.stream_position()
                channel = self.put(kind, rule_id, suffix, body)
                self.expect_error(channel, 404, Codes.NOT_FOUND)
                assert_response_matches_spec(channel.json_body, API, RULE_PATH + suffix, "put", 404)
                self.assertEqual(self.stream_position(), before)

    def test_bad_bodies(self) -> None:
        self.ok_rule("override", "a", {"actions": []})
        cases: list[tuple[str, Any, int, str]] = [
            ("/enabled", {}, 400, Codes.MISSING_PARAM),
            ("/enabled", {"enabled": "yes"}, 400, Codes.BAD_JSON),
            ("/enabled", {"enabled": 1}, 400, Codes.BAD_JSON),
            ("/enabled", [], 400, Codes.BAD_JSON),
            ("/enabled", "not json{", 400, Codes.NOT_JSON),
            ("/actions", {}, 400, Codes.MISSING_PARAM),
            ("/actions", {"actions": "notify"}, 400, Codes.BAD_JSON),
            ("/actions", {"actions": [1]}, 400, Codes.BAD_JSON),
            ("/actions", {"actions": ["sing"]}, 400, Codes.INVALID_PARAM),
            ("/actions", {"actions": [{"value": "x"}]}, 400, Codes.INVALID_PARAM),
        ]
        for rule_id in ("a", ".m.rule.master"):
            before = self.ruleset()
            position = self.stream_position()
            for suffix, body, code, errcode in cases:
                self.expect_error(self.put("override", rule_id, suffix, body), code, errcode)
            self.assertEqual(self.ruleset(), before)
            self.assertEqual(self.stream_position(), position)


class BadInputTestCase(PushRuleTestCase):
    def assert_refused(
        self, kind: str, rule_id: str, body: Any, code: int, errcode: str, query: str = ""
    ) -> None:
        before = self.ruleset()
        position = self.stream_position()
        channel = self.put_rule(kind, rule_id, body, query=query)
        self.expect_error(channel, code, errcode)
        if code in (400, 404):
            assert_response_matches_spec(channel.json_body, API, RULE_PATH, "put", code)
        self.assertEqual(self.ruleset(), before, (kind, rule_id, body, query))
        self.assertEqual(self.stream_position(), position)

    def test_bad_rule_ids(self) -> None:
        for rule_id in (".mine", ".m.rule.master", ".m.rule.message", "a/b", "a\\b"):
            self.assert_refused("override", rule_id, {"actions": []}, 400, Codes.UNKNOWN)
        self.assert_refused("room", "not a room", {"actions": []}, 400, Codes.INVALID_PARAM)
        self.assert_refused("sender", "not a user", {"actions": []}, 400, Codes.INVALID_PARAM)

    def test_bad_kind(self) -> None:
        for kind in ("middle", "Override", "global"):
            self.assert_refused(kind, "x", {"actions": []}, 400, Codes.INVALID_PARAM)

    def test_bad_bodies(self) -> None:
        cases: list[tuple[str, Any, str]] = [
            ("override", {}, Codes.MISSING_PARAM),
            ("override", [], Codes.BAD_JSON),
            ("override", {"actions": "notify"}, Codes.BAD_JSON),
            ("override", {"actions": [None]}, Codes.BAD_JSON),
            ("override", {"actions": ["explode"]}, Codes.INVALID_PARAM),
            ("override", {"actions": [{"sound": "x"}]}, Codes.INVALID_PARAM),
            ("override", {"actions": [], "conditions": "x"}, Codes.BAD_JSON),
            ("override", {"actions": [], "conditions": [1]}, Codes.BAD_JSON),
            ("override", {"actions": [], "conditions": [{}]}, Codes.MISSING_PARAM),
            ("override", {"actions": [], "conditions": [{"kind": 1}]}, Codes.BAD_JSON),
            (
                "override",
                {"actions": [], "conditions": [{"kind": "event_match", "key": 1, "pattern": "x"}]},
                Codes.BAD_JSON,
            ),
            (
                "override",
                {"actions": [], "conditions": [{"kind": "event_match", "key": "type"}]},
                Codes.INVALID_PARAM,
            ),
            (
                "override",
                {"actions": [], "conditions": [{"kind": "room_member_count", "is": "lots"}]},
                Codes.INVALID_PARAM,
            ),
            (
                "underride",
                {
                    "actions": [],
                    "conditions": [{"kind": "event_property_is", "key": "k", "value": {}}],
                },
                Codes.BAD_JSON,
            ),
            (
                "underride",
                {
                    "actions": [],
                    "conditions": [{"kind": "event_property_is", "key": "k", "value": 1.5}],
                },
                Codes.BAD_JSON,
            ),
            (
                "underride",
                {
                    "actions": [],
                    "conditions": [{"kind": "event_property_is", "key": "k", "value": 2**53}],
                },
                Codes.INVALID_PARAM,
            ),
            (
                "underride",
                {"actions": [], "conditions": [{"kind": "sender_notification_permission"}]},
                Codes.INVALID_PARAM,
            ),
            ("content", {"actions": []}, Codes.MISSING_PARAM),
            ("content", {"actions": [], "pattern": 3}, Codes.BAD_JSON),
        ]
        for kind, body, errcode in cases:
            self.assert_refused(kind, "x", body, 400, errcode)
        channel = self.make_request(
            "PUT", self.rule_url("override", "x"), b"{nope", access_token=self.tok
        )
        self.expect_error(channel, 400, Codes.NOT_JSON)

    def test_bad_before_and_after(self) -> None:
        self.ok_rule("override", "a", {"actions": []})
        self.assert_refused("override", "b", {"actions": []}, 400, Codes.UNKNOWN, "?before=nope")
        self.assert_refused("override", "b", {"actions": []}, 400, Codes.UNKNOWN, "?after=nope")
        # The anchor must be a rule of the same kind.
        self.assert_refused("underride", "b", {"actions": []}, 400, Codes.UNKNOWN, "?after=a")
        for anchor in (".m.rule.master", ".m.rule.suppress_notices"):
            self.assert_refused(
                "override", "b", {"actions": []}, 400, Codes.INVALID_PARAM, f"?before={anchor}"
            )
            self.assert_refused(
                "override", "b", {"actions": []}, 400, Codes.INVALID_PARAM, f"?after={anchor}"
            )
        self.assert_refused("override", "a", {"actions": []}, 400, Codes.INVALID_PARAM, "?before=a")
        self.assert_refused(
            "override", "b", {"actions": []}, 400, Codes.INVALID_PARAM, "?before=%00"
        )

    def test_default_rules_cannot_be_deleted(self) -> None:
        for kind, rule_id in (
            ("override", ".m.rule.master"),
            ("underride", ".m.rule.message"),
            ("content", ".m.rule.contains_user_name"),
        ):
            position = self.stream_position()
            channel = self.make_request(
                "DELETE", self.rule_url(kind, rule_id), access_token=self.tok
            )
            self.expect_error(channel, 400, Codes.UNKNOWN)
            self.assertEqual(self.get_rule(kind, rule_id).code, 200)
            self.assertEqual(self.stream_position(), position)

    def test_delete_of_unknown_kind_or_rule(self) -> None:
        channel = self.make_request("DELETE", self.rule_url("nokind", "x"), access_token=self.tok)
        self.expect_error(channel, 400, Codes.INVALID_PARAM)
        channel = self.make_request(
            "DELETE", self.rule_url("override", ".m.rule.nope"), access_token=self.tok
        )
        self.expect_error(channel, 404, Codes.NOT_FOUND)

    def test_another_users_rule_is_not_found(self) -> None:
        self.ok_rule("override", "mine", {"actions": []})
        channel = self.make_request(
            "DELETE", self.rule_url("override", "mine"), access_token=self.other_tok
        )
        self.expect_error(channel, 404, Codes.NOT_FOUND)
        self.assertEqual(self.get_rule("override", "mine").code, 200)


class PushRulesInSyncTestCase(PushRuleTestCase):
    def push_rules_event(self, body: JsonDict) -> JsonDict | None:
        events = [
            e for e in body.get("account_data", {}).get("events", []) if e["type"] == "m.push_rules"
        ]
        self.assertLessEqual(len(events), 1)
        return events[0] if events else None

    def test_initial_sync_has_the_rules(self) -> None:
        event = self.push_rules_event(self.sync(self.tok))
        assert event is not None
        assert_push_rules_event(self, event)
        self.assertEqual(event["content"], {"global": self.ruleset()})

    def test_incremental_sync_after_a_change(self) -> None:
        since = self.sync(self.tok)["next_batch"]
        self.ok_rule("override", "new", {"actions": []})
        body = self.sync(self.tok, since=since)
        event = self.push_rules_event(body)
        assert event is not None
        assert_push_rules_event(self, event)
        self.assertIn("new", [r["rule_id"] for r in event["content"]["global"]["override"]])
        # Nothing new after that.
        self.expire_response_cache()
        again = self.sync(self.tok, since=body["next_batch"])
        self.assertIsNone(self.push_rules_event(again))
        # Another user's change is not theirs to see.
        self.make_request(
            "PUT", self.rule_url("override", "bobs"), {"actions": []}, access_token=self.other_tok
        )
        self.expire_response_cache()
        self.assertIsNone(self.push_rules_event(self.sync(self.tok, since=body["next_batch"])))

    def test_enabled_and_actions_changes_are_synced(self) -> None:
        since = self.sync(self.tok)["next_batch"]
        self.make_request(
            "PUT",
            self.rule_url("override", ".m.rule.master", "/enabled"),
            {"enabled": True},
            access_token=self.tok,
        )
        event = self.push_rules_event(self.sync(self.tok, since=since))
        assert event is not None
        self.assertTrue(event["content"]["global"]["override"][0]["enabled"])

    def test_long_poll_woken_by_a_change(self) -> None:
        since = self.sync(self.tok)["next_batch"]
        channel = self.sync_request(self.tok, since=since, timeout=30_000)
        self.reactor.advance(1)
        self.assertFalse(channel.is_finished())
        self.ok_rule("override", "wake", {"actions": []})
        channel.await_result()
        self.assertEqual(channel.code, 200, channel.json_body)
        event = self.push_rules_event(channel.json_body)
        assert event is not None
        self.assertIn("wake", [r["rule_id"] for r in event["content"]["global"]["override"]])

    def test_filtered_out(self) -> None:
        body = self.sync(self.tok, filter={"account_data": {"not_types": ["m.push_rules"]}})
        self.assertIsNone(self.push_rules_event(body))

    def test_account_data_api_reads_it(self) -> None:
        self.ok_rule("override", "mine", {"actions": []})
        channel = self.make_request(
            "GET", f"user/{q(self.user)}/account_data/m.push_rules", access_token=self.tok
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"global": self.ruleset()})
        assert_push_rules_event(self, {"type": "m.push_rules", "content": channel.json_body})

    def test_account_data_api_refuses_to_set_it(self) -> None:
        channel = self.make_request(
            "PUT",
            f"user/{q(self.user)}/account_data/m.push_rules",
            {"global": {}},
            access_token=self.tok,
        )
        self.assertEqual(channel.code, 405, channel.json_body)
