"""The homeserver daemon: ``python -m synapse.app.homeserver --config-path homeserver.yaml``."""

from __future__ import annotations

import logging
import sys
from typing import Any

from synapse import __version__
from synapse.api.errors import ConfigError
from synapse.app._base import ListenerError, install_signal_handlers, print_error_and_exit, start
from synapse.config.homeserver import HomeServerConfig, load_or_generate_config
from synapse.config.logger import setup_logging

logger = logging.getLogger("synapse.app.homeserver")


def _config_error_message(error: ConfigError) -> str:
    return str(error) if error.path else f"Error in configuration: {error}"


def setup(config: HomeServerConfig, reactor: Any = None) -> Any:
    """Build the ``HomeServer`` for ``config``, prepare its databases and open its listeners."""
    from synapse.server import HomeServer

    hs = HomeServer(
        config.server.server_name,
        config=config,
        reactor=reactor,
        version_string=f"Synapse/{__version__}",
    )
    logger.info("Setting up server %s", config.server.server_name)
    hs.setup()
    start(hs, config.server.listeners)
    return hs


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and config, start the server, and run until stopped.

    A bad setting or a listener that cannot open ends the process with status 1 and
    one message naming the problem.
    """
    if argv is None:
        argv = sys.argv[1:]
    try:
        config = load_or_generate_config("Synapse Homeserver", argv)
    except ConfigError as e:
        print_error_and_exit(_config_error_message(e))
        return
    if config is None:
        sys.exit(0)

    try:
        setup_logging(config)
    except ConfigError as e:
        print_error_and_exit(_config_error_message(e))
        return

    logger.info("Server %s version %s starting", config.server.server_name, __version__)
    for warning in config.warnings:
        logger.warning("%s", warning)

    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    # A stop asked for while the databases are being prepared takes effect as soon
    # as the reactor runs, and cleanly.
    install_signal_handlers(reactor)

    try:
        setup(config)
    except ConfigError as e:
        logger.error("%s", _config_error_message(e))
        print_error_and_exit(_config_error_message(e))
        return
    except ListenerError as e:
        logger.error("Cannot start: %s", e)
        print_error_and_exit(f"Cannot start: {e}")
        return
    except Exception as e:
        logger.exception("Cannot start")
        print_error_and_exit(f"Cannot start: {type(e).__name__}: {e} (details in the log)")
        return

    reactor.run()
    sys.exit(0)


if __name__ == "__main__":
    main()
