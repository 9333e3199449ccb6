"""The test harness itself: responses of every shape, config overrides, users."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from synapse.api.errors import SynapseError
from tests.server import FakeChannel, make_request
from tests.unittest import HomeserverTestCase, override_config


class _ChunkedResource(Resource):
    """Writes its body in pieces without a Content-Length (chunked encoding)."""

    isLeaf = True

    def render_GET(self, request: Request) -> Any:
        request.setHeader(b"Content-Type", b"text/plain")
        request.write(b"hello ")
        request.write(b"world")
        request.finish()
        return NOT_DONE_YET


class HarnessTestCase(HomeserverTestCase):
    def create_resource_dict(self) -> dict[str, Resource]:
        resources = super().create_resource_dict()
        resources["/chunked"] = _ChunkedResource()
        return resources

    def test_chunked_response(self) -> None:
        channel = make_request(self.reactor, self.site, "GET", "/chunked")
        self.assertEqual(channel.code, 200)
        self.assertEqual(channel.text_body, "hello world")
        self.assertEqual(channel.headers.getRawHeaders("Transfer-Encoding"), ["chunked"])

    def test_json_body_of_non_json_fails_clearly(self) -> None:
        channel = make_request(self.reactor, self.site, "GET", "/chunked")
        with self.assertRaises(AssertionError):
            _ = channel.json_body

    def test_default_config(self) -> None:
        self.assertEqual(self.hs.hostname, "test")
        self.assertTrue(self.hs.config.registration.enable_registration)
        self.assertEqual(self.hs.config.registration.bcrypt_rounds, 4)
        self.assertGreaterEqual(self.hs.config.ratelimiting.rc_message.burst_count, 1000)

    @override_config({"enable_registration": False})
    @override_config({"bcrypt_rounds": 5})
    def test_override_config(self) -> None:
        self.assertFalse(self.hs.config.registration.enable_registration)
        self.assertEqual(self.hs.config.registration.bcrypt_rounds, 5)

    def test_clock_starts_at_a_real_time(self) -> None:
        self.assertGreater(self.clock.time_msec(), 1_600_000_000_000)

    def test_get_success_and_failure(self) -> None:
        async def ok() -> int:
            await self.clock.sleep(1)
            return 3

        async def bad() -> None:
            raise SynapseError(400, "no")

        self.assertEqual(self.get_success(ok(), by=0.1), 3)
        self.get_failure(bad(), SynapseError)
        with self.assertRaises(SynapseError):
            self.get_success_or_raise(bad())
        self.assertEqual(self.get_success(defer.succeed(5)), 5)

    def test_register_and_login_without_login_servlet(self) -> None:
        user_id = self.register_user("bob", "secret", admin=True)
        self.assertEqual(user_id, "@bob:test")
        token = self.login("bob", "secret", device_id="DEV")
        requester = self.get_success(self.hs.get_auth().get_user_by_access_token(token))
        self.assertEqual(requester.user.to_string(), "@bob:test")
        self.assertEqual(requester.device_id, "DEV")
        self.assertTrue(self.get_success(self.hs.get_auth().is_server_admin(requester)))

    def test_await_result_times_out(self) -> None:
        never: defer.Deferred[None] = defer.Deferred()

        class Stuck(Resource):
            isLeaf = True

            def render_GET(self, request: Request) -> Any:
                never.addCallback(lambda _: request.finish())
                return NOT_DONE_YET

        site_resource = Stuck()
        from tests.server import TimedOutException, make_site

        site = make_site(site_resource, self.reactor)
        channel: FakeChannel = make_request(self.reactor, site, "GET", "/x", await_result=False)
        with self.assertRaises(TimedOutException):
            channel.await_result(timeout_ms=500)
        never.callback(None)
        channel.await_result()
        self.assertEqual(channel.code, 200)
