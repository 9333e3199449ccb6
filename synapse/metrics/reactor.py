"""The reactor's tick time: how long each loop iteration spends running its callbacks.

``install_reactor_tick_metrics`` wraps the reactor's ``runUntilCurrent`` (the part of
every iteration that runs timed calls and thread callbacks) and times it with the
process's real clock, so a blocked reactor shows up as long ticks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

tick_time = Histogram(
    "python_twisted_reactor_tick_time_seconds",
    "Time spent in each reactor iteration running callbacks",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
tick_count = Counter("python_twisted_reactor_ticks", "Reactor iterations")
pending_calls = Gauge("python_twisted_reactor_pending_calls", "Timed calls pending on the reactor")

_INSTALLED_ATTR = "_synapse_tick_metrics_installed"


def install_reactor_tick_metrics(
    reactor: Any, timer: Callable[[], float] = time.perf_counter
) -> bool:
    """Time every ``runUntilCurrent`` of ``reactor``; returns False if it has none.

    Installing twice on one reactor is a no-op.
    """
    original = getattr(reactor, "runUntilCurrent", None)
    if original is None:
        return False
    if getattr(reactor, _INSTALLED_ATTR, False):
        return True

    def run_until_current(*args: Any, **kwargs: Any) -> Any:
        start = timer()
        try:
            return original(*args, **kwargs)
        finally:
            tick_time.observe(timer() - start)
            tick_count.inc()
            get_calls = getattr(reactor, "getDelayedCalls", None)
            if get_calls is not None:
                pending_calls.set(len(get_calls()))

    reactor.runUntilCurrent = run_until_current
    setattr(reactor, _INSTALLED_ATTR, True)
    return True
