"""The admin API, served under ``/_synapse/admin`` wherever the client API is."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from synapse.http.server import JsonResource
from synapse.rest.admin import (
    event_reports,
    media,
    register,
    registration_tokens,
    rooms,
    server_info,
    server_notice_servlet,
    users,
)
from synapse.rest.admin._base import ADMIN_API_PREFIX

if TYPE_CHECKING:
    from twisted.web.resource import Resource

    from synapse.server import HomeServer

RegisterServletsFunc = Callable[["HomeServer", JsonResource], None]

# Every admin API module: each has ``register_servlets(hs, http_server)``.
ADMIN_SERVLET_MODULES: list[RegisterServletsFunc] = [
    register.register_servlets,
    media.register_servlets,
    users.register_servlets,
    rooms.register_servlets,
    event_reports.register_servlets,
    registration_tokens.register_servlets,
    server_notice_servlet.register_servlets,
    server_info.register_servlets,
]


class AdminRestResource(JsonResource):
    """The JSON resource mounted at ``/_synapse/admin`` with every admin servlet."""

    def __init__(self, hs: HomeServer) -> None:
        super().__init__(hs, canonical_json=False)
        register_servlets(hs, self)


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    """Register every admin servlet on ``http_server`` (tests use this as a servlet list)."""
    for register_module in ADMIN_SERVLET_MODULES:
        register_module(hs, http_server)


def listener_resources(hs: HomeServer) -> dict[str, Resource]:
    """The admin resource by path prefix, for the listeners that serve the client API."""
    return {ADMIN_API_PREFIX: AdminRestResource(hs)}
