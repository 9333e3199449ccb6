"""``MatrixFederationHttpClient``: signing, JSON bodies, retries, errors, timeouts, whitelist."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from signedjson.key import get_verify_key
from signedjson.sign import verify_signed_json
from twisted.internet import defer
from twisted.internet.error import ConnectionRefusedError, DNSLookupError
from twisted.python.failure import Failure
from twisted.web.http_headers import Headers

from synapse.api.errors import FederationDeniedError, HttpResponseException, RequestSendFailed
from synapse.federation.transport.server import parse_x_matrix_header
from synapse.http.client_helpers import RequestTimedOutError
from synapse.http.matrixfederationclient import MatrixFederationHttpClient
from tests.federation.utils import InMemoryResponse
from tests.unittest import HomeserverTestCase, override_config

Answer = Callable[[], Any]
E = TypeVar("E", bound=BaseException)


def error_of(failure: Failure, cls: type[E]) -> E:
    error = failure.value
    assert isinstance(error, cls)
    return error


class ScriptedAgent:
    """An ``IAgent`` answering each request with the next scripted answer: a
    ``(code, body)`` pair, an exception to fail with, or ``None`` for no answer ever."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[bytes, bytes, Headers, bytes]] = []
        self.pending: list[defer.Deferred[Any]] = []

    def request(
        self, method: bytes, uri: bytes, headers: Headers | None = None, bodyProducer: Any = None
    ) -> defer.Deferred[Any]:
        body = getattr(bodyProducer, "body", b"") if bodyProducer is not None else b""
        self.requests.append((method, uri, headers or Headers(), body))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer is None:
            d: defer.Deferred[Any] = defer.Deferred()
            self.pending.append(d)
            return d
        if isinstance(answer, Exception):
            return defer.fail(answer)
        code, value = answer
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return defer.succeed(InMemoryResponse(code, Headers(), raw))


class FederationClientTestCase(HomeserverTestCase):
    def _client(self, *answers: Any) -> tuple[MatrixFederationHttpClient, ScriptedAgent]:
        agent = ScriptedAgent(*answers)
        return MatrixFederationHttpClient(self.hs, agent=agent), agent

    def _check_signature(
        self, headers: Headers, method: str, uri: str, content: Any = None
    ) -> None:
        (value,) = headers.getRawHeaders(b"Authorization") or []
        auth = parse_x_matrix_header(value)
        self.assertEqual(auth.origin, "test")
        self.assertEqual(auth.destination, "remote.test")
        signed: dict[str, Any] = {
            "method": method,
            "uri": uri,
            "origin": "test",
            "destination": "remote.test",
            "signatures": {"test": {auth.key: auth.sig}},
        }
        if content is not None:
            signed["content"] = content
        verify_signed_json(signed, "test", get_verify_key(self.hs.config.key.signing_key[0]))

    def test_get_json_signed(self) -> None:
        client, agent = self._client((200, {"ok": True}))
        result = self.get_success(
            client.get_json(
                "remote.test",
                "/_matrix/federation/v1/query/profile",
                args={"user_id": "@a b:remote.test", "field": ["x", "y"]},
            )
        )
        self.assertEqual(result, {"ok": True})
        ((method, uri, headers, body),) = agent.requests
        self.assertEqual(method, b"GET")
        target = (
            "/_matrix/federation/v1/query/profile?user_id=%40a%20b%3Aremote.test&field=x&field=y"
        )
        self.assertEqual(uri, b"matrix-federation://remote.test" + target.encode())
        self.assertEqual(body, b"")
        self._check_signature(headers, "GET", target)
        self.assertEqual(headers.getRawHeaders(b"User-Agent"), [b"Synapse/0.1.0"])

    def test_put_and_post_json(self) -> None:
        client, agent = self._client((200, {}))
        content = {"pdus": [{"b": 1, "a": "é"}]}
        self.get_success(
            client.put_json("remote.test", "/_matrix/federation/v1/send/1", data=content)
        )
        self.get_success(client.post_json("remote.test", "/_matrix/key/v2/query", data=None))
        (put_method, _, put_headers, put_body), (post_method, _, post_headers, post_body) = (
            agent.requests
        )
        self.assertEqual(put_method, b"PUT")
        self.assertEqual(put_headers.getRawHeaders(b"Content-Type"), [b"application/json"])
        self.assertEqual(json.loads(put_body), content)
        self._check_signature(put_headers, "PUT", "/_matrix/federation/v1/send/1", content)
        # A POST without data still sends (and signs) an empty object.
        self.assertEqual(post_method, b"POST")
        self.assertEqual(post_body, b"{}")
        self._check_signature(post_headers, "POST", "/_matrix/key/v2/query", {})

    def test_5xx_retried(self) -> None:
        client, agent = self._client((500, {}), (502, b"bad gateway"), (200, {"third": "time"}))
        result = self.get_success(client.get_json("remote.test", "/x"), by=1)
        self.assertEqual(result, {"third": "time"})
        self.assertEqual(len(agent.requests), 3)

    def test_5xx_until_retries_run_out(self) -> None:
        client, agent = self._client((503, {"errcode": "M_UNKNOWN", "error": "down"}))
        failure = self.get_failure(
            client.get_json("remote.test", "/x"), HttpResponseException, by=1
        )
        self.assertEqual(error_of(failure, HttpResponseException).code, 503)
        # The first attempt and max_short_retries (3) more.
        self.assertEqual(len(agent.requests), 4)

    @override_config({"federation": {"max_long_retries": 2, "max_long_retry_delay": "5s"}})
    def test_long_retries(self) -> None:
        client, agent = self._client(ConnectionRefusedError())
        d = defer.ensureDeferred(client.get_json("remote.test", "/x", long_retries=True))
        self.reactor.advance(0)
        self.assertEqual(len(agent.requests), 1)
        # The first wait is about 4 seconds; the next is capped at 5 (with jitter).
        self.reactor.advance(3)
        self.assertEqual(len(agent.requests), 1)
        self.reactor.advance(2)
        self.assertEqual(len(agent.requests), 2)
        self.reactor.advance(6.1)
        self.assertEqual(len(agent.requests), 3)
        failure = self.failureResultOf(d, RequestSendFailed)
        self.assertTrue(error_of(failure, RequestSendFailed).can_retry)

    def test_4xx_not_retried_and_mapped(self) -> None:
        client, agent = self._client(
            (404, {"errcode": "M_NOT_FOUND", "error": "No such room", "extra": 1})
        )
        failure = self.get_failure(
            client.get_json("remote.test", "/x"), HttpResponseException, by=1
        )
        self.assertEqual(len(agent.requests), 1)
        error = error_of(failure, HttpResponseException).to_synapse_error()
        self.assertEqual(
            (error.code, error.errcode, error.msg), (404, "M_NOT_FOUND", "No such room")
        )
        self.assertEqual(error.error_dict()["extra"], 1)

        client, agent = self._client((400, b"<html>nope</html>"))
        failure = self.get_failure(
            client.get_json("remote.test", "/x"), HttpResponseException, by=1
        )
        self.assertEqual(
            error_of(failure, HttpResponseException).to_synapse_error().errcode, "M_UNKNOWN"
        )

    def test_connection_errors_retried(self) -> None:
        client, agent = self._client(ConnectionRefusedError(), (200, {"ok": 1}))
        self.assertEqual(self.get_success(client.get_json("remote.test", "/x"), by=1), {"ok": 1})
        self.assertEqual(len(agent.requests), 2)

    def test_dns_failure_not_retried(self) -> None:
        client, agent = self._client(DNSLookupError("no address"))
        failure = self.get_failure(client.get_json("remote.test", "/x"), RequestSendFailed, by=1)
        self.assertFalse(error_of(failure, RequestSendFailed).can_retry)
        self.assertEqual(len(agent.requests), 1)

    def test_timeout(self) -> None:
        client, agent = self._client(None)
        d = defer.ensureDeferred(client.get_json("remote.test", "/x", timeout=2000))
        self.reactor.advance(1.9)
        self.assertNoResult(d)
        self.reactor.advance(0.2)
        # The attempt was abandoned, and another made.
        self.assertTrue(agent.pending[0].called)
        self.assertEqual(len(agent.requests), 1)
        self.pump(1)
        failure = self.failureResultOf(d, RequestSendFailed)
        self.assertIsInstance(
            error_of(failure, RequestSendFailed).inner_exception, RequestTimedOutError
        )
        self.assertEqual(len(agent.requests), 4)

    def test_bad_responses(self) -> None:
        client, agent = self._client((200, b"not json"))
        failure = self.get_failure(client.get_json("remote.test", "/x"), RequestSendFailed, by=1)
        self.assertFalse(error_of(failure, RequestSendFailed).can_retry)

        client, agent = self._client((200, {"big": "x" * 100}))
        self.get_failure(
            client.get_json("remote.test", "/x", max_response_size=50), RequestSendFailed, by=1
        )
        self.assertEqual(len(agent.requests), 1)

    def test_invalid_destination(self) -> None:
        client, agent = self._client((200, {}))
        self.get_failure(client.get_json("bad name", "/x"), RequestSendFailed)
        self.assertEqual(agent.requests, [])

    @override_config({"federation_domain_whitelist": ["allowed.test"]})
    def test_domain_whitelist(self) -> None:
        client, agent = self._client((200, {}))
        failure = self.get_failure(client.get_json("remote.test", "/x"), FederationDeniedError)
        self.assertEqual(error_of(failure, FederationDeniedError).code, 403)
        self.assertEqual(agent.requests, [])
        self.get_success(client.get_json("allowed.test", "/x"))
        self.assertEqual(len(agent.requests), 1)


class BlacklistThroughClientTestCase(HomeserverTestCase):
    """The client built from the config refuses blacklisted addresses before connecting.

    The test reactor resolves every name to 127.0.0.1.
    """

    def test_refused(self) -> None:
        client = self.hs.get_federation_http_client()
        for destination in ("127.0.0.1:8448", "remote.test:8448", "[::1]:8448"):
            failure = self.get_failure(
                client.get_json(destination, "/_matrix/federation/v1/version"),
                RequestSendFailed,
                by=1,
            )
            self.assertIsInstance(
                error_of(failure, RequestSendFailed).inner_exception, DNSLookupError
            )
            self.assertFalse(error_of(failure, RequestSendFailed).can_retry)
        self.assertEqual(self.reactor.tcpClients, [])

    @override_config({"ip_range_whitelist": ["127.0.0.1/32"]})
    def test_whitelisted(self) -> None:
        client = self.hs.get_federation_http_client()
        d = defer.ensureDeferred(
            client.get_json("remote.test:8448", "/_matrix/federation/v1/version")
        )
        self.reactor.advance(0)
        self.assertEqual([c[:2] for c in self.reactor.tcpClients], [("127.0.0.1", 8448)])
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)

    @override_config({"federation_ip_range_blacklist": ["8.8.8.0/24"]})
    def test_federation_blacklist_replaces_the_general_one(self) -> None:
        client = self.hs.get_federation_http_client()
        d = defer.ensureDeferred(client.get_json("remote.test:8448", "/x"))
        self.reactor.advance(0)
        self.assertEqual([c[:2] for c in self.reactor.tcpClients], [("127.0.0.1", 8448)])
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.get_failure(client.get_json("8.8.8.8:8448", "/x"), RequestSendFailed, by=1)
