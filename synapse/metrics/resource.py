"""``MetricsResource``: the Prometheus text exposition at ``/_synapse/metrics``."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from synapse.api.errors import Codes
from synapse.http.server import respond_with_json

METRICS_PREFIX = "/_synapse/metrics"


class MetricsResource(Resource):
    """Serves every metric of ``registry`` in the Prometheus text format (GET only)."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        super().__init__()
        self.registry = registry

    def render(self, request: Request) -> Any:
        if hasattr(request, "request_metrics_name"):
            request.request_metrics_name = self.__class__.__name__
        if request.method not in (b"GET", b"HEAD"):
            respond_with_json(
                request,
                HTTPStatus.METHOD_NOT_ALLOWED,
                {"errcode": Codes.UNRECOGNIZED, "error": "Unrecognized request"},
            )
            return NOT_DONE_YET
        output = generate_latest(self.registry)
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        request.setHeader(b"Content-Length", str(len(output)).encode("ascii"))
        return output
