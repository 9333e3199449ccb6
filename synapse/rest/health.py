"""``/health``: 200 ``OK`` while the process is up, for load balancers and orchestration."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from synapse.api.errors import Codes
from synapse.http.server import respond_with_json, respond_with_text


class HealthResource(Resource):
    isLeaf = True

    def render(self, request: Request) -> Any:
        if request.method in (b"GET", b"HEAD"):
            respond_with_text(request, HTTPStatus.OK, "OK")
        elif request.method == b"OPTIONS":
            respond_with_json(request, HTTPStatus.OK, {})
        else:
            respond_with_json(
                request,
                HTTPStatus.METHOD_NOT_ALLOWED,
                {"errcode": Codes.UNRECOGNIZED, "error": "Unrecognized request"},
            )
        return NOT_DONE_YET
