"""``HomeserverTestCase``: a whole homeserver per test, on a fake reactor, driven over HTTP.

class ProfileTestCase(HomeserverTestCase):
    servlets = [login.register_servlets, profile.register_servlets]

    def prepare(self, reactor, clock, hs):
        self.user_id = self.register_user("alice", "pass")
        self.token = self.login("alice", "pass")

    @override_config({"enable_set_displayname": False})
    def test_cannot_set_displayname(self):
        channel = self.make_request("PUT", f"profile/{self.user_id}/displayname",
                                    {"displayname": "A"}, access_token=self.token)
        self.assertEqual(channel.code, 403, channel.json_body)
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from synapse.http.resource_tree import create_resource_tree
from synapse.http.server import JsonResource
from synapse.types import JsonDict
from tests.server import (
    FakeChannel,
    ThreadedMemoryReactorClock,
    default_config,
    get_clock,
    make_request,
    make_site,
    setup_test_homeserver,
)

if TYPE_CHECKING:
    from synapse.server import HomeServer

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

_EXTRA_CONFIG_ATTR = "_extra_config"

if os.environ.get("SYNAPSE_TEST_LOG_LEVEL"):
    logging.basicConfig(level=os.environ["SYNAPSE_TEST_LOG_LEVEL"])


def override_config(extra_config: JsonDict) -> Callable[[F], F]:
    """Run one test with these top-level config keys on top of ``default_config()``.

    Decorators stack: the innermost wins for a key set twice.
    """

    def decorator(func: F) -> F:
        merged = {**extra_config, **getattr(func, _EXTRA_CONFIG_ATTR, {})}
        setattr(func, _EXTRA_CONFIG_ATTR, merged)
        return func

    return decorator


class TestCase(SynchronousTestCase):
    """Twisted's synchronous test case: ``successResultOf``, ``failureResultOf``, and
    failing tests on errors logged by Deferreds that nobody handled."""


RegisterServletsFunc = Callable[["HomeServer", JsonResource], None]


class HomeserverTestCase(TestCase):
    """A test with its own homeserver, fake reactor and in-memory HTTP site.

    Class attributes: ``servlets`` (each module's ``register_servlets``) are served by
    one ``JsonResource`` under ``/_matrix`` and ``/_synapse``. Override
    ``default_config``, ``make_homeserver``, ``create_resource_dict`` or ``prepare``.
    """

    servlets: ClassVar[list[RegisterServletsFunc]] = []
    # The body size limit of the test site (None: the listener default).
    max_request_body_size: ClassVar[int | None] = None

    reactor: ThreadedMemoryReactorClock
    clock: Any
    hs: HomeServer
    resource: Resource

    def setUp(self) -> None:
        self.reactor, self.clock = get_clock()
        self.hs = self.make_homeserver(self.reactor, self.clock)
        self.resource = self.create_test_resource()
        self.site = make_site(self.resource, self.reactor, self.max_request_body_size)
        self.addCleanup(self._close_databases)
        self.prepare(self.reactor, self.clock, self.hs)

    def _close_databases(self) -> None:
        get_pools = getattr(self.hs, "get_database_pools", None)
        if get_pools is None:
            return
        for pool in get_pools():
            pool.close()

    # --- the pieces a test may override ----------------------------------------------

    def default_config(self) -> JsonDict:
        """The config dict of this test's homeserver (with any ``@override_config``)."""
        config = default_config("test")
        method = getattr(self, self._testMethodName, None)
        config.update(getattr(method, _EXTRA_CONFIG_ATTR, {}))
        return config

    def make_homeserver(self, reactor: ThreadedMemoryReactorClock, clock: Any) -> HomeServer:
        return self.setup_test_homeserver()

    def setup_test_homeserver(
        self, name: str = "test", config: Any = None, **kwargs: Any
    ) -> HomeServer:
        """A homeserver on this test's reactor; ``config`` defaults to ``default_config()``."""
        if config is None:
            config = self.default_config()
        return setup_test_homeserver(
            self.addCleanup, name, config=config, reactor=self.reactor, clock=self.clock, **kwargs
        )

    def create_test_resource(self) -> Resource:
        return create_resource_tree(self.create_resource_dict())

    def create_resource_dict(self) -> dict[str, Resource]:
        """Path prefix -> resource of the test site: the servlets, under /_matrix and /_synapse."""
        servlet_resource = JsonResource(self.hs)
        for register in self.servlets:
            register(self.hs, servlet_resource)
        return {"/_matrix": servlet_resource, "/_synapse": servlet_resource}

    def prepare(self, reactor: ThreadedMemoryReactorClock, clock: Any, hs: HomeServer) -> None:
        """Set-up that needs the homeserver (users, rooms, ...)."""

    # --- driving the homeserver -------------------------------------------------------

    def make_request(
        self,
        method: str | bytes,
        path: str | bytes,
        content: object = b"",
        access_token: str | None = None,
        shorthand: bool = True,
        federation_auth_origin: str | bytes | None = None,
        custom_headers: Iterable[tuple[str | bytes, str | bytes]] | None = None,
        await_result: bool = True,
        client_ip: str = "127.0.0.1",
        chunked: bool = False,
    ) -> FakeChannel:
        """Send a request to the test site; see ``tests.server.make_request``."""
        return make_request(
            self.reactor,
            self.site,
            method,
            path,
            content,
            access_token=access_token,
            custom_headers=custom_headers,
            shorthand=shorthand,
            federation_auth_origin=federation_auth_origin,
            await_result=await_result,
            client_ip=client_ip,
            chunked=chunked,
        )

    def pump(self, by: float = 0.0) -> None:
        """Run everything due now, then advance the clock by ``by`` 100 times."""
        self.reactor.advance(0)
        for _ in range(100):
            self.reactor.advance(by)

    def _as_deferred(self, d: Awaitable[R] | defer.Deferred[R]) -> defer.Deferred[R]:
        if isinstance(d, defer.Deferred):
            return d
        if inspect.isawaitable(d):
            return defer.ensureDeferred(d)  # type: ignore[arg-type]
        raise TypeError(f"Not awaitable: {d!r}")

    def get_success(self, d: Awaitable[R], by: float = 0.0) -> R:
        """Run ``d`` (a coroutine or Deferred) to completion and return its result."""
        deferred = self._as_deferred(d)
        self.pump(by)
        return self.successResultOf(deferred)

    def get_failure(self, d: Awaitable[Any], exc: type[BaseException], by: float = 0.0) -> Failure:
        """Run ``d`` and return its failure, which must be an ``exc``."""
        deferred = self._as_deferred(d)
        self.pump(by)
        return self.failureResultOf(deferred, exc)

    def get_success_or_raise(self, d: Awaitable[R], by: float = 0.0) -> R:
        """Run ``d``; return its result or raise its exception."""
        deferred = self._as_deferred(d)
        self.pump(by)
        results: list[Any] = []
        deferred.addBoth(results.append)
        if not results:
            self.fail(f"{d!r} did not complete")
        result = results[0]
        if isinstance(result, Failure):
            result.raiseException()
        return result

    # --- users -------------------------------------------------------------------------

    def register_user(
        self, localpart: str, password: str, admin: bool = False, displayname: str | None = None
    ) -> str:
        """Create an account directly through the registration handler; returns its user ID."""
        password_hash = self.get_success(self.hs.get_auth_handler().hash(password))
        return self.get_success(
            self.hs.get_registration_handler().register_user(
                localpart=localpart,
                password_hash=password_hash,
                admin=admin,
                default_display_name=displayname,
            )
        )

    def login(
        self,
        username: str,
        password: str,
        device_id: str | None = None,
        custom_headers: Iterable[tuple[str | bytes, str | bytes]] | None = None,
    ) -> str:
        """Log in with a password and return the access token.

        Through ``POST /login`` when the login servlet is served, else through the
        handlers (checking the password all the same).
        """
        body: JsonDict = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": username},
            "password": password,
        }
        if device_id is not None:
            body["device_id"] = device_id
        channel = self.make_request(
            "POST", "/_matrix/client/v3/login", body, custom_headers=custom_headers
        )
        if channel.code == 200:
            return channel.json_body["access_token"]
        if channel.code != 404:
            self.fail(f"Login failed: {channel.code} {channel.json_body}")
        user_id = self.get_success(self.hs.get_auth_handler().validate_login(body))
        return self.create_access_token(user_id, device_id)

    def create_access_token(self, user_id: str, device_id: str | None = None) -> str:
        """A new device and access token for an existing user, without checking any password."""
        _device_id, token = self.get_success(
            self.hs.get_registration_handler().register_device(user_id, device_id, None)
        )
        return token
