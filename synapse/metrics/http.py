"""Per-servlet HTTP request metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Labels: the servlet class name (or resource class for non-servlet resources), the
# request method, and the response status code.
requests_counter = Counter(
    "synapse_http_server_requests",
    "HTTP requests answered, by servlet, method and status code",
    ["servlet", "method", "code"],
)
response_time = Histogram(
    "synapse_http_server_response_time_seconds",
    "Time from receiving a request to finishing its response, by servlet, method and status code",
    ["servlet", "method", "code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
requests_in_flight = Gauge(
    "synapse_http_server_in_flight_requests",
    "HTTP requests being processed",
)


response_db_txn_count = Counter(
    "synapse_http_server_response_db_txn_count",
    "Database transactions run for requests, by servlet and method",
    ["servlet", "method"],
)
response_db_txn_seconds = Counter(
    "synapse_http_server_response_db_txn_duration_seconds",
    "Time spent in database transactions for requests, by servlet and method",
    ["servlet", "method"],
)


def record_request(
    servlet: str,
    method: str,
    code: int,
    duration_seconds: float,
    db_txn_count: int = 0,
    db_txn_seconds: float = 0.0,
) -> None:
    """Count one finished request, its duration and its database usage."""
    requests_counter.labels(servlet, method, str(code)).inc()
    response_time.labels(servlet, method, str(code)).observe(duration_seconds)
    if db_txn_count:
        response_db_txn_count.labels(servlet, method).inc(db_txn_count)
        response_db_txn_seconds.labels(servlet, method).inc(db_txn_seconds)
