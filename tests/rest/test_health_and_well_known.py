"""``/health`` and ``/.well-known/matrix/{client,server}`` as served by a client listener."""

from __future__ import annotations

from twisted.web.resource import Resource

from synapse.http.resource_tree import resources_for_listener
from tests.matrix_spec import assert_response_matches_spec
from tests.unittest import HomeserverTestCase, override_config


class HealthAndWellKnownTestCase(HomeserverTestCase):
    def create_resource_dict(self) -> dict[str, Resource]:
        return resources_for_listener(self.hs, ["client"])

    def test_health(self) -> None:
        channel = self.make_request("GET", "/health")
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.result["body"], b"OK")
        self.assertTrue(
            (channel.headers.getRawHeaders("Content-Type") or [""])[0].startswith("text/plain")
        )
        channel = self.make_request("POST", "/health", {})
        self.assertEqual(channel.code, 405)
        self.assertEqual(channel.json_body["errcode"], "M_UNRECOGNIZED")

    @override_config({"public_baseurl": None})
    def test_well_known_not_served_by_default(self) -> None:
        for path in ("/.well-known/matrix/client", "/.well-known/matrix/server"):
            channel = self.make_request("GET", path)
            self.assertEqual(channel.code, 404, path)
            self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")
        channel = self.make_request("GET", "/.well-known/matrix/other")
        self.assertEqual(channel.code, 404)
        self.assertEqual(channel.json_body["errcode"], "M_UNRECOGNIZED")

    @override_config(
        {"public_baseurl": "https://matrix.example.com", "serve_server_wellknown": True}
    )
    def test_well_known(self) -> None:
        channel = self.make_request("GET", "/.well-known/matrix/client")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(
            channel.json_body, {"m.homeserver": {"base_url": "https://matrix.example.com/"}}
        )
        self.assertEqual(channel.headers.getRawHeaders("Access-Control-Allow-Origin"), ["*"])
        assert_response_matches_spec(
            channel.json_body, "client-server/wellknown.yaml", "/matrix/client", "get"
        )

        channel = self.make_request("GET", "/.well-known/matrix/server")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"m.server": "matrix.example.com:443"})
        assert_response_matches_spec(
            channel.json_body, "server-server/wellknown.yaml", "/matrix/server", "get"
        )

    @override_config(
        {"public_baseurl": "https://matrix.example.com", "serve_client_wellknown": False}
    )
    def test_client_well_known_can_be_turned_off(self) -> None:
        channel = self.make_request("GET", "/.well-known/matrix/client")
        self.assertEqual(channel.code, 404)

    @override_config({"public_baseurl": "http://[::1]:8008/", "serve_server_wellknown": True})
    def test_server_well_known_keeps_port(self) -> None:
        channel = self.make_request("GET", "/.well-known/matrix/server")
        self.assertEqual(channel.json_body, {"m.server": "[::1]:8008"})
