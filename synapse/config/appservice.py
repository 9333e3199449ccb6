"""The ``appservice`` section: registration files of application services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from synapse.config._base import Config, ConfigError, abspath, read_bool, read_str_list


class AppServiceConfig(Config):
    """``app_service_config_files``; each file is read and checked for the keys every registration has."""

    section = "appservice"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        self.app_service_config_files = [
            abspath(p, config_dir_path) for p in read_str_list(config, "app_service_config_files")
        ]
        self.track_appservice_user_ips = read_bool(config, "track_appservice_user_ips", False)
        self.app_service_registrations: list[dict[str, Any]] = []
        seen_ids: set[str] = set()
        for i, path in enumerate(self.app_service_config_files):
            key_path = ["app_service_config_files", str(i)]
            try:
                with open(path) as f:
                    registration = yaml.safe_load(f)
            except OSError as e:
                raise ConfigError(f"cannot read {path}: {e.strerror}", key_path)
            except yaml.YAMLError as e:
                raise ConfigError(f"{path} is not valid YAML: {e}", key_path)
            if not isinstance(registration, dict):
                raise ConfigError(f"{path} is not a mapping", key_path)
            for required in ("id", "as_token", "hs_token", "sender_localpart"):
                if not isinstance(registration.get(required), str):
                    raise ConfigError(f"{path} has no '{required}' string", key_path)
            if registration["id"] in seen_ids:
                raise ConfigError(
                    f"{path} repeats the application service id {registration['id']!r}", key_path
                )
            seen_ids.add(registration["id"])
            self.app_service_registrations.append(registration)

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
## Application services ##

# Registration files of the application services (bridges, bots) to load.
#app_service_config_files:
#  - app_service_1.yaml
"""
