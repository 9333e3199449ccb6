"""``/.well-known/matrix/client`` and ``/.well-known/matrix/server`` (server discovery)."""

from __future__ import annotations

import urllib.parse
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from twisted.web.server import Request

from synapse.api.errors import NotFoundError
from synapse.http.server import DirectServeJsonResource, RootFallbackResource
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.server import HomeServer


def client_well_known(hs: HomeServer) -> JsonDict | None:
    """The client discovery document, or None when this server does not serve one."""
    server = hs.config.server
    if not server.serve_client_wellknown:
        return None
    return {"m.homeserver": {"base_url": server.public_baseurl}}


def server_well_known(hs: HomeServer) -> JsonDict | None:
    """The federation delegation document: federation goes to ``public_baseurl``'s host.

    The port is the one in ``public_baseurl``, else 443 (or 80 for http), where the
    reverse proxy in front of the server is expected to pass federation traffic on.
    """
    server = hs.config.server
    if not server.serve_server_wellknown:
        return None
    parsed = urllib.parse.urlsplit(server.public_baseurl)
    host = parsed.hostname or server.server_name
    if ":" in host:
        host = f"[{host}]"
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    return {"m.server": f"{host}:{port}"}


class ClientWellKnownResource(DirectServeJsonResource):
    def __init__(self, hs: HomeServer) -> None:
        super().__init__()
        self.hs = hs

    async def on_GET(self, request: Request) -> tuple[int, Any]:
        body = client_well_known(self.hs)
        if body is None:
            raise NotFoundError(".well-known not available")
        return HTTPStatus.OK, body


class ServerWellKnownResource(DirectServeJsonResource):
    def __init__(self, hs: HomeServer) -> None:
        super().__init__()
        self.hs = hs

    async def on_GET(self, request: Request) -> tuple[int, Any]:
        body = server_well_known(self.hs)
        if body is None:
            raise NotFoundError(".well-known not available")
        return HTTPStatus.OK, body


class WellKnownResource(RootFallbackResource):
    """Mounted at ``/.well-known/matrix``: the ``client`` and ``server`` documents."""

    def __init__(self, hs: HomeServer) -> None:
        super().__init__()
        self.putChild(b"client", ClientWellKnownResource(hs))  # type: ignore[arg-type]
        self.putChild(b"server", ServerWellKnownResource(hs))  # type: ignore[arg-type]
