"""Log records carry the request id, whatever log config is used; SIGHUP reopens log files."""

from __future__ import annotations

import logging
import os
import tempfile
import unittest

from synapse.config.homeserver import HomeServerConfig
from synapse.config.logger import reopen_log_files, setup_logging, write_default_log_config
from synapse.logging.context import (
    LoggingContextFilter,
    current_request_id,
    request_context,
    reset_request_id,
    set_request_id,
)


class RequestIdTestCase(unittest.TestCase):
    def test_sentinel_outside_a_request(self) -> None:
        self.assertEqual(current_request_id(), "sentinel")

    def test_set_and_reset(self) -> None:
        token = set_request_id("GET-1")
        try:
            self.assertEqual(current_request_id(), "GET-1")
        finally:
            reset_request_id(token)
        self.assertEqual(current_request_id(), "sentinel")

    def test_context_manager_nests(self) -> None:
        with request_context("outer"):
            with request_context("inner"):
                self.assertEqual(current_request_id(), "inner")
            self.assertEqual(current_request_id(), "outer")
        self.assertEqual(current_request_id(), "sentinel")

    def test_filter_sets_request_attribute(self) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
        with request_context("PUT-7"):
            self.assertTrue(LoggingContextFilter().filter(record))
        self.assertEqual(record.request, "PUT-7")  # type: ignore[attr-defined]
        bare = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
        LoggingContextFilter(request="").filter(bare)
        self.assertEqual(bare.request, "sentinel")  # type: ignore[attr-defined]


class SetupLoggingTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        root = logging.getLogger()
        self._saved = (root.handlers[:], root.level)

    def tearDown(self) -> None:
        root = logging.getLogger()
        for handler in root.handlers:
            if handler not in self._saved[0]:
                handler.close()
        root.handlers[:] = self._saved[0]
        root.setLevel(self._saved[1])
        self._tmp.cleanup()

    def configure(self, log_config_text: str | None = None) -> str:
        log_file = os.path.join(self.dir, "homeserver.log")
        config: dict = {"server_name": "example.com"}
        if log_config_text is not None:
            path = os.path.join(self.dir, "log.config")
            with open(path, "w") as f:
                f.write(log_config_text.replace("LOGFILE", log_file))
            config["log_config"] = path
        setup_logging(HomeServerConfig.parse_config_dict(config), redirect_stdio=False)
        return log_file

    def read_log(self, path: str) -> str:
        for handler in logging.getLogger().handlers:
            handler.flush()
            target = getattr(handler, "target", None)
            if target is not None:
                target.flush()
        with open(path) as f:
            return f.read()

    def test_request_in_format_without_filter_in_config(self) -> None:
        """A log config that never mentions the filter still formats %(request)s."""
        log_file = self.configure(
            """
version: 1
formatters:
  f:
    format: '%(request)s | %(message)s'
handlers:
  file:
    class: logging.FileHandler
    filename: LOGFILE
    formatter: f
root:
  level: INFO
  handlers: [file]
disable_existing_loggers: false
"""
        )
        log = logging.getLogger("synapse.test.logger")
        log.info("outside")
        with request_context("GET-42"):
            log.info("inside")
        # A handler added after set-up formats %(request)s too.
        late_file = os.path.join(self.dir, "late.log")
        late = logging.FileHandler(late_file)
        late.setFormatter(logging.Formatter("%(request)s %(message)s"))
        logging.getLogger().addHandler(late)
        with request_context("POST-1"):
            log.info("late")
        late.close()
        logging.getLogger().removeHandler(late)

        content = self.read_log(log_file)
        self.assertIn("sentinel | outside", content)
        self.assertIn("GET-42 | inside", content)
        with open(late_file) as f:
            self.assertIn("POST-1 late", f.read())

    def test_default_generated_log_config(self) -> None:
        path = os.path.join(self.dir, "gen.log.config")
        log_file = os.path.join(self.dir, "homeserver.log")
        write_default_log_config(path, log_file)
        setup_logging(
            HomeServerConfig.parse_config_dict({"server_name": "example.com", "log_config": path}),
            redirect_stdio=False,
        )
        with request_context("GET-9"):
            logging.getLogger("synapse.test").warning("buffered line")
        content = self.read_log(log_file)
        self.assertIn(" - GET-9 - buffered line", content)

    def test_sighup_reopens_log_file(self) -> None:
        log_file = self.configure(
            """
version: 1
formatters:
  f:
    format: '%(request)s %(message)s'
handlers:
  file:
    class: logging.FileHandler
    filename: LOGFILE
    formatter: f
root:
  level: INFO
  handlers: [file]
disable_existing_loggers: false
"""
        )
        log = logging.getLogger("synapse.test.rotate")
        log.info("before rotation")
        os.rename(log_file, log_file + ".1")
        reopen_log_files()
        log.info("after rotation")
        self.assertIn("after rotation", self.read_log(log_file))
        with open(log_file + ".1") as f:
            self.assertNotIn("after rotation", f.read())
