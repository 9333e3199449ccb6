"""The ``rc_*`` rate limits, each ``{per_second, burst_count}``, with Synapse's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attr

from synapse.config._base import (
    Config,
    ConfigError,
    Path,
    read_dict,
    read_duration,
    read_float,
    read_int,
)


@attr.s(slots=True, frozen=True, auto_attribs=True)
class RatelimitSettings:
    """A token bucket: ``burst_count`` actions at once, refilled at ``per_second`` actions a second."""

    per_second: float
    burst_count: float
    key: str = ""

    @classmethod
    def parse(
        cls,
        config: Mapping[str, Any],
        key: str,
        per_second: float,
        burst_count: float,
        path: Path = (),
    ) -> RatelimitSettings:
        """Read ``config[key]``; a field left out keeps its default."""
        section = read_dict(config, key, path)
        spath = [*path, key]
        return cls(
            per_second=read_float(section, "per_second", per_second, spath),
            burst_count=read_float(section, "burst_count", burst_count, spath),
            key=".".join(spath),
        )


@attr.s(slots=True, frozen=True, auto_attribs=True)
class LoginRatelimits:
    """``rc_login``: per client address, per account, and per account after failed attempts."""

    address: RatelimitSettings
    account: RatelimitSettings
    failed_attempts: RatelimitSettings


@attr.s(slots=True, frozen=True, auto_attribs=True)
class FederationRatelimitSettings:
    """``rc_federation``: how requests from one remote server are slowed down and rejected."""

    window_size: int = 1000
    """The window, in milliseconds, over which requests are counted."""
    sleep_limit: int = 10
    """Requests beyond this many in a window are delayed..."""
    sleep_delay: int = 500
    """...by this many milliseconds each."""
    reject_limit: int = 50
    """Requests beyond this many in a window are rejected."""
    concurrent: int = 3
    """Requests from one server processed at the same time."""


class RatelimitConfig(Config):
    """Every ``rc_*`` key; the join, invite and login limits are also flat attributes as in Synapse."""

    section = "ratelimiting"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        rs = RatelimitSettings.parse

        self.rc_message = rs(config, "rc_message", 0.2, 10)
        self.rc_registration = rs(config, "rc_registration", 0.17, 3)
        self.rc_registration_token_validity = rs(config, "rc_registration_token_validity", 0.1, 5)

        rc_login = read_dict(config, "rc_login")
        self.rc_login = LoginRatelimits(
            address=rs(rc_login, "address", 0.003, 5, ["rc_login"]),
            account=rs(rc_login, "account", 0.003, 5, ["rc_login"]),
            failed_attempts=rs(rc_login, "failed_attempts", 0.17, 3, ["rc_login"]),
        )
        self.rc_login_address = self.rc_login.address
        self.rc_login_account = self.rc_login.account
        self.rc_login_failed_attempts = self.rc_login.failed_attempts

        self.rc_admin_redaction: RatelimitSettings | None = None
        if config.get("rc_admin_redaction") is not None:
            self.rc_admin_redaction = rs(config, "rc_admin_redaction", 1, 50)

        rc_joins = read_dict(config, "rc_joins")
        self.rc_joins_local = rs(rc_joins, "local", 0.1, 10, ["rc_joins"])
        self.rc_joins_remote = rs(rc_joins, "remote", 0.01, 10, ["rc_joins"])
        self.rc_joins_per_room = rs(config, "rc_joins_per_room", 1, 10)

        self.rc_3pid_validation = rs(config, "rc_3pid_validation", 0.003, 5)

        rc_invites = read_dict(config, "rc_invites")
        self.rc_invites_per_room = rs(rc_invites, "per_room", 0.3, 10, ["rc_invites"])
        self.rc_invites_per_user = rs(rc_invites, "per_user", 0.003, 5, ["rc_invites"])
        self.rc_invites_per_issuer = rs(rc_invites, "per_issuer", 0.3, 10, ["rc_invites"])

        self.rc_third_party_invite = rs(config, "rc_third_party_invite", 0.0025, 5)
        self.rc_room_creation = rs(config, "rc_room_creation", 0.016, 10)
        self.rc_media_create = rs(config, "rc_media_create", 10, 50)

        rc_presence = read_dict(config, "rc_presence")
        self.rc_presence_per_user = rs(rc_presence, "per_user", 0.1, 1, ["rc_presence"])

        self.rc_delayed_event_mgmt = rs(config, "rc_delayed_event_mgmt", 1, 5)
        self.rc_reports = rs(config, "rc_reports", 1, 5)
        self.rc_user_directory = rs(config, "rc_user_directory", 0.016, 200)
        self.rc_profile = rs(config, "rc_profile", 1, 10)
        self.rc_key_requests = rs(config, "rc_key_requests", 20, 100)

        self.rc_federation = self._read_federation(config)
        self.federation_rr_transactions_per_room_per_second = read_int(
            config, "federation_rr_transactions_per_room_per_second", 50, minimum=1
        )

    @staticmethod
    def _read_federation(config: Mapping[str, Any]) -> FederationRatelimitSettings:
        # Before rc_federation, the same settings were top-level federation_rc_* keys.
        if "rc_federation" in config:
            section: Mapping[str, Any] = read_dict(config, "rc_federation")
            path: list[str] = ["rc_federation"]
            prefix = ""
        else:
            section = config
            path = []
            prefix = "federation_rc_"
        settings = FederationRatelimitSettings(
            window_size=read_duration(section, prefix + "window_size", 1000, path),
            sleep_limit=read_int(section, prefix + "sleep_limit", 10, path, minimum=0),
            sleep_delay=read_duration(section, prefix + "sleep_delay", 500, path),
            reject_limit=read_int(section, prefix + "reject_limit", 50, path, minimum=0),
            concurrent=read_int(section, prefix + "concurrent", 3, path, minimum=0),
        )
        if settings.window_size <= 0:
            raise ConfigError("must be positive", [*path, prefix + "window_size"])
        return settings

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
## Rate limits ##

# Each limit is a token bucket: burst_count actions at once, refilled at
# per_second actions a second. The values below are the defaults.
#rc_message:
#  per_second: 0.2
#  burst_count: 10
#rc_registration:
#  per_second: 0.17
#  burst_count: 3
#rc_registration_token_validity:
#  per_second: 0.1
#  burst_count: 5
#rc_login:
#  address:
#    per_second: 0.003
#    burst_count: 5
#  account:
#    per_second: 0.003
#    burst_count: 5
#  failed_attempts:
#    per_second: 0.17
#    burst_count: 3
#rc_joins:
#  local:
#    per_second: 0.1
#    burst_count: 10
#  remote:
#    per_second: 0.01
#    burst_count: 10
#rc_joins_per_room:
#  per_second: 1
#  burst_count: 10
#rc_3pid_validation:
#  per_second: 0.003
#  burst_count: 5
#rc_invites:
#  per_room:
#    per_second: 0.3
#    burst_count: 10
#  per_user:
#    per_second: 0.003
#    burst_count: 5
#  per_issuer:
#    per_second: 0.3
#    burst_count: 10
#rc_third_party_invite:
#  per_second: 0.0025
#  burst_count: 5
#rc_room_creation:
#  per_second: 0.016
#  burst_count: 10
#rc_media_create:
#  per_second: 10
#  burst_count: 50
#rc_presence:
#  per_user:
#    per_second: 0.1
#    burst_count: 1
#rc_delayed_event_mgmt:
#  per_second: 1
#  burst_count: 5
#rc_reports:
#  per_second: 1
#  burst_count: 5
#rc_user_directory:
#  per_second: 0.016
#  burst_count: 200
#rc_key_requests:
#  per_second: 20
#  burst_count: 100
# Redactions by server admins (no limit unless set):
#rc_admin_redaction:
#  per_second: 1
#  burst_count: 50

# Requests from one remote server: requests beyond sleep_limit in a window of
# window_size are delayed by sleep_delay; beyond reject_limit they are rejected;
# at most 'concurrent' are processed at once.
#rc_federation:
#  window_size: 1000
#  sleep_limit: 10
#  sleep_delay: 500
#  reject_limit: 50
#  concurrent: 3

# Transactions per room per second sent to other servers for read receipts.
#federation_rr_transactions_per_room_per_second: 50
"""
