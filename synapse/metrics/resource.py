"""``MetricsResource``: the Prometheus text exposition at ``/_synapse/metrics``."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from twisted.web.resource import Resource
from twisted.web.server import Request

METRICS_PREFIX = "/_synapse/metrics"


class MetricsResource(Resource):
    """Serves every metric of ``registry`` in the Prometheus text format."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:
        output = generate_latest(self.registry)
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        request.setHeader(b"Content-Length", str(len(output)).encode("ascii"))
        return output
