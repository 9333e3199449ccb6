"""Push actions of new events for every local member, written with the events.

Where this runs: the persistence queue calls ``push_actions_for_batch`` for each batch
of live events (``EventsPersistenceQueue.add_pre_persist_hook``), after the batch's
state is known and before its transaction; what it returns is written in that same
transaction. So the notification count an event raises is committed together with the
event and never seen without it (the spec wants both in the same ``/sync``), a failed
batch writes neither, and every path that persists events (local sends, room creation,
federation) is covered by one call. Backfilled events, outliers, rejected and
soft-failed events notify nobody.

For each event, the local users joined to the room before it (and a local invitee of an
``m.room.member`` invite), except the sender and users ignoring the sender, are
evaluated against their push rules; an event whose actions ``notify`` becomes a row of
``event_push_actions``. The joined members are the room's current members (cached)
with the batch's earlier membership changes applied; the power levels are those in
the state before the event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from synapse.api.constants import EventTypes, Membership, RelationTypes
from synapse.event_auth import get_user_power_level, parse_power_level
from synapse.events import EventBase
from synapse.events.utils import get_relation
from synapse.push.evaluator import (
    EvaluationPlan,
    PowerLevelsNeeded,
    PushRuleEvaluator,
    actions_highlight,
    actions_notify,
)
from synapse.push.rules import (
    RulesetTemplate,
    UserContext,
    build_template,
    template_signature,
)
from synapse.storage.databases.main.event_push_actions import (
    MAIN_TIMELINE,
    EventPushActions,
    UserNotification,
)
from synapse.storage.databases.main.push_rule import UserPushRules
from synapse.storage.state_filter import StateFilter
from synapse.util.caches.lrucache import LruCache
from synapse.visibility import get_ignored_users

if TYPE_CHECKING:
    from synapse.persistence.context import EventContext
    from synapse.server import HomeServer
    from synapse.storage.database import LoggingTransaction

logger = logging.getLogger(__name__)

# How many relations to follow up from an event to find its thread (the spec's advice).
_MAX_THREAD_HOPS = 3

_POWER_FILTER = StateFilter.from_types([(EventTypes.PowerLevels, ""), (EventTypes.Create, "")])

TxnWriter = Callable[["LoggingTransaction"], None]


class _RoomMembers:
    """The local members of a room as a batch goes on: current members, then each
    membership change of the batch applied in order."""

    def __init__(
        self,
        evaluator: BulkPushRuleEvaluator,
        room_id: str,
        joined: Iterable[str],
        is_mine_id: Callable[[str], bool],
    ) -> None:
        self._evaluator = evaluator
        self._room_id = room_id
        self._is_mine_id = is_mine_id
        self.joined = set(joined)
        self.local = {u for u in self.joined if is_mine_id(u)}
        self._names: dict[str, str | None] | None = None
        self._changes: list[EventBase] = []

    def apply(self, event: EventBase) -> None:
        """Take a membership event of the batch into account for the events after it."""
        user_id = event.state_key
        if event.content.get("membership") == Membership.JOIN:
            self.joined.add(user_id)
            if self._is_mine_id(user_id):
                self.local.add(user_id)
        else:
            self.joined.discard(user_id)
            self.local.discard(user_id)
        self._changes.append(event)
        if self._names is not None:
            _apply_name(self._names, event)

    async def display_names(self) -> Mapping[str, str | None]:
        """The display name of each joined local user (read when first needed)."""
        if self._names is None:
            names = dict(await self._evaluator.local_display_names(self._room_id))
            for event in self._changes:
                _apply_name(names, event)
            self._names = names
        return self._names


def _apply_name(names: dict[str, str | None], event: EventBase) -> None:
    if event.content.get("membership") == Membership.JOIN:
        name = event.content.get("displayname")
        names[event.state_key] = name if isinstance(name, str) else None
    else:
        names.pop(event.state_key, None)


class BulkPushRuleEvaluator:
    """``hs.get_bulk_push_rule_evaluator()``."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        stores = hs.get_datastores().main
        self._stores = stores
        self._push_rules = stores.push_rules
        self._actions = stores.event_push_actions
        self._members = stores.roommember
        self._events = stores.events
        # Room -> local joined user -> display name; dropped when a batch changes members.
        self._local_names: LruCache[str, dict[str, str | None]] = LruCache(10_000)
        # User -> (the stored rules it was built from, their template).
        self._user_templates: LruCache[str, tuple[UserPushRules, RulesetTemplate]] = LruCache(
            50_000
        )
        # Signature of stored rules -> template: users who changed nothing share one.
        self._templates: LruCache[str, RulesetTemplate] = LruCache(10_000)
        # User -> (account data position, the users they ignore at that position).
        self._ignored: LruCache[str, tuple[int, frozenset[str]]] = LruCache(50_000)

    # --- the persistence hook --------------------------------------------------------
    async def push_actions_for_batch(
        self, room_id: str, events_and_contexts: Sequence[tuple[EventBase, EventContext]]
    ) -> TxnWriter | None:
        """What the batch's events do for local users: a writer for the persist
        transaction, or None when there is nothing to write."""
        batch = {e.event_id: e for e, _ in events_and_contexts}
        members: _RoomMembers | None = None
        items: list[EventPushActions] = []
        has_member_events = False
        for event, context in events_and_contexts:
            if (
                event.internal_metadata.is_outlier()
                or context.rejected
                or event.rejected_reason
                or event.internal_metadata.soft_failed
            ):
                continue
            if members is None:
                members = _RoomMembers(
                    self,
                    room_id,
                    await self._members.get_users_in_room(room_id),
                    self._hs.is_mine_id,
                )
            item = await self._actions_for_event(event, context, members, batch)
            if item is not None:
                items.append(item)
            if event.type == EventTypes.Member and event.is_state():
                has_member_events = True
                members.apply(event)
        if has_member_events:
            self._local_names.invalidate(room_id)
        if not items:
            return None

        def write(txn: LoggingTransaction) -> None:
            if has_member_events:
                txn.call_after(self._local_names.invalidate, room_id)
            self._actions.persist_push_actions_txn(txn, room_id, items)

        return write

    async def _actions_for_event(
        self,
        event: EventBase,
        context: EventContext,
        members: _RoomMembers,
        batch: Mapping[str, EventBase],
    ) -> EventPushActions | None:
        sender = event.sender
        item = EventPushActions(
            event=event,
            thread_id=await self._thread_of(event, batch),
            local_sender=sender if self._hs.is_mine_id(sender) else None,
            redacts=event.redacts if event.type == EventTypes.Redaction else None,
        )
        recipients = [u for u in members.local if u != sender]
        if (
            event.type == EventTypes.Member
            and event.content.get("membership") == Membership.INVITE
            and event.is_state()
            and event.state_key != sender
            and self._hs.is_mine_id(event.state_key)
            and event.state_key not in members.joined
        ):
            recipients.append(event.state_key)
        if recipients:
            await self._evaluate(event, context, members, batch, recipients, item)
        if item.notifications or item.local_sender or item.redacts:
            return item
        return None

    async def _evaluate(
        self,
        event: EventBase,
        context: EventContext,
        members: _RoomMembers,
        batch: Mapping[str, EventBase],
        recipients: Collection[str],
        item: EventPushActions,
    ) -> None:
        evaluator = PushRuleEvaluator(event, len(members.joined))
        templates = await self.get_templates(recipients)
        plans: dict[int, EvaluationPlan] = {}
        for template in {id(t): t for t in templates.values()}.values():
            while True:
                try:
                    plans[id(template)] = evaluator.plan(template)
                    break
                except PowerLevelsNeeded:
                    evaluator.set_power_levels(*await self._power_at(event, context, batch))
        if not any(p.candidates or _notifies(p.generic_actions) for p in plans.values()):
            return
        names: Mapping[str, str | None] = {}
        if any(p.needs_display_name for p in plans.values()):
            names = await members.display_names()
        # id(actions) -> (notify, highlight), for the few distinct action lists.
        decided: dict[int, tuple[bool, bool]] = {}
        notified: list[tuple[str, list[Any], bool]] = []
        for user_id in recipients:
            plan = plans[id(templates[user_id])]
            if plan.candidates:
                actions = evaluator.actions_for(plan, UserContext(user_id, names.get(user_id)))
            else:
                actions = plan.generic_actions
            if actions is None:
                continue
            decision = decided.get(id(actions))
            if decision is None:
                decision = decided[id(actions)] = (
                    actions_notify(actions),
                    actions_highlight(actions),
                )
            if decision[0]:
                notified.append((user_id, actions, decision[1]))
        for user_id, actions, highlight in notified:
            if not await self._ignores(user_id, event.sender):
                item.notifications[user_id] = UserNotification(actions, highlight)

    # --- rules, members and power ------------------------------------------------------
    async def get_templates(self, user_ids: Collection[str]) -> dict[str, RulesetTemplate]:
        """Each user's rules (users with the same stored rules share one template)."""
        stored = await self._push_rules.bulk_get_push_rules(user_ids)
        out: dict[str, RulesetTemplate] = {}
        for user_id, rules in stored.items():
            cached = self._user_templates.get(user_id)
            if cached is not None and cached[0] is rules:
                out[user_id] = cached[1]
                continue
            signature = template_signature(rules)
            template = self._templates.get(signature)
            if template is None:
                template = build_template(rules)
                self._templates.set(signature, template)
            self._user_templates.set(user_id, (rules, template))
            out[user_id] = template
        return out

    async def _ignores(self, user_id: str, sender: str) -> bool:
        """Whether ``user_id`` ignores ``sender`` (remembered until their account data
        changes)."""
        store = self._stores.account_data
        cached = self._ignored.get(user_id)
        if cached is None or store.has_account_data_changed(user_id, cached[0]):
            position = store.get_max_account_data_stream_id()
            cached = (position, await get_ignored_users(self._stores, user_id))
            self._ignored.set(user_id, cached)
        return sender in cached[1]

    async def local_display_names(self, room_id: str) -> Mapping[str, str | None]:
        """The display names of the room's joined local users, from current state."""
        cached = self._local_names.get(room_id)
        if cached is None:
            profiles = await self._members.get_users_in_room_with_profiles(room_id)
            cached = {
                user_id: profile.display_name
                for user_id, profile in profiles.items()
                if self._hs.is_mine_id(user_id)
            }
            self._local_names.set(room_id, cached)
        return cached

    async def _power_at(
        self, event: EventBase, context: EventContext, batch: Mapping[str, EventBase]
    ) -> tuple[int, dict[str, int]]:
        """The sender's power level before the event, and the ``notifications`` levels."""
        state_ids = await context.get_prev_state_ids(_POWER_FILTER)
        wanted = [i for i in state_ids.values() if i not in batch]
        fetched = await self._events.get_events(wanted) if wanted else {}
        state: dict[tuple[str, str], EventBase] = {}
        for key, event_id in state_ids.items():
            found = batch.get(event_id) or fetched.get(event_id)
            if found is not None:
                state[key] = found
        if event.type == EventTypes.Create and not state:
            state[(EventTypes.Create, "")] = event
        sender_level = get_user_power_level(event.sender, state)
        levels: dict[str, int] = {}
        power_levels = state.get((EventTypes.PowerLevels, ""))
        if power_levels is not None:
            notifications = power_levels.content.get("notifications")
            if isinstance(notifications, Mapping):
                for key, value in notifications.items():
                    level = parse_power_level(value, power_levels.room_version)
                    if level is not None:
                        levels[key] = level
        return sender_level, levels

    async def _thread_of(self, event: EventBase, batch: Mapping[str, EventBase]) -> str:
        """The thread root the event is in, or ``main`` (relations followed up to three
        hops, as for threaded receipts)."""
        current = event
        for _ in range(_MAX_THREAD_HOPS):
            relation = get_relation(current)
            if relation is None:
                return MAIN_TIMELINE
            rel_type, parent_id = relation
            if rel_type == RelationTypes.THREAD:
                return parent_id
            parent = batch.get(parent_id)
            if parent is None:
                parent = await self._events.get_event(parent_id, allow_none=True)
            if parent is None or parent.room_id != event.room_id:
                return MAIN_TIMELINE
            current = parent
        return MAIN_TIMELINE


def _notifies(actions: list[Any] | None) -> bool:
    return actions is not None and actions_notify(actions)
