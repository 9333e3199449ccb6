"""The ``server`` section: identity, listeners, and server-wide behaviour."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attr

from synapse.api.room_versions import DEFAULT_ROOM_VERSION, KNOWN_ROOM_VERSIONS, RoomVersion
from synapse.config._base import (
    Config,
    ConfigError,
    Path,
    abspath,
    quote_yaml,
    read_bool,
    read_dict,
    read_duration,
    read_int,
    read_list,
    read_optional_duration,
    read_optional_str,
    read_size,
    read_str,
    read_str_list,
)
from synapse.types import is_valid_server_name

logger = logging.getLogger(__name__)

KNOWN_LISTENER_TYPES = frozenset({"http", "metrics", "manhole", "replication"})

KNOWN_RESOURCES = frozenset(
    {
        "client",
        "consent",
        "federation",
        "health",
        "keys",
        "media",
        "metrics",
        "openid",
        "replication",
        "static",
    }
)

DEFAULT_BIND_ADDRESSES = ["::", "0.0.0.0"]


@attr.s(slots=True, frozen=True, auto_attribs=True)
class HttpResourceConfig:
    """One ``resources`` entry of an http listener."""

    names: list[str]
    compress: bool = False


@attr.s(slots=True, frozen=True, auto_attribs=True)
class HttpListenerConfig:
    """The http-specific options of a listener."""

    x_forwarded: bool = False
    resources: list[HttpResourceConfig] = attr.Factory(list)
    additional_resources: dict[str, Any] = attr.Factory(dict)
    tag: str | None = None
    request_id_header: str | None = None


@attr.s(slots=True, frozen=True, auto_attribs=True)
class ListenerConfig:
    """One entry of ``listeners`` (or ``worker_listeners``)."""

    port: int | None
    bind_addresses: list[str]
    type: str
    tls: bool = False
    http_options: HttpListenerConfig | None = None
    path: str | None = None
    """A unix socket to listen on instead of a port."""

    @property
    def resource_names(self) -> set[str]:
        """Every resource name served by this listener."""
        if self.type == "metrics":
            return {"metrics"}
        if self.http_options is None:
            return set()
        return {name for res in self.http_options.resources for name in res.names}

    def describe(self) -> str:
        """A short description for log lines, e.g. ``http on 127.0.0.1:8008``."""
        if self.path:
            return f"{self.type} on unix:{self.path}"
        return f"{self.type} on {', '.join(self.bind_addresses)} port {self.port}"


def parse_listener_def(num: int, listener: Any, path: Path = ("listeners",)) -> ListenerConfig:
    """Read one listener mapping, naming ``listeners.<num>.<key>`` in errors."""
    lpath = [*path, str(num)]
    if not isinstance(listener, Mapping):
        raise ConfigError("expected a mapping describing a listener", lpath)

    listener_type = read_str(listener, "type", "http", lpath)
    if listener_type not in KNOWN_LISTENER_TYPES:
        raise ConfigError(
            f"unknown listener type {listener_type!r}; expected one of {', '.join(sorted(KNOWN_LISTENER_TYPES))}",
            [*lpath, "type"],
        )

    socket_path = read_optional_str(listener, "path", lpath)
    port: int | None = None
    if socket_path is None:
        port = read_int(listener, "port", None, lpath)
        if port is None:
            raise ConfigError("missing required setting", [*lpath, "port"])
        if not 0 <= port <= 65535:
            raise ConfigError(f"not a valid port number: {port}", [*lpath, "port"])

    bind_addresses = read_str_list(listener, "bind_addresses", lpath)
    bind_address = read_optional_str(listener, "bind_address", lpath)
    if bind_address is not None:
        bind_addresses.append(bind_address)
    if not bind_addresses:
        bind_addresses = list(DEFAULT_BIND_ADDRESSES)

    tls = read_bool(listener, "tls", False, lpath)

    http_options = None
    if listener_type == "http":
        resources = []
        for i, res in enumerate(read_list(listener, "resources", lpath)):
            rpath = [*lpath, "resources", str(i)]
            if not isinstance(res, Mapping):
                raise ConfigError("expected a mapping with 'names'", rpath)
            names = read_str_list(res, "names", rpath)
            for name in names:
                if name not in KNOWN_RESOURCES:
                    raise ConfigError(
                        f"unknown resource {name!r}; expected some of {', '.join(sorted(KNOWN_RESOURCES))}",
                        [*rpath, "names"],
                    )
            resources.append(
                HttpResourceConfig(names=names, compress=read_bool(res, "compress", False, rpath))
            )
        http_options = HttpListenerConfig(
            x_forwarded=read_bool(listener, "x_forwarded", False, lpath),
            resources=resources,
            additional_resources=read_dict(listener, "additional_resources", lpath),
            tag=read_optional_str(listener, "tag", lpath),
            request_id_header=read_optional_str(listener, "request_id_header", lpath),
        )

    return ListenerConfig(
        port=port,
        bind_addresses=bind_addresses,
        type=listener_type,
        tls=tls,
        http_options=http_options,
        path=socket_path,
    )


class ServerConfig(Config):
    """``server_name``, ``public_baseurl``, ``listeners``, ``pid_file`` and server-wide switches."""

    section = "server"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        server_name = read_optional_str(config, "server_name")
        if not server_name:
            raise ConfigError("missing required setting", ["server_name"])
        if not is_valid_server_name(server_name):
            raise ConfigError(f"{server_name!r} is not a valid server name", ["server_name"])
        self.server_name: str = server_name

        public_baseurl = read_optional_str(config, "public_baseurl")
        if public_baseurl is None:
            public_baseurl = f"https://{server_name}/"
        elif not public_baseurl.endswith("/"):
            public_baseurl += "/"
        if not public_baseurl.startswith(("http://", "https://")):
            raise ConfigError("must start with http:// or https://", ["public_baseurl"])
        self.public_baseurl: str = public_baseurl

        pid_file = read_optional_str(config, "pid_file")
        self.pid_file: str | None = abspath(pid_file) if pid_file else None

        self.serve_server_wellknown = read_bool(config, "serve_server_wellknown", False)
        # As in Synapse: the client well-known is served once public_baseurl is set
        # explicitly (an explicit serve_client_wellknown still wins).
        self.serve_client_wellknown = read_bool(
            config, "serve_client_wellknown", config.get("public_baseurl") is not None
        )
        self.extra_well_known_client_content = read_dict(config, "extra_well_known_client_content")
        self.user_agent_suffix = read_optional_str(config, "user_agent_suffix")
        self.use_frozen_dicts = read_bool(config, "use_frozen_dicts", False)
        self.soft_file_limit = read_int(config, "soft_file_limit", 0)
        self.web_client_location = read_optional_str(config, "web_client_location")

        presence = read_dict(config, "presence")
        use_presence = read_bool(config, "use_presence", True)
        if presence.get("enabled") == "untracked":
            # Clients may set their presence, but the server does not work it out.
            self.presence_enabled = False
            self.track_presence = True
        else:
            self.presence_enabled = read_bool(presence, "enabled", use_presence, ["presence"])
            self.track_presence = self.presence_enabled
        self.presence_include_offline_users_on_sync = read_bool(
            presence, "include_offline_users_on_sync", False, ["presence"]
        )

        self.require_membership_for_aliases = read_bool(
            config, "require_membership_for_aliases", True
        )
        self.enable_ephemeral_messages = read_bool(config, "enable_ephemeral_messages", False)
        self.allow_public_rooms_without_auth = read_bool(
            config, "allow_public_rooms_without_auth", False
        )
        self.allow_public_rooms_over_federation = read_bool(
            config, "allow_public_rooms_over_federation", False
        )
        self.block_non_admin_invites = read_bool(config, "block_non_admin_invites", False)
        self.enable_search = read_bool(config, "enable_search", True)
        self.filter_timeline_limit = read_int(config, "filter_timeline_limit", 100)
        self.include_profile_data_on_invite = read_bool(
            config, "include_profile_data_on_invite", True
        )
        self.require_auth_for_profile_requests = read_bool(
            config, "require_auth_for_profile_requests", False
        )
        self.limit_profile_requests_to_users_who_share_rooms = read_bool(
            config, "limit_profile_requests_to_users_who_share_rooms", False
        )
        self.max_avatar_size: int | None = None
        if config.get("max_avatar_size") is not None:
            self.max_avatar_size = read_size(config, "max_avatar_size", 0)
        self.allowed_avatar_mimetypes = read_str_list(config, "allowed_avatar_mimetypes") or None

        # Monthly active user limits.
        self.limit_usage_by_mau = read_bool(config, "limit_usage_by_mau", False)
        max_mau_value = read_int(config, "max_mau_value", 0, minimum=0)
        self.max_mau_value = max_mau_value if self.limit_usage_by_mau else 0
        self.mau_stats_only = read_bool(config, "mau_stats_only", False)
        self.mau_trial_days = read_int(config, "mau_trial_days", 0, minimum=0)
        self.mau_limits_reserved_threepids = read_list(config, "mau_limit_reserved_threepids")
        self.hs_disabled = read_bool(config, "hs_disabled", False)
        self.hs_disabled_message = read_str(config, "hs_disabled_message", "")
        self.admin_contact = read_optional_str(config, "admin_contact")

        room_version_id = config.get("default_room_version")
        if room_version_id is None:
            room_version_id = DEFAULT_ROOM_VERSION
        if isinstance(room_version_id, int) and not isinstance(room_version_id, bool):
            room_version_id = str(room_version_id)
        if not isinstance(room_version_id, str) or room_version_id not in KNOWN_ROOM_VERSIONS:
            raise ConfigError(
                f"unknown room version {room_version_id!r}; known versions: {', '.join(KNOWN_ROOM_VERSIONS)}",
                ["default_room_version"],
            )
        self.default_room_version: RoomVersion = KNOWN_ROOM_VERSIONS[room_version_id]

        self.max_event_delay_ms = read_optional_duration(config, "max_event_delay_duration")
        # Absent means seven days; an explicit null keeps redacted content forever.
        self.redaction_retention_period: int | None = (
            read_optional_duration(config, "redaction_retention_period")
            if "redaction_retention_period" in config
            else read_duration(config, "redaction_retention_period", "7d")
        )
        self.user_ips_max_age = read_duration(config, "user_ips_max_age", "28d")
        self.forgotten_room_retention_period = read_optional_duration(
            config, "forgotten_room_retention_period"
        )
        self.delete_stale_devices_after = read_optional_duration(
            config, "delete_stale_devices_after"
        )
        self.cleanup_extremities_with_dummy_events = read_bool(
            config, "cleanup_extremities_with_dummy_events", True
        )
        self.dummy_events_threshold = read_int(config, "dummy_events_threshold", 10)
        self.request_token_inhibit_3pid_errors = read_bool(
            config, "request_token_inhibit_3pid_errors", False
        )
        self.enable_3pid_changes = read_bool(config, "enable_3pid_changes", True)
        self.enable_set_displayname = read_bool(config, "enable_set_displayname", True)
        self.enable_set_avatar_url = read_bool(config, "enable_set_avatar_url", True)

        self.listeners: list[ListenerConfig] = [
            parse_listener_def(i, listener)
            for i, listener in enumerate(read_list(config, "listeners"))
        ]

    def generate_config_section(
        self,
        config_dir_path: str,
        data_dir_path: str,
        server_name: str,
        generate_secrets: bool = False,
        report_stats: bool | None = None,
        **kwargs: Any,
    ) -> str:
        pid_file = f"{data_dir_path.rstrip('/')}/homeserver.pid"
        if kwargs.get("open_private_ports"):
            bind_addresses = "['::', '0.0.0.0']"
        else:
            bind_addresses = "['::1', '127.0.0.1']"
        return f"""\
## Server ##

# The public name of this homeserver: the domain part of its user IDs
# (@user:SERVERNAME) and room aliases. It cannot be changed once users exist.
server_name: {quote_yaml(server_name)}

# Where to write the process id once started.
pid_file: {quote_yaml(pid_file)}

# The public URL clients and other servers use to reach this server.
# Defaults to https://<server_name>/.
#public_baseurl: https://example.com/

# Serve /.well-known/matrix/server from this server (port 443 delegation).
#serve_server_wellknown: false

# Appended to the User-Agent of outbound requests.
#user_agent_suffix: null

# Presence (online/offline status).
#presence:
#  enabled: true

# Only members of a room may create aliases for it.
#require_membership_for_aliases: true

# Honour the org.matrix.self_destruct_after field of messages.
#enable_ephemeral_messages: false

# The room version of new rooms.
#default_room_version: "{DEFAULT_ROOM_VERSION}"

# Let unauthenticated clients read the public room directory.
#allow_public_rooms_without_auth: false

# Monthly active user limit.
#limit_usage_by_mau: false
#max_mau_value: 0

# The longest a client may ask a delayed event to be delayed (disabled when unset).
#max_event_delay_duration: 24h

# How long redacted events keep their original content.
#redaction_retention_period: 7d

# The ports and interfaces to listen on. Each listener has a port, bind_addresses,
# a type (http or metrics), tls, x_forwarded (trust X-Forwarded-For), and for http
# a list of resources whose names are among: client, federation, keys, media,
# metrics, health, openid, static, replication, consent.
listeners:
  - port: 8008
    tls: false
    type: http
    x_forwarded: true
    bind_addresses: {bind_addresses}
    resources:
      - names: [client, federation]
        compress: false

# A listener for Prometheus metrics (needs enable_metrics: true):
#  - port: 9000
#    type: metrics
#    bind_addresses: ['127.0.0.1']
"""


class ServerNoticesConfig(Config):
    """``server_notices``: the user and room that carry notices from the server to users."""

    section = "server_notices"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        self.server_notices_mxid: str | None = None
        self.server_notices_mxid_display_name: str | None = None
        self.server_notices_mxid_avatar_url: str | None = None
        self.server_notices_room_name = "Server Notices"
        self.server_notices_room_avatar_url: str | None = None
        self.server_notices_room_topic: str | None = None
        self.server_notices_auto_join = False

        if config.get("server_notices") is None:
            return
        c = read_dict(config, "server_notices")
        path = ["server_notices"]
        localpart = read_str(c, "system_mxid_localpart", path=path)
        server_name = read_str(config, "server_name", "")
        self.server_notices_mxid = f"@{localpart}:{server_name}"
        self.server_notices_mxid_display_name = read_optional_str(
            c, "system_mxid_display_name", path
        )
        self.server_notices_mxid_avatar_url = read_optional_str(c, "system_mxid_avatar_url", path)
        self.server_notices_room_name = read_str(c, "room_name", "Server Notices", path)
        self.server_notices_room_avatar_url = read_optional_str(c, "room_avatar_url", path)
        self.server_notices_room_topic = read_optional_str(c, "room_topic", path)
        self.server_notices_auto_join = read_bool(c, "auto_join", False, path)

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
## Server notices ##

# The user and room the server uses to send notices to users. Unset: disabled.
#server_notices:
#  system_mxid_localpart: notices
#  system_mxid_display_name: "Server Notices"
#  room_name: "Server Notices"
"""
