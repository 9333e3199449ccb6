"""Small pieces for outbound HTTP: request bodies, bounded response bodies, timeouts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet import defer
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

if TYPE_CHECKING:
    from synapse.util.clock import Clock

T = TypeVar("T")


class BodyExceededMaxSize(Exception):
    """A response body was larger than the caller accepts."""


class RequestTimedOutError(Exception):
    """No (complete) answer came in time."""


@implementer(IBodyProducer)
class BytesBodyProducer:
    """A request body held in memory, written in one go (no cooperator, so fake reactors
    in tests need not run one)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.length = len(body)

    def startProducing(self, consumer: Any) -> defer.Deferred[None]:
        consumer.write(self.body)
        return defer.succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class _BodyCollector(Protocol):
    def __init__(self, max_size: int | None) -> None:
        self.deferred: defer.Deferred[bytes] = defer.Deferred(lambda _: self._abort())
        self._max_size = max_size
        self._chunks: list[bytes] = []
        self._length = 0

    def _abort(self) -> None:
        transport: Any = self.transport
        if transport is not None:
            abort = getattr(transport, "abortConnection", None) or transport.loseConnection
            abort()

    def dataReceived(self, data: bytes) -> None:
        if self.deferred.called:
            return
        self._chunks.append(data)
        self._length += len(data)
        if self._max_size is not None and self._length > self._max_size:
            self._chunks = []
            self.deferred.errback(BodyExceededMaxSize(f"body over {self._max_size} bytes"))
            self._abort()

    def connectionLost(self, reason: Failure = Failure(ResponseDone())) -> None:  # noqa: B008
        if self.deferred.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self.deferred.callback(b"".join(self._chunks))
        else:
            self.deferred.errback(reason)


def read_body_with_max_size(response: Any, max_size: int | None) -> defer.Deferred[bytes]:
    # ``response`` is an ``IResponse``.
    """The whole body of ``response``; fails with ``BodyExceededMaxSize`` past ``max_size``.

    Cancelling the result drops the connection.
    """
    length = response.length
    declared = None if length is UNKNOWN_LENGTH else int(length)
    if max_size is not None and declared is not None and declared > max_size:
        # Not worth reading: drop the connection at once.
        collector = _BodyCollector(0)
        collector.deferred.addErrback(lambda _: None)
        response.deliverBody(collector)
        collector._abort()
        return defer.fail(BodyExceededMaxSize(f"declared body of {declared} bytes over {max_size}"))
    collector = _BodyCollector(max_size)
    response.deliverBody(collector)
    return collector.deferred


def with_timeout(d: defer.Deferred[T], seconds: float, clock: Clock) -> defer.Deferred[T]:
    """``d``'s result, or ``RequestTimedOutError`` once ``seconds`` have passed (``d`` is
    then cancelled).

    Cancelling the result cancels ``d`` and fails with ``CancelledError``, whatever
    error ``d`` fails with on cancellation (e.g. ``ConnectingCancelledError``), so that
    callers can tell their own cancellation from a failure.
    """
    timed_out = False
    cancelled = False

    def cancel(_: defer.Deferred[T]) -> None:
        nonlocal cancelled
        cancelled = True
        d.cancel()

    result_d: defer.Deferred[T] = defer.Deferred(cancel)

    def on_timeout() -> None:
        nonlocal timed_out
        timed_out = True
        d.cancel()

    call: Any = clock.call_later(seconds, on_timeout)

    def done(result: Any) -> None:
        if call.active():
            call.cancel()
        if isinstance(result, Failure):
            if cancelled:
                result = Failure(defer.CancelledError())
            elif timed_out:
                result = Failure(RequestTimedOutError(f"Timed out after {seconds}s"))
        if result_d.called:
            if isinstance(result, Failure):
                result.trap(defer.CancelledError)
            return
        if isinstance(result, Failure):
            result_d.errback(result)
        else:
            result_d.callback(result)

    d.addBoth(done)
    return result_d
