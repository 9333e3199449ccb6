"""Send-to-device messages: queued per device in the to-device stream, delivered by
``/sync`` and deleted once the device acknowledges them.

Messages for users of other servers go to the federation outbox
(``device_federation_outbox``), one row per server and send; the federation sender
registers with ``add_remote_message_listener`` to be told when there is something for
a server, and sends it as an ``m.direct_to_device`` EDU.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from twisted.internet import defer

from synapse.api.errors import Codes, SynapseError
from synapse.types import JsonDict, Requester, StreamKeyType
from synapse.util.identifiers import is_valid_user_id

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# Transaction IDs are remembered this long (a client retries within minutes).
_TXN_ID_LIFETIME_MS = 24 * 60 * 60 * 1000

# ``listener(destination, stream_id)``: messages for ``destination`` were queued.
RemoteMessageListener = Callable[[str, int], None]


class DeviceMessageHandler:
    """``hs.get_device_message_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self._stores = hs.get_datastores().main
        self._store = self._stores.device_inbox
        self._notifier = hs.get_notifier()
        self._notifier.register_stream_position_source(
            StreamKeyType.TO_DEVICE, self._store.get_to_device_stream_id
        )
        self._remote_listeners: list[RemoteMessageListener] = []
        self.clock.looping_call(
            lambda: defer.ensureDeferred(self._expire_txn_ids()), 60 * 60 * 1000
        )

    def add_remote_message_listener(self, listener: RemoteMessageListener) -> None:
        """Hook for the federation sender: told when messages for a server are queued."""
        self._remote_listeners.append(listener)

    async def _expire_txn_ids(self) -> None:
        try:
            await self._store.delete_old_txn_ids(self.clock.time_msec() - _TXN_ID_LIFETIME_MS)
        except Exception:
            logger.exception("Could not expire to-device transaction IDs")

    async def send_device_message(
        self,
        requester: Requester,
        message_type: str,
        messages: Mapping[str, Mapping[str, JsonDict]],
        txn_id: str | None = None,
    ) -> None:
        """Queue ``messages`` (user -> device ID or ``*`` -> content) from the requester.

        A ``txn_id`` the requester's device already used sends nothing. Devices that do
        not exist are skipped; ``*`` means every device of the user.
        """
        for user_id in messages:
            if not is_valid_user_id(user_id):
                raise SynapseError(400, f"Invalid user ID {user_id!r}", Codes.INVALID_PARAM)
        sender = requester.user.to_string()
        local_targets = [u for u in messages if self.hs.is_mine_id(u)]
        devices_of = await self._stores.devices.get_device_ids_by_users(local_targets)

        local: dict[str, dict[str, JsonDict]] = {}
        for user_id in local_targets:
            existing = devices_of.get(user_id, set())
            for device_id, content in messages[user_id].items():
                targets = existing if device_id == "*" else ({device_id} & existing)
                for target in targets:
                    local.setdefault(user_id, {})[target] = {
                        "type": message_type,
                        "sender": sender,
                        "content": content,
                    }

        remote: dict[str, dict[str, Mapping[str, JsonDict]]] = {}
        for user_id, devices in messages.items():
            if not self.hs.is_mine_id(user_id):
                remote.setdefault(user_id.split(":", 1)[1], {})[user_id] = devices
        remote_edus: dict[str, JsonDict] = {
            destination: {
                "sender": sender,
                "type": message_type,
                "message_id": f"{requester.device_id or ''}/{txn_id or self.clock.time_msec()}",
                "messages": users,
            }
            for destination, users in remote.items()
        }

        stream_id = await self._store.add_messages(
            sender,
            requester.device_id or "",
            txn_id,
            local,
            remote_edus,
            self.clock.time_msec(),
        )
        if stream_id is None:
            return
        if local:
            self._notifier.on_new_event(StreamKeyType.TO_DEVICE, stream_id, users=list(local))
        for destination in remote_edus:
            for listener in self._remote_listeners:
                try:
                    listener(destination, stream_id)
                except Exception:
                    logger.exception("Error in remote to-device listener")

    async def get_messages_for_sync(
        self, user_id: str, device_id: str, since: int | None, now: int, limit: int
    ) -> tuple[list[JsonDict], int]:
        """The device's messages after ``since`` up to ``now`` (at most ``limit``) and
        the position they go up to. Messages up to ``since`` were acknowledged by the
        client's sending it: they are deleted."""
        if since:
            await self._store.delete_messages_for_device(user_id, device_id, since)
        return await self._store.get_messages_for_device(user_id, device_id, since or 0, now, limit)
