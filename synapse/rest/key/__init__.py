"""The server key API, ``/_matrix/key``: served by listeners with ``keys`` or ``federation``.

``listener_resources(hs)`` gives the resource for ``synapse.http.resource_tree``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.rest.key.v2 import KeyResource

if TYPE_CHECKING:
    from twisted.web.resource import Resource

    from synapse.server import HomeServer

SERVER_KEY_PREFIX = "/_matrix/key"


def listener_resources(hs: HomeServer) -> dict[str, Resource]:
    return {SERVER_KEY_PREFIX: KeyResource(hs)}
