"""The ``room_directory`` section: who may publish rooms and create aliases."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

import attr

from synapse.config._base import Config, ConfigError, Path, read_bool, read_list, read_str


@attr.s(slots=True, frozen=True, auto_attribs=True)
class RoomDirectoryRule:
    """One rule: the first rule whose globs all match decides (``allow`` or ``deny``)."""

    action: str
    user_id: re.Pattern[str]
    alias: re.Pattern[str]
    room_id: re.Pattern[str]

    def matches(self, user_id: str, room_id: str | None, aliases: list[str] | None) -> bool:
        if not self.user_id.match(user_id):
            return False
        if room_id is not None and not self.room_id.match(room_id):
            return False
        if aliases is not None and self.alias.pattern != _ANY.pattern:
            if not aliases:
                return False
            return any(self.alias.match(a) for a in aliases)
        return True


_ANY = re.compile(fnmatch.translate("*"))


def _parse_rules(rules: list[Any], path: Path) -> list[RoomDirectoryRule]:
    parsed = []
    for i, rule in enumerate(rules):
        rpath = [*path, str(i)]
        if not isinstance(rule, Mapping):
            raise ConfigError("expected a mapping with 'action'", rpath)
        action = read_str(rule, "action", path=rpath)
        if action not in ("allow", "deny"):
            raise ConfigError("must be 'allow' or 'deny'", [*rpath, "action"])
        parsed.append(
            RoomDirectoryRule(
                action=action,
                user_id=re.compile(fnmatch.translate(read_str(rule, "user_id", "*", rpath))),
                alias=re.compile(fnmatch.translate(read_str(rule, "alias", "*", rpath))),
                room_id=re.compile(fnmatch.translate(read_str(rule, "room_id", "*", rpath))),
            )
        )
    return parsed


def _decide(
    rules: list[RoomDirectoryRule], user_id: str, room_id: str | None, aliases: list[str] | None
) -> bool:
    for rule in rules:
        if rule.matches(user_id, room_id, aliases):
            return rule.action == "allow"
    return False


class RoomDirectoryConfig(Config):
    """``room_list_publication_rules``, ``alias_creation_rules`` and ``enable_room_list_search``."""

    section = "room_directory"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        self.enable_room_list_search = read_bool(config, "enable_room_list_search", True)
        default_allow = [{"user_id": "*", "alias": "*", "room_id": "*", "action": "allow"}]
        self._alias_creation_rules = _parse_rules(
            read_list(config, "alias_creation_rules", default=default_allow),
            ["alias_creation_rules"],
        )
        self._room_list_publication_rules = _parse_rules(
            read_list(config, "room_list_publication_rules", default=default_allow),
            ["room_list_publication_rules"],
        )

    def is_alias_creation_allowed(self, user_id: str, room_id: str, alias: str) -> bool:
        return _decide(self._alias_creation_rules, user_id, room_id, [alias])

    def is_publishing_room_allowed(self, user_id: str, room_id: str, aliases: list[str]) -> bool:
        return _decide(self._room_list_publication_rules, user_id, room_id, aliases)

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
## Room directory ##

#enable_room_list_search: true

# Who may create aliases and publish rooms: the first rule whose user_id, alias
# and room_id globs match decides; with no match, the action is denied.
#alias_creation_rules:
#  - user_id: "*"
#    alias: "*"
#    room_id: "*"
#    action: allow
#room_list_publication_rules:
#  - user_id: "*"
#    alias: "*"
#    room_id: "*"
#    action: allow
"""
