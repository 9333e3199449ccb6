"""``EventCreationHandler`` and ``RoomCreationHandler`` used directly, as other handlers do."""

from __future__ import annotations

from typing import Any

from signedjson.key import get_verify_key
from twisted.internet import defer

from synapse.api.errors import AuthError, NotFoundError, SynapseError
from synapse.crypto.event_signing import verify_event_signature
from synapse.event_auth import auth_types_for_event
from synapse.events import EventBase
from synapse.types import JsonDict, RoomStreamToken, create_requester
from tests.unittest import HomeserverTestCase


class EventCreationTestCase(HomeserverTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.stores = hs.get_datastores().main
        self.handler = hs.get_event_creation_handler()
        self.user = self.register_user("alice", "pass")
        self.requester = create_requester(self.user, access_token_id=1, device_id="DEV")
        self.room_id, _, _ = self.get_success(
            hs.get_room_creation_handler().create_room(self.requester, {"preset": "public_chat"})
        )

    def message(self, body: str = "hi") -> JsonDict:
        return {
            "type": "m.room.message",
            "room_id": self.room_id,
            "sender": self.user,
            "content": {"msgtype": "m.text", "body": body},
        }

    def send(self, event_dict: JsonDict, **kwargs: Any) -> EventBase:
        event, _ = self.get_success(
            self.handler.create_and_send_nonmember_event(self.requester, event_dict, **kwargs)
        )
        return event

    def test_create_event(self) -> None:
        extremities = self.get_success(
            self.stores.event_federation.get_forward_extremities(self.room_id)
        )
        event, context = self.get_success(self.handler.create_event(self.requester, self.message()))
        self.assertEqual(set(event.prev_event_ids()), set(extremities))
        depths = self.get_success(self.stores.event_federation.get_depths(extremities))
        self.assertEqual(event.depth, max(depths.values()) + 1)
        # The auth events are those the rules select, from the current state.
        state = self.get_success(self.stores.state.get_current_state_ids(self.room_id))
        expected = {state[k] for k in auth_types_for_event(event.room_version, event) if k in state}
        self.assertEqual(set(event.auth_event_ids()), expected)
        # Signed with the server's key.
        key = self.hs.config.key.signing_key[0]
        verify_event_signature(
            event.room_version,
            event.get_pdu_json(),
            "test",
            {f"{key.alg}:{key.version}": get_verify_key(key)},
        )
        self.assertEqual(context.state_group_before_event, context.state_group_after_event)
        # Nothing is persisted until it is sent.
        seen = self.get_success(self.stores.events.have_seen_events([event.event_id]))
        self.assertEqual(seen, set())
        self.get_success(self.handler.handle_new_client_event(self.requester, [(event, context)]))
        seen = self.get_success(self.stores.events.have_seen_events([event.event_id]))
        self.assertEqual(seen, {event.event_id})
        self.assertEqual(
            self.get_success(self.stores.event_federation.get_forward_extremities(self.room_id)),
            frozenset([event.event_id]),
        )

    def test_new_events_reach_the_notifier(self) -> None:
        seen: list[list[EventBase]] = []
        notifier = self.hs.get_notifier()
        notifier.add_new_room_events_callback(lambda events, token: seen.append(events))
        before = notifier.get_current_token().room_key
        event = self.send(self.message())
        self.assertEqual([[e.event_id for e in batch] for batch in seen], [[event.event_id]])
        after = notifier.get_current_token().room_key
        self.assertTrue(after.is_after(before))
        self.assertEqual(
            after, RoomStreamToken(stream=event.internal_metadata.stream_ordering or 0)
        )

    def test_prev_events_are_capped(self) -> None:
        base = self.send(self.message("base"))
        forks = []
        for i in range(12):
            event, context = self.get_success(
                self.handler.create_event(
                    self.requester, self.message(f"fork {i}"), prev_event_ids=[base.event_id]
                )
            )
            self.get_success(
                self.handler.handle_new_client_event(self.requester, [(event, context)])
            )
            forks.append(event.event_id)
        extremities = self.get_success(
            self.stores.event_federation.get_forward_extremities(self.room_id)
        )
        self.assertEqual(set(extremities), set(forks))
        event = self.send(self.message("merge"))
        self.assertEqual(len(event.prev_event_ids()), 10)
        self.assertTrue(set(event.prev_event_ids()) <= set(forks))

    def test_refused_by_the_auth_rules(self) -> None:
        stranger = create_requester(self.register_user("stranger", "pass"))
        event_dict = dict(self.message(), sender=stranger.user.to_string())
        failure = self.get_failure(self.handler.create_event(stranger, event_dict), AuthError)
        error = failure.value
        assert isinstance(error, AuthError)
        self.assertEqual((error.code, error.errcode), (403, "M_FORBIDDEN"))

    def test_unknown_room(self) -> None:
        event_dict = dict(self.message(), room_id="!nope:test")
        self.get_failure(self.handler.create_event(self.requester, event_dict), NotFoundError)

    def test_too_large(self) -> None:
        event_dict = self.message("x" * 66000)
        failure = self.get_failure(
            self.handler.create_event(self.requester, event_dict), SynapseError
        )
        error = failure.value
        assert isinstance(error, SynapseError)
        self.assertEqual((error.code, error.errcode), (413, "M_TOO_LARGE"))

    def test_member_events_need_the_member_handler(self) -> None:
        event_dict = {
            "type": "m.room.member",
            "room_id": self.room_id,
            "state_key": self.user,
            "content": {"membership": "join"},
        }
        self.get_failure(
            self.handler.create_and_send_nonmember_event(self.requester, event_dict),
            SynapseError,
        )

    def test_concurrent_requests_with_one_transaction_id(self) -> None:
        before = self.stores.stream.get_room_max_stream_ordering()
        d1 = defer.ensureDeferred(
            self.handler.create_and_send_nonmember_event(self.requester, self.message(), txn_id="t")
        )
        d2 = defer.ensureDeferred(
            self.handler.create_and_send_nonmember_event(self.requester, self.message(), txn_id="t")
        )
        self.pump()
        (e1, s1), (e2, s2) = self.successResultOf(d1), self.successResultOf(d2)
        self.assertEqual(e1.event_id, e2.event_id)
        self.assertEqual(s1, s2)
        self.assertEqual(self.stores.stream.get_room_max_stream_ordering(), before + 1)

    def test_concurrent_sends_build_on_each_other(self) -> None:
        deferreds = [
            defer.ensureDeferred(
                self.handler.create_and_send_nonmember_event(self.requester, self.message(str(i)))
            )
            for i in range(5)
        ]
        self.pump()
        events = [self.successResultOf(d)[0] for d in deferreds]
        for prev, event in zip(events, events[1:], strict=False):
            self.assertEqual(event.prev_event_ids(), [prev.event_id])

    def test_identical_state_is_deduplicated(self) -> None:
        state = {
            "type": "m.room.topic",
            "room_id": self.room_id,
            "state_key": "",
            "content": {"topic": "x"},
        }
        first = self.send(state)
        again = self.send(state)
        self.assertEqual(first.event_id, again.event_id)
        self.assertEqual(
            first.internal_metadata.stream_ordering, again.internal_metadata.stream_ordering
        )

    def test_explicit_state(self) -> None:
        state = self.get_success(self.stores.state.get_current_state_ids(self.room_id))
        extremities = self.get_success(
            self.stores.event_federation.get_forward_extremities(self.room_id)
        )
        event, context = self.get_success(
            self.handler.create_event(
                self.requester,
                self.message(),
                prev_event_ids=list(extremities),
                state_map=state,
            )
        )
        prev_state = self.get_success(context.get_prev_state_ids())
        self.assertEqual(prev_state, state)


class RoomCreationHandlerTestCase(HomeserverTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.stores = hs.get_datastores().main
        self.user = self.register_user("alice", "pass")
        self.requester = create_requester(self.user)
        self.handler = hs.get_room_creation_handler()

    def test_create_room_returns_alias_and_position(self) -> None:
        room_id, alias, stream_id = self.get_success(
            self.handler.create_room(self.requester, {"room_alias_name": "here"})
        )
        self.assertEqual(alias, "#here:test")
        self.assertEqual(stream_id, self.stores.stream.get_room_max_stream_ordering())
        rooms = self.get_success(self.stores.roommember.get_rooms_for_user(self.user))
        self.assertEqual(rooms, frozenset([room_id]))
        info = self.get_success(self.stores.rooms.get_room(room_id))
        assert info is not None
        self.assertEqual(info.creator, self.user)

    def test_initial_events_are_one_batch(self) -> None:
        batches: list[list[str]] = []
        self.hs.get_notifier().add_new_room_events_callback(
            lambda events, token: batches.append([e.type for e in events])
        )
        self.get_success(self.handler.create_room(self.requester, {"name": "x"}))
        self.assertEqual(len(batches), 1)
        self.assertEqual(batches[0][0], "m.room.create")
        self.assertEqual(batches[0][-1], "m.room.name")
