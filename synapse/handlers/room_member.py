"""Membership changes: join, invite, leave, kick, ban, unban, knock and forget.

Whether a change is allowed is for the auth rules of the room version to decide; this
handler fills in the event (the user's profile on joins, the authorising user of a
restricted join), applies the join and invite rate limits and leaves one hook per case
that needs another server (``_remote_join``, ``_remote_knock``, ``_remote_leave``,
``_remote_invite``) for federation to fill in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from canonicaljson import encode_canonical_json

from synapse.api.constants import (
    EventContentFields,
    EventTypes,
    GuestAccess,
    JoinRules,
    Membership,
    RestrictedJoinRuleTypes,
)
from synapse.api.errors import AuthError, Codes, NotFoundError, SynapseError
from synapse.api.ratelimiting import Ratelimiter
from synapse.event_auth import get_named_level, get_user_power_level
from synapse.events import EventBase
from synapse.storage.state_filter import StateFilter
from synapse.types import JsonDict, Requester, StateKey, UserID
from synapse.util.identifiers import is_valid_user_id

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# The membership each action of the client API sets.
ACTION_MEMBERSHIPS: dict[str, str] = {
    "join": Membership.JOIN,
    "invite": Membership.INVITE,
    "leave": Membership.LEAVE,
    "kick": Membership.LEAVE,
    "ban": Membership.BAN,
    "unban": Membership.LEAVE,
    "knock": Membership.KNOCK,
}


class RoomMemberHandler:
    """``hs.get_room_member_handler()``: changes memberships for local users."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        stores = hs.get_datastores().main
        self._stores = stores
        self._events = stores.events
        self._state_store = stores.state
        self._event_creation = hs.get_event_creation_handler()
        self._linearizer = self._event_creation.room_linearizer
        self._forget_on_leave = hs.config.room.forget_on_leave
        rc = hs.config.ratelimiting
        self._join_limiter = Ratelimiter(stores, self.clock, rc.rc_joins_local)
        self._join_room_limiter = Ratelimiter(stores, self.clock, rc.rc_joins_per_room)
        self._invites_room_limiter = Ratelimiter(stores, self.clock, rc.rc_invites_per_room)
        self._invites_user_limiter = Ratelimiter(stores, self.clock, rc.rc_invites_per_user)
        self._invites_issuer_limiter = Ratelimiter(stores, self.clock, rc.rc_invites_per_issuer)

    async def update_membership(
        self,
        requester: Requester,
        target: str | UserID,
        room_id: str,
        action: str,
        txn_id: str | None = None,
        reason: str | None = None,
        third_party_signed: JsonDict | None = None,
        ratelimit: bool = True,
        content: JsonDict | None = None,
    ) -> tuple[str | None, int]:
        """Apply ``action`` (join, invite, leave, kick, ban, unban, knock, forget) by
        ``requester`` to ``target`` in ``room_id``.

        Returns the membership event's ID (the existing one when nothing changes; None
        for forget) and its stream ordering. Raises 404 M_NOT_FOUND for a room unknown
        here, 403 M_FORBIDDEN when the auth rules refuse, 429 when rate limited.
        """
        target_id = target.to_string() if isinstance(target, UserID) else target
        if not isinstance(target_id, str) or not is_valid_user_id(target_id):
            raise SynapseError(400, f"Invalid user ID {target_id!r}", Codes.INVALID_PARAM)
        if action == "forget":
            if target_id != requester.user.to_string():
                raise AuthError(403, "Cannot forget a room for another user")
            await self.forget(requester.user, room_id)
            return None, self._stores.stream.get_room_max_stream_ordering()
        membership = ACTION_MEMBERSHIPS.get(action)
        if membership is None:
            raise SynapseError(400, f"Unknown membership action {action!r}", Codes.INVALID_PARAM)
        sender = requester.user.to_string()
        if membership in (Membership.JOIN, Membership.KNOCK) and target_id != sender:
            raise AuthError(403, f"Cannot {action} for another user")
        if membership == Membership.JOIN and await self._stores.admin.get_room_blocker(room_id):
            if not await self._stores.registration.is_server_admin(sender):
                raise SynapseError(403, "This room has been blocked on this server")
        event_content: JsonDict = dict(content or {})
        event_content["membership"] = membership
        if reason is not None:
            event_content["reason"] = reason

        if txn_id is not None:
            known = await self._event_creation.get_event_for_txn(requester, room_id, txn_id)
            if known is not None:
                event, stream_id = known
                return event.event_id, stream_id

        if not await self._can_act_locally(room_id, membership):
            return await self._handle_unknown_room(
                requester, target_id, room_id, membership, event_content, third_party_signed
            )
        if membership == Membership.INVITE and not self.hs.is_mine_id(target_id):
            return await self._remote_invite(requester, target_id, room_id, event_content)

        async with self._linearizer.queue(room_id):
            return await self._update_membership_locked(
                requester, target_id, room_id, action, event_content, txn_id, ratelimit
            )

    async def _update_membership_locked(
        self,
        requester: Requester,
        target_id: str,
        room_id: str,
        action: str,
        content: JsonDict,
        txn_id: str | None,
        ratelimit: bool,
    ) -> tuple[str, int]:
        sender = requester.user.to_string()
        membership = content["membership"]
        state = await self._current_state_events(room_id, [sender, target_id])
        old = state.get((EventTypes.Member, target_id))
        old_membership = old.content.get("membership") if old is not None else None

        if action == "unban" and old_membership != Membership.BAN:
            raise AuthError(403, f"{target_id} is not banned from the room")
        if action == "kick" and old_membership not in (
            Membership.JOIN,
            Membership.INVITE,
            Membership.KNOCK,
        ):
            raise AuthError(403, f"{target_id} is not in the room")

        if membership == Membership.JOIN:
            if requester.is_guest:
                self._check_guest_access(state)
            if self.hs.is_mine_id(target_id):
                await self._add_profile(target_id, content)
            if old_membership not in (Membership.JOIN, Membership.INVITE):
                await self._authorise_restricted_join(room_id, target_id, state, content)

        if old is not None and old.sender == sender and _same_content(old.content, content):
            return old.event_id, old.internal_metadata.stream_ordering or 0

        if ratelimit:
            if membership == Membership.JOIN and old_membership != Membership.JOIN:
                await self._join_limiter.ratelimit(requester)
                await self._join_room_limiter.ratelimit(None, key=room_id)
            elif membership == Membership.INVITE:
                await self._invites_issuer_limiter.ratelimit(requester)
                await self._invites_room_limiter.ratelimit(None, key=room_id)
                await self._invites_user_limiter.ratelimit(None, key=target_id)

        event_dict: JsonDict = {
            "type": EventTypes.Member,
            "room_id": room_id,
            "sender": sender,
            "state_key": target_id,
            "content": content,
        }
        event, context = await self._event_creation.create_event(
            requester, event_dict, txn_id=txn_id
        )
        event = await self._event_creation.handle_new_client_event(
            requester, [(event, context)], ratelimit=False
        )
        stream_id = event.internal_metadata.stream_ordering or 0
        if (
            self._forget_on_leave
            and membership == Membership.LEAVE
            and target_id == sender
            and self.hs.is_mine_id(sender)
        ):
            await self._stores.directory.forget(sender, room_id, event.event_id)
        return event.event_id, stream_id

    # --- checks --------------------------------------------------------------------
    async def _can_act_locally(self, room_id: str, membership: str) -> bool:
        """Whether the change can be made from this server's copy of the room.

        The room's state must be known here. A join or knock also needs the room to be
        live here: a local user still in it, or a room this server created; otherwise
        another server must be asked (``_remote_join``/``_remote_knock``).
        """
        create_id = await self._state_store.get_current_state_event_id(
            room_id, EventTypes.Create, ""
        )
        if create_id is None:
            return False
        if membership not in (Membership.JOIN, Membership.KNOCK):
            return True
        if await self._stores.roommember.is_host_joined(room_id, self.hs.hostname):
            return True
        create = await self._events.get_event(create_id, allow_none=True)
        return create is not None and self.hs.is_mine_id(create.sender)

    async def _current_state_events(
        self, room_id: str, users: list[str]
    ) -> dict[StateKey, EventBase]:
        types: list[tuple[str, str | None]] = [
            (EventTypes.Create, ""),
            (EventTypes.PowerLevels, ""),
            (EventTypes.JoinRules, ""),
            (EventTypes.GuestAccess, ""),
        ]
        types.extend((EventTypes.Member, u) for u in users)
        state_ids = await self._state_store.get_current_state_ids(
            room_id, StateFilter.from_types(types)
        )
        events = await self._events.get_events(state_ids.values())
        return {k: events[v] for k, v in state_ids.items() if v in events}

    @staticmethod
    def _check_guest_access(state: dict[StateKey, EventBase]) -> None:
        guest_access = state.get((EventTypes.GuestAccess, ""))
        if guest_access is None or guest_access.content.get("guest_access") != GuestAccess.CAN_JOIN:
            raise AuthError(403, "Guest access not allowed", errcode=Codes.GUEST_ACCESS_FORBIDDEN)

    async def _add_profile(self, user_id: str, content: JsonDict) -> None:
        """Put the user's display name and avatar in a join, unless the client set them."""
        info = await self._stores.profile.get_profileinfo(user_id)
        if info is None:
            return
        if "displayname" not in content and info.display_name is not None:
            content["displayname"] = info.display_name
        if "avatar_url" not in content and info.avatar_url is not None:
            content["avatar_url"] = info.avatar_url

    async def _authorise_restricted_join(
        self,
        room_id: str,
        user_id: str,
        state: dict[StateKey, EventBase],
        content: JsonDict,
    ) -> None:
        """For a restricted room: check the joiner is in one of the allowed rooms and
        name a local user who may invite as ``join_authorised_via_users_server``."""
        join_rules = state.get((EventTypes.JoinRules, ""))
        if join_rules is None:
            return
        rule = join_rules.content.get("join_rule")
        room_version = join_rules.room_version
        restricted = (rule == JoinRules.RESTRICTED and room_version.restricted_join_rule) or (
            rule == JoinRules.KNOCK_RESTRICTED and room_version.knock_restricted_join_rule
        )
        if not restricted:
            return
        allow = join_rules.content.get("allow")
        allowed_rooms = [
            entry["room_id"]
            for entry in (allow if isinstance(allow, list) else [])
            if isinstance(entry, dict)
            and entry.get("type") == RestrictedJoinRuleTypes.ROOM_MEMBERSHIP
            and isinstance(entry.get("room_id"), str)
        ]
        user_rooms = await self._stores.roommember.get_rooms_for_user(user_id)
        if not any(r in user_rooms for r in allowed_rooms):
            if rule == JoinRules.KNOCK_RESTRICTED:
                # Let the auth rules refuse it: the user may still knock.
                return
            raise AuthError(
                403, "You do not belong to any of the rooms or spaces required to join this room"
            )
        authoriser = await self._pick_authorising_user(room_id)
        if authoriser is None:
            raise AuthError(
                403,
                "No user of this server in the room can authorise the join",
                errcode=Codes.UNABLE_TO_GRANT_JOIN,
            )
        content[EventContentFields.AUTHORISING_USER] = authoriser

    async def _pick_authorising_user(self, room_id: str) -> str | None:
        """A local joined user with the invite level (the most powerful one)."""
        users = [u for u in await self._stores.roommember.get_users_in_room(room_id)]
        local = [u for u in users if self.hs.is_mine_id(u)]
        if not local:
            return None
        state = await self._current_state_events(room_id, local)
        invite_level = get_named_level(state, "invite")
        candidates = [
            (get_user_power_level(u, state), u)
            for u in local
            if get_user_power_level(u, state) >= invite_level
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda c: (c[0], c[1]))[1]

    # --- forget --------------------------------------------------------------------
    async def forget(self, user: UserID, room_id: str) -> None:
        """Forget a room the user has left or been banned from (400 if still in it)."""
        user_id = user.to_string()
        (
            membership,
            event_id,
        ) = await self._stores.roommember.get_local_current_membership_for_user_in_room(
            user_id, room_id
        )
        if membership is None or event_id is None:
            return
        if membership not in (Membership.LEAVE, Membership.BAN):
            raise SynapseError(400, f"User {user_id} is in room {room_id}", Codes.UNKNOWN)
        await self._stores.directory.forget(user_id, room_id, event_id)

    # --- rooms this server is not in: federation hooks -----------------------------
    async def _handle_unknown_room(
        self,
        requester: Requester,
        target_id: str,
        room_id: str,
        membership: str,
        content: JsonDict,
        third_party_signed: JsonDict | None,
    ) -> tuple[str, int]:
        if membership == Membership.JOIN:
            return await self._remote_join(requester, room_id, content, third_party_signed)
        if membership == Membership.KNOCK:
            return await self._remote_knock(requester, room_id, content)
        if membership == Membership.LEAVE and target_id == requester.user.to_string():
            return await self._remote_leave(requester, room_id, content)
        raise NotFoundError("Unknown room")

    async def _remote_join(
        self,
        requester: Requester,
        room_id: str,
        content: JsonDict,
        third_party_signed: JsonDict | None,
    ) -> tuple[str, int]:
        """Join a room through another server (make_join/send_join): federation's part."""
        raise NotFoundError("No known servers for this room")

    async def _remote_knock(
        self, requester: Requester, room_id: str, content: JsonDict
    ) -> tuple[str, int]:
        """Knock on a room through another server (make_knock/send_knock)."""
        raise NotFoundError("No known servers for this room")

    async def _remote_leave(
        self, requester: Requester, room_id: str, content: JsonDict
    ) -> tuple[str, int]:
        """Reject a remote invite or retract a knock on a room this server is not in
        (make_leave/send_leave)."""
        raise NotFoundError("Unknown room")

    async def _remote_invite(
        self, requester: Requester, target_id: str, room_id: str, content: JsonDict
    ) -> tuple[str, int]:
        """Invite a user of another server: their server must co-sign (federation /invite)."""
        raise SynapseError(403, "Inviting users of other servers is not available", Codes.FORBIDDEN)


def _same_content(a: Any, b: Any) -> bool:
    try:
        return encode_canonical_json(a) == encode_canonical_json(b)
    except (TypeError, ValueError):
        return False
