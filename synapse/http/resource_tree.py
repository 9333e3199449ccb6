"""The resource tree of an HTTP listener, built from its resource names.

``build_resource_tree(hs, names)`` gives the root resource for a listener whose config
lists ``names`` (``client``, ``federation``, ``keys``, ``media``, ``metrics``, ``health``).
Paths that no resource serves answer 404 M_UNRECOGNIZED (and OPTIONS 200, for CORS).

Resources implemented elsewhere are found through ``OPTIONAL_RESOURCE_PROVIDERS``: the
named module provides ``listener_resources(hs) -> dict[path prefix, Resource]``. A name
whose module is not in this build is skipped with a warning.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from twisted.web.resource import Resource

from synapse.http.server import RootFallbackResource
from synapse.http.site import DEFAULT_MAX_REQUEST_BODY_SIZE

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

CLIENT_API_PREFIX = "/_matrix/client"
WELL_KNOWN_PREFIX = "/.well-known/matrix"
METRICS_PREFIX = "/_synapse/metrics"
HEALTH_PREFIX = "/health"

ResourceBuilder = Callable[["HomeServer"], dict[str, Resource]]


def _client_resources(hs: HomeServer) -> dict[str, Resource]:
    from synapse.rest import ClientRestResource
    from synapse.rest.well_known import WellKnownResource

    resources: dict[str, Resource] = {
        CLIENT_API_PREFIX: ClientRestResource(hs),
        WELL_KNOWN_PREFIX: WellKnownResource(hs),
    }
    # The admin API (/_synapse/admin) is served wherever the client API is.
    admin = _optional_builder(ADMIN_PROVIDER)
    if admin is not None:
        resources.update(admin(hs))
    return resources


def _metrics_resources(hs: HomeServer) -> dict[str, Resource]:
    from synapse.metrics.reactor import install_reactor_tick_metrics
    from synapse.metrics.resource import MetricsResource

    # Reactor tick times are worth measuring once something serves them.
    install_reactor_tick_metrics(hs.get_reactor())
    return {METRICS_PREFIX: MetricsResource()}


def _health_resources(hs: HomeServer) -> dict[str, Resource]:
    from synapse.rest.health import HealthResource

    return {HEALTH_PREFIX: HealthResource()}


# Resources built here, by name.
RESOURCE_BUILDERS: dict[str, ResourceBuilder] = {
    "client": _client_resources,
    "metrics": _metrics_resources,
    "health": _health_resources,
}

# Resources whose module provides ``listener_resources(hs)``, by name.
OPTIONAL_RESOURCE_PROVIDERS: dict[str, str] = {
    "federation": "synapse.federation.transport.server",
    "keys": "synapse.rest.key",
    "media": "synapse.rest.media",
}
ADMIN_PROVIDER = "synapse.rest.admin"

# Every http listener answers /health, whatever its resources.
ALWAYS_SERVED = ("health",)

# As in Synapse, listeners of the client or federation API serve the media repository
# (/_matrix/media) too, so that configs listing only ``client`` can upload media; and
# federation listeners serve the server key API (/_matrix/key).
IMPLIED_RESOURCES: dict[str, tuple[str, ...]] = {
    "client": ("media",),
    "federation": ("media", "keys"),
}


def _with_implied(resource_names: Iterable[str]) -> list[str]:
    names = list(resource_names)
    for name in list(names):
        names.extend(IMPLIED_RESOURCES.get(name, ()))
    return list(dict.fromkeys(names))


def _optional_builder(module_name: str) -> ResourceBuilder | None:
    """``listener_resources`` of ``module_name``, or None if this build does not have it."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and module_name.startswith(e.name):
            return None
        raise
    builder: ResourceBuilder | None = getattr(module, "listener_resources", None)
    return builder


def resources_for_listener(hs: HomeServer, resource_names: Iterable[str]) -> dict[str, Resource]:
    """Path prefix -> resource for every named resource (plus ``/health``)."""
    resources: dict[str, Resource] = {}
    names = _with_implied([*resource_names, *ALWAYS_SERVED])
    for name in names:
        builder = RESOURCE_BUILDERS.get(name)
        if builder is None and name in OPTIONAL_RESOURCE_PROVIDERS:
            builder = _optional_builder(OPTIONAL_RESOURCE_PROVIDERS[name])
        if builder is None:
            logger.warning("Resource %r is not available in this build; not serving it", name)
            continue
        for prefix, resource in builder(hs).items():
            if prefix in resources:
                raise ValueError(f"Two resources for {prefix}")
            resources[prefix] = resource
    return resources


def create_resource_tree(
    resources: Mapping[str, Resource], root: Resource | None = None
) -> Resource:
    """A tree of resources with each one at its path prefix; unknown paths give 404 JSON.

    A resource mounted at a prefix serves everything below it if it is a leaf.
    """
    if root is None:
        root = RootFallbackResource()
    # Shorter prefixes first, so that inner nodes exist before their children.
    for prefix in sorted(resources, key=lambda p: p.count("/")):
        segments = [s.encode("utf-8") for s in prefix.strip("/").split("/")]
        node: Resource = root
        for segment in segments[:-1]:
            child = node.children.get(segment)
            if child is None:
                child = RootFallbackResource()
                node.putChild(segment, child)  # type: ignore[arg-type]
            if not isinstance(child, Resource) or child.isLeaf:
                raise ValueError(f"Cannot mount {prefix}: {segment!r} is served by a leaf resource")
            node = child
        node.putChild(segments[-1], resources[prefix])  # type: ignore[arg-type]
    return root


def build_resource_tree(hs: HomeServer, resource_names: Iterable[str]) -> Resource:
    """The root resource of a listener that serves ``resource_names``."""
    return create_resource_tree(resources_for_listener(hs, resource_names))


def max_request_body_size(hs: HomeServer, resource_names: Iterable[str]) -> int:
    """The body size limit for a listener: media uploads need more than JSON does."""
    size = DEFAULT_MAX_REQUEST_BODY_SIZE
    media_config = getattr(hs.config, "media", None)
    if "media" in _with_implied(resource_names) and getattr(
        media_config, "enable_media_repo", True
    ):
        max_upload = getattr(media_config, "max_upload_size", None)
        if isinstance(max_upload, int):
            # Room for multipart framing around the file.
            size = max(size, max_upload + 64 * 1024)
    return size
