"""Account data and room tags: writes that move the account data stream and wake the
user's ``/sync`` requests.

The checks a client request needs (own user only, types the server manages) are the
servlets'; this handler also serves the server's own writers (``m.fully_read`` from
the read marker handler).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.types import JsonMapping, StreamKeyType

if TYPE_CHECKING:
    from synapse.server import HomeServer


class AccountDataHandler:
    """``hs.get_account_data_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self._store = hs.get_datastores().main.account_data
        self._notifier = hs.get_notifier()
        self._notifier.register_stream_position_source(
            StreamKeyType.ACCOUNT_DATA, self._store.get_max_account_data_stream_id
        )

    def _notify(self, user_id: str, stream_id: int) -> None:
        self._notifier.on_new_event(StreamKeyType.ACCOUNT_DATA, stream_id, users=[user_id])

    async def add_account_data_for_user(
        self, user_id: str, account_data_type: str, content: JsonMapping
    ) -> int:
        """Set one type of the user's global account data; its stream position."""
        stream_id = await self._store.add_account_data_for_user(user_id, account_data_type, content)
        self._notify(user_id, stream_id)
        return stream_id

    async def add_account_data_to_room(
        self, user_id: str, room_id: str, account_data_type: str, content: JsonMapping
    ) -> int:
        """Set one type of the user's account data for a room; its stream position."""
        stream_id = await self._store.add_account_data_to_room(
            user_id, room_id, account_data_type, content
        )
        self._notify(user_id, stream_id)
        return stream_id

    async def add_tag_to_room(
        self, user_id: str, room_id: str, tag: str, content: JsonMapping
    ) -> int:
        """Add or replace one of the user's tags on a room; its stream position."""
        stream_id = await self._store.add_tag_to_room(user_id, room_id, tag, content)
        self._notify(user_id, stream_id)
        return stream_id

    async def remove_tag_from_room(self, user_id: str, room_id: str, tag: str) -> int | None:
        """Remove one of the user's tags from a room; its stream position, or None
        when the room did not have the tag (nothing changes)."""
        stream_id = await self._store.remove_tag_from_room(user_id, room_id, tag)
        if stream_id is not None:
            self._notify(user_id, stream_id)
        return stream_id
