"""Server notices: messages from the server's system user, each user in a room of their
own with it (config ``server_notices``), as Synapse sends them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from synapse.api.constants import Membership
from synapse.api.errors import SynapseError
from synapse.events import EventBase
from synapse.types import JsonDict, UserID, create_requester

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

SERVER_NOTICE_TAG = "m.server_notice"


class ServerNoticesHandler:
    """``hs.get_server_notices_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self._stores = hs.get_datastores().main
        self._config = hs.config.server_notices

    def is_enabled(self) -> bool:
        return self._config.server_notices_mxid is not None

    async def send_notice(
        self,
        user_id: str,
        content: JsonDict,
        event_type: str = "m.room.message",
        state_key: str | None = None,
        txn_id: str | None = None,
    ) -> EventBase:
        """Send ``content`` to ``user_id`` in their notices room (made if need be)."""
        system_mxid = self._config.server_notices_mxid
        if system_mxid is None:
            raise SynapseError(400, "Server notices are not enabled on this server")
        await self._ensure_system_user(system_mxid)
        room_id = await self.get_or_create_notice_room_for_user(user_id)
        event_dict: JsonDict = {
            "type": event_type,
            "room_id": room_id,
            "sender": system_mxid,
            "content": content,
        }
        if state_key is not None:
            event_dict["state_key"] = state_key
        event, _ = await self.hs.get_event_creation_handler().create_and_send_nonmember_event(
            create_requester(system_mxid), event_dict, ratelimit=False, txn_id=txn_id
        )
        return event

    async def maybe_get_notice_room_for_user(self, user_id: str) -> str | None:
        """The notices room the user is in or invited to, if any."""
        system_mxid = self._config.server_notices_mxid
        if system_mxid is None:
            return None
        roommember = self._stores.roommember
        rooms = await roommember.get_rooms_for_local_user_where_membership_is(
            system_mxid, [Membership.JOIN]
        )
        for room in rooms:
            membership, _ = await roommember.get_local_current_membership_for_user_in_room(
                user_id, room.room_id
            )
            if membership in (Membership.JOIN, Membership.INVITE):
                return room.room_id
        return None

    async def get_or_create_notice_room_for_user(self, user_id: str) -> str:
        """The user's notices room; a new one (with the user invited) if there is none."""
        room_id = await self.maybe_get_notice_room_for_user(user_id)
        if room_id is not None:
            return room_id
        system_mxid = self._config.server_notices_mxid
        assert system_mxid is not None
        config: JsonDict = {
            "preset": "private_chat",
            "name": self._config.server_notices_room_name,
            "invite": [user_id],
            "creation_content": {"m.federate": False},
            "power_level_content_override": {"users_default": -10},
        }
        if self._config.server_notices_room_topic:
            config["topic"] = self._config.server_notices_room_topic
        if self._config.server_notices_room_avatar_url:
            config["initial_state"] = [
                {
                    "type": "m.room.avatar",
                    "state_key": "",
                    "content": {"url": self._config.server_notices_room_avatar_url},
                }
            ]
        room_id, _, _ = await self.hs.get_room_creation_handler().create_room(
            create_requester(system_mxid), config, ratelimit=False
        )
        await self.hs.get_account_data_handler().add_tag_to_room(
            user_id, room_id, SERVER_NOTICE_TAG, {}
        )
        if self._config.server_notices_auto_join:
            await self.hs.get_room_member_handler().update_membership(
                create_requester(user_id), user_id, room_id, "join", ratelimit=False
            )
        logger.info("Created server notices room %s for %s", room_id, user_id)
        return room_id

    async def _ensure_system_user(self, system_mxid: str) -> None:
        if await self._stores.registration.get_user_by_id(system_mxid) is not None:
            return
        await self._stores.registration.register_user(
            system_mxid,
            create_profile_with_displayname=(
                self._config.server_notices_mxid_display_name
                or UserID.from_string(system_mxid).localpart
            ),
        )
        if self._config.server_notices_mxid_avatar_url:
            await self._stores.profile.set_profile_avatar_url(
                system_mxid, self._config.server_notices_mxid_avatar_url
            )
