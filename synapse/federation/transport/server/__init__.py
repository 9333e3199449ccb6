"""The federation API served: ``TransportLayerServer`` at ``/_matrix/federation``.

``listener_resources(hs)`` gives it to listeners with the ``federation`` resource
(``synapse.http.resource_tree``, which also gives them ``/_matrix/key``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from synapse.federation.transport.server._base import (
    FEDERATION_PREFIX,
    AuthenticationError,
    Authenticator,
    BaseFederationServlet,
    XMatrixAuth,
    parse_x_matrix_header,
)
from synapse.federation.transport.server.federation import FEDERATION_SERVLET_CLASSES
from synapse.http.server import JsonResource

if TYPE_CHECKING:
    from twisted.web.resource import Resource

    from synapse.server import HomeServer

__all__ = [
    "AuthenticationError",
    "Authenticator",
    "BaseFederationServlet",
    "TransportLayerServer",
    "XMatrixAuth",
    "listener_resources",
    "parse_x_matrix_header",
]


class TransportLayerServer(JsonResource):
    """Every federation endpoint, each request authenticated by its servlet's wrapper."""

    def __init__(
        self,
        hs: HomeServer,
        servlet_classes: Iterable[type[BaseFederationServlet]] = FEDERATION_SERVLET_CLASSES,
    ) -> None:
        super().__init__(hs, canonical_json=False)
        self.authenticator = Authenticator(hs)
        for servlet_class in servlet_classes:
            servlet_class(hs, self.authenticator).register(self)


def listener_resources(hs: HomeServer) -> dict[str, Resource]:
    return {FEDERATION_PREFIX: TransportLayerServer(hs)}
