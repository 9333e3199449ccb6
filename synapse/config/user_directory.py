"""The ``user_directory`` section: searching for users."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synapse.config._base import Config, read_bool, read_dict


class UserDirectoryConfig(Config):
    """``user_directory``: enabled, search_all_users, prefer_local_users, show_locked_users."""

    section = "user_directory"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        ud = read_dict(config, "user_directory")
        path = ["user_directory"]
        self.user_directory_search_enabled = read_bool(ud, "enabled", True, path)
        self.user_directory_search_all_users = read_bool(ud, "search_all_users", False, path)
        self.user_directory_search_prefer_local_users = read_bool(
            ud, "prefer_local_users", False, path
        )
        self.user_directory_exclude_remote_users = read_bool(
            ud, "exclude_remote_users", False, path
        )
        self.show_locked_users = read_bool(ud, "show_locked_users", False, path)

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
## User directory ##

# search_all_users: find every local user, not only those sharing a room or in
# a public room with the searcher.
#user_directory:
#  enabled: true
#  search_all_users: false
#  prefer_local_users: false
"""
