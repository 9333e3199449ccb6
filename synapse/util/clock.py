"""A small wrapper round the reactor's clock, so that tests can drive time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer, task
from twisted.internet.interfaces import IDelayedCall


class Clock:
    """Time and timers from one reactor."""

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def time(self) -> float:
        """Seconds since the epoch."""
        return self._reactor.seconds()

    def time_msec(self) -> int:
        return int(self._reactor.seconds() * 1000)

    def sleep(self, seconds: float) -> defer.Deferred[None]:
        def _cancel(_: defer.Deferred[None]) -> None:
            if call.active():
                call.cancel()

        d: defer.Deferred[None] = defer.Deferred(_cancel)
        call = self._reactor.callLater(seconds, d.callback, None)
        return d

    def call_later(
        self, delay: float, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> IDelayedCall:
        return self._reactor.callLater(delay, callback, *args, **kwargs)

    def looping_call(self, f: Callable[..., Any], msec: float, *args: Any) -> task.LoopingCall:
        """Call ``f`` every ``msec`` milliseconds, the first time after one interval."""
        call = task.LoopingCall(f, *args)
        call.clock = self._reactor
        d = call.start(msec / 1000.0, now=False)
        d.addErrback(lambda f: None)
        return call

    def cancel_call_later(self, timer: Any, ignore_errs: bool = False) -> None:
        try:
            timer.cancel()
        except Exception:
            if not ignore_errs:
                raise
