"""The Prometheus exposition: request, database and reactor metrics."""

from __future__ import annotations

from twisted.web.resource import Resource

from synapse.metrics.reactor import install_reactor_tick_metrics, tick_count, tick_time
from synapse.metrics.resource import MetricsResource
from synapse.rest.client import account, versions
from tests.unittest import HomeserverTestCase, TestCase


class MetricsResourceTestCase(HomeserverTestCase):
    servlets = [versions.register_servlets, account.register_servlets]

    def whoami(self, token: str) -> None:
        channel = self.make_request("GET", "/_matrix/client/v3/account/whoami", access_token=token)
        self.assertEqual(channel.code, 200, channel.json_body)

    def create_resource_dict(self) -> dict[str, Resource]:
        resources = super().create_resource_dict()
        resources["/_synapse/metrics"] = MetricsResource()
        resources["/_synapse/admin"] = resources.pop("/_synapse")
        return resources

    def metrics(self) -> str:
        channel = self.make_request("GET", "/_synapse/metrics")
        self.assertEqual(channel.code, 200)
        self.assertTrue(
            (channel.headers.getRawHeaders("Content-Type") or [""])[0].startswith("text/plain")
        )
        return channel.result["body"].decode("utf-8")

    def test_request_metrics(self) -> None:
        self.make_request("GET", "/_matrix/client/versions")
        self.make_request("GET", "/_matrix/client/v3/nothing_here")
        self.make_request("GET", "/_synapse/metrics")
        text = self.metrics()
        self.assertIn(
            'synapse_http_server_requests_total{code="200",method="GET",servlet="MetricsResource"}',
            text,
        )
        self.assertIn(
            'synapse_http_server_requests_total{code="200",method="GET",servlet="VersionsRestServlet"}',
            text,
        )
        self.assertIn(
            'synapse_http_server_requests_total{code="404",method="GET",servlet="JsonResource"}',
            text,
        )
        self.assertIn(
            'synapse_http_server_response_time_seconds_bucket{code="200",le="0.005",method="GET",servlet="VersionsRestServlet"}',
            text,
        )

    def test_database_metrics(self) -> None:
        user_id = self.register_user("alice", "password")
        token = self.create_access_token(user_id)
        self.whoami(token)
        text = self.metrics()
        self.assertRegex(
            text,
            r'synapse_http_server_response_db_txn_count_total\{method="GET",servlet="WhoamiRestServlet"\} [1-9]',
        )
        self.assertRegex(text, r'synapse_storage_transactions_total\{desc="[a-z_]+"\} [1-9]')
        self.assertIn("synapse_storage_transaction_time_seconds_bucket{", text)


class _FakeReactor:
    def __init__(self) -> None:
        self.ran = 0

    def runUntilCurrent(self) -> None:
        self.ran += 1

    def getDelayedCalls(self) -> list[object]:
        return [object(), object()]


class ReactorTickTestCase(TestCase):
    def test_ticks_are_timed(self) -> None:
        reactor = _FakeReactor()
        times = iter([10.0, 10.25, 20.0, 20.5])
        before_count = tick_count._value.get()
        before_sum = tick_time._sum.get()
        self.assertTrue(install_reactor_tick_metrics(reactor, timer=lambda: next(times)))
        self.assertTrue(install_reactor_tick_metrics(reactor))
        reactor.runUntilCurrent()
        reactor.runUntilCurrent()
        self.assertEqual(reactor.ran, 2)
        self.assertEqual(tick_count._value.get() - before_count, 2)
        self.assertAlmostEqual(tick_time._sum.get() - before_sum, 0.75)

    def test_reactor_without_run_until_current(self) -> None:
        self.assertFalse(install_reactor_tick_metrics(object()))


class MetricsMethodTestCase(HomeserverTestCase):
    def create_resource_dict(self) -> dict[str, Resource]:
        return {"/_synapse/metrics": MetricsResource()}

    def test_only_get(self) -> None:
        channel = self.make_request("POST", "/_synapse/metrics", {})
        self.assertEqual(channel.code, 405)
        self.assertEqual(channel.json_body["errcode"], "M_UNRECOGNIZED")
        self.assertEqual(self.make_request("HEAD", "/_synapse/metrics").code, 200)
