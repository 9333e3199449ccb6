"""Prometheus metrics: the shared registry, HTTP and database metrics, reactor tick time.

Metrics are registered once per process in ``prometheus_client``'s default registry, so
several homeservers in one test process share them.
"""

from __future__ import annotations

from contextvars import ContextVar

import attr
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "REGISTRY",
    "CollectorRegistry",
    "Counter",
    "Gauge",
    "Histogram",
    "db_transaction_counter",
    "db_transaction_duration",
    "observe_db_transaction",
    "RequestUsage",
    "start_request_usage",
    "current_request_usage",
]

# Database transactions, labelled by the ``desc`` given to ``runInteraction``.
db_transaction_counter = Counter(
    "synapse_storage_transactions",
    "Database transactions run, by description",
    ["desc"],
)
db_transaction_duration = Histogram(
    "synapse_storage_transaction_time_seconds",
    "Time spent in database transactions (including retries), by description",
    ["desc"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


@attr.s(slots=True, auto_attribs=True)
class RequestUsage:
    """What one request has cost so far: its database transactions and their time."""

    db_txn_count: int = 0
    db_txn_seconds: float = 0.0


# The usage of the request being processed. Database work runs in a copy of the
# request's context, so it adds to the same object.
_current_usage: ContextVar[RequestUsage | None] = ContextVar("synapse_request_usage", default=None)


def start_request_usage() -> RequestUsage:
    """Start counting usage for the request of the current context."""
    usage = RequestUsage()
    _current_usage.set(usage)
    return usage


def current_request_usage() -> RequestUsage | None:
    return _current_usage.get()


def observe_db_transaction(desc: str, duration_seconds: float) -> None:
    """Record one finished database transaction (called by the ``DatabasePool``)."""
    db_transaction_counter.labels(desc).inc()
    db_transaction_duration.labels(desc).observe(duration_seconds)
    usage = _current_usage.get()
    if usage is not None:
        usage.db_txn_count += 1
        usage.db_txn_seconds += duration_seconds
