"""Inbound federation requests: X-Matrix authentication, the servlet pattern, /version."""

from __future__ import annotations

from typing import Any

from signedjson.key import generate_signing_key
from signedjson.sign import sign_json

from synapse.federation.transport.server import parse_x_matrix_header
from synapse.federation.transport.server._base import BaseFederationServlet
from synapse.http.resource_tree import resources_for_listener
from tests.federation.utils import FederatingHomeserverTestCase
from tests.matrix_spec import assert_response_matches_spec
from tests.unittest import TestCase, override_config


class EchoServlet(BaseFederationServlet):
    """An authenticated endpoint that says what it received."""

    PATH = "/test_echo/(?P<arg>[^/]*)"

    async def on_GET(
        self, origin: str | None, content: Any, query: dict[bytes, list[bytes]], arg: str
    ) -> tuple[int, Any]:
        args = {k.decode(): [v.decode() for v in vs] for k, vs in query.items()}
        return 200, {"origin": origin, "arg": arg, "query": args}

    async def on_PUT(
        self, origin: str | None, content: Any, query: dict[bytes, list[bytes]], arg: str
    ) -> tuple[int, Any]:
        return 200, {"origin": origin, "arg": arg, "content": content}


class XMatrixHeaderParsingTestCase(TestCase):
    def test_spec_example(self) -> None:
        auth = parse_x_matrix_header(
            b'X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",'
            b'key="ed25519:key1",sig="ABCDEF..."'
        )
        self.assertEqual(auth.origin, "origin.hs.example.com")
        self.assertEqual(auth.destination, "destination.hs.example.com")
        self.assertEqual(auth.key, "ed25519:key1")
        self.assertEqual(auth.sig, "ABCDEF...")

    def test_lenient_forms(self) -> None:
        # Unquoted values (with colons), upper-case names and scheme, spaces and tabs
        # around commas, any order, unknown parameters ignored.
        auth = parse_x_matrix_header(
            b'x-matrix   SIG=abc ,\tKey=ed25519:k , origin=example.org:8448 ,  extra="x"'
        )
        self.assertEqual(auth.origin, "example.org:8448")
        self.assertEqual(auth.key, "ed25519:k")
        self.assertEqual(auth.sig, "abc")
        self.assertIsNone(auth.destination)

    def test_escapes_in_quoted_values(self) -> None:
        auth = parse_x_matrix_header(
            b'X-Matrix origin="a\\"b\\\\c",key="ed25519:1",sig="s,t",destination="d"'
        )
        self.assertEqual(auth.origin, 'a"b\\c')
        self.assertEqual(auth.sig, "s,t")

    def test_malformed(self) -> None:
        for header in (
            b"X-Matrix",
            b'X-Matrix origin="a",key="ed25519:1"',  # no sig
            b'X-Matrix origin="a,key="ed25519:1",sig="s"',  # unterminated quote
            b'X-Matrix origin="a",origin="b",key="k",sig="s"',  # duplicate
            b'X-Matrix origin="a" key="k",sig="s"',  # no comma
            b"X-Matrix origin=,key=k,sig=s",  # empty value
            b'Bearer origin="a",key="k",sig="s"',
            b'X-Matrix origin="\xff",key="k",sig="s"',
        ):
            with self.assertRaises(ValueError, msg=header):
                parse_x_matrix_header(header)


class TransportAuthenticationTestCase(FederatingHomeserverTestCase):
    federation_servlets = (EchoServlet,)

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.remote = self.make_remote_homeserver("remote.test")

    def test_signed_request_from_another_server(self) -> None:
        client = self.remote.get_federation_http_client()
        body = self.get_success(
            client.get_json(
                "test", "/_matrix/federation/v1/test_echo/a%20b", args={"x": ["1", "2"], "y": "é"}
            )
        )
        self.assertEqual(
            body, {"origin": "remote.test", "arg": "a b", "query": {"x": ["1", "2"], "y": ["é"]}}
        )

        body = self.get_success(
            client.put_json(
                "test", "/_matrix/federation/v1/test_echo/p", data={"hello": ["world", 1]}
            )
        )
        self.assertEqual(
            body, {"origin": "remote.test", "arg": "p", "content": {"hello": ["world", 1]}}
        )
        # The receiving server fetched the sender's keys to check the signature.
        self.assertEqual(len(self.network.requests_to("remote.test", b"/_matrix/key/v2/server")), 1)

    def test_both_ways(self) -> None:
        body = self.get_success(
            self.hs.get_federation_http_client().get_json(
                "remote.test", "/_matrix/federation/v1/test_echo/back"
            )
        )
        self.assertEqual(body["origin"], "test")

    def _assert_unauthorized(self, channel: Any) -> None:
        self.assertEqual(channel.code, 401, channel.text_body)
        self.assertEqual(channel.json_body["errcode"], "M_UNAUTHORIZED")

    def test_accepted_through_helper(self) -> None:
        channel = self.federation_request(
            "PUT", "/_matrix/federation/v1/test_echo/q", {"a": 1}, origin=self.remote
        )
        self.assertEqual(channel.code, 200, channel.text_body)
        self.assertEqual(channel.json_body["origin"], "remote.test")

    def test_unsigned_request(self) -> None:
        self._assert_unauthorized(
            self.federation_request("GET", "/_matrix/federation/v1/test_echo/q")
        )

    def test_tampered_content(self) -> None:
        headers = self.remote.get_federation_http_client().build_auth_headers(
            "test", "PUT", b"/_matrix/federation/v1/test_echo/q", {"a": 1}
        )
        channel = self.federation_request(
            "PUT",
            "/_matrix/federation/v1/test_echo/q",
            {"a": 2},
            headers=[(b"Authorization", headers[0])],
        )
        self._assert_unauthorized(channel)

    def test_tampered_uri_and_method(self) -> None:
        headers = self.remote.get_federation_http_client().build_auth_headers(
            "test", "GET", b"/_matrix/federation/v1/test_echo/q"
        )
        for method, path in (
            ("GET", "/_matrix/federation/v1/test_echo/other"),
            ("GET", "/_matrix/federation/v1/test_echo/q?x=1"),
            ("PUT", "/_matrix/federation/v1/test_echo/q"),
        ):
            channel = self.federation_request(
                method,
                path,
                {} if method == "PUT" else None,
                headers=[(b"Authorization", headers[0])],
            )
            self._assert_unauthorized(channel)

    def test_wrong_destination(self) -> None:
        channel = self.federation_request(
            "GET",
            "/_matrix/federation/v1/test_echo/q",
            origin=self.remote,
            destination="other.test",
        )
        self._assert_unauthorized(channel)
        self.assertIn("not for this server", channel.json_body["error"])

    def test_missing_destination_param_is_accepted(self) -> None:
        # Older servers leave the destination parameter out (it is still signed).
        header = self.remote.get_federation_http_client().build_auth_headers(
            "test", "GET", b"/_matrix/federation/v1/test_echo/q"
        )[0]
        without = header.replace(b',destination="test"', b"")
        channel = self.federation_request(
            "GET", "/_matrix/federation/v1/test_echo/q", headers=[(b"Authorization", without)]
        )
        self.assertEqual(channel.code, 200, channel.text_body)

    def test_wrong_origin(self) -> None:
        # Signed by remote.test, but claiming to come from a third server.
        header = self.remote.get_federation_http_client().build_auth_headers(
            "test", "GET", b"/_matrix/federation/v1/test_echo/q"
        )[0]
        third = self.make_remote_homeserver("third.test")
        forged = header.replace(b'origin="remote.test"', b'origin="third.test"')
        channel = self.federation_request(
            "GET", "/_matrix/federation/v1/test_echo/q", headers=[(b"Authorization", forged)]
        )
        self._assert_unauthorized(channel)
        self.assertIsNotNone(third)

    def test_unknown_key(self) -> None:
        key = generate_signing_key("other")
        signed = sign_json(
            {
                "method": "GET",
                "uri": "/_matrix/federation/v1/test_echo/q",
                "origin": "remote.test",
                "destination": "test",
            },
            "remote.test",
            key,
        )
        sig = signed["signatures"]["remote.test"]["ed25519:other"]
        header = (
            f'X-Matrix origin="remote.test",destination="test",key="ed25519:other",sig="{sig}"'
        ).encode()
        channel = self.federation_request(
            "GET", "/_matrix/federation/v1/test_echo/q", headers=[(b"Authorization", header)]
        )
        self._assert_unauthorized(channel)

    def test_malformed_header(self) -> None:
        channel = self.federation_request(
            "GET",
            "/_matrix/federation/v1/test_echo/q",
            headers=[(b"Authorization", b'X-Matrix origin="remote.test",key="ed25519:a_mem"')],
        )
        self._assert_unauthorized(channel)

    def test_unreachable_origin(self) -> None:
        # The origin's keys cannot be fetched: the request cannot be authenticated.
        channel = self.federation_request(
            "GET", "/_matrix/federation/v1/test_echo/q", origin=self.remote
        )
        self.assertEqual(channel.code, 200)
        self.network.unreachable.add("fourth.test")
        fourth = self.make_remote_homeserver("fourth.test")
        channel = self.federation_request(
            "GET", "/_matrix/federation/v1/test_echo/q", origin=fourth
        )
        self._assert_unauthorized(channel)

    def test_bad_json_body(self) -> None:
        channel = self.federation_request(
            "PUT",
            "/_matrix/federation/v1/test_echo/q",
            headers=[(b"Content-Type", b"application/json")],
        )
        # PUT without a body: the body is not JSON.
        self.assertEqual(channel.code, 400, channel.text_body)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_JSON")

    @override_config({"federation_domain_whitelist": ["test", "allowed.test"]})
    def test_domain_whitelist(self) -> None:
        channel = self.federation_request(
            "GET", "/_matrix/federation/v1/test_echo/q", origin=self.remote
        )
        self.assertEqual(channel.code, 403, channel.text_body)
        self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
        # No key was fetched for a server we do not federate with.
        self.assertEqual(self.network.requests_to("remote.test"), [])

        allowed = self.make_remote_homeserver("allowed.test")
        channel = self.federation_request(
            "GET", "/_matrix/federation/v1/test_echo/q", origin=allowed
        )
        self.assertEqual(channel.code, 200, channel.text_body)


class VersionAndRoutingTestCase(FederatingHomeserverTestCase):
    def test_version(self) -> None:
        channel = self.federation_request("GET", "/_matrix/federation/v1/version")
        self.assertEqual(channel.code, 200, channel.text_body)
        self.assertEqual(channel.json_body["server"]["name"], "Synapse")
        assert_response_matches_spec(
            channel.json_body, "server-server/version.yaml", "/version", "get"
        )

    def test_unknown_endpoint(self) -> None:
        channel = self.federation_request("GET", "/_matrix/federation/v1/no_such_thing")
        self.assertEqual(channel.code, 404)
        self.assertEqual(channel.json_body["errcode"], "M_UNRECOGNIZED")
        channel = self.federation_request("POST", "/_matrix/federation/v1/version", {})
        self.assertEqual(channel.code, 405)
        self.assertEqual(channel.json_body["errcode"], "M_UNRECOGNIZED")

    def test_listeners(self) -> None:
        # Federation listeners serve the key API too; a keys listener only that.
        federation = resources_for_listener(self.hs, ["federation"])
        self.assertIn("/_matrix/federation", federation)
        self.assertIn("/_matrix/key", federation)
        keys = resources_for_listener(self.hs, ["keys"])
        self.assertIn("/_matrix/key", keys)
        self.assertNotIn("/_matrix/federation", keys)
        both = resources_for_listener(self.hs, ["federation", "keys"])
        self.assertIn("/_matrix/key", both)
