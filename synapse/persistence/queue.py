"""The event persistence queue: each room's events persisted in order, in batches.

``persist_events`` splits the events by room and queues them. One worker per room takes
everything queued for it (up to ``MAX_BATCH_EVENTS``), computes what the batch changes
(new forward extremities, and from them the delta to current state, resolving state
where they fork), takes stream orderings for the batch in order, and writes it all in
one transaction. After the commit the caches are invalidated (by the stores) and the
notifier and post-persist callbacks are told.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING

import attr
from twisted.internet import defer

from synapse.events import EventBase
from synapse.persistence.context import EventContext
from synapse.storage.databases.main.events import CurrentStateDelta, PersistBatch
from synapse.types import PersistedEventPosition, RoomStreamToken, StateKey, StateMap

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import LoggingTransaction

logger = logging.getLogger(__name__)

MAX_BATCH_EVENTS = 100

EventsAndContexts = list[tuple[EventBase, EventContext]]
PostPersistCallback = Callable[[list[EventBase], RoomStreamToken], object]
# ``hook(room_id, events_and_contexts)`` before a live batch's transaction: a function to
# run in that transaction (after the event writes), or None.
PrePersistHook = Callable[
    [str, EventsAndContexts], Awaitable[Callable[["LoggingTransaction"], None] | None]
]


@attr.s(slots=True, auto_attribs=True)
class _QueueItem:
    events_and_contexts: EventsAndContexts
    backfilled: bool
    deferred: defer.Deferred[None] = attr.Factory(defer.Deferred)


class EventsPersistenceQueue:
    """``hs.get_persistence_queue()``: the only writer of room events."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        stores = hs.get_datastores().main
        self._persist_store = stores.persist_events
        self._events_store = stores.events
        self._state_store = stores.state
        self._federation_store = stores.event_federation
        self._stream_store = stores.stream
        self._state_handler = hs.get_state_handler()
        self._instance_name = "master"
        self._queues: dict[str, deque[_QueueItem]] = {}
        self._callbacks: list[PostPersistCallback] = []
        self._pre_persist_hooks: list[PrePersistHook] = []
        # (highest stream ordering, live events) of committed batches not yet announced.
        self._pending_notifications: list[tuple[int, list[EventBase]]] = []
        self._stream_store.stream_id_generator.add_advance_listener(self._flush_notifications)

    def add_pre_persist_hook(self, hook: PrePersistHook) -> None:
        """Run ``hook`` on each live batch once its state is known; the writer it returns
        runs in the batch's transaction (push actions: ``synapse/push/``)."""
        self._pre_persist_hooks.append(hook)

    def add_post_persist_callback(self, cb: PostPersistCallback) -> None:
        """Call ``cb(events, max_stream_token)`` after each committed batch of live events."""
        self._callbacks.append(cb)

    # --- entry points --------------------------------------------------------------
    async def persist_events(
        self,
        events_and_contexts: Iterable[tuple[EventBase, EventContext]],
        backfilled: bool = False,
    ) -> RoomStreamToken:
        """Persist events (of any rooms; each room's in the given order) and return the
        room stream position up to which everything is persisted afterwards."""
        by_room: dict[str, EventsAndContexts] = {}
        for event, context in events_and_contexts:
            by_room.setdefault(event.room_id, []).append((event, context))
        waits = []
        for room_id, items in by_room.items():
            item = _QueueItem(items, backfilled)
            waits.append(item.deferred)
            self._enqueue(room_id, item)
        if waits:
            await defer.gatherResults(waits, consumeErrors=True).addErrback(_unwrap_first_error)
        return self._stream_store.get_room_max_token()

    async def persist_event(
        self, event: EventBase, context: EventContext, backfilled: bool = False
    ) -> tuple[EventBase, PersistedEventPosition, RoomStreamToken]:
        """Persist one event; return it (with its stream ordering), its position and the
        current room stream position."""
        max_token = await self.persist_events([(event, context)], backfilled=backfilled)
        stream = event.internal_metadata.stream_ordering
        assert stream is not None
        return event, PersistedEventPosition(self._instance_name, stream), max_token

    # --- the per-room workers --------------------------------------------------------
    def _enqueue(self, room_id: str, item: _QueueItem) -> None:
        queue = self._queues.get(room_id)
        if queue is not None:
            queue.append(item)
            return
        self._queues[room_id] = deque([item])
        defer.ensureDeferred(self._process_room(room_id))

    async def _process_room(self, room_id: str) -> None:
        queue = self._queues[room_id]
        try:
            while queue:
                items = [queue.popleft()]
                count = len(items[0].events_and_contexts)
                while (
                    queue
                    and queue[0].backfilled == items[0].backfilled
                    and count + len(queue[0].events_and_contexts) <= MAX_BATCH_EVENTS
                ):
                    item = queue.popleft()
                    items.append(item)
                    count += len(item.events_and_contexts)
                try:
                    await self._persist_items(room_id, items)
                except BaseException as e:
                    _fail(items, e)
                    raise
        finally:
            del self._queues[room_id]
            # Only if the worker itself was stopped: nobody may be left waiting.
            _fail(queue, RuntimeError(f"Persisting events in {room_id} was interrupted"))

    async def _persist_items(self, room_id: str, items: list[_QueueItem]) -> None:
        batch = [ec for item in items for ec in item.events_and_contexts]
        try:
            await self._persist_batch(room_id, batch, items[0].backfilled)
        except Exception as e:
            if len(items) == 1:
                logger.warning("Failed to persist events in %s: %r", room_id, e)
                items[0].deferred.errback(e)
                return
            # One bad request must not fail the others batched with it: retry them alone.
            for item in items:
                await self._persist_items(room_id, [item])
            return
        for item in items:
            item.deferred.callback(None)

    # --- one batch -------------------------------------------------------------------
    async def _persist_batch(
        self, room_id: str, events_and_contexts: EventsAndContexts, backfilled: bool
    ) -> None:
        events_and_contexts, de_outliered, referenced = await self._drop_persisted(
            events_and_contexts
        )
        if not events_and_contexts:
            return
        events = [e for e, _ in events_and_contexts]
        state_groups: dict[str, int] = {}
        partial: set[str] = set()
        for event, context in events_and_contexts:
            if context.rejected:
                event.rejected_reason = context.rejected
                context.mark_rejected(context.rejected)
                self._state_handler.event_rejected(event.event_id, context)
            if (
                not event.internal_metadata.is_outlier()
                and context.state_group_after_event is not None
            ):
                state_groups[event.event_id] = context.state_group_after_event
            if context.partial_state:
                partial.add(event.event_id)

        batch = PersistBatch(
            room_id=room_id,
            events=events,
            backfilled=backfilled,
            state_groups=state_groups,
            partial_state_event_ids=partial,
            de_outliered=de_outliered,
        )
        self._state_handler.state_res_store.add_events(room_id, events)
        try:
            if not backfilled:
                await self._compute_extremities_and_state(batch, events_and_contexts, referenced)
                for hook in self._pre_persist_hooks:
                    writer = await hook(room_id, events_and_contexts)
                    if writer is not None:
                        batch.extra_writes.append(writer)
            id_gen = (
                self._stream_store.backfill_stream_id_generator
                if backfilled
                else self._stream_store.stream_id_generator
            )
            async with id_gen.get_next_mult(len(events)) as stream_ids:
                for event, stream_id in zip(events, stream_ids, strict=True):
                    event.internal_metadata.stream_ordering = stream_id
                    event.internal_metadata.instance_name = self._instance_name
                await self._persist_store.persist_batch(batch)
                if not backfilled:
                    live = [
                        e
                        for e in events
                        if not e.internal_metadata.is_outlier()
                        or e.internal_metadata.out_of_band_membership
                    ]
                    if live:
                        self._pending_notifications.append((max(stream_ids), live))
        except BaseException:
            self._state_handler.state_res_store.events_failed(room_id, events)
            raise
        self._state_handler.state_res_store.events_persisted(room_id, events)
        self._flush_notifications()

    def _flush_notifications(self, _token: int | None = None) -> None:
        """Tell the notifier and callbacks about the batches that the stream position now
        covers. A batch that commits while one with lower stream orderings is still being
        written waits here, so that a woken reader can always see it."""
        if not self._pending_notifications:
            return
        current = self._stream_store.get_room_max_stream_ordering()
        ready = [p for p in self._pending_notifications if p[0] <= current]
        if not ready:
            return
        self._pending_notifications = [p for p in self._pending_notifications if p[0] > current]
        max_token = RoomStreamToken(stream=current)
        notifier = self._hs.get_notifier()
        for _, live in ready:
            notifier.on_new_room_events(live, max_token)
            for cb in self._callbacks:
                try:
                    cb(live, max_token)
                except Exception:
                    logger.exception("Post-persist callback failed")

    async def _drop_persisted(
        self, events_and_contexts: EventsAndContexts
    ) -> tuple[EventsAndContexts, set[str], set[str]]:
        """Leave out events already stored (and duplicates); note outliers to de-outlier.

        Also returns the events a stored event cites as prev events (read in the same
        transaction), which cannot be forward extremities.
        """
        unique: dict[str, tuple[EventBase, EventContext]] = {}
        for event, context in events_and_contexts:
            unique.setdefault(event.event_id, (event, context))
        status, referenced = await self._persist_store.get_batch_prerequisites(list(unique))
        kept: EventsAndContexts = []
        de_outliered: set[str] = set()
        for event_id, (event, context) in unique.items():
            stored_as_outlier = status.get(event_id)
            if stored_as_outlier is None:
                kept.append((event, context))
            elif stored_as_outlier and not event.internal_metadata.is_outlier():
                de_outliered.add(event_id)
                kept.append((event, context))
            else:
                stored = await self._events_store.get_event(
                    event_id, allow_none=True, allow_rejected=True
                )
                if stored is not None:
                    event.internal_metadata.stream_ordering = (
                        stored.internal_metadata.stream_ordering
                    )
        return kept, de_outliered, referenced

    async def _compute_extremities_and_state(
        self,
        batch: PersistBatch,
        events_and_contexts: EventsAndContexts,
        referenced: Collection[str],
    ) -> None:
        """Fill in the batch's forward extremity delta and current state delta."""
        room_id = batch.room_id
        new_live = [
            e
            for e in batch.events
            if not e.internal_metadata.is_outlier()
            and not e.rejected_reason
            and not e.internal_metadata.soft_failed
        ]
        if not new_live:
            return
        old = set(await self._federation_store.get_forward_extremities(room_id))
        new_ids = {e.event_id for e in new_live}
        result = (old | new_ids) - {p for e in new_live for p in e.prev_event_ids()}
        result -= set(referenced)
        # The old extremities are stored non-outliers: no need to look them up again.
        batch.known_prev_events = old
        if result == old:
            return
        batch.forward_extremities_delta = (old - result, result - old)
        batch.new_forward_extremities = result

        contexts = {e.event_id: c for e, c in events_and_contexts}
        groups: dict[str, int] = {e: g for e, g in batch.state_groups.items() if e in result}
        stored = [e for e in result if e not in contexts]
        if stored:
            groups.update(await self._state_store.get_state_group_for_events(stored))
        new_groups = set(groups.values())
        if not new_groups:
            return

        old_groups: set[int] = set()
        if old:
            old_groups = set((await self._state_store.get_state_group_for_events(old)).values())
        if old_groups == new_groups:
            return
        delta: CurrentStateDelta | None = None
        if len(new_groups) == 1 and len(old_groups) == 1:
            delta = _delta_via_contexts(
                next(iter(old_groups)), next(iter(new_groups)), contexts.values()
            )
        if delta is None:
            new_state: Mapping[StateKey, str]
            if len(new_groups) == 1:
                new_state = await self._state_store.get_state_ids_for_group(next(iter(new_groups)))
            else:
                event_map = {e.event_id: e for e in batch.events}
                new_state = await self._state_handler.resolve_state_groups(
                    room_id, batch.events[0].room_version, new_groups, event_map
                )
            old_state = await self._state_store.get_current_state_ids(room_id)
            delta = _diff_states(old_state, new_state)
        batch.current_state_delta = delta


def _fail(items: Iterable[_QueueItem], error: BaseException) -> None:
    for item in items:
        if not item.deferred.called:
            item.deferred.errback(error)


def _delta_via_contexts(
    old_group: int, new_group: int, contexts: Collection[EventContext]
) -> CurrentStateDelta | None:
    """The delta from ``old_group`` to ``new_group`` along the batch's own state deltas,
    without loading either state; None if they are not linked that way."""
    links: dict[int, tuple[int, StateMap[str]]] = {}
    for c in contexts:
        if (
            c.state_group_after_event is not None
            and c.prev_group is not None
            and c.delta_ids is not None
        ):
            links[c.state_group_after_event] = (c.prev_group, c.delta_ids)
    chain: list[StateMap[str]] = []
    group = new_group
    while group != old_group:
        link = links.get(group)
        if link is None or len(chain) > len(links):
            return None
        group, delta = link
        chain.append(delta)
    to_insert: dict[StateKey, str] = {}
    for delta in reversed(chain):
        to_insert.update(delta)
    return CurrentStateDelta(to_delete=[], to_insert=to_insert)


def _diff_states(old: Mapping[StateKey, str], new: Mapping[StateKey, str]) -> CurrentStateDelta:
    return CurrentStateDelta(
        to_delete=[k for k in old if k not in new],
        to_insert={k: v for k, v in new.items() if old.get(k) != v},
    )


def _unwrap_first_error(failure: object) -> None:
    """Raise the error of the first failed room rather than a FirstError wrapper."""
    from twisted.python.failure import Failure

    assert isinstance(failure, Failure)
    if isinstance(failure.value, defer.FirstError):
        failure.value.subFailure.raiseException()
    failure.raiseException()
