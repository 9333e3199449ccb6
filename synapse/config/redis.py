"""The ``redis`` section: the connection workers use to talk to each other."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synapse.config._base import Config, read_bool, read_dict, read_int, read_optional_str, read_str


class RedisConfig(Config):
    """``redis``: enabled, host, port, password, dbid, path (unix socket), use_tls."""

    section = "redis"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        redis = read_dict(config, "redis")
        path = ["redis"]
        self.redis_enabled = read_bool(redis, "enabled", False, path)
        self.redis_host = read_str(redis, "host", "localhost", path)
        self.redis_port = read_int(redis, "port", 6379, path)
        self.redis_path = read_optional_str(redis, "path", path)
        self.redis_dbid = read_int(redis, "dbid", None, path)
        self.redis_password = read_optional_str(redis, "password", path)
        self.redis_use_tls = read_bool(redis, "use_tls", False, path)

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
## Redis ##

# Needed when running workers.
#redis:
#  enabled: false
#  host: localhost
#  port: 6379
#  password: <secret>
"""
