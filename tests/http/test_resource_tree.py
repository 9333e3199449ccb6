"""The resource tree of a listener, built from its resource names."""

from __future__ import annotations

from twisted.web.resource import Resource

from synapse.http.resource_tree import (
    build_resource_tree,
    max_request_body_size,
    resources_for_listener,
)
from synapse.http.site import DEFAULT_MAX_REQUEST_BODY_SIZE
from tests.server import make_request, make_site
from tests.unittest import HomeserverTestCase


class ResourceTreeTestCase(HomeserverTestCase):
    def request(self, names: list[str], method: str, path: str) -> tuple[int, bytes]:
        site = make_site(build_resource_tree(self.hs, names), self.reactor)
        channel = make_request(self.reactor, site, method, path)
        return channel.code, channel.result["body"]

    def test_client_listener(self) -> None:
        self.assertEqual(self.request(["client"], "GET", "/_matrix/client/versions")[0], 200)
        self.assertEqual(self.request(["client"], "GET", "/health"), (200, b"OK"))
        self.assertEqual(self.request(["client"], "GET", "/_synapse/metrics")[0], 404)

    def test_metrics_listener(self) -> None:
        code, body = self.request(["metrics"], "GET", "/_synapse/metrics")
        self.assertEqual(code, 200)
        self.assertIn(b"# TYPE ", body)
        self.assertEqual(self.request(["metrics"], "GET", "/_matrix/client/versions")[0], 404)

    def test_resources_not_in_this_build_are_skipped(self) -> None:
        with self.assertLogs("synapse.http.resource_tree", level="WARNING"):
            resources = resources_for_listener(self.hs, ["client", "openid"])
        self.assertIn("/_matrix/client", resources)
        self.assertIn("/health", resources)

    def test_mounting_below_a_leaf_is_refused(self) -> None:
        from synapse.http.resource_tree import create_resource_tree
        from synapse.rest.health import HealthResource

        with self.assertRaises(ValueError):
            create_resource_tree({"/a": HealthResource(), "/a/b": Resource()})

    def test_body_size_limit(self) -> None:
        self.assertEqual(max_request_body_size(self.hs, ["metrics"]), DEFAULT_MAX_REQUEST_BODY_SIZE)
        media_limit = max_request_body_size(self.hs, ["media"])
        self.assertGreater(media_limit, self.hs.config.media.max_upload_size)
        # Client listeners serve the media repository too, as in Synapse.
        self.assertEqual(max_request_body_size(self.hs, ["client"]), media_limit)

    def test_client_listener_serves_media(self) -> None:
        self.assertIn("/_matrix/media", resources_for_listener(self.hs, ["client"]))
        code, _ = self.request(["client"], "GET", "/_matrix/media/v3/config")
        self.assertEqual(code, 401)
        self.assertEqual(self.request(["metrics"], "GET", "/_matrix/media/v3/config")[0], 404)
        # Listing media as well is no conflict.
        self.assertIn("/_matrix/media", resources_for_listener(self.hs, ["client", "media"]))
