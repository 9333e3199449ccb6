"""The ``logging`` section (``log_config``) and setting up Python logging from it.

The log config is a Python logging ``dictConfig`` in YAML. Whatever it says, every
handler gets :class:`LoggingContextFilter` and every record gets a ``request``
attribute, so formats may use ``%(request)s``. SIGHUP reloads the log config, which
reopens the log files (for logrotate).
"""

from __future__ import annotations

import logging
import logging.config
import os
import sys
from collections.abc import Mapping
from string import Template
from typing import TYPE_CHECKING, Any, cast

import yaml

from synapse.config._base import (
    Config,
    ConfigError,
    abspath,
    quote_yaml,
    read_bool,
    read_optional_str,
)
from synapse.logging.context import LoggingContextFilter, install_log_record_factory

if TYPE_CHECKING:
    from synapse.config.homeserver import HomeServerConfig

logger = logging.getLogger(__name__)

DEFAULT_LOG_FORMAT = (
    "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"
)

DEFAULT_LOG_CONFIG = Template(
    """\
# Log configuration for the homeserver: a Python logging dictConfig
# (https://docs.python.org/3/library/logging.config.html#configuration-dictionary-schema).
# %(request)s is the id of the request a line was logged for ("sentinel" outside one).

version: 1

formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'

handlers:
  file:
    class: logging.handlers.TimedRotatingFileHandler
    formatter: precise
    filename: ${log_file}
    when: midnight
    backupCount: 3
    encoding: utf8

  # Writes to the file in batches, and at once for errors.
  buffer:
    class: synapse.logging.handlers.PeriodicallyFlushingMemoryHandler
    target: file
    capacity: 10
    flushLevel: 30
    period: 5

  console:
    class: logging.StreamHandler
    formatter: precise

loggers:
  synapse.storage.SQL:
    # DEBUG here logs every SQL statement.
    level: INFO

root:
  level: INFO
  handlers: [buffer]

disable_existing_loggers: false
"""
)

_log_config_path: str | None = None
_twisted_logging_started = False


class LoggingConfig(Config):
    """``log_config``: the path of the logging dictConfig YAML (stderr at INFO when unset)."""

    section = "logging"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        log_config = read_optional_str(config, "log_config")
        self.log_config: str | None = abspath(log_config) if log_config else None
        if self.log_config is not None and not os.path.exists(self.log_config):
            raise ConfigError(
                f"the log config {self.log_config} does not exist; create it with --generate-missing-configs",
                ["log_config"],
            )
        self.no_redirect_stdio = read_bool(config, "no_redirect_stdio", False)

    def generate_config_section(
        self,
        config_dir_path: str,
        data_dir_path: str,
        server_name: str,
        generate_secrets: bool = False,
        report_stats: bool | None = None,
        **kwargs: Any,
    ) -> str:
        log_config = os.path.join(config_dir_path, f"{server_name}.log.config")
        return f"""\
## Logging ##

# A Python logging config (dictConfig YAML). Unset: log to stderr at INFO.
log_config: {quote_yaml(log_config)}
"""

    def generate_files(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        log_config = config.get("log_config")
        if isinstance(log_config, str) and not os.path.exists(abspath(log_config)):
            log_file = os.path.join(abspath(data_dir_path or "."), "homeserver.log")
            print(f"Generating log config file {abspath(log_config)} which will log to {log_file}")
            write_default_log_config(abspath(log_config), log_file)


def write_default_log_config(path: str, log_file: str) -> None:
    """Write the default log config, logging to ``log_file``."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
        f.write(DEFAULT_LOG_CONFIG.substitute(log_file=log_file))


def _load_log_config(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            log_config = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"cannot read the log config {path}: {e.strerror}", ["log_config"])
    except yaml.YAMLError as e:
        raise ConfigError(f"the log config {path} is not valid YAML: {e}", ["log_config"])
    if not isinstance(log_config, dict):
        raise ConfigError(f"the log config {path} is not a mapping", ["log_config"])
    log_config.setdefault("version", 1)
    return log_config


def _install_filters() -> None:
    """Put the request filter on every handler of every logger, the root included."""
    context_filter = LoggingContextFilter()
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for lg in loggers:
        for handler in lg.handlers:
            if not any(isinstance(f, LoggingContextFilter) for f in handler.filters):
                handler.addFilter(context_filter)
            target = getattr(handler, "target", None)
            if isinstance(target, logging.Handler) and not any(
                isinstance(f, LoggingContextFilter) for f in target.filters
            ):
                target.addFilter(context_filter)


def _apply_log_config(path: str | None) -> None:
    if path is None:
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(DEFAULT_LOG_FORMAT))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    else:
        log_config = _load_log_config(path)
        try:
            logging.config.dictConfig(log_config)
        except (ValueError, TypeError, AttributeError, ImportError) as e:
            raise ConfigError(f"the log config {path} is not usable: {e}", ["log_config"])
    _install_filters()


def setup_logging(config: HomeServerConfig, redirect_stdio: bool | None = None) -> None:
    """Set up logging for the process from ``config.logging`` (or the default: stderr, INFO).

    Twisted's own log messages go to the ``twisted`` logger. Raises ``ConfigError``
    when the log config cannot be read or used.
    """
    global _log_config_path
    install_log_record_factory()
    log_config = config.logging.log_config
    worker = getattr(config, "worker", None)
    worker_log_config = getattr(worker, "worker_log_config", None)
    if worker_log_config:
        log_config = abspath(worker_log_config)
    _apply_log_config(log_config)
    _log_config_path = log_config

    from twisted.logger import ILogObserver, STDLibLogObserver, globalLogBeginner

    global _twisted_logging_started
    if _twisted_logging_started:
        return
    if redirect_stdio is None:
        redirect_stdio = log_config is not None and not config.logging.no_redirect_stdio
    observer = cast(ILogObserver, STDLibLogObserver(name="twisted"))
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=redirect_stdio)
    _twisted_logging_started = True


def reopen_log_files() -> None:
    """Reload the log config, so that log files are reopened (SIGHUP after logrotate).

    If the log config has become unusable, the current handlers are kept and their
    files are reopened instead.
    """
    if _log_config_path is None:
        return
    try:
        _apply_log_config(_log_config_path)
        logger.info("Reloaded log config from %s after SIGHUP", _log_config_path)
    except ConfigError as e:
        logger.error("Not reloading the log config: %s", e)
        _reopen_file_handlers()


def _reopen_file_handlers() -> None:
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    seen: set[int] = set()
    for lg in loggers:
        for handler in lg.handlers:
            handlers = [handler, getattr(handler, "target", None)]
            for h in handlers:
                if isinstance(h, logging.FileHandler) and id(h) not in seen:
                    seen.add(id(h))
                    h.acquire()
                    try:
                        if h.stream is not None:
                            h.stream.close()
                        h.stream = h._open()
                    finally:
                        h.release()
