"""The id of the request being processed, carried in a ``ContextVar`` for log records.

Code that handles a request sets the id (``set_request_id`` or the ``request_context``
context manager); every log record made meanwhile carries it as ``record.request``,
so that log formats can use ``%(request)s``. Outside a request it is ``"sentinel"``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

SENTINEL_REQUEST_ID = "sentinel"

_current_request_id: ContextVar[str] = ContextVar("synapse_request_id", default=SENTINEL_REQUEST_ID)


def set_request_id(request_id: str) -> Token[str]:
    """Make ``request_id`` the current request id; returns a token for ``reset_request_id``."""
    return _current_request_id.set(request_id)


def reset_request_id(token: Token[str]) -> None:
    """Go back to the request id that was current before ``set_request_id`` gave ``token``."""
    _current_request_id.reset(token)


def current_request_id() -> str:
    """The id of the request being processed, or ``"sentinel"`` outside any request."""
    return _current_request_id.get()


@contextmanager
def request_context(request_id: str) -> Iterator[str]:
    """Within the block, ``request_id`` is the current request id."""
    token = set_request_id(request_id)
    try:
        yield request_id
    finally:
        reset_request_id(token)


class LoggingContextFilter(logging.Filter):
    """Puts the current request id on every record as ``record.request``.

    Accepts (and ignores) the ``request`` argument that log configs written for
    Synapse pass to it (``(): synapse.logging.context.LoggingContextFilter``).
    """

    def __init__(self, name: str = "", request: str = "") -> None:
        super().__init__(name)

    def filter(self, record: logging.LogRecord) -> bool:
        # A record made in a request keeps the id it was made with, even when a
        # buffering handler formats it later, outside that request.
        if not isinstance(getattr(record, "request", None), str):
            record.request = current_request_id()
        return True


_factory_installed = False


def install_log_record_factory() -> None:
    """Make every new log record carry ``request``, whatever handler it reaches.

    Handler filters only cover the handlers that exist when logging is set up; this
    covers handlers added later too. Installing twice is harmless.
    """
    global _factory_installed
    if _factory_installed:
        return
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request = current_request_id()
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True
