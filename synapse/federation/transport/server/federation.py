"""The federation endpoints, one ``BaseFederationServlet`` each.

Add an endpoint by writing its servlet here (or in a module of its own) and listing it
in ``FEDERATION_SERVLET_CLASSES``.
"""

from __future__ import annotations

from http import HTTPStatus

from synapse import __version__
from synapse.federation.transport.server._base import BaseFederationServlet
from synapse.types import JsonDict


class FederationVersionServlet(BaseFederationServlet):
    """``GET /_matrix/federation/v1/version``: the implementation's name and version."""

    PATH = "/version"
    REQUIRE_AUTH = False

    async def on_GET(
        self, origin: str | None, content: None, query: dict[bytes, list[bytes]]
    ) -> tuple[int, JsonDict]:
        return HTTPStatus.OK, {"server": {"name": "Synapse", "version": __version__}}


FEDERATION_SERVLET_CLASSES: tuple[type[BaseFederationServlet], ...] = (FederationVersionServlet,)
