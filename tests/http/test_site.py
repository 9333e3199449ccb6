"""SynapseSite/SynapseRequest: request ids, proxies, the access log and its redaction."""

from __future__ import annotations

import re
from typing import Any

from twisted.web.server import Request

from synapse.http.resource_tree import create_resource_tree
from synapse.http.server import JsonResource
from synapse.http.site import SynapseRequest, SynapseSite, redact_uri
from synapse.logging.context import current_request_id
from synapse.rest.client import capabilities, login
from tests.server import get_clock, make_request
from tests.unittest import HomeserverTestCase, TestCase


class _FakeHomeServer:
    pass


class SiteTestCase(TestCase):
    def setUp(self) -> None:
        self.reactor, self.clock = get_clock()
        self.seen: list[dict[str, Any]] = []
        resource = JsonResource(_FakeHomeServer())  # type: ignore[arg-type]

        async def on_get(request: Request) -> tuple[int, Any]:
            assert isinstance(request, SynapseRequest)
            self.seen.append(
                {
                    "request_id": current_request_id(),
                    "own_id": request.request_id,
                    "ip": request.get_client_ip_if_available(),
                    "secure": request.isSecure(),
                }
            )
            return 200, {}

        resource.register_paths(
            "GET", [re.compile("^/_matrix/client/v3/who$")], on_get, "WhoServlet"
        )
        self.root = create_resource_tree({"/_matrix/client": resource})

    def site(self, **kwargs: Any) -> SynapseSite:
        return SynapseSite(self.root, reactor=self.reactor, site_tag="test", **kwargs)

    def test_request_id_is_current_while_handling(self) -> None:
        site = self.site()
        make_request(self.reactor, site, "GET", "/_matrix/client/v3/who")
        make_request(self.reactor, site, "GET", "/_matrix/client/v3/who")
        first, second = self.seen
        self.assertEqual(first["request_id"], first["own_id"])
        self.assertEqual(second["request_id"], second["own_id"])
        self.assertNotEqual(first["own_id"], second["own_id"])
        # Outside the request the id is gone again.
        self.assertEqual(current_request_id(), "sentinel")

    def test_request_id_header(self) -> None:
        site = self.site(request_id_header="X-Request-ID")
        make_request(
            self.reactor,
            site,
            "GET",
            "/_matrix/client/v3/who",
            custom_headers=[("X-Request-ID", "abc-123")],
        )
        self.assertEqual(self.seen[0]["request_id"], "abc-123")

    def test_x_forwarded_trusted_only_when_configured(self) -> None:
        headers = [("X-Forwarded-For", "203.0.113.9, 10.0.0.1"), ("X-Forwarded-Proto", "https")]
        make_request(
            self.reactor, self.site(), "GET", "/_matrix/client/v3/who", custom_headers=headers
        )
        self.assertEqual(self.seen[-1]["ip"], "127.0.0.1")
        self.assertFalse(self.seen[-1]["secure"])

        with self.assertLogs("synapse.access.http.test", level="INFO") as logs:
            make_request(
                self.reactor,
                self.site(x_forwarded=True),
                "GET",
                "/_matrix/client/v3/who",
                custom_headers=headers,
            )
        self.assertEqual(self.seen[-1]["ip"], "203.0.113.9")
        self.assertTrue(self.seen[-1]["secure"])
        self.assertTrue(logs.output[0].split(":", 2)[2].startswith("203.0.113.9 "), logs.output)

    def test_access_log_line(self) -> None:
        with self.assertLogs("synapse.access.http.test", level="INFO") as logs:
            channel = make_request(
                self.reactor,
                self.site(),
                "GET",
                "/_matrix/client/v3/who?access_token=secret_token&x=1&client_secret=hush",
                client_ip="198.51.100.7",
            )
        self.assertEqual(channel.code, 200)
        (line,) = logs.output
        self.assertNotIn("secret_token", line)
        self.assertNotIn("hush", line)
        self.assertIn("access_token=<redacted>&x=1&client_secret=<redacted>", line)
        self.assertIn("198.51.100.7", line)
        self.assertIn("GET", line)
        self.assertIn(" 200 ", line)
        self.assertRegex(line, r"\d+\.\d{3}s")
        self.assertIn("(db: 0 txns, 0.000s)", line)

    def test_server_header(self) -> None:
        channel = make_request(
            self.reactor,
            self.site(server_version_string="Synapse/1.0"),
            "GET",
            "/_matrix/client/v3/who",
        )
        self.assertEqual(channel.headers.getRawHeaders("Server"), ["Synapse/1.0"])

    def test_redact_uri(self) -> None:
        self.assertEqual(redact_uri(b"/a?access_token=x"), "/a?access_token=<redacted>")
        self.assertEqual(redact_uri(b"/a?my_access_token=x"), "/a?my_access_token=x")
        self.assertEqual(
            redact_uri(b"/a?b=1&access_token=x&c=2"), "/a?b=1&access_token=<redacted>&c=2"
        )


class AccessLogUserTestCase(HomeserverTestCase):
    """The access log names the authenticated user, and never logs the token."""

    servlets = [login.register_servlets, capabilities.register_servlets]

    def test_user_in_access_log(self) -> None:
        self.register_user("alice", "password")
        token = self.login("alice", "password")
        with self.assertLogs("synapse.access.http.test", level="INFO") as logs:
            channel = self.make_request(
                "GET", f"/_matrix/client/v3/capabilities?access_token={token}"
            )
        self.assertEqual(channel.code, 200, channel.json_body)
        (line,) = logs.output
        self.assertIn("{@alice:test}", line)
        self.assertNotIn(token, line)
        # The token lookup is a database transaction, counted for this request.
        match = re.search(r"\(db: (\d+) txns, \d+\.\d{3}s\)", line)
        assert match is not None, line
        self.assertGreaterEqual(int(match.group(1)), 1)
