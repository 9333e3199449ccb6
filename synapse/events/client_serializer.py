"""Serialising events for clients with their bundled aggregations (``unsigned.m.relations``).

Pure: the aggregations are computed beforehand
(``hs.get_relations_handler().get_bundled_aggregations(events, user_id)``).

    serializer = hs.get_event_client_serializer()
    config = SerializeEventConfig(requester=requester)
    chunk = serializer.serialize_events(events, now, config=config, bundle_aggregations=bundles)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import attr

from synapse.api.constants import RelationTypes
from synapse.events import EventBase
from synapse.events.utils import only_fields, serialize_event
from synapse.types import JsonDict, Requester


@attr.s(slots=True, frozen=True, auto_attribs=True)
class ThreadAggregation:
    """The ``m.thread`` aggregation of a thread root."""

    latest_event: EventBase
    count: int
    current_user_participated: bool


@attr.s(slots=True, auto_attribs=True)
class BundledAggregations:
    """What goes under ``unsigned.m.relations`` of one event."""

    # The most recent valid edit (m.replace).
    replace: EventBase | None = None
    thread: ThreadAggregation | None = None
    # The event IDs of m.reference children.
    references: list[str] | None = None

    def __bool__(self) -> bool:
        return self.replace is not None or self.thread is not None or bool(self.references)


@attr.s(slots=True, frozen=True, auto_attribs=True)
class SerializeEventConfig:
    """How to serialise events for one request."""

    as_client_event: bool = True
    # The requester: for ``transaction_id`` on the events they sent.
    requester: Requester | None = None
    # A filter's ``event_fields``.
    only_event_fields: Collection[str] | None = None
    include_stripped_room_state: bool = False
    include_room_id: bool = True


class EventClientSerializer:
    """``hs.get_event_client_serializer()``: events as clients see them."""

    def serialize_event(
        self,
        event: EventBase | JsonDict,
        time_now: int,
        *,
        config: SerializeEventConfig = SerializeEventConfig(),  # noqa: B008
        bundle_aggregations: Mapping[str, BundledAggregations] | None = None,
    ) -> JsonDict:
        """One event, with its bundled aggregations (if ``bundle_aggregations`` has some)."""
        if not isinstance(event, EventBase):
            return event
        requester = config.requester
        d = serialize_event(
            event,
            time_now,
            as_client_event=config.as_client_event,
            token_id=requester.access_token_id if requester else None,
            device_id=requester.device_id if requester else None,
            user_id=requester.user.to_string() if requester else None,
            include_stripped_room_state=config.include_stripped_room_state,
            include_room_id=config.include_room_id,
        )
        if bundle_aggregations:
            aggregations = bundle_aggregations.get(event.event_id)
            if aggregations:
                d["unsigned"]["m.relations"] = self._serialize_aggregations(
                    aggregations, time_now, config, bundle_aggregations
                )
        if config.only_event_fields is not None:
            d = only_fields(d, config.only_event_fields)
        return d

    def serialize_events(
        self,
        events: Iterable[EventBase | JsonDict],
        time_now: int,
        *,
        config: SerializeEventConfig = SerializeEventConfig(),  # noqa: B008
        bundle_aggregations: Mapping[str, BundledAggregations] | None = None,
    ) -> list[JsonDict]:
        return [
            self.serialize_event(
                e, time_now, config=config, bundle_aggregations=bundle_aggregations
            )
            for e in events
        ]

    def _serialize_aggregations(
        self,
        aggregations: BundledAggregations,
        time_now: int,
        config: SerializeEventConfig,
        bundle_aggregations: Mapping[str, BundledAggregations],
    ) -> JsonDict:
        # Related events are shown whole, whatever fields the filter asked for.
        inner = attr.evolve(config, only_event_fields=None)
        out: JsonDict = {}
        if aggregations.replace is not None:
            out[RelationTypes.REPLACE] = self.serialize_event(
                aggregations.replace, time_now, config=inner
            )
        if aggregations.thread is not None:
            thread = aggregations.thread
            out[RelationTypes.THREAD] = {
                "latest_event": self.serialize_event(
                    thread.latest_event,
                    time_now,
                    config=inner,
                    # The latest event's own aggregations (its edits); a thread event
                    # cannot be a thread root, so this does not loop.
                    bundle_aggregations={
                        k: v
                        for k, v in bundle_aggregations.items()
                        if k == thread.latest_event.event_id and v.thread is None
                    },
                ),
                "count": thread.count,
                "current_user_participated": thread.current_user_participated,
            }
        if aggregations.references:
            out[RelationTypes.REFERENCE] = {
                "chunk": [{"event_id": e} for e in aggregations.references]
            }
        return out
