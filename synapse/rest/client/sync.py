"""``GET /sync``: parse the request, and shape the handler's ``SyncResult`` as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.constants import PresenceState
from synapse.api.filtering import FilterCollection
from synapse.events import EventBase
from synapse.events.client_serializer import BundledAggregations, SerializeEventConfig
from synapse.events.utils import strip_event
from synapse.handlers.sync import (
    ArchivedSyncResult,
    InvitedSyncResult,
    JoinedSyncResult,
    KnockedSyncResult,
    SyncConfig,
    SyncResult,
    TimelineBatch,
)
from synapse.http.servlet import RestServlet, parse_boolean, parse_integer, parse_string
from synapse.rest.client._base import client_patterns
from synapse.storage.databases.main.event_push_actions import NotifCounts
from synapse.types import JsonDict, StreamToken

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_PRESENCE_STATES = (PresenceState.OFFLINE, PresenceState.ONLINE, PresenceState.UNAVAILABLE)


class SyncRestServlet(RestServlet):
    PATTERNS = client_patterns("/sync$")

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.auth = hs.get_auth()
        self.clock = hs.get_clock()
        self.filtering = hs.get_filtering()
        self.sync_handler = hs.get_sync_handler()
        self.presence_handler = hs.get_presence_handler()
        self.serializer = hs.get_event_client_serializer()

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request, allow_guest=True)
        user_id = requester.user.to_string()
        timeout = parse_integer(request, "timeout", default=0)
        since = parse_string(request, "since")
        set_presence = parse_string(
            request, "set_presence", default=PresenceState.ONLINE, allowed_values=_PRESENCE_STATES
        )
        filter_param = parse_string(request, "filter")
        full_state = parse_boolean(request, "full_state", default=False)
        use_state_after = parse_boolean(request, "use_state_after", default=False)

        since_token = StreamToken.from_string(since) if since is not None else None
        filter_collection = await self.filtering.get_filter_from_param(user_id, filter_param)
        request_key = (
            user_id,
            requester.device_id,
            since,
            timeout,
            full_state,
            filter_param,
            set_presence,
            use_state_after,
        )
        sync_config = SyncConfig(
            requester=requester,
            filter_collection=filter_collection,
            request_key=request_key,
            use_state_after=use_state_after,
        )
        # The user counts as syncing (and comes online) while the request runs.
        async with self.presence_handler.user_syncing(
            user_id, set_presence != PresenceState.OFFLINE, set_presence
        ):
            result = await self.sync_handler.wait_for_sync_for_user(
                sync_config, since_token, timeout, full_state
            )
        return 200, _SyncEncoder(self, sync_config).encode(result)


class _SyncEncoder:
    """The JSON of one ``SyncResult`` for the requesting device."""

    def __init__(self, servlet: SyncRestServlet, config: SyncConfig) -> None:
        self.serializer = servlet.serializer
        self.now_ms = servlet.clock.time_msec()
        self.filter: FilterCollection = config.filter_collection
        self.event_config = SerializeEventConfig(
            as_client_event=self.filter.as_client_event(),
            requester=config.requester,
            only_event_fields=self.filter.event_fields,
            include_room_id=False,
        )
        self.bundles: Mapping[str, BundledAggregations] = {}

    def encode(self, result: SyncResult) -> JsonDict:
        self.bundles = result.bundled_aggregations
        body: JsonDict = {
            "next_batch": result.next_batch.to_string(),
            "account_data": {"events": result.account_data},
            "presence": {"events": result.presence},
            "rooms": {
                "join": {r.room_id: self._joined(r) for r in result.joined},
                "invite": {r.room_id: self._invited(r) for r in result.invited},
                "leave": {r.room_id: self._archived(r) for r in result.archived},
                "knock": {r.room_id: self._knocked(r) for r in result.knocked},
            },
            "to_device": {"events": result.to_device},
            "device_lists": {
                "changed": sorted(result.device_lists.changed),
                "left": sorted(result.device_lists.left),
            },
            "device_one_time_keys_count": result.device_one_time_keys_count,
            "device_unused_fallback_key_types": result.device_unused_fallback_key_types,
        }
        if self.filter.blocks_all_presence():
            del body["presence"]
        return body

    def _events(self, events: Iterable[EventBase], bundles: bool = False) -> list[JsonDict]:
        return self.serializer.serialize_events(
            events,
            self.now_ms,
            config=self.event_config,
            bundle_aggregations=self.bundles if bundles else None,
        )

    def _timeline(self, timeline: TimelineBatch) -> JsonDict:
        return {
            "events": self._events(timeline.events, bundles=True),
            "limited": timeline.limited,
            "prev_batch": timeline.prev_batch.to_string(),
        }

    def _state(self, out: JsonDict, result: JoinedSyncResult | ArchivedSyncResult) -> None:
        """``state`` or, when the client asked for it, ``state_after`` (never both)."""
        if result.state_after is not None:
            out["state_after"] = {"events": self._events(result.state_after)}
        else:
            out["state"] = {"events": self._events(result.state)}

    def _joined(self, result: JoinedSyncResult) -> JsonDict:
        out: JsonDict = {
            "timeline": self._timeline(result.timeline),
            "ephemeral": {"events": result.ephemeral},
            "account_data": {"events": result.account_data},
            "summary": result.summary,
            "unread_notifications": _counts(result.unread_notifications.main_timeline),
        }
        self._state(out, result)
        if self.filter.unread_thread_notifications():
            out["unread_thread_notifications"] = {
                thread_id: _counts(counts)
                for thread_id, counts in result.unread_notifications.threads.items()
            }
        return out

    def _archived(self, result: ArchivedSyncResult) -> JsonDict:
        out: JsonDict = {
            "timeline": self._timeline(result.timeline),
            "account_data": {"events": result.account_data},
        }
        self._state(out, result)
        return out

    def _invited(self, result: InvitedSyncResult) -> JsonDict:
        return {
            "invite_state": {
                "events": _stripped_state(
                    result.invite, result.invite.unsigned.get("invite_room_state")
                )
            }
        }

    def _knocked(self, result: KnockedSyncResult) -> JsonDict:
        return {
            "knock_state": {
                "events": _stripped_state(
                    result.knock, result.knock.unsigned.get("knock_room_state")
                )
            }
        }


def _counts(counts: NotifCounts) -> JsonDict:
    return {
        "notification_count": counts.notify_count,
        "highlight_count": counts.highlight_count,
    }


def _stripped_state(membership_event: EventBase, room_state: object) -> list[JsonDict]:
    """The stripped state an invitee or knocker sees, ending with their membership."""
    events: list[JsonDict] = []
    own_key = (membership_event.type, membership_event.state_key)
    if isinstance(room_state, list):
        for item in room_state:
            if not isinstance(item, dict):
                continue
            stripped = {k: item[k] for k in ("type", "state_key", "content", "sender") if k in item}
            if (stripped.get("type"), stripped.get("state_key")) != own_key:
                events.append(stripped)
    events.append(strip_event(membership_event))
    return events


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    SyncRestServlet(hs).register(http_server)
