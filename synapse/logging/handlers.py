"""Log handlers that log configs written for Synapse refer to by name."""

from __future__ import annotations

import logging
import threading
import time
from logging.handlers import MemoryHandler


class PeriodicallyFlushingMemoryHandler(MemoryHandler):
    """A ``MemoryHandler`` that also flushes at least every ``period`` seconds.

    Buffering keeps logging off the hot path; the periodic flush keeps the log file
    from lagging behind when the server is quiet.
    """

    def __init__(
        self,
        capacity: int,
        flushLevel: int = logging.ERROR,  # noqa: N803 - the name log configs use
        target: logging.Handler | None = None,
        flushOnClose: bool = True,  # noqa: N803
        period: float = 5.0,
    ) -> None:
        super().__init__(capacity, flushLevel, target, flushOnClose)
        self._period = period
        self._last_flush = time.monotonic()
        self._stopped = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_periodically, name="log-flusher", daemon=True
        )
        self._flusher.start()

    def _flush_periodically(self) -> None:
        while not self._stopped.wait(self._period):
            self.flush()

    def shouldFlush(self, record: logging.LogRecord) -> bool:  # noqa: N802
        return super().shouldFlush(record) or time.monotonic() - self._last_flush >= self._period

    def flush(self) -> None:
        super().flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self._stopped.set()
        super().close()
