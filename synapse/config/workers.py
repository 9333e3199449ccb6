"""The ``worker`` section: the worker this process is, and which instance does what."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attr

from synapse.config._base import (
    Config,
    ConfigError,
    read_bool,
    read_dict,
    read_int,
    read_list,
    read_optional_str,
    read_str,
)
from synapse.config.server import ListenerConfig, parse_listener_def

MAIN_PROCESS_INSTANCE_NAME = "master"

STREAM_WRITER_STREAMS = (
    "events",
    "typing",
    "to_device",
    "account_data",
    "receipts",
    "presence",
    "push_rules",
)


@attr.s(slots=True, frozen=True, auto_attribs=True)
class InstanceLocationConfig:
    """Where to reach another instance's replication listener."""

    host: str | None = None
    port: int | None = None
    tls: bool = False
    path: str | None = None


@attr.s(slots=True, frozen=True, auto_attribs=True)
class WriterLocations:
    """The instances allowed to write each stream (``stream_writers``)."""

    events: list[str] = attr.Factory(lambda: [MAIN_PROCESS_INSTANCE_NAME])
    typing: list[str] = attr.Factory(lambda: [MAIN_PROCESS_INSTANCE_NAME])
    to_device: list[str] = attr.Factory(lambda: [MAIN_PROCESS_INSTANCE_NAME])
    account_data: list[str] = attr.Factory(lambda: [MAIN_PROCESS_INSTANCE_NAME])
    receipts: list[str] = attr.Factory(lambda: [MAIN_PROCESS_INSTANCE_NAME])
    presence: list[str] = attr.Factory(lambda: [MAIN_PROCESS_INSTANCE_NAME])
    push_rules: list[str] = attr.Factory(lambda: [MAIN_PROCESS_INSTANCE_NAME])


def _instance_list(value: Any, path: list[str]) -> list[str]:
    """A stream writer entry: one instance name or a list of them."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError("expected an instance name or a list of instance names", path)


class WorkerConfig(Config):
    """``worker_app``, ``worker_name``, ``worker_listeners``, ``instance_map``, ``stream_writers``, ..."""

    section = "worker"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        self.worker_app = read_optional_str(config, "worker_app")
        if self.worker_app == "synapse.app.homeserver":
            self.worker_app = None
        self.worker_name = read_optional_str(config, "worker_name")
        self.instance_name = self.worker_name or MAIN_PROCESS_INSTANCE_NAME
        if self.worker_app is not None and not self.worker_name:
            raise ConfigError("a worker needs a worker_name", ["worker_name"])

        self.worker_listeners: list[ListenerConfig] = [
            parse_listener_def(i, li, ["worker_listeners"])
            for i, li in enumerate(read_list(config, "worker_listeners"))
        ]
        self.worker_daemonize = read_bool(config, "worker_daemonize", False)
        self.worker_pid_file = read_optional_str(config, "worker_pid_file")
        self.worker_log_config = read_optional_str(config, "worker_log_config")
        self.worker_replication_secret = read_optional_str(config, "worker_replication_secret")

        self.instance_map: dict[str, InstanceLocationConfig] = {}
        for name, loc in read_dict(config, "instance_map").items():
            path = ["instance_map", str(name)]
            if not isinstance(loc, Mapping):
                raise ConfigError("expected a mapping with host and port, or path", path)
            socket_path = read_optional_str(loc, "path", path)
            if socket_path is None:
                self.instance_map[str(name)] = InstanceLocationConfig(
                    host=read_str(loc, "host", path=path),
                    port=read_int(loc, "port", None, path),
                    tls=read_bool(loc, "tls", False, path),
                )
                if self.instance_map[str(name)].port is None:
                    raise ConfigError("missing required setting", [*path, "port"])
            else:
                self.instance_map[str(name)] = InstanceLocationConfig(path=socket_path)

        writers = read_dict(config, "stream_writers")
        values: dict[str, list[str]] = {}
        for stream, value in writers.items():
            path = ["stream_writers", str(stream)]
            if stream not in STREAM_WRITER_STREAMS:
                raise ConfigError(
                    f"unknown stream; known streams: {', '.join(STREAM_WRITER_STREAMS)}", path
                )
            values[stream] = _instance_list(value, path)
            if not values[stream]:
                raise ConfigError("needs at least one instance", path)
        self.writers = WriterLocations(**values)
        for stream in ("typing", "to_device", "account_data", "receipts", "presence", "push_rules"):
            if len(getattr(self.writers, stream)) > 1:
                raise ConfigError(
                    "only one instance may write this stream", ["stream_writers", stream]
                )
        for stream in STREAM_WRITER_STREAMS:
            for instance in getattr(self.writers, stream):
                if (
                    instance not in (MAIN_PROCESS_INSTANCE_NAME, "main")
                    and instance not in self.instance_map
                ):
                    raise ConfigError(
                        f"instance {instance!r} writes a stream but is not in instance_map",
                        ["stream_writers", stream],
                    )

        start_pushers = read_bool(config, "start_pushers", True)
        pusher_instances = read_list(config, "pusher_instances")
        self.pusher_instances = (
            _instance_list(pusher_instances, ["pusher_instances"]) if pusher_instances else []
        )
        if not self.pusher_instances and start_pushers:
            self.pusher_instances = [MAIN_PROCESS_INSTANCE_NAME]
        self.start_pushers = self.instance_name in self.pusher_instances

        self.run_background_tasks_on = read_str(
            config, "run_background_tasks_on", MAIN_PROCESS_INSTANCE_NAME
        )
        self.run_background_tasks = self.instance_name == self.run_background_tasks_on
        self.update_user_directory_from_worker = read_optional_str(
            config, "update_user_directory_from_worker"
        )
        self.notify_appservices_from_worker = read_optional_str(
            config, "notify_appservices_from_worker"
        )

    def generate_config_section(
        self,
        config_dir_path: str,
        data_dir_path: str,
        server_name: str,
        generate_secrets: bool = False,
        report_stats: bool | None = None,
        **kwargs: Any,
    ) -> str:
        return """\
## Workers ##

# Where each instance's replication listener is.
#instance_map:
#  main:
#    host: localhost
#    port: 8034

# The instances that write each stream (events, typing, to_device,
# account_data, receipts, presence, push_rules).
#stream_writers:
#  events: master

#run_background_tasks_on: master
"""
