"""``GET /_matrix/client/versions``."""

from __future__ import annotations

from synapse.rest.client import versions
from tests.matrix_spec import assert_response_matches_spec
from tests.unittest import HomeserverTestCase


class VersionsTestCase(HomeserverTestCase):
    servlets = [versions.register_servlets]

    def test_versions(self) -> None:
        channel = self.make_request("GET", "/_matrix/client/versions")
        self.assertEqual(channel.code, 200, channel.json_body)
        body = channel.json_body
        assert_response_matches_spec(body, "client-server/versions.yaml", "/versions", "get")
        self.assertEqual(body["versions"][0], "r0.0.1")
        self.assertIn("r0.6.1", body["versions"])
        self.assertIn("v1.1", body["versions"])
        self.assertEqual(body["versions"][-1], "v1.19")
        self.assertIsInstance(body["unstable_features"], dict)
        self.assertEqual(channel.headers.getRawHeaders("Access-Control-Allow-Origin"), ["*"])

    def test_no_auth_needed_and_token_ignored(self) -> None:
        channel = self.make_request("GET", "/_matrix/client/versions", access_token="not_a_token")
        self.assertEqual(channel.code, 200)

    def test_only_get(self) -> None:
        channel = self.make_request("POST", "/_matrix/client/versions", {})
        self.assertEqual(channel.code, 405)
        self.assertEqual(channel.json_body["errcode"], "M_UNRECOGNIZED")
        channel = self.make_request("GET", "/_matrix/client/v3/versions")
        self.assertEqual(channel.code, 404)
        self.assertEqual(channel.json_body["errcode"], "M_UNRECOGNIZED")

    def test_spec_helper_catches_a_wrong_body(self) -> None:
        with self.assertRaises(AssertionError):
            assert_response_matches_spec(
                {"versions": "v1.1"}, "client-server/versions.yaml", "/versions", "get"
            )
