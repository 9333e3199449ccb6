"""``GET /_matrix/client/versions``: the spec versions and unstable features supported."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING

from twisted.web.server import Request

from synapse.http.servlet import RestServlet
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.server import HomeServer

SUPPORTED_SPEC_VERSIONS: tuple[str, ...] = (
    "r0.0.1",
    "r0.1.0",
    "r0.2.0",
    "r0.3.0",
    "r0.4.0",
    "r0.5.0",
    "r0.6.0",
    "r0.6.1",
    *(f"v1.{minor}" for minor in range(1, 20)),
)

# Features not (yet) in the spec that this server implements, namespaced as their MSC.
UNSTABLE_FEATURES: dict[str, bool] = {}


class VersionsRestServlet(RestServlet):
    PATTERNS = [re.compile("^/_matrix/client/versions$")]

    def __init__(self, hs: HomeServer) -> None:
        super().__init__()
        self.hs = hs

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        return HTTPStatus.OK, {
            "versions": list(SUPPORTED_SPEC_VERSIONS),
            "unstable_features": dict(UNSTABLE_FEATURES),
        }


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    VersionsRestServlet(hs).register(http_server)
