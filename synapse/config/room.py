"""The ``room`` section: defaults applied to new rooms and what invitees see before joining."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synapse.config._base import Config, ConfigError, read_bool, read_dict, read_list, read_str

ROOM_PRESETS = ("private_chat", "trusted_private_chat", "public_chat")

DEFAULT_PREJOIN_STATE_TYPES = [
    "m.room.join_rules",
    "m.room.canonical_alias",
    "m.room.avatar",
    "m.room.encryption",
    "m.room.name",
    "m.room.create",
    "m.room.topic",
]


class RoomConfig(Config):
    """``encryption_enabled_by_default_for_room_type``, ``default_power_level_content_override``, ``room_prejoin_state``."""

    section = "room"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        encryption = read_str(config, "encryption_enabled_by_default_for_room_type", "off")
        if encryption == "all":
            self.encryption_enabled_by_default_for_room_presets = list(ROOM_PRESETS)
        elif encryption == "invite":
            self.encryption_enabled_by_default_for_room_presets = [
                "private_chat",
                "trusted_private_chat",
            ]
        elif encryption == "off":
            self.encryption_enabled_by_default_for_room_presets = []
        else:
            raise ConfigError(
                "must be one of all, invite, off", ["encryption_enabled_by_default_for_room_type"]
            )

        overrides = read_dict(config, "default_power_level_content_override")
        for preset, content in overrides.items():
            if preset not in ROOM_PRESETS:
                raise ConfigError(
                    f"unknown preset; use one of {', '.join(ROOM_PRESETS)}",
                    ["default_power_level_content_override", str(preset)],
                )
            if content is not None and not isinstance(content, Mapping):
                raise ConfigError(
                    "expected a mapping", ["default_power_level_content_override", str(preset)]
                )
        self.default_power_level_content_override: dict[str, Any] = overrides
        self.forget_on_leave = read_bool(config, "forget_rooms_on_leave", False)

        prejoin = read_dict(config, "room_prejoin_state")
        path = ["room_prejoin_state"]
        types: list[tuple[str, str | None]] = []
        if not read_bool(prejoin, "disable_default_event_types", False, path):
            types = [(t, None) for t in DEFAULT_PREJOIN_STATE_TYPES]
        for i, entry in enumerate(read_list(prejoin, "additional_event_types", path)):
            if isinstance(entry, str):
                types.append((entry, None))
            elif (
                isinstance(entry, list)
                and len(entry) == 2
                and all(isinstance(x, str) for x in entry)
            ):
                types.append((entry[0], entry[1]))
            else:
                raise ConfigError(
                    "expected an event type or a [type, state_key] pair",
                    [*path, "additional_event_types", str(i)],
                )
        self.room_prejoin_state: list[tuple[str, str | None]] = types

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
## Rooms ##

# Turn on end-to-end encryption in new rooms: all, invite (private rooms) or off.
#encryption_enabled_by_default_for_room_type: off

# The state events invitees and knockers see before joining.
#room_prejoin_state:
#  disable_default_event_types: false
#  additional_event_types:
#    - org.example.custom.event.type
"""


class ExperimentalConfig(Config):
    """``experimental_features``: kept as given, for features still behind a flag."""

    section = "experimental"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        self.features: dict[str, Any] = read_dict(config, "experimental_features")

    def enabled(self, name: str) -> bool:
        """Whether ``experimental_features.<name>`` is set to a true value."""
        return bool(self.features.get(name))
