"""The ``caches`` section: how large the in-memory caches may grow."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from synapse.config._base import (
    Config,
    ConfigError,
    read_bool,
    read_dict,
    read_duration,
    read_float,
    read_size,
)

# Cache names are normalised as Synapse does, so that per_cache_factors keys match
# whatever case and punctuation the operator used.
_CACHE_NAME_RE = re.compile(r"[^a-z0-9_]")


def _canonicalise_cache_name(name: str) -> str:
    return _CACHE_NAME_RE.sub("_", name.lower())


class CacheConfig(Config):
    """``caches`` (global_factor, per_cache_factors, sync_response_cache_duration, ...)."""

    section = "caches"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        caches = read_dict(config, "caches")
        path = ["caches"]
        env_factor = os.environ.get("SYNAPSE_CACHE_FACTOR")
        default_factor = float(env_factor) if env_factor else 0.5
        self.global_factor = read_float(caches, "global_factor", default_factor, path)
        if self.global_factor <= 0:
            raise ConfigError("must be positive", [*path, "global_factor"])

        self.cache_factors: dict[str, float] = {}
        for name, factor in read_dict(caches, "per_cache_factors", path).items():
            if isinstance(factor, bool) or not isinstance(factor, (int, float)):
                raise ConfigError("expected a number", [*path, "per_cache_factors", str(name)])
            self.cache_factors[_canonicalise_cache_name(str(name))] = float(factor)
        for env_name, value in os.environ.items():
            if env_name.startswith("SYNAPSE_CACHE_FACTOR_"):
                try:
                    self.cache_factors[_canonicalise_cache_name(env_name[21:])] = float(value)
                except ValueError:
                    raise ConfigError(f"environment variable {env_name} is not a number")

        self.event_cache_size = read_size(config, "event_cache_size", "10K")
        self.sync_response_cache_duration = read_duration(
            caches, "sync_response_cache_duration", "2m", path
        )
        self.expiry_time_msec: int | None = None
        if read_bool(caches, "expire_caches", True, path):
            self.expiry_time_msec = read_duration(caches, "expiry_time", "30m", path)
        self.cache_autotuning = read_dict(caches, "cache_autotuning", path)

    def get_factor_for(self, cache_name: str) -> float:
        """The size factor of one cache: its own if set, else the global one."""
        return self.cache_factors.get(_canonicalise_cache_name(cache_name), self.global_factor)

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
## Caches ##

# Cache sizes are multiplied by global_factor, or by a cache's own factor.
#event_cache_size: 10K
#caches:
#  global_factor: 0.5
#  per_cache_factors:
#    get_users_who_share_room_with_user: 2.0
#  expire_caches: true
#  expiry_time: 30m
#  sync_response_cache_duration: 2m
"""
