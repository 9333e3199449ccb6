"""``/_matrix/key/v2``: this server's keys, and other servers' keys as a notary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.http.server import JsonResource
from synapse.rest.key.v2.local_key_resource import LocalKeyServlet
from synapse.rest.key.v2.remote_key_resource import RemoteKeyBulkQueryServlet, RemoteKeyQueryServlet

if TYPE_CHECKING:
    from synapse.server import HomeServer


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    LocalKeyServlet(hs).register(http_server)
    RemoteKeyQueryServlet(hs).register(http_server)
    RemoteKeyBulkQueryServlet(hs).register(http_server)


class KeyResource(JsonResource):
    """The JSON resource mounted at ``/_matrix/key``; responses are canonical JSON."""

    def __init__(self, hs: HomeServer) -> None:
        super().__init__(hs, canonical_json=True)
        register_servlets(hs, self)
