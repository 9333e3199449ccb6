"""Creating rooms: ``POST /createRoom``.

The initial events are built in memory in the order the spec gives (create, the
creator's join, power levels, canonical alias, the preset's events, ``initial_state``,
name and topic, invites), each checked by the auth rules against the state the earlier
ones make, and then persisted in one batch: a request the auth rules refuse leaves
nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from synapse.api.constants import (
    EventContentFields,
    EventTypes,
    GuestAccess,
    HistoryVisibility,
    JoinRules,
    Membership,
    RoomCreationPreset,
)
from synapse.api.errors import AuthError, Codes, SynapseError
from synapse.api.ratelimiting import Ratelimiter
from synapse.api.room_versions import RoomVersion
from synapse.events import EventBase
from synapse.events.builder import room_id_for_create_event
from synapse.handlers.message import EventsAndContexts
from synapse.types import JsonDict, Requester, StateKey
from synapse.util.identifiers import MAX_IDENTIFIER_BYTES, byte_length, is_valid_user_id

if TYPE_CHECKING:
    from synapse.handlers.message import EventCreationHandler
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

MEGOLM_ALGORITHM = "m.megolm.v1.aes-sha2"


class _Preset:
    def __init__(
        self, join_rule: str, history_visibility: str, guest_access: str, invitees_are_admins: bool
    ) -> None:
        self.join_rule = join_rule
        self.history_visibility = history_visibility
        self.guest_access = guest_access
        self.invitees_are_admins = invitees_are_admins
        # Anyone in a private room may invite; public rooms need moderators.
        self.invite_level = 50 if join_rule == JoinRules.PUBLIC else 0


PRESETS: Mapping[str, _Preset] = {
    RoomCreationPreset.PRIVATE_CHAT: _Preset(
        JoinRules.INVITE, HistoryVisibility.SHARED, GuestAccess.CAN_JOIN, False
    ),
    RoomCreationPreset.TRUSTED_PRIVATE_CHAT: _Preset(
        JoinRules.INVITE, HistoryVisibility.SHARED, GuestAccess.CAN_JOIN, True
    ),
    RoomCreationPreset.PUBLIC_CHAT: _Preset(
        JoinRules.PUBLIC, HistoryVisibility.SHARED, GuestAccess.FORBIDDEN, False
    ),
}


def default_power_levels(
    room_version: RoomVersion, creator: str, invite_level: int, admins: Iterable[str] = ()
) -> JsonDict:
    """The power levels of a new room before any override.

    Up to room version 11 the creator (and ``admins``) get 100; from room version 12
    creators have infinite power and are not listed, and tombstones need more than any
    listed user can have (150).
    """
    users: dict[str, int] = {}
    if not room_version.hydra:
        users[creator] = 100
        for user_id in admins:
            users[user_id] = 100
    return {
        "users": users,
        "users_default": 0,
        "events": {
            EventTypes.Name: 50,
            EventTypes.PowerLevels: 100,
            EventTypes.RoomHistoryVisibility: 100,
            EventTypes.CanonicalAlias: 50,
            EventTypes.RoomAvatar: 50,
            EventTypes.Tombstone: 150 if room_version.hydra else 100,
            EventTypes.ServerACL: 100,
            EventTypes.RoomEncryption: 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": invite_level,
    }


class RoomEventChain:
    """The initial events of a new room, built one after the other in memory."""

    def __init__(
        self,
        event_creation: EventCreationHandler,
        requester: Requester,
        room_version: RoomVersion,
        room_id: str | None,
    ) -> None:
        self._creation = event_creation
        self.requester = requester
        self.room_version = room_version
        self.room_id = room_id
        self.events: list[EventBase] = []
        self.state: dict[StateKey, EventBase] = {}

    def add(
        self,
        event_type: str,
        content: JsonDict,
        state_key: str | None = "",
        sender: str | None = None,
        origin_server_ts: int | None = None,
    ) -> EventBase:
        """Build the next event; an auth failure is 400 M_INVALID_ROOM_STATE."""
        event_dict: JsonDict = {
            "type": event_type,
            "sender": sender or self.requester.user.to_string(),
            "content": content,
        }
        if self.room_id is not None:
            event_dict["room_id"] = self.room_id
        if state_key is not None:
            event_dict["state_key"] = state_key
        try:
            event = self._creation.build_event(
                self.requester,
                event_dict,
                self.room_version,
                self.events[-1:],
                self.state,
                origin_server_ts=origin_server_ts,
            )
        except AuthError as e:
            raise SynapseError(
                400, f"Invalid initial state ({event_type}): {e.msg}", Codes.INVALID_ROOM_STATE
            ) from e
        if event.type == EventTypes.Create and self.room_version.hydra:
            self.room_id = room_id_for_create_event(event)
        self.events.append(event)
        if event.is_state():
            self.state[(event.type, event.state_key)] = event
        return event

    async def contexts(self) -> EventsAndContexts:
        return await self._creation.contexts_for_chain(self.events)


def _check_initial_state(initial_state: Any) -> list[tuple[str, str, JsonDict]]:
    if initial_state is None:
        return []
    if not isinstance(initial_state, list):
        raise SynapseError(400, "'initial_state' must be a list", Codes.BAD_JSON)
    out = []
    for i, item in enumerate(initial_state):
        if not isinstance(item, dict):
            raise SynapseError(400, f"initial_state.{i} must be an object", Codes.BAD_JSON)
        etype = item.get("type")
        state_key = item.get("state_key", "")
        content = item.get("content")
        if not isinstance(etype, str) or not isinstance(state_key, str):
            raise SynapseError(
                400, f"initial_state.{i} needs a string type and state_key", Codes.BAD_JSON
            )
        if not isinstance(content, dict):
            raise SynapseError(400, f"initial_state.{i}.content must be an object", Codes.BAD_JSON)
        out.append((etype, state_key, content))
    return out


def _check_str(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value is not None and not isinstance(value, str):
        raise SynapseError(400, f"'{key}' must be a string", Codes.BAD_JSON)
    return value


class RoomCreationHandler:
    """``hs.get_room_creation_handler()``: creates rooms."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self.server_name = hs.hostname
        self._stores = hs.get_datastores().main
        self._event_creation = hs.get_event_creation_handler()
        self._config = hs.config
        self._last_create_ts = 0
        self._creation_limiter = Ratelimiter(
            self._stores, self.clock, hs.config.ratelimiting.rc_room_creation
        )

    async def create_room(
        self,
        requester: Requester,
        config: JsonDict,
        ratelimit: bool = True,
        predecessor: JsonDict | None = None,
        extra_initial_state: Iterable[tuple[str, str, JsonDict]] = (),
        skip_preset_events: bool = False,
        final_state: Iterable[tuple[str, str, JsonDict]] = (),
    ) -> tuple[str, str | None, int]:
        """Create a room as ``config`` (the ``/createRoom`` body) says.

        Returns the room ID, the alias created (or None) and the stream ordering of the
        last initial event. ``predecessor``, ``extra_initial_state`` (state sent before
        ``initial_state``), ``skip_preset_events`` and ``final_state`` (state sent last,
        e.g. power levels to restore) serve room upgrades.

        Raises 400 M_UNSUPPORTED_ROOM_VERSION, M_ROOM_IN_USE (alias taken),
        M_INVALID_PARAM (bad alias or user ID), M_INVALID_ROOM_STATE (the auth rules
        refuse an initial event), 403 when publishing or the alias is not allowed.
        """
        user_id = requester.user.to_string()
        if ratelimit:
            await self._ratelimit(requester)

        room_version = await self._event_creation.get_room_version_for_new_room(
            _check_str(config, "room_version")
        )
        preset_name = _check_str(config, "preset")
        visibility = _check_str(config, "visibility") or "private"
        if visibility not in ("public", "private"):
            raise SynapseError(400, "'visibility' must be public or private", Codes.INVALID_PARAM)
        if preset_name is None:
            preset_name = (
                RoomCreationPreset.PUBLIC_CHAT
                if visibility == "public"
                else RoomCreationPreset.PRIVATE_CHAT
            )
        preset = PRESETS.get(preset_name)
        if preset is None:
            raise SynapseError(400, f"Unknown preset {preset_name!r}", Codes.INVALID_PARAM)

        creation_content = config.get("creation_content") or {}
        if not isinstance(creation_content, dict):
            raise SynapseError(400, "'creation_content' must be an object", Codes.BAD_JSON)
        override = config.get("power_level_content_override")
        if override is not None and not isinstance(override, dict):
            raise SynapseError(
                400, "'power_level_content_override' must be an object", Codes.BAD_JSON
            )
        is_direct = config.get("is_direct", False)
        if not isinstance(is_direct, bool):
            raise SynapseError(400, "'is_direct' must be a boolean", Codes.BAD_JSON)
        name = _check_str(config, "name")
        topic = _check_str(config, "topic")
        initial_state = _check_initial_state(config.get("initial_state"))
        initial_state = list(extra_initial_state) + initial_state

        invitees = self._check_invitees(config.get("invite"), user_id)
        if config.get("invite_3pid"):
            raise SynapseError(
                400, "Inviting third-party identifiers is not supported", Codes.UNRECOGNIZED
            )

        room_alias = await self._check_alias_name(
            _check_str(config, "room_alias_name"), user_id, requester
        )

        if visibility == "public" and not self._config.room_directory.is_publishing_room_allowed(
            user_id, "", [room_alias] if room_alias else []
        ):
            raise AuthError(403, "Not allowed to publish room")

        local_invitees = [u for u in invitees if self.hs.is_mine_id(u)]
        remote_invitees = [u for u in invitees if not self.hs.is_mine_id(u)]

        room_id = None if room_version.hydra else self._event_creation.new_room_id()
        chain = RoomEventChain(self._event_creation, requester, room_version, room_id)

        # 1. The create event.
        create_content = {
            k: v
            for k, v in creation_content.items()
            if k not in (EventContentFields.ROOM_CREATOR, "room_version")
        }
        create_content["room_version"] = room_version.identifier
        if predecessor is not None:
            create_content["predecessor"] = predecessor
        if room_version.hydra:
            additional = create_content.get(EventContentFields.ADDITIONAL_CREATORS, [])
            if not isinstance(additional, list) or not all(
                isinstance(u, str) and is_valid_user_id(u) for u in additional
            ):
                raise SynapseError(
                    400, "'additional_creators' must be a list of user IDs", Codes.BAD_JSON
                )
            if preset.invitees_are_admins:
                additional = additional + invitees
            additional = [u for u in dict.fromkeys(additional) if u != user_id]
            if additional:
                create_content[EventContentFields.ADDITIONAL_CREATORS] = additional
            else:
                create_content.pop(EventContentFields.ADDITIONAL_CREATORS, None)
        elif EventContentFields.ADDITIONAL_CREATORS in create_content:
            # Only room version 12 knows additional creators; earlier versions ignore it.
            pass
        chain.add(EventTypes.Create, create_content, origin_server_ts=self._create_ts())

        # 2. The creator joins.
        chain.add(
            EventTypes.Member,
            await self._join_content(user_id),
            state_key=user_id,
        )

        # 3. Power levels: from initial_state if given there, else defaults and overrides.
        initial_state_map: dict[tuple[str, str], JsonDict] = {}
        for etype, state_key, content in initial_state:
            initial_state_map.pop((etype, state_key), None)
            initial_state_map[(etype, state_key)] = content
        pl_content = initial_state_map.pop((EventTypes.PowerLevels, ""), None)
        if pl_content is None:
            pl_content = default_power_levels(
                room_version,
                user_id,
                preset.invite_level,
                admins=invitees if preset.invitees_are_admins else (),
            )
            config_override = self._config.room.default_power_level_content_override.get(
                preset_name
            )
            if config_override:
                pl_content.update(config_override)
            if override:
                pl_content.update(override)
        chain.add(EventTypes.PowerLevels, pl_content)

        # 4. The canonical alias.
        if room_alias is not None:
            initial_state_map.pop((EventTypes.CanonicalAlias, ""), None)
            chain.add(EventTypes.CanonicalAlias, {"alias": room_alias})

        # 5. The preset's events, unless initial_state sets them.
        preset_events: list[tuple[str, JsonDict]] = [
            (EventTypes.JoinRules, {"join_rule": preset.join_rule}),
            (EventTypes.RoomHistoryVisibility, {"history_visibility": preset.history_visibility}),
            (EventTypes.GuestAccess, {"guest_access": preset.guest_access}),
        ]
        if preset_name in self._config.room.encryption_enabled_by_default_for_room_presets:
            preset_events.append((EventTypes.RoomEncryption, {"algorithm": MEGOLM_ALGORITHM}))
        for etype, content in preset_events:
            if (etype, "") not in initial_state_map and not skip_preset_events:
                chain.add(etype, content)

        # 6. initial_state, in order (name and topic below win over it).
        if name is not None:
            initial_state_map.pop((EventTypes.Name, ""), None)
        if topic is not None:
            initial_state_map.pop((EventTypes.Topic, ""), None)
        for (etype, state_key), content in initial_state_map.items():
            chain.add(etype, content, state_key=state_key)

        # 7. Name and topic.
        if name is not None:
            chain.add(EventTypes.Name, {"name": name})
        if topic is not None:
            chain.add(
                EventTypes.Topic,
                {
                    "topic": topic,
                    "m.topic": {"m.text": [{"body": topic, "mimetype": "text/plain"}]},
                },
            )

        # 8. Invites of local users (remote ones go over federation once the room exists).
        for invitee in local_invitees:
            invite_content: JsonDict = {"membership": Membership.INVITE}
            if is_direct:
                invite_content["is_direct"] = True
            chain.add(EventTypes.Member, invite_content, state_key=invitee)

        for etype, state_key, content in final_state:
            chain.add(etype, content, state_key=state_key)

        room_id = chain.room_id
        assert room_id is not None
        await self._stores.rooms.store_room(room_id, user_id, visibility == "public", room_version)
        if room_alias is not None:
            created = await self._stores.directory.create_room_alias_association(
                room_alias, room_id, [self.server_name], creator=user_id
            )
            if not created:
                raise SynapseError(400, "Room alias already taken", Codes.ROOM_IN_USE)
        events_and_contexts = await chain.contexts()
        try:
            last = await self._event_creation.handle_new_client_event(
                requester, events_and_contexts, ratelimit=False
            )
        except BaseException:
            if room_alias is not None:
                await self._stores.directory.delete_room_alias(room_alias)
            raise
        stream_id = last.internal_metadata.stream_ordering or 0

        if remote_invitees:
            member_handler = self.hs.get_room_member_handler()
            for invitee in remote_invitees:
                try:
                    _, stream_id = await member_handler.update_membership(
                        requester,
                        invitee,
                        room_id,
                        Membership.INVITE,
                        content={"is_direct": True} if is_direct else None,
                        ratelimit=False,
                    )
                except SynapseError as e:
                    logger.warning("Could not invite %s to %s: %s", invitee, room_id, e)
        return room_id, room_alias, stream_id

    def _create_ts(self) -> int:
        """The timestamp of a new create event: strictly increasing, so that two rooms
        created alike within one millisecond still get different IDs in room version 12."""
        ts = max(self.clock.time_msec(), self._last_create_ts + 1)
        self._last_create_ts = ts
        return ts

    async def _ratelimit(self, requester: Requester) -> None:
        allowed, _ = await self._creation_limiter.can_do_action(requester, update=False)
        if not allowed and await self._stores.registration.is_server_admin(
            requester.user.to_string()
        ):
            return
        await self._creation_limiter.ratelimit(requester)

    async def _join_content(self, user_id: str) -> JsonDict:
        """The content of a local user's join: membership and their profile."""
        content: JsonDict = {"membership": Membership.JOIN}
        info = await self._stores.profile.get_profileinfo(user_id)
        if info is not None:
            if info.display_name is not None:
                content["displayname"] = info.display_name
            if info.avatar_url is not None:
                content["avatar_url"] = info.avatar_url
        return content

    @staticmethod
    def _check_invitees(invite: Any, creator: str) -> list[str]:
        if invite is None:
            return []
        if not isinstance(invite, list):
            raise SynapseError(400, "'invite' must be a list of user IDs", Codes.BAD_JSON)
        out = []
        for user_id in invite:
            if not isinstance(user_id, str) or not is_valid_user_id(user_id):
                raise SynapseError(400, f"Invalid user ID {user_id!r}", Codes.INVALID_PARAM)
            if user_id != creator:
                out.append(user_id)
        return list(dict.fromkeys(out))

    async def _check_alias_name(
        self, room_alias_name: str | None, user_id: str, requester: Requester
    ) -> str | None:
        """The full alias for ``room_alias_name``, checked to be valid and free."""
        if room_alias_name is None:
            return None
        if (
            not room_alias_name
            or ":" in room_alias_name
            or any(c.isspace() for c in room_alias_name)
            or "\x00" in room_alias_name
        ):
            raise SynapseError(400, "Invalid characters in room alias", Codes.INVALID_PARAM)
        room_alias = f"#{room_alias_name}:{self.server_name}"
        if byte_length(room_alias) > MAX_IDENTIFIER_BYTES:
            raise SynapseError(400, "Room alias is too long", Codes.INVALID_PARAM)
        if await self._stores.directory.get_association_from_room_alias(room_alias) is not None:
            raise SynapseError(400, "Room alias already taken", Codes.ROOM_IN_USE)
        if not self._config.room_directory.is_alias_creation_allowed(user_id, "", room_alias):
            if not await self._stores.registration.is_server_admin(user_id):
                raise SynapseError(403, "Not allowed to create alias", Codes.FORBIDDEN)
        return room_alias
