"""Room aliases and the visibility of rooms in the published room directory."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from synapse.api.constants import EventTypes
from synapse.api.errors import AuthError, Codes, NotFoundError, SynapseError
from synapse.event_auth import get_send_level, get_user_power_level
from synapse.events import EventBase
from synapse.storage.state_filter import StateFilter
from synapse.types import JsonDict, Requester, StateKey
from synapse.util.identifiers import is_valid_room_alias, is_valid_room_id

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)


class DirectoryHandler:
    """``hs.get_directory_handler()``: aliases (``/directory/room``), ``/rooms/{roomId}/aliases``
    and ``/directory/list/room``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.server_name = hs.hostname
        stores = hs.get_datastores().main
        self._stores = stores
        self._aliases = stores.directory
        self._state_store = stores.state
        self._events = stores.events
        self._config = hs.config.room_directory

    # --- lookups ---------------------------------------------------------------------
    def _check_alias(self, room_alias: str, must_be_local: bool = True) -> None:
        """The alias grammar (and, for new aliases, no empty or blank-containing local
        part); ``must_be_local``: in this server's namespace. 400 M_INVALID_PARAM."""
        localpart = room_alias[1:].split(":", 1)[0]
        if (
            not is_valid_room_alias(room_alias)
            or not localpart
            or any(c.isspace() for c in localpart)
        ):
            raise SynapseError(400, f"Invalid room alias {room_alias!r}", Codes.INVALID_PARAM)
        if must_be_local and not self.hs.is_mine_id(room_alias):
            raise SynapseError(400, "Room alias must be local", Codes.INVALID_PARAM)

    async def get_association(self, room_alias: str) -> JsonDict:
        """``{"room_id", "servers"}`` for an alias; 404 M_NOT_FOUND if unknown."""
        self._check_alias(room_alias, must_be_local=False)
        if not self.hs.is_mine_id(room_alias):
            return await self._remote_get_association(room_alias)
        mapping = await self._aliases.get_association_from_room_alias(room_alias)
        if mapping is None:
            raise NotFoundError(f"Room alias {room_alias} not found")
        servers = set(mapping.servers)
        servers |= await self._stores.roommember.get_current_hosts_in_room(mapping.room_id)
        # This server first: it is the one that answered.
        ordered = [self.server_name] if self.server_name in servers else []
        ordered += sorted(servers - {self.server_name})
        return {"room_id": mapping.room_id, "servers": ordered}

    async def _remote_get_association(self, room_alias: str) -> JsonDict:
        """Ask the alias's server (federation ``/query/directory``): federation's part."""
        raise NotFoundError(f"Room alias {room_alias} not found")

    async def resolve_room_id_or_alias(self, room_id_or_alias: str) -> str:
        """The room ID of a room ID or alias (400 M_INVALID_PARAM for neither)."""
        if room_id_or_alias.startswith("#"):
            association = await self.get_association(room_id_or_alias)
            return association["room_id"]
        if not is_valid_room_id(room_id_or_alias):
            raise SynapseError(
                400, f"{room_id_or_alias!r} is not a room ID or alias", Codes.INVALID_PARAM
            )
        return room_id_or_alias

    # --- changes -------------------------------------------------------------------
    async def create_association(
        self, requester: Requester, room_alias: str, room_id: str, check_membership: bool = True
    ) -> None:
        """Point a local alias at a room the requester is in (admins: any room).

        400 M_INVALID_PARAM for a bad or non-local alias, 404 for an unknown room, 403
        when not in the room or the alias rules refuse, 409 M_UNKNOWN when taken.
        """
        self._check_alias(room_alias)
        if not is_valid_room_id(room_id):
            raise SynapseError(400, f"Invalid room ID {room_id!r}", Codes.INVALID_PARAM)
        user_id = requester.user.to_string()
        if not await self._room_exists(room_id):
            raise NotFoundError("Room not found")
        is_admin = await self._stores.registration.is_server_admin(user_id)
        if not is_admin:
            if check_membership and not await self._is_joined(user_id, room_id):
                raise AuthError(403, "You must be in the room to create an alias for it")
            if not self._config.is_alias_creation_allowed(user_id, room_id, room_alias):
                raise AuthError(403, "This user is not permitted to create this alias")
        created = await self._aliases.create_room_alias_association(
            room_alias, room_id, [self.server_name], creator=user_id
        )
        if not created:
            raise SynapseError(409, f"Room alias {room_alias} already exists", Codes.UNKNOWN)

    async def delete_association(self, requester: Requester, room_alias: str) -> str:
        """Remove a local alias: its creator, a server admin or a room moderator (who may
        send ``m.room.canonical_alias``) may. Returns the room it pointed to."""
        self._check_alias(room_alias)
        mapping = await self._aliases.get_association_from_room_alias(room_alias)
        if mapping is None:
            raise NotFoundError(f"Room alias {room_alias} not found")
        user_id = requester.user.to_string()
        if not await self._can_delete_alias(user_id, room_alias, mapping.room_id):
            raise AuthError(403, "You don't have permission to delete the alias")
        room_id = await self._aliases.delete_room_alias(room_alias)
        if room_id is not None:
            await self._remove_from_canonical_alias(requester, room_id, room_alias)
        return mapping.room_id

    async def _can_delete_alias(self, user_id: str, room_alias: str, room_id: str) -> bool:
        if await self._aliases.get_room_alias_creator(room_alias) == user_id:
            return True
        if await self._stores.registration.is_server_admin(user_id):
            return True
        return await self.can_send_state(user_id, room_id, EventTypes.CanonicalAlias)

    async def _remove_from_canonical_alias(
        self, requester: Requester, room_id: str, room_alias: str
    ) -> None:
        """Drop a deleted alias from the room's canonical alias event, if it is there."""
        event_id = await self._state_store.get_current_state_event_id(
            room_id, EventTypes.CanonicalAlias, ""
        )
        if event_id is None:
            return
        event = await self._events.get_event(event_id, allow_none=True)
        if event is None:
            return
        content = dict(event.content)
        changed = False
        if content.get("alias") == room_alias:
            del content["alias"]
            changed = True
        alt = content.get("alt_aliases")
        if isinstance(alt, list) and room_alias in alt:
            content["alt_aliases"] = [a for a in alt if a != room_alias]
            changed = True
        if not changed:
            return
        try:
            await self.hs.get_event_creation_handler().send_unratelimited_state(
                requester, room_id, EventTypes.CanonicalAlias, content
            )
        except SynapseError as e:
            logger.info("Could not update the canonical alias of %s: %s", room_id, e)

    async def get_aliases_for_room(self, requester: Requester, room_id: str) -> list[str]:
        """The room's local aliases: for its members (or anyone, if world-readable)."""
        await self.hs.get_message_handler().check_user_in_room_or_world_readable(
            room_id, requester, allow_departed_users=False
        )
        return await self._aliases.get_aliases_for_room(room_id)

    # --- the published room directory ------------------------------------------------
    async def get_visibility(self, room_id: str) -> str:
        room = await self._stores.rooms.get_room(room_id)
        if room is None:
            raise NotFoundError("Room not found")
        return "public" if room.is_public else "private"

    async def set_visibility(self, requester: Requester, room_id: str, visibility: str) -> None:
        """Publish a room in the directory or take it out: admins, or members with the
        power to set the canonical alias; publishing must pass the publication rules."""
        if visibility not in ("public", "private"):
            raise SynapseError(400, "Invalid visibility", Codes.INVALID_PARAM)
        room = await self._stores.rooms.get_room(room_id)
        if room is None or not await self._room_exists(room_id):
            raise NotFoundError("Room not found")
        user_id = requester.user.to_string()
        is_admin = await self._stores.registration.is_server_admin(user_id)
        if not is_admin:
            if not await self._is_joined(user_id, room_id):
                raise AuthError(403, "You are not in the room")
            if not await self.can_send_state(user_id, room_id, EventTypes.CanonicalAlias):
                raise AuthError(403, "This user is not permitted to change the room's visibility")
        if visibility == "public":
            aliases = await self._aliases.get_aliases_for_room(room_id)
            if not is_admin and not self._config.is_publishing_room_allowed(
                user_id, room_id, aliases
            ):
                raise AuthError(403, "Not allowed to publish room")
        await self._stores.rooms.set_room_is_public(room_id, visibility == "public")

    # --- helpers ---------------------------------------------------------------------
    async def _room_exists(self, room_id: str) -> bool:
        return (
            await self._state_store.get_current_state_event_id(room_id, EventTypes.Create, "")
            is not None
        )

    async def _is_joined(self, user_id: str, room_id: str) -> bool:
        return room_id in await self._stores.roommember.get_rooms_for_user(user_id)

    async def can_send_state(self, user_id: str, room_id: str, event_type: str) -> bool:
        """Whether the user is joined and has the power to send ``event_type`` state."""
        keys: list[tuple[str, str | None]] = [
            (EventTypes.Create, ""),
            (EventTypes.PowerLevels, ""),
            (EventTypes.Member, user_id),
        ]
        state_ids = await self._state_store.get_current_state_ids(
            room_id, StateFilter.from_types(keys)
        )
        events = await self._events.get_events(state_ids.values())
        state: dict[StateKey, EventBase] = {
            k: events[v] for k, v in state_ids.items() if v in events
        }
        member = state.get((EventTypes.Member, user_id))
        if member is None or member.content.get("membership") != "join":
            return False
        power_levels = state.get((EventTypes.PowerLevels, ""))
        return get_user_power_level(user_id, state) >= get_send_level(event_type, "", power_levels)
