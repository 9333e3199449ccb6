"""The notary endpoints: ``GET /_matrix/key/v2/query/{serverName}`` and ``POST /query``."""

from __future__ import annotations

import urllib.parse
from typing import Any

from signedjson.key import get_verify_key
from signedjson.sign import verify_signed_json

from tests.federation.utils import FederatingHomeserverTestCase
from tests.matrix_spec import assert_response_matches_spec

DAY_MS = 24 * 3600 * 1000


class NotaryTestCase(FederatingHomeserverTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.remote = self.make_remote_homeserver("remote.test")

    def _query(self, server_name: str, **params: Any) -> list[Any]:
        path = f"/_matrix/key/v2/query/{urllib.parse.quote(server_name)}"
        if params:
            path += "?" + urllib.parse.urlencode(params)
        channel = self.federation_request("GET", path, by=0)
        self.assertEqual(channel.code, 200, channel.text_body)
        assert_response_matches_spec(
            channel.json_body, "server-server/keys_query.yaml", "/query/{serverName}", "get"
        )
        return channel.json_body["server_keys"]

    def _fetches(self) -> int:
        return len(self.network.requests_to("remote.test", b"/_matrix/key/v2/server"))

    def _assert_signed_by(self, response: Any, hs: Any) -> None:
        for key in hs.config.key.signing_key:
            verify_signed_json(response, hs.hostname, get_verify_key(key))

    def test_query_fetches_and_signs(self) -> None:
        (response,) = self._query("remote.test")
        self.assertEqual(response["server_name"], "remote.test")
        self.assertEqual(
            response["verify_keys"],
            self.remote.get_key_server_handler().local_key_response()["verify_keys"],
        )
        # Signed by the server itself and by the notary.
        self._assert_signed_by(response, self.remote)
        self._assert_signed_by(response, self.hs)
        self.assertEqual(self._fetches(), 1)

    def test_answers_from_cache_until_stale(self) -> None:
        (first,) = self._query("remote.test")
        self.reactor.advance(3600)
        (second,) = self._query("remote.test")
        self.assertEqual(self._fetches(), 1)
        self.assertEqual(second["valid_until_ts"], first["valid_until_ts"])

        # Asking for keys valid beyond what is stored makes the notary ask again.
        self._query("remote.test", minimum_valid_until_ts=first["valid_until_ts"] + 1)
        self.assertEqual(self._fetches(), 2)

        # So does the stored response passing half its lifetime.
        self.reactor.advance(13 * 3600)
        (third,) = self._query("remote.test")
        self.assertEqual(self._fetches(), 3)
        self.assertGreater(third["valid_until_ts"], first["valid_until_ts"])

    def test_concurrent_queries_share_one_fetch(self) -> None:
        self.network.hold("remote.test")
        channels = [
            self.federation_request(
                "GET", "/_matrix/key/v2/query/remote.test", by=0, await_result=False
            )
            for _ in range(3)
        ]
        self.pump()
        self.network.release("remote.test")
        self.pump()
        for channel in channels:
            self.assertTrue(channel.is_finished())
            self.assertEqual(len(channel.json_body["server_keys"]), 1)
        self.assertEqual(self._fetches(), 1)

    def test_unreachable_server_served_from_cache(self) -> None:
        (first,) = self._query("remote.test")
        self.network.unreachable.add("remote.test")
        self.reactor.advance(2 * DAY_MS // 1000)
        channel = self.federation_request("GET", "/_matrix/key/v2/query/remote.test", by=1)
        self.assertEqual(channel.code, 200, channel.text_body)
        (stale,) = channel.json_body["server_keys"]
        self.assertEqual(stale["valid_until_ts"], first["valid_until_ts"])
        self._assert_signed_by(stale, self.hs)

    def test_unreachable_server_without_cache(self) -> None:
        channel = self.federation_request("GET", "/_matrix/key/v2/query/nowhere.test", by=1)
        self.assertEqual(channel.code, 200, channel.text_body)
        self.assertEqual(channel.json_body, {"server_keys": []})

    def test_own_keys(self) -> None:
        (response,) = self._query("test")
        self.assertEqual(response["server_name"], "test")
        self._assert_signed_by(response, self.hs)
        self.assertEqual(self.network.requests, [])

    def test_bad_origin_response_not_served(self) -> None:
        # A "server" whose key response is not signed by itself.
        self.network.add_responder(
            "liar.test",
            lambda *_: (
                200,
                {
                    "server_name": "liar.test",
                    "valid_until_ts": 2**50,
                    "verify_keys": {
                        "ed25519:k": {"key": "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28"}
                    },
                    "old_verify_keys": {},
                },
            ),
        )
        self.assertEqual(self._query("liar.test"), [])

    def test_bulk_query(self) -> None:
        remote_key_id = next(
            iter(self.remote.get_key_server_handler().local_key_response()["verify_keys"])
        )
        channel = self.federation_request(
            "POST",
            "/_matrix/key/v2/query",
            {
                "server_keys": {
                    "remote.test": {remote_key_id: {"minimum_valid_until_ts": 0}},
                    "test": {},
                    "nowhere.test": {},
                }
            },
            by=1,
        )
        self.assertEqual(channel.code, 200, channel.text_body)
        assert_response_matches_spec(
            channel.json_body, "server-server/keys_query.yaml", "/query", "post"
        )
        by_server = {r["server_name"]: r for r in channel.json_body["server_keys"]}
        self.assertEqual(set(by_server), {"remote.test", "test"})
        for response in by_server.values():
            self._assert_signed_by(response, self.hs)
        self._assert_signed_by(by_server["remote.test"], self.remote)

        channel = self.federation_request(
            "POST", "/_matrix/key/v2/query", {"server_keys": {}}, by=0
        )
        self.assertEqual(channel.json_body, {"server_keys": []})

    def test_bad_queries(self) -> None:
        for body, errcode in (
            ({}, "M_MISSING_PARAM"),
            ({"server_keys": []}, "M_BAD_JSON"),
            ({"server_keys": {"remote.test": []}}, "M_BAD_JSON"),
            (
                {"server_keys": {"remote.test": {"ed25519:a": {"minimum_valid_until_ts": "1"}}}},
                "M_BAD_JSON",
            ),
            ({"server_keys": {"not a server": {}}}, "M_INVALID_PARAM"),
        ):
            channel = self.federation_request("POST", "/_matrix/key/v2/query", body, by=0)
            self.assertEqual(channel.code, 400, body)
            self.assertEqual(channel.json_body["errcode"], errcode, body)

        channel = self.federation_request("GET", "/_matrix/key/v2/query/bad%20name", by=0)
        self.assertEqual(channel.code, 400)
        self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM")
        channel = self.federation_request(
            "GET", "/_matrix/key/v2/query/remote.test?minimum_valid_until_ts=soon", by=0
        )
        self.assertEqual(channel.code, 400)
        self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM")
        self.assertEqual(self.network.requests, [])
