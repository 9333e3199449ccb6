"""Room upgrades: ``POST /rooms/{roomId}/upgrade``.

As the spec's room upgrades module says: check the user may send a tombstone, create the
replacement room (``predecessor`` in its create event, the room type kept), copy the
transferable state and bans, move the local aliases and the canonical alias, send the
tombstone, and restrict the old room's power levels so that ordinary users can no
longer talk or invite there.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from synapse.api.constants import EventContentFields, EventTypes, Membership
from synapse.api.errors import AuthError, Codes, NotFoundError, SynapseError
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from synapse.event_auth import get_room_creators, get_send_level, get_user_power_level
from synapse.events import EventBase
from synapse.events.utils import copy_and_fixup_power_levels_contents
from synapse.types import JsonDict, Requester, StateKey
from synapse.util.identifiers import is_valid_user_id
from synapse.util.linearizer import Linearizer

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# The state copied into the replacement room, in this order (power levels go first,
# through the creation of the room).
TRANSFERABLE_STATE_TYPES = (
    EventTypes.JoinRules,
    EventTypes.RoomHistoryVisibility,
    EventTypes.GuestAccess,
    EventTypes.ServerACL,
    EventTypes.RoomEncryption,
    EventTypes.Name,
    EventTypes.RoomAvatar,
    EventTypes.Topic,
)


class RoomUpgradeHandler:
    """``hs.get_room_upgrade_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        stores = hs.get_datastores().main
        self._stores = stores
        self._state_store = stores.state
        self._events = stores.events
        self._event_creation = hs.get_event_creation_handler()
        self._linearizer = Linearizer("room_upgrade")

    async def upgrade_room(
        self,
        requester: Requester,
        old_room_id: str,
        new_version_id: str,
        additional_creators: list[str] | None = None,
    ) -> str:
        """Upgrade ``old_room_id`` to ``new_version_id``; return the replacement room's ID.

        400 M_UNSUPPORTED_ROOM_VERSION for an unknown version, 404 for an unknown room,
        403 M_FORBIDDEN unless the user may send ``m.room.tombstone`` in the room.
        """
        new_version = KNOWN_ROOM_VERSIONS.get(new_version_id)
        if new_version is None:
            raise SynapseError(
                400,
                "Your homeserver does not support this room version",
                Codes.UNSUPPORTED_ROOM_VERSION,
            )
        creators = list(dict.fromkeys(additional_creators or []))
        for user_id in creators:
            if not isinstance(user_id, str) or not is_valid_user_id(user_id):
                raise SynapseError(400, f"Invalid user ID {user_id!r}", Codes.INVALID_PARAM)
        if creators and not new_version.hydra:
            raise SynapseError(
                400, "This room version has no additional creators", Codes.INVALID_PARAM
            )
        async with self._linearizer.queue(old_room_id):
            return await self._upgrade(requester, old_room_id, new_version, creators)

    async def _upgrade(
        self,
        requester: Requester,
        old_room_id: str,
        new_version: RoomVersion,
        additional_creators: list[str],
    ) -> str:
        user_id = requester.user.to_string()
        state = await self._current_state(old_room_id)
        create = state.get((EventTypes.Create, ""))
        if create is None:
            raise NotFoundError("Unknown room")
        self._check_can_tombstone(user_id, state)

        # The replacement room: type and predecessor; copied state and power levels.
        creation_content: JsonDict = {}
        room_type = create.content.get(EventContentFields.ROOM_TYPE)
        if isinstance(room_type, str):
            creation_content[EventContentFields.ROOM_TYPE] = room_type
        if additional_creators:
            creation_content[EventContentFields.ADDITIONAL_CREATORS] = additional_creators
        predecessor: JsonDict = {"room_id": old_room_id}
        last_event_id = await self._last_event_id(old_room_id)
        if last_event_id is not None:
            predecessor["event_id"] = last_event_id

        new_creators = {user_id, *additional_creators} if new_version.hydra else set()
        initial_pl, final_pl = self._power_levels_for_new_room(
            state, user_id, new_version, new_creators
        )
        copied: list[tuple[str, str, JsonDict]] = [(EventTypes.PowerLevels, "", initial_pl)]
        for etype in TRANSFERABLE_STATE_TYPES:
            event = state.get((etype, ""))
            if event is not None:
                copied.append((etype, "", dict(event.content)))
        final_state: list[tuple[str, str, JsonDict]] = []
        if final_pl is not None:
            final_state.append((EventTypes.PowerLevels, "", final_pl))

        creation = self.hs.get_room_creation_handler()
        new_room_id, _, _ = await creation.create_room(
            requester,
            {"room_version": new_version.identifier, "creation_content": creation_content},
            ratelimit=False,
            predecessor=predecessor,
            extra_initial_state=copied,
            skip_preset_events=True,
            final_state=final_state,
        )

        await self._copy_bans(requester, old_room_id, new_room_id, state)
        await self._move_aliases(requester, old_room_id, new_room_id, state)

        await self._event_creation.send_unratelimited_state(
            requester,
            old_room_id,
            EventTypes.Tombstone,
            {
                "body": "This room has been replaced",
                "replacement_room": new_room_id,
            },
        )
        await self._restrict_old_room(requester, old_room_id)

        old_room = await self._stores.rooms.get_room(old_room_id)
        if old_room is not None and old_room.is_public:
            await self._stores.rooms.set_room_is_public(new_room_id, True)
            await self._stores.rooms.set_room_is_public(old_room_id, False)
        return new_room_id

    # --- steps -----------------------------------------------------------------------
    async def _current_state(self, room_id: str) -> dict[StateKey, EventBase]:
        state_ids = await self._state_store.get_current_state_ids(room_id)
        events = await self._events.get_events(state_ids.values())
        return {k: events[v] for k, v in state_ids.items() if v in events}

    @staticmethod
    def _check_can_tombstone(user_id: str, state: dict[StateKey, EventBase]) -> None:
        member = state.get((EventTypes.Member, user_id))
        if member is None or member.content.get("membership") != Membership.JOIN:
            raise AuthError(403, "You are not in the room")
        power_levels = state.get((EventTypes.PowerLevels, ""))
        needed = get_send_level(EventTypes.Tombstone, "", power_levels)
        if get_user_power_level(user_id, state) < needed:
            raise AuthError(403, "You don't have permission to upgrade the room")

    async def _last_event_id(self, room_id: str) -> str | None:
        extremities = await self._stores.event_federation.get_prev_events_for_room(room_id, 1)
        return extremities[0] if extremities else None

    @staticmethod
    def _power_levels_for_new_room(
        state: dict[StateKey, EventBase],
        user_id: str,
        new_version: RoomVersion,
        new_creators: set[str],
    ) -> tuple[JsonDict, JsonDict | None]:
        """The power levels the new room starts with, and (if the upgrading user had to be
        raised to copy the state) the ones to restore afterwards."""
        old = state.get((EventTypes.PowerLevels, ""))
        content: JsonDict = (
            dict(copy_and_fixup_power_levels_contents(old.content)) if old is not None else {}
        )
        users = dict(content.get("users") or {})
        old_create = state.get((EventTypes.Create, ""))
        if old_create is not None and old_create.room_version.hydra:
            # Creators of a room version 12 room have no entry; keep their power.
            for creator in get_room_creators(old_create):
                if not new_version.hydra:
                    users.setdefault(creator, 100)
        if new_version.hydra:
            for creator in new_creators:
                users.pop(creator, None)
            events = dict(content.get("events") or {})
            state_default = content.get("state_default", 50)
            tombstone = events.get(EventTypes.Tombstone)
            if not isinstance(tombstone, int) or tombstone <= state_default:
                events[EventTypes.Tombstone] = max(150, int(state_default) + 1)
            content["events"] = events
        content["users"] = users
        if new_version.hydra:
            return content, None

        # The upgrading user needs the power to send every copied state event.
        levels: list[int] = [int(content.get("state_default", 50))]
        events_levels = content.get("events") or {}
        levels.extend(int(v) for v in events_levels.values() if isinstance(v, int))
        needed = max([100, *levels])
        current = users.get(user_id, content.get("users_default", 0))
        if isinstance(current, int) and current >= needed:
            return content, None
        raised = dict(content)
        raised["users"] = {**users, user_id: needed}
        return raised, content

    async def _copy_bans(
        self,
        requester: Requester,
        old_room_id: str,
        new_room_id: str,
        state: dict[StateKey, EventBase],
    ) -> None:
        members = self.hs.get_room_member_handler()
        for (etype, target), event in state.items():
            if etype != EventTypes.Member or event.content.get("membership") != Membership.BAN:
                continue
            try:
                await members.update_membership(
                    requester,
                    target,
                    new_room_id,
                    "ban",
                    reason=_str_or_none(event.content.get("reason")),
                    ratelimit=False,
                )
            except SynapseError as e:
                logger.info("Could not copy the ban of %s to %s: %s", target, new_room_id, e)

    async def _move_aliases(
        self,
        requester: Requester,
        old_room_id: str,
        new_room_id: str,
        state: dict[StateKey, EventBase],
    ) -> None:
        """Point the local aliases at the new room and move the canonical alias there."""
        await self._stores.directory.update_aliases_for_room(old_room_id, new_room_id)
        canonical = state.get((EventTypes.CanonicalAlias, ""))
        if canonical is None or not canonical.content:
            return
        for room_id, content in (
            (old_room_id, {}),
            (new_room_id, dict(canonical.content)),
        ):
            try:
                await self._event_creation.send_unratelimited_state(
                    requester, room_id, EventTypes.CanonicalAlias, content
                )
            except SynapseError as e:
                logger.info("Could not move the canonical alias of %s: %s", old_room_id, e)

    async def _restrict_old_room(self, requester: Requester, room_id: str) -> None:
        """Raise ``events_default`` and ``invite`` to max(50, users_default + 1)."""
        state = await self._current_state(room_id)
        old = state.get((EventTypes.PowerLevels, ""))
        content: JsonDict = (
            dict(copy_and_fixup_power_levels_contents(old.content)) if old is not None else {}
        )
        users_default = content.get("users_default", 0)
        restricted = max(50, (users_default if isinstance(users_default, int) else 0) + 1)
        changed = False
        for key in ("events_default", "invite"):
            current = content.get(key, 0)
            if not isinstance(current, int) or current < restricted:
                content[key] = restricted
                changed = True
        if not changed:
            return
        try:
            await self._event_creation.send_unratelimited_state(
                requester, room_id, EventTypes.PowerLevels, content
            )
        except SynapseError as e:
            logger.info("Could not restrict the power levels of %s: %s", room_id, e)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
