"""Push rules (``push_rules``, ``push_rules_default_overrides``) and the push rules stream.

A user's own rules are stored with a priority per kind (highest first); what they
changed of the server-default rules (enabled, actions) is stored apart. Every change
takes the next position of the push rules stream, kept per user in
``push_rules_stream``; a ``StreamChangeCache`` answers "did this user's rules change
since N" from memory, and each user's rules are cached (they are read for every local
member at every event).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import attr

from synapse.storage.databases.main._events_sql import batch_iter, encode_json, in_list
from synapse.storage.util.id_generators import AbstractStreamIdGenerator, StreamIdGenerator
from synapse.types import JsonDict
from synapse.util.caches.lrucache import LruCache
from synapse.util.caches.stream_change_cache import StreamChangeCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction


class PushRuleNotFoundError(Exception):
    """The rule to change or delete does not exist."""


class PushRuleAnchorNotFoundError(Exception):
    """The rule named by ``before`` or ``after`` does not exist."""


@attr.s(slots=True, frozen=True, auto_attribs=True)
class StoredPushRule:
    """A rule a user defined."""

    kind: str
    rule_id: str
    priority: int
    conditions: list[JsonDict]
    actions: list[Any]
    pattern: str | None
    enabled: bool


@attr.s(slots=True, frozen=True, auto_attribs=True)
class DefaultRuleOverride:
    """A user's change to a server-default rule (None: left as defined)."""

    enabled: bool | None = None
    actions: list[Any] | None = None


@attr.s(slots=True, frozen=True, auto_attribs=True)
class UserPushRules:
    """Everything stored of one user's push rules."""

    # Per kind, most important first.
    rules: list[StoredPushRule] = attr.Factory(list)
    overrides: dict[tuple[str, str], DefaultRuleOverride] = attr.Factory(dict)


class PushRulesStore:
    """The push rule tables and the push rules stream."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._id_gen = StreamIdGenerator(
            None, database, "push_rules_stream", "stream_id", "push_rules_stream_sequence"
        )
        self._user_change_cache = StreamChangeCache(
            "push_rules_users", self._id_gen.get_current_token()
        )
        self._rules_cache: LruCache[str, UserPushRules] = LruCache(50_000)
        # Bumped at every invalidation: a read that overlapped one does not fill the cache.
        self._cache_generation = 0

    # --- positions -----------------------------------------------------------------
    @property
    def stream_id_generator(self) -> AbstractStreamIdGenerator:
        return self._id_gen

    def get_max_push_rules_stream_id(self) -> int:
        """The position up to which every push rule change is persisted."""
        return self._id_gen.get_current_token()

    async def have_push_rules_changed_since(self, user_id: str, from_key: int) -> bool:
        """Whether the user's rules changed after ``from_key`` (from memory when surely not)."""
        if not self._user_change_cache.has_entity_changed(user_id, from_key):
            return False
        stream_id = await self.db_pool.simple_select_one_onecol(
            "push_rules_stream",
            {"user_id": user_id},
            "stream_id",
            allow_none=True,
            desc="have_push_rules_changed_since",
        )
        return stream_id is not None and int(stream_id) > from_key

    # --- reads -----------------------------------------------------------------------
    async def get_push_rules_for_user(self, user_id: str) -> UserPushRules:
        """The user's stored rules and default-rule changes (cached)."""
        return (await self.bulk_get_push_rules([user_id]))[user_id]

    async def bulk_get_push_rules(self, user_ids: Collection[str]) -> dict[str, UserPushRules]:
        """The stored rules of each user: those not cached read in one transaction."""
        out = self._rules_cache.get_many(user_ids)
        missing = [u for u in dict.fromkeys(user_ids) if u not in out]
        if not missing:
            return out
        generation = self._cache_generation
        loaded = await self.db_pool.runInteraction(
            "bulk_get_push_rules", self._load_rules_txn, missing
        )
        for user_id, rules in loaded.items():
            if generation == self._cache_generation:
                self._rules_cache.set(user_id, rules)
            out[user_id] = rules
        return out

    @staticmethod
    def _load_rules_txn(
        txn: LoggingTransaction, user_ids: Sequence[str]
    ) -> dict[str, UserPushRules]:
        out = {u: UserPushRules() for u in user_ids}
        for chunk in batch_iter(user_ids):
            clause, args = in_list("user_id", chunk)
            txn.execute(
                "SELECT user_id, kind, rule_id, priority, conditions, actions, pattern, enabled"
                f" FROM push_rules WHERE {clause} ORDER BY user_id, kind, priority DESC",
                args,
            )
            for user_id, kind, rule_id, priority, conditions, actions, pattern, enabled in txn:
                out[user_id].rules.append(
                    StoredPushRule(
                        kind,
                        rule_id,
                        int(priority),
                        json.loads(conditions),
                        json.loads(actions),
                        pattern,
                        bool(enabled),
                    )
                )
            txn.execute(
                "SELECT user_id, kind, rule_id, enabled, actions"
                f" FROM push_rules_default_overrides WHERE {clause}",
                args,
            )
            for user_id, kind, rule_id, enabled, actions in txn:
                out[user_id].overrides[(kind, rule_id)] = DefaultRuleOverride(
                    None if enabled is None else bool(enabled),
                    None if actions is None else json.loads(actions),
                )
        return out

    # --- writes ----------------------------------------------------------------------
    async def add_push_rule(
        self,
        user_id: str,
        kind: str,
        rule_id: str,
        conditions: Sequence[JsonDict],
        actions: Sequence[Any],
        pattern: str | None = None,
        before: str | None = None,
        after: str | None = None,
    ) -> int:
        """Create or replace one of the user's rules; its stream position.

        A new rule is enabled and, without ``before``/``after``, the most important of
        its kind; a replaced rule keeps its place and whether it is enabled. With
        ``before`` (which wins over ``after``) the rule goes just above that rule, with
        ``after`` just below; ``PushRuleAnchorNotFoundError`` if it does not exist.
        """
        return await self.db_pool.runInteraction(
            "add_push_rule",
            self._add_push_rule_txn,
            user_id,
            kind,
            rule_id,
            list(conditions),
            list(actions),
            pattern,
            before,
            after,
        )

    def _add_push_rule_txn(
        self,
        txn: LoggingTransaction,
        user_id: str,
        kind: str,
        rule_id: str,
        conditions: list[JsonDict],
        actions: list[Any],
        pattern: str | None,
        before: str | None,
        after: str | None,
    ) -> int:
        txn.execute(
            "SELECT rule_id, priority FROM push_rules WHERE user_id = ? AND kind = ?"
            " ORDER BY priority DESC",
            (user_id, kind),
        )
        old = [(r, int(p)) for r, p in txn.fetchall()]
        order = [r for r, _ in old if r != rule_id]
        exists = len(order) != len(old)
        anchor = before if before is not None else after
        if anchor is not None:
            if anchor not in order:
                raise PushRuleAnchorNotFoundError(anchor)
            index = order.index(anchor) + (0 if before is not None else 1)
            order.insert(index, rule_id)
        elif exists:
            order = [r for r, _ in old]
        else:
            order.insert(0, rule_id)

        priorities = {r: len(order) - i for i, r in enumerate(order)}
        changed = [
            (priorities[r], user_id, kind, r) for r, p in old if r != rule_id and priorities[r] != p
        ]
        if changed:
            txn.execute_batch(
                "UPDATE push_rules SET priority = ? WHERE user_id = ? AND kind = ? AND rule_id = ?",
                changed,
            )
        values = {
            "priority": priorities[rule_id],
            "conditions": encode_json(conditions),
            "actions": encode_json(actions),
            "pattern": pattern,
        }
        self.db_pool.simple_upsert_txn(
            txn,
            "push_rules",
            {"user_id": user_id, "kind": kind, "rule_id": rule_id},
            values,
            insertion_values={"enabled": 1},
        )
        return self._bump_stream_txn(txn, user_id)

    async def delete_push_rule(self, user_id: str, kind: str, rule_id: str) -> int:
        """Delete one of the user's rules; its stream position
        (``PushRuleNotFoundError`` if there is no such rule)."""

        def _txn(txn: LoggingTransaction) -> int:
            deleted = self.db_pool.simple_delete_txn(
                txn, "push_rules", {"user_id": user_id, "kind": kind, "rule_id": rule_id}
            )
            if not deleted:
                raise PushRuleNotFoundError(rule_id)
            return self._bump_stream_txn(txn, user_id)

        return await self.db_pool.runInteraction("delete_push_rule", _txn)

    async def set_push_rule_enabled(
        self, user_id: str, kind: str, rule_id: str, enabled: bool, is_default: bool
    ) -> int:
        """Enable or disable a rule of the user's (``PushRuleNotFoundError`` if missing)
        or a server-default rule; the stream position."""
        return await self.db_pool.runInteraction(
            "set_push_rule_enabled",
            self._set_rule_column_txn,
            user_id,
            kind,
            rule_id,
            "enabled",
            1 if enabled else 0,
            is_default,
        )

    async def set_push_rule_actions(
        self, user_id: str, kind: str, rule_id: str, actions: Sequence[Any], is_default: bool
    ) -> int:
        """Set the actions of a rule of the user's (``PushRuleNotFoundError`` if missing)
        or of a server-default rule; the stream position."""
        return await self.db_pool.runInteraction(
            "set_push_rule_actions",
            self._set_rule_column_txn,
            user_id,
            kind,
            rule_id,
            "actions",
            encode_json(list(actions)),
            is_default,
        )

    def _set_rule_column_txn(
        self,
        txn: LoggingTransaction,
        user_id: str,
        kind: str,
        rule_id: str,
        column: str,
        value: Any,
        is_default: bool,
    ) -> int:
        key = {"user_id": user_id, "kind": kind, "rule_id": rule_id}
        if is_default:
            self.db_pool.simple_upsert_txn(
                txn, "push_rules_default_overrides", key, {column: value}
            )
        elif not self.db_pool.simple_update_txn(txn, "push_rules", key, {column: value}):
            raise PushRuleNotFoundError(rule_id)
        return self._bump_stream_txn(txn, user_id)

    def _bump_stream_txn(self, txn: LoggingTransaction, user_id: str) -> int:
        """Take the next stream position for a change of the user's rules."""
        stream_id = self._id_gen.get_next_txn(txn)
        self.db_pool.simple_upsert_txn(
            txn, "push_rules_stream", {"user_id": user_id}, {"stream_id": stream_id}
        )
        txn.call_after(self._invalidate, user_id, stream_id)
        return stream_id

    def _invalidate(self, user_id: str, stream_id: int) -> None:
        self._cache_generation += 1
        self._rules_cache.invalidate(user_id)
        self._user_change_cache.entity_has_changed(user_id, stream_id)
