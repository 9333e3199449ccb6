"""Push rules of local users: reads, changes, and the ``m.push_rules`` account data.

Every change moves the push rules stream and wakes the user's ``/sync`` requests, which
then send the whole ruleset as the ``m.push_rules`` global account data event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from synapse.api.constants import AccountDataTypes
from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.push.rules import (
    CONDITION_KINDS,
    KINDS,
    PushRuleKind,
    PushRuleset,
    build_ruleset,
    check_actions,
    check_conditions,
    is_server_default_rule,
)
from synapse.storage.databases.main.push_rule import (
    PushRuleAnchorNotFoundError,
    PushRuleNotFoundError,
)
from synapse.types import JsonDict, JsonMapping, StreamKeyType, StreamToken
from synapse.util.identifiers import is_valid_room_id, is_valid_user_id

if TYPE_CHECKING:
    from synapse.server import HomeServer


def _rule_not_found() -> NotFoundError:
    return NotFoundError("The push rule was not found.")


def check_kind(kind: str) -> None:
    """400 M_INVALID_PARAM unless ``kind`` is a push rule kind."""
    if kind not in KINDS:
        raise SynapseError(400, f"Unknown push rule kind {kind!r}", Codes.INVALID_PARAM)


def check_new_rule_id(kind: str, rule_id: str) -> None:
    """The rule IDs a user may create: no leading dot (server-default rules), no slash
    or backslash (400 M_UNKNOWN); room and sender rules are named after their room or
    user (400 M_INVALID_PARAM)."""
    if rule_id.startswith("."):
        raise SynapseError(400, "Rule IDs starting with '.' are reserved for server-default rules")
    if "/" in rule_id or "\\" in rule_id:
        raise SynapseError(400, "Rule IDs may not contain '/' or '\\'")
    if kind == PushRuleKind.ROOM and not is_valid_room_id(rule_id):
        raise SynapseError(400, "The rule ID of a room rule is a room ID", Codes.INVALID_PARAM)
    if kind == PushRuleKind.SENDER and not is_valid_user_id(rule_id):
        raise SynapseError(400, "The rule ID of a sender rule is a user ID", Codes.INVALID_PARAM)


class PushRulesHandler:
    """``hs.get_push_rules_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        self._store = hs.get_datastores().main.push_rules
        self._notifier = hs.get_notifier()
        self._notifier.register_stream_position_source(
            StreamKeyType.PUSH_RULES, self._store.get_max_push_rules_stream_id
        )

    # --- reads -----------------------------------------------------------------------
    async def get_ruleset(self, user_id: str) -> PushRuleset:
        """The user's rules merged with the server defaults, in evaluation order."""
        return build_ruleset(user_id, await self._store.get_push_rules_for_user(user_id))

    async def get_rule(self, user_id: str, kind: str, rule_id: str) -> JsonDict:
        """One rule of the user's ruleset as clients see it (404 M_NOT_FOUND if there
        is none)."""
        check_kind(kind)
        rule = (await self.get_ruleset(user_id)).get(kind, rule_id)
        if rule is None:
            raise _rule_not_found()
        return rule

    async def get_account_data_for_sync(
        self, user_id: str, since: StreamToken | None, now: StreamToken
    ) -> Mapping[str, JsonMapping]:
        """``m.push_rules`` for a full sync, or when the rules changed since ``since``."""
        if since is not None and not await self._store.have_push_rules_changed_since(
            user_id, since.push_rules_key
        ):
            return {}
        ruleset = await self.get_ruleset(user_id)
        return {AccountDataTypes.PUSH_RULES: {"global": ruleset.to_client()}}

    # --- changes ---------------------------------------------------------------------
    async def set_rule(
        self,
        user_id: str,
        kind: str,
        rule_id: str,
        body: JsonMapping,
        before: str | None = None,
        after: str | None = None,
    ) -> None:
        """Create or replace one of the user's rules from a client's body (``actions``,
        ``conditions`` for override/underride, ``pattern`` for content rules)."""
        check_kind(kind)
        check_new_rule_id(kind, rule_id)
        actions = check_actions(body["actions"])
        conditions: list[JsonDict] = []
        pattern: str | None = None
        if kind in CONDITION_KINDS:
            conditions = [dict(c) for c in body.get("conditions", [])]
            check_conditions(conditions)
        elif kind == PushRuleKind.CONTENT:
            pattern = body.get("pattern")
            if not isinstance(pattern, str):
                raise SynapseError(400, "Content rules need a pattern", Codes.MISSING_PARAM)
        for anchor in (before, after):
            if anchor is None:
                continue
            if anchor.startswith("."):
                raise SynapseError(
                    400,
                    "Rules cannot be placed relative to server-default rules",
                    Codes.INVALID_PARAM,
                )
            if anchor == rule_id:
                raise SynapseError(
                    400, "A rule cannot be placed relative to itself", Codes.INVALID_PARAM
                )
        try:
            stream_id = await self._store.add_push_rule(
                user_id, kind, rule_id, conditions, actions, pattern, before, after
            )
        except PushRuleAnchorNotFoundError as e:
            raise SynapseError(400, f"before/after rule not found: {e.args[0]}")
        self._notify(user_id, stream_id)

    async def delete_rule(self, user_id: str, kind: str, rule_id: str) -> None:
        """Delete one of the user's rules (server-default rules: 400 M_UNKNOWN)."""
        check_kind(kind)
        if is_server_default_rule(kind, rule_id):
            raise SynapseError(400, "Server-default rules cannot be deleted")
        try:
            stream_id = await self._store.delete_push_rule(user_id, kind, rule_id)
        except PushRuleNotFoundError:
            raise _rule_not_found()
        self._notify(user_id, stream_id)

    async def set_enabled(self, user_id: str, kind: str, rule_id: str, enabled: bool) -> None:
        """Enable or disable a rule (the user's own or a server-default one)."""
        await self._set(user_id, kind, rule_id, "enabled", enabled)

    async def set_actions(
        self, user_id: str, kind: str, rule_id: str, actions: Sequence[Any]
    ) -> None:
        """Replace the actions of a rule (the user's own or a server-default one)."""
        checked = check_actions(actions)
        await self._set(user_id, kind, rule_id, "actions", checked)

    async def _set(self, user_id: str, kind: str, rule_id: str, what: str, value: Any) -> None:
        check_kind(kind)
        is_default = is_server_default_rule(kind, rule_id)
        if not is_default and rule_id.startswith("."):
            raise _rule_not_found()
        try:
            if what == "enabled":
                stream_id = await self._store.set_push_rule_enabled(
                    user_id, kind, rule_id, value, is_default
                )
            else:
                stream_id = await self._store.set_push_rule_actions(
                    user_id, kind, rule_id, value, is_default
                )
        except PushRuleNotFoundError:
            raise _rule_not_found()
        self._notify(user_id, stream_id)

    def _notify(self, user_id: str, stream_id: int) -> None:
        self._notifier.on_new_event(StreamKeyType.PUSH_RULES, stream_id, users=[user_id])
