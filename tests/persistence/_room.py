"""Build a room's events with the real builder and persist them through the real queue."""

from __future__ import annotations

from typing import Any

from signedjson.key import generate_signing_key

from synapse.api.constants import EventTypes, Membership
from synapse.api.room_versions import RoomVersion, RoomVersions
from synapse.event_auth import auth_types_for_event
from synapse.events import EventBase, make_event_from_dict
from synapse.events.builder import EventBuilder
from synapse.persistence.context import EventContext
from synapse.server import HomeServer
from synapse.types import JsonDict, StateKey

SERVER = "test"


class RoomMaker:
    """A room on ``hs``: makes events on top of chosen prev events and persists them.

    ``run`` drives an awaitable to completion (the test case's ``get_success``).
    """

    def __init__(
        self,
        hs: HomeServer,
        run: Any,
        room_version: RoomVersion = RoomVersions.V10,
        name: str = "room",
    ) -> None:
        self.hs = hs
        self.run = run
        self.room_version = room_version
        self.room_id = f"!{name}:{SERVER}"
        self.key = generate_signing_key("1")
        self.ts = 1_000_000
        # The state after each event we made, to choose auth events from.
        self.state_after: dict[str, dict[StateKey, str]] = {}
        self.events: dict[str, EventBase] = {}
        self.last: list[str] = []

    # --- building ------------------------------------------------------------------
    def make(
        self,
        type: str,
        sender: str,
        content: JsonDict,
        state_key: str | None = None,
        prev: list[str] | None = None,
        redacts: str | None = None,
        internal_metadata: JsonDict | None = None,
        ts: int | None = None,
    ) -> EventBase:
        prev = list(self.last if prev is None else prev)
        state: dict[StateKey, str] = {}
        for p in prev:
            state.update(self.state_after[p])
        builder = EventBuilder(
            room_version=self.room_version,
            type=type,
            sender=sender,
            room_id=self.room_id,
            content=content,
            state_key=state_key,
            redacts=redacts,
            internal_metadata=internal_metadata or {},
        )
        probe = make_event_from_dict(
            builder.build_pdu_dict(prev_events=[], auth_events=[], origin_server_ts=0),
            self.room_version,
        )
        auth = sorted(
            {state[k] for k in auth_types_for_event(self.room_version, probe) if k in state}
        )
        self.ts += 1
        event = builder.build(
            prev_events=[self._ref(p) for p in prev],
            auth_events=[self._ref(a) for a in auth],
            origin_server_ts=ts if ts is not None else self.ts,
            signing_key=self.key,
            server_name=SERVER,
            prev_depths=[self.events[p].depth for p in prev],
        )
        after = dict(state)
        if event.is_state():
            after[(event.type, event.state_key)] = event.event_id
        self.state_after[event.event_id] = after
        self.events[event.event_id] = event
        self.last = [event.event_id]
        return event

    def _ref(self, event_id: str) -> Any:
        from synapse.events.builder import event_reference

        return event_reference(self.events[event_id])

    # --- persisting ----------------------------------------------------------------
    def context_for(self, event: EventBase) -> EventContext:
        return self.run(self.hs.get_state_handler().compute_event_context(event))

    def persist(self, event: EventBase) -> EventBase:
        context = self.context_for(event)
        self.run(self.hs.get_persistence_queue().persist_event(event, context))
        return event

    def send(
        self, type: str, sender: str, content: JsonDict, state_key: str | None = None, **kwargs: Any
    ) -> EventBase:
        return self.persist(self.make(type, sender, content, state_key, **kwargs))

    def create(self, creator: str = "@alice:test", join_rule: str = "public") -> None:
        """Create the room: create, the creator's join, power levels and join rules."""
        self.run(
            self.hs.get_datastores().main.rooms.store_room(
                self.room_id, creator, False, self.room_version
            )
        )
        self.send(EventTypes.Create, creator, {"room_version": self.room_version.identifier}, "")
        self.join(creator)
        self.send(EventTypes.PowerLevels, creator, {"users": {creator: 100}}, "")
        self.send(EventTypes.JoinRules, creator, {"join_rule": join_rule}, "")

    def join(self, user_id: str, **kwargs: Any) -> EventBase:
        return self.send(
            EventTypes.Member, user_id, {"membership": Membership.JOIN}, user_id, **kwargs
        )

    def leave(self, user_id: str) -> EventBase:
        return self.send(EventTypes.Member, user_id, {"membership": Membership.LEAVE}, user_id)

    def message(self, sender: str, body: str, **kwargs: Any) -> EventBase:
        return self.send(EventTypes.Message, sender, {"msgtype": "m.text", "body": body}, **kwargs)

    @staticmethod
    def copy_as_outlier(event: EventBase) -> EventBase:
        """The same event, as received without its state (an outlier)."""
        return make_event_from_dict(event.get_pdu_json(), event.room_version, {"outlier": True})
