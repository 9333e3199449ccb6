"""The id of the request being processed, carried in a ``ContextVar`` for log records.

Minimal version used by the HTTP layer; the logging set-up builds on it.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token

SENTINEL_REQUEST_ID = "sentinel"

_current_request_id: ContextVar[str] = ContextVar("synapse_request_id", default=SENTINEL_REQUEST_ID)


def set_request_id(request_id: str) -> Token[str]:
    """Make ``request_id`` the current request id; returns a token for ``reset_request_id``."""
    return _current_request_id.set(request_id)


def reset_request_id(token: Token[str]) -> None:
    _current_request_id.reset(token)


def current_request_id() -> str:
    """The id of the request being processed, or ``"sentinel"`` outside any request."""
    return _current_request_id.get()


class LoggingContextFilter(logging.Filter):
    """Puts the current request id on every record as ``record.request``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request = current_request_id()
        return True
