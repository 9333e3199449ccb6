"""``HomeServerConfig``: every config section, and the command line that loads or generates it."""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import yaml

from synapse.config._base import Config, ConfigError
from synapse.config.appservice import AppServiceConfig
from synapse.config.caches import CacheConfig
from synapse.config.database import DatabaseConfig
from synapse.config.federation import FederationConfig
from synapse.config.key import KeyConfig
from synapse.config.logger import LoggingConfig
from synapse.config.media import MediaConfig
from synapse.config.metrics import MetricsConfig
from synapse.config.ratelimiting import RatelimitConfig
from synapse.config.redis import RedisConfig
from synapse.config.registration import CaptchaConfig, RegistrationConfig
from synapse.config.room import ExperimentalConfig, RoomConfig
from synapse.config.room_directory import RoomDirectoryConfig
from synapse.config.server import ServerConfig, ServerNoticesConfig
from synapse.config.tls import TlsConfig
from synapse.config.user_directory import UserDirectoryConfig
from synapse.config.workers import WorkerConfig

__all__ = ["HomeServerConfig", "load_or_generate_config", "read_config_files"]

# Keys of features this server does not have yet: accepted, ignored, warned about once.
UNSUPPORTED_KEYS = frozenset(
    {
        "account_threepid_delegates",
        "account_validity",
        "auto_accept_invites",
        "background_updates",
        "cas_config",
        "daemonize",
        "email",
        "enable_group_creation",
        "gc_min_interval",
        "gc_thresholds",
        "group_creation_prefix",
        "jwt_config",
        "limit_remote_rooms",
        "login_via_existing_session",
        "manhole_settings",
        "matrix_authentication_service",
        "matrix_rtc",
        "media_retention",
        "media_storage_providers",
        "metrics_flags",
        "modules",
        "oidc_config",
        "oidc_providers",
        "opentracing",
        "password_providers",
        "push",
        "retention",
        "saml2_config",
        "sentry",
        "spam_checker",
        "sso",
        "stats",
        "templates",
        "third_party_event_rules",
        "turn_allow_guests",
        "turn_password",
        "turn_shared_secret",
        "turn_uris",
        "turn_user_lifetime",
        "turn_username",
        "ui_auth",
        "user_consent",
        "user_types",
    }
)

# Keys read by the command line or by scripts rather than by a section.
OTHER_KNOWN_KEYS = frozenset({"print_pidfile", "worker_main_http_uri", "worker_replication_host"})

_T = TypeVar("_T")


class _TrackingDict(dict[str, Any]):
    """The top-level config dict, remembering which keys the sections looked at."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_keys: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read_keys.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read_keys.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read_keys.add(key)
        return super().__contains__(key)


class _ClassOrInstanceMethod(Generic[_T]):
    """``HomeServerConfig.parse_config_dict(d)`` builds a new config;
    ``config.parse_config_dict(d)`` fills in an existing one. Both return it."""

    def __init__(self, func: Callable[..., None]) -> None:
        self.func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    def __get__(self, obj: _T | None, objtype: type[_T]) -> Callable[..., _T]:
        def bound(*args: Any, **kwargs: Any) -> _T:
            target = obj if obj is not None else objtype()
            self.func(target, *args, **kwargs)
            return target

        return bound


class HomeServerConfig:
    """The whole homeserver config: one attribute per section (``config.server``, ...)."""

    config_classes: tuple[type[Config], ...] = (
        ServerConfig,
        ServerNoticesConfig,
        LoggingConfig,
        DatabaseConfig,
        KeyConfig,
        TlsConfig,
        RegistrationConfig,
        CaptchaConfig,
        RatelimitConfig,
        MediaConfig,
        CacheConfig,
        MetricsConfig,
        FederationConfig,
        RoomConfig,
        RoomDirectoryConfig,
        UserDirectoryConfig,
        AppServiceConfig,
        RedisConfig,
        WorkerConfig,
        ExperimentalConfig,
    )

    server: ServerConfig
    server_notices: ServerNoticesConfig
    logging: LoggingConfig
    database: DatabaseConfig
    key: KeyConfig
    tls: TlsConfig
    registration: RegistrationConfig
    captcha: CaptchaConfig
    ratelimiting: RatelimitConfig
    media: MediaConfig
    caches: CacheConfig
    metrics: MetricsConfig
    federation: FederationConfig
    room: RoomConfig
    room_directory: RoomDirectoryConfig
    user_directory: UserDirectoryConfig
    appservice: AppServiceConfig
    redis: RedisConfig
    worker: WorkerConfig
    experimental: ExperimentalConfig

    def __init__(self, config_files: Iterable[str] = ()) -> None:
        self.config_files = list(config_files)
        self.config_dir_path = ""
        self.data_dir_path = ""
        self.warnings: list[str] = []
        """One line per ignored or deprecated key, for the log at start-up."""
        self.raw: dict[str, Any] = {}
        for cls in self.config_classes:
            setattr(self, cls.section, cls(self))

    def _sections(self) -> list[Config]:
        return [getattr(self, cls.section) for cls in self.config_classes]

    def _parse_config_dict(
        self, config_dict: Mapping[str, Any], config_dir_path: str = "", data_dir_path: str = ""
    ) -> None:
        if not isinstance(config_dict, Mapping):
            raise ConfigError("the config must be a mapping of settings")
        self.config_dir_path = config_dir_path
        self.data_dir_path = data_dir_path
        self.raw = dict(config_dict)
        tracked = _TrackingDict(config_dict)
        for section in self._sections():
            section.read_config(tracked, config_dir_path, data_dir_path)

        self.warnings = list(self.key.key_server_warnings)
        for key in sorted(set(config_dict) - tracked.read_keys - OTHER_KNOWN_KEYS, key=str):
            if key in UNSUPPORTED_KEYS:
                self.warnings.append(
                    f"Config key '{key}' is for a feature this server does not support yet; ignoring it"
                )
            else:
                self.warnings.append(f"Unknown config key '{key}'; ignoring it")

    parse_config_dict: _ClassOrInstanceMethod[HomeServerConfig] = _ClassOrInstanceMethod(
        _parse_config_dict
    )
    """Read every section from ``config_dict``; raises ``ConfigError`` naming the bad key."""

    @property
    def server_name(self) -> str:
        return self.server.server_name

    def generate_config(
        self,
        config_dir_path: str,
        data_dir_path: str,
        server_name: str,
        generate_secrets: bool = False,
        report_stats: bool | None = None,
        **kwargs: Any,
    ) -> str:
        """The text of a commented config file, every section's part in order."""
        header = """\
# Configuration file for the homeserver.
#
# This is a YAML file: see [1] for a quick introduction. Note in particular that
# *indentation is important*: all the elements of a list or dictionary should
# have the same indentation.
#
# Lines starting '#' show settings with their default values; remove the '#'
# to change one.
#
# [1] https://docs.ansible.com/ansible/latest/reference_appendices/YAMLSyntax.html

"""
        parts = [
            section.generate_config_section(
                config_dir_path,
                data_dir_path,
                server_name,
                generate_secrets,
                report_stats,
                **kwargs,
            )
            for section in self._sections()
        ]
        return header + "\n\n".join(p.rstrip("\n") + "\n" for p in parts if p.strip())

    def generate_missing_files(
        self,
        config_dict: Mapping[str, Any],
        config_dir_path: str,
        data_dir_path: str,
        only_keys: bool = False,
    ) -> None:
        """Create the signing key and log config the config names, if they do not exist yet."""
        for section in self._sections():
            if only_keys and not isinstance(section, KeyConfig):
                continue
            section.generate_files(config_dict, config_dir_path, data_dir_path)

    @classmethod
    def load_or_generate_config(cls, description: str, argv: list[str]) -> HomeServerConfig | None:
        return load_or_generate_config(description, argv)


def _expand_config_paths(paths: Iterable[str]) -> list[str]:
    """Config files in order: a directory stands for its ``*.yaml`` files, sorted by name."""
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            entries = sorted(
                e
                for e in os.listdir(path)
                if e.endswith(".yaml") and os.path.isfile(os.path.join(path, e))
            )
            files.extend(os.path.join(path, e) for e in entries)
        else:
            files.append(path)
    return files


def read_config_file(path: str) -> dict[str, Any]:
    """One YAML config file as a dict (an empty file is an empty dict)."""
    try:
        with open(path) as f:
            content = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist")
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}")
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}")
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(
            f"config file {path} should hold a mapping of settings, not {type(content).__name__}"
        )
    return content


def read_config_files(paths: Iterable[str]) -> dict[str, Any]:
    """The top-level keys of every file merged in order: a later file wins."""
    merged: dict[str, Any] = {}
    for path in paths:
        merged.update(read_config_file(path))
    return merged


def _build_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "-c",
        "--config-path",
        action="append",
        metavar="CONFIG_FILE",
        help="A config file, or a directory of *.yaml config files. May be given several "
        "times; later files win.",
    )
    parser.add_argument(
        "--keys-directory",
        metavar="DIRECTORY",
        help="Where generated files such as signing keys and the log config go, and "
        "what relative key paths are read against (default: the config file's directory).",
    )
    parser.add_argument(
        "--config-directory",
        "--config-dir",
        metavar="DIRECTORY",
        help="With --generate-config: where the signing key and log config go "
        "(default: the config file's directory; --keys-directory takes precedence).",
    )
    parser.add_argument(
        "--data-directory",
        metavar="DIRECTORY",
        help="Where the database, media and log files go when the config does not say "
        "(default: the current directory).",
    )
    parser.add_argument(
        "-n",
        "--no-redirect-stdio",
        action="store_true",
        help="Do not send stdout and stderr to the log.",
    )
    group = parser.add_argument_group("Config generation")
    group.add_argument(
        "--generate-config",
        action="store_true",
        help="Write a config file (and signing key and log config) and exit. With an "
        "existing config file, only create the missing files.",
    )
    group.add_argument(
        "--generate-missing-configs",
        "--generate-missing-config",
        action="store_true",
        help="Create any missing files the config names (signing key, log config), then exit.",
    )
    group.add_argument(
        "--generate-keys",
        action="store_true",
        help="Create the signing key if it is missing, then exit.",
    )
    group.add_argument("-H", "--server-name", help="The server name to generate a config for.")
    group.add_argument(
        "--open-private-ports",
        action="store_true",
        help="With --generate-config: listen on every interface, not only on localhost "
        "(for containers).",
    )
    group.add_argument(
        "--report-stats",
        choices=["yes", "no"],
        help="Whether the generated config reports anonymous usage statistics.",
    )
    return parser


def load_or_generate_config(description: str, argv: list[str]) -> HomeServerConfig | None:
    """Run the command line: generate files and return None, or return the parsed config.

    Raises ``ConfigError`` for a missing or invalid setting; exits through argparse
    (status 2) for malformed arguments.
    """
    parser = _build_parser(description)
    args = parser.parse_args(argv)

    if not args.config_path:
        raise ConfigError(
            "Must supply a config file (--config-path). A config file can be generated with "
            '"--generate-config --server-name SERVER_NAME --config-path CONFIG_FILE --report-stats=yes|no".'
        )

    config_files = _expand_config_paths(args.config_path)
    data_dir_path = os.path.abspath(args.data_directory or os.getcwd())
    generate_missing = bool(args.generate_missing_configs)

    if args.generate_config:
        config_path = args.config_path[-1]
        if os.path.isdir(config_path):
            config_path = os.path.join(config_path, "homeserver.yaml")
        config_path = os.path.abspath(config_path)
        config_dir_path = os.path.abspath(
            args.keys_directory or args.config_directory or os.path.dirname(config_path)
        )
        if not os.path.exists(config_path):
            if args.report_stats is None:
                raise ConfigError("Please specify either --report-stats=yes or --report-stats=no")
            if not args.server_name:
                raise ConfigError(
                    "Must specify a server name to generate a config for (--server-name)."
                )
            text = HomeServerConfig().generate_config(
                config_dir_path=config_dir_path,
                data_dir_path=data_dir_path,
                server_name=args.server_name,
                generate_secrets=True,
                report_stats=args.report_stats == "yes",
                open_private_ports=args.open_private_ports,
            )
            os.makedirs(os.path.dirname(config_path), exist_ok=True)
            with open(config_path, "w") as f:
                f.write(text)
            config_dict = read_config_file(config_path)
            HomeServerConfig().generate_missing_files(config_dict, config_dir_path, data_dir_path)
            print(
                f"A config file has been generated in {config_path!r} for server name "
                f"{args.server_name!r}. Please review this file and customise it to your needs."
            )
            return None
        print(f"Config file {config_path!r} already exists. Generating any missing config files.")
        generate_missing = True

    if not config_files:
        raise ConfigError(f"no *.yaml config files found in {', '.join(args.config_path)}")
    config_dir_path = os.path.abspath(
        args.keys_directory or os.path.dirname(os.path.abspath(config_files[-1]))
    )
    config_dict = read_config_files(config_files)

    if generate_missing or args.generate_keys:
        HomeServerConfig(config_files).generate_missing_files(
            config_dict, config_dir_path, data_dir_path, only_keys=not generate_missing
        )
        return None

    config = HomeServerConfig.parse_config_dict(config_dict, config_dir_path, data_dir_path)
    config.config_files = config_files
    if args.no_redirect_stdio:
        config.logging.no_redirect_stdio = True
    return config
