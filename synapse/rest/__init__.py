"""The REST resources of the homeserver; ``ClientRestResource`` serves ``/_matrix/client``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from synapse.http.server import JsonResource
from synapse.rest.client import (
    account,
    account_data,
    capabilities,
    devices,
    directory,
    filter,
    keys,
    login,
    logout,
    media,
    membership,
    presence,
    profile,
    push_rule,
    read_marker,
    receipts,
    register,
    relations,
    reporting,
    room,
    room_history,
    room_keys,
    room_upgrade,
    sendtodevice,
    sync,
    tags,
    threepid,
    typing,
    user_directory,
    versions,
)

if TYPE_CHECKING:
    from synapse.server import HomeServer

RegisterServletsFunc = Callable[["HomeServer", JsonResource], None]

# Every Client-Server API module: each has ``register_servlets(hs, http_server)``.
# Add a module here when it is written.
CLIENT_SERVLET_MODULES: list[RegisterServletsFunc] = [
    versions.register_servlets,
    capabilities.register_servlets,
    register.register_servlets,
    login.register_servlets,
    logout.register_servlets,
    account.register_servlets,
    devices.register_servlets,
    profile.register_servlets,
    threepid.register_servlets,
    room.register_servlets,
    membership.register_servlets,
    directory.register_servlets,
    room_upgrade.register_servlets,
    filter.register_servlets,
    room_history.register_servlets,
    relations.register_servlets,
    sync.register_servlets,
    keys.register_servlets,
    sendtodevice.register_servlets,
    room_keys.register_servlets,
    typing.register_servlets,
    receipts.register_servlets,
    read_marker.register_servlets,
    account_data.register_servlets,
    tags.register_servlets,
    push_rule.register_servlets,
    media.register_servlets,
    presence.register_servlets,
    user_directory.register_servlets,
    reporting.register_servlets,
]


class ClientRestResource(JsonResource):
    """The JSON resource mounted at ``/_matrix/client`` with every client servlet."""

    def __init__(self, hs: HomeServer) -> None:
        super().__init__(hs, canonical_json=False)
        self.register_servlets(self, hs)

    @staticmethod
    def register_servlets(client_resource: JsonResource, hs: HomeServer) -> None:
        for register_module in CLIENT_SERVLET_MODULES:
            register_module(hs, client_resource)
