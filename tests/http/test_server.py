"""JsonResource dispatch, errors, CORS, body limits and disconnects, seen over HTTP."""

from __future__ import annotations

import re
from typing import Any

from twisted.internet import defer
from twisted.web.resource import Resource
from twisted.web.server import Request

from synapse.api.errors import Codes, LimitExceededError, SynapseError
from synapse.http.resource_tree import create_resource_tree
from synapse.http.server import JsonResource, cancellable, not_cancellable
from synapse.metrics.http import requests_counter
from tests.server import FakeChannel, get_clock, make_request, make_site
from tests.unittest import TestCase


class _FakeHomeServer:
    """JsonResource only keeps a reference to the homeserver."""


class ResourceTestBase(TestCase):
    """A JsonResource at /_matrix/client on a test site."""

    def setUp(self) -> None:
        self.reactor, self.clock = get_clock()
        self.resource = JsonResource(_FakeHomeServer())  # type: ignore[arg-type]
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _serve(self, max_body: int | None = None) -> None:
        root = create_resource_tree({"/_matrix/client": self.resource})
        self.site = make_site(root, self.reactor, max_request_body_size=max_body)

    def request(self, method: str, path: str, content: Any = b"", **kwargs: Any) -> FakeChannel:
        return make_request(self.reactor, self.site, method, path, content, **kwargs)

    def register(self, method: str, regex: str, callback: Any, name: str = "TestServlet") -> None:
        self.resource.register_paths(method, [re.compile(regex)], callback, name)

    def assert_error(self, channel: FakeChannel, code: int, errcode: str) -> None:
        self.assertEqual(channel.code, code, channel.result["body"])
        self.assertEqual(channel.json_body["errcode"], errcode, channel.json_body)
        self.assertIsInstance(channel.json_body["error"], str)
        self.assert_cors(channel)

    def assert_cors(self, channel: FakeChannel) -> None:
        headers = channel.headers
        self.assertEqual(headers.getRawHeaders("Access-Control-Allow-Origin"), ["*"])
        methods = (headers.getRawHeaders("Access-Control-Allow-Methods") or [""])[0]
        for method in ("GET", "POST", "PUT", "DELETE", "OPTIONS"):
            self.assertIn(method, methods)
        allowed = (headers.getRawHeaders("Access-Control-Allow-Headers") or [""])[0]
        for header in ("Authorization", "X-Requested-With", "Content-Type"):
            self.assertIn(header, allowed)

    async def _ok(self, request: Request, **kwargs: Any) -> tuple[int, Any]:
        self.calls.append((request.method.decode(), kwargs))
        return 200, {"ok": True}


class JsonResourceTestCase(ResourceTestBase):
    def test_dispatch_with_decoded_path_args(self) -> None:
        async def on_get(request: Request, room_id: str, event_id: str) -> tuple[int, Any]:
            self.calls.append(("GET", {"room_id": room_id, "event_id": event_id}))
            return 200, {"room_id": room_id, "event_id": event_id, "unicode": "é"}

        self.register(
            "GET", "^/_matrix/client/v3/rooms/(?P<room_id>[^/]*)/event/(?P<event_id>[^/]*)$", on_get
        )
        self._serve()
        channel = self.request("GET", "/_matrix/client/v3/rooms/%21abc%3Atest/event/%24ev%2F1")
        self.assertEqual(channel.code, 200)
        self.assertEqual(
            channel.json_body, {"room_id": "!abc:test", "event_id": "$ev/1", "unicode": "é"}
        )
        self.assertEqual(channel.headers.getRawHeaders("Content-Type"), ["application/json"])
        self.assert_cors(channel)

    def test_unknown_path_is_404_unrecognized(self) -> None:
        self.register("GET", "^/_matrix/client/v3/known$", self._ok)
        self._serve()
        self.assert_error(
            self.request("GET", "/_matrix/client/v3/unknown"), 404, Codes.UNRECOGNIZED
        )
        # Outside every mounted resource too.
        self.assert_error(self.request("GET", "/nowhere/at/all"), 404, Codes.UNRECOGNIZED)
        self.assert_error(self.request("GET", "/"), 404, Codes.UNRECOGNIZED)

    def test_wrong_method_is_405_unrecognized(self) -> None:
        self.register("GET", "^/_matrix/client/v3/known$", self._ok)
        self._serve()
        self.assert_error(
            self.request("POST", "/_matrix/client/v3/known", {}), 405, Codes.UNRECOGNIZED
        )
        channel = self.request("DELETE", "/_matrix/client/v3/known")
        self.assert_error(channel, 405, Codes.UNRECOGNIZED)
        self.assertEqual(channel.headers.getRawHeaders("Allow"), ["GET, HEAD, OPTIONS"])

    def test_options_preflight(self) -> None:
        self.register("PUT", "^/_matrix/client/v3/known$", self._ok)
        self._serve()
        for path in ("/_matrix/client/v3/known", "/_matrix/client/v3/unknown", "/elsewhere"):
            channel = self.request(
                "OPTIONS",
                path,
                custom_headers=[
                    ("Access-Control-Request-Method", "PUT"),
                    ("Origin", "https://app.example"),
                ],
            )
            self.assertEqual(channel.code, 200, path)
            self.assertEqual(channel.json_body, {})
            self.assert_cors(channel)
        self.assertEqual(self.calls, [])

    def test_head_is_get_without_body(self) -> None:
        self.register("GET", "^/_matrix/client/v3/known$", self._ok)
        self._serve()
        channel = self.request("HEAD", "/_matrix/client/v3/known")
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.result["body"], b"")

    def test_synapse_error_becomes_json(self) -> None:
        async def on_get(request: Request) -> tuple[int, Any]:
            raise SynapseError(403, "Not yours", Codes.FORBIDDEN, {"extra": 1})

        self.register("GET", "^/_matrix/client/v3/forbidden$", on_get)
        self._serve()
        channel = self.request("GET", "/_matrix/client/v3/forbidden")
        self.assert_error(channel, 403, Codes.FORBIDDEN)
        self.assertEqual(
            channel.json_body, {"errcode": "M_FORBIDDEN", "error": "Not yours", "extra": 1}
        )

    def test_limit_exceeded_has_retry_after(self) -> None:
        async def on_get(request: Request) -> tuple[int, Any]:
            raise LimitExceededError(retry_after_ms=1500)

        self.register("GET", "^/_matrix/client/v3/limited$", on_get)
        self._serve()
        channel = self.request("GET", "/_matrix/client/v3/limited")
        self.assert_error(channel, 429, Codes.LIMIT_EXCEEDED)
        self.assertEqual(channel.json_body["retry_after_ms"], 1500)
        self.assertEqual(channel.headers.getRawHeaders("Retry-After"), ["2"])

    def test_unexpected_exception_is_500_and_logged(self) -> None:
        async def on_get(request: Request) -> tuple[int, Any]:
            raise KeyError("boom")

        self.register("GET", "^/_matrix/client/v3/broken$", on_get)
        self._serve()
        with self.assertLogs("synapse.http.server", level="ERROR") as logs:
            channel = self.request("GET", "/_matrix/client/v3/broken")
        self.assert_error(channel, 500, Codes.UNKNOWN)
        self.assertNotIn("boom", channel.json_body["error"])
        self.assertIn("Traceback", logs.output[0])
        self.assertIn("KeyError", logs.output[0])

    def test_non_ascii_path_args_and_bad_utf8(self) -> None:
        async def on_get(request: Request, name: str) -> tuple[int, Any]:
            return 200, {"name": name}

        self.register("GET", "^/_matrix/client/v3/name/(?P<name>[^/]*)$", on_get)
        self._serve()
        channel = self.request("GET", "/_matrix/client/v3/name/%C3%A9t%C3%A9")
        self.assertEqual(channel.json_body, {"name": "été"})
        self.assert_error(
            self.request("GET", "/_matrix/client/v3/name/%FF"), 400, Codes.INVALID_PARAM
        )
        self.assert_error(
            self.request("GET", "/_matrix/client/v3/name/a%00b"), 400, Codes.INVALID_PARAM
        )

    def test_client_disconnect_cancels_handler(self) -> None:
        waiting: defer.Deferred[None] = defer.Deferred()
        cancelled: list[bool] = []

        async def on_get(request: Request) -> tuple[int, Any]:
            try:
                await waiting
            except defer.CancelledError:
                cancelled.append(True)
                raise
            return 200, {}

        self.register("GET", "^/_matrix/client/v3/slow$", on_get, "SlowServlet")
        self._serve()
        with self.assertLogs("synapse.access.http.test", level="INFO") as logs:
            channel = self.request("GET", "/_matrix/client/v3/slow", await_result=False)
            self.reactor.advance(1)
            self.assertFalse(channel.is_finished())
            channel.client_disconnect()
        self.assertEqual(cancelled, [True])
        self.assertEqual(channel.raw, b"")
        self.assertIn(" 499 ", logs.output[-1])

    def _disconnect_during(
        self, method: str, handler_wrapper: Any = None
    ) -> tuple[list[str], FakeChannel]:
        """Disconnect while a ``method`` handler waits; returns what happened to it."""
        waiting: defer.Deferred[None] = defer.Deferred()
        events: list[str] = []

        async def handler(request: Request) -> tuple[int, Any]:
            try:
                await waiting
            except defer.CancelledError:
                events.append("cancelled")
                raise
            events.append("completed")
            return 200, {}

        if handler_wrapper is not None:
            handler = handler_wrapper(handler)
        self.register(method, "^/_matrix/client/v3/wait$", handler)
        self._serve()
        channel = self.request(
            method, "/_matrix/client/v3/wait", {} if method != "GET" else b"", await_result=False
        )
        channel.client_disconnect()
        if not waiting.called:
            waiting.callback(None)
        self.reactor.advance(0)
        return events, channel

    def test_write_handlers_run_to_completion_after_disconnect(self) -> None:
        events, channel = self._disconnect_during("PUT")
        self.assertEqual(events, ["completed"])
        self.assertEqual(channel.raw, b"")

    def test_cancellable_write_handler_is_cancelled(self) -> None:
        events, _ = self._disconnect_during("POST", cancellable)
        self.assertEqual(events, ["cancelled"])

    def test_not_cancellable_read_handler_completes(self) -> None:
        events, _ = self._disconnect_during("GET", not_cancellable)
        self.assertEqual(events, ["completed"])

    def test_request_metrics_by_servlet(self) -> None:
        self.register("GET", "^/_matrix/client/v3/counted$", self._ok, "CountedServlet")
        self._serve()
        before = requests_counter.labels("CountedServlet", "GET", "200")._value.get()
        self.request("GET", "/_matrix/client/v3/counted")
        self.request("GET", "/_matrix/client/v3/counted")
        after = requests_counter.labels("CountedServlet", "GET", "200")._value.get()
        self.assertEqual(after - before, 2)


class BodySizeTestCase(ResourceTestBase):
    """Bodies over the listener's limit get 413 M_TOO_LARGE before they are read."""

    def setUp(self) -> None:
        super().setUp()

        async def on_post(request: Request) -> tuple[int, Any]:
            self.calls.append(("POST", {}))
            assert request.content is not None
            return 200, {"size": len(request.content.read())}

        self.register("POST", "^/_matrix/client/v3/upload$", on_post)
        self._serve(max_body=1000)

    def test_within_limit(self) -> None:
        channel = self.request("POST", "/_matrix/client/v3/upload", b"x" * 1000)
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.json_body, {"size": 1000})

    def test_content_length_over_limit(self) -> None:
        channel = self.request("POST", "/_matrix/client/v3/upload", b"x" * 1001)
        self.assertEqual(channel.code, 413)
        self.assertEqual(channel.json_body["errcode"], Codes.TOO_LARGE)
        self.assertTrue(channel.disconnecting)
        self.assertEqual(self.calls, [])

    def _connect(self) -> tuple[FakeChannel, Any]:
        channel = FakeChannel(self.site, self.reactor)
        protocol: Any = self.site.buildProtocol(channel.getPeer())
        channel.protocol = protocol
        protocol.makeConnection(channel)
        return channel, protocol

    def test_declared_length_rejected_before_body_arrives(self) -> None:
        # Only the headers are sent: the answer comes before any of the body.
        channel, protocol = self._connect()
        protocol.dataReceived(
            b"POST /_matrix/client/v3/upload HTTP/1.1\r\nHost: test\r\nContent-Length: 5000\r\n\r\n"
        )
        self.assertEqual(channel.code, 413)
        self.assertEqual(channel.json_body["errcode"], Codes.TOO_LARGE)
        self.assertEqual(channel.headers.getRawHeaders("Connection"), ["close"])
        self.assert_cors(channel)
        # The body is read and dropped, then the connection closes.
        self.assertFalse(channel.disconnecting)
        protocol.dataReceived(b"z" * 5000)
        self.assertTrue(channel.disconnecting)
        self.assertEqual(self.calls, [])

    def test_huge_declared_length_closes_at_once(self) -> None:
        channel, protocol = self._connect()
        protocol.dataReceived(
            b"POST /_matrix/client/v3/upload HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000000\r\n\r\n"
        )
        self.assertEqual(channel.code, 413)
        self.assertTrue(channel.disconnecting)

    def test_chunked_body_over_limit(self) -> None:
        channel = self.request("POST", "/_matrix/client/v3/upload", b"y" * 5000, chunked=True)
        self.assertEqual(channel.code, 413)
        self.assertEqual(channel.json_body["errcode"], Codes.TOO_LARGE)
        self.assertTrue(channel.disconnecting)
        self.assertEqual(self.calls, [])

    def test_chunked_body_within_limit(self) -> None:
        channel = self.request("POST", "/_matrix/client/v3/upload", b"y" * 500, chunked=True)
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.json_body, {"size": 500})


class _BrokenResource(Resource):
    isLeaf = True

    def render(self, request: Request) -> Any:
        raise ValueError("render blew up")


class SynchronousRenderErrorTestCase(TestCase):
    def test_exception_in_render_is_json_500(self) -> None:
        reactor, _clock = get_clock()
        site = make_site(create_resource_tree({"/broken": _BrokenResource()}), reactor)
        with self.assertLogs("synapse.http.server", level="ERROR"):
            channel = make_request(reactor, site, "GET", "/broken")
        self.assertEqual(channel.code, 500)
        self.assertEqual(channel.json_body["errcode"], Codes.UNKNOWN)
        self.assertEqual(channel.headers.getRawHeaders("Access-Control-Allow-Origin"), ["*"])
