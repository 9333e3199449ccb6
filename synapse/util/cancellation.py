"""Letting a caller stop waiting for work that cannot itself be stopped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure

R = TypeVar("R")


def shield_from_cancellation(
    d: defer.Deferred[R], on_abandoned: Callable[[R | Failure], object]
) -> defer.Deferred[R]:
    """A Deferred with ``d``'s result, whose cancellation leaves ``d`` running.

    Once the returned Deferred has been cancelled, ``d``'s eventual result (a value or
    a ``Failure``) goes to ``on_abandoned`` instead.
    """
    waiter: defer.Deferred[R] = defer.Deferred()

    def _forward(result: Any) -> None:
        if waiter.called:
            on_abandoned(result)
        elif isinstance(result, Failure):
            waiter.errback(result)
        else:
            waiter.callback(result)

    d.addBoth(_forward)
    return waiter
