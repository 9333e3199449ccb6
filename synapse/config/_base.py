"""The base class of config sections and the typed readers they share.

Every reader takes the mapping to read from, the key, a default, and the path of the
mapping inside the whole config, so that a wrong value is reported as
``Error in configuration at 'rc_login.address.per_second': ...``.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from synapse.api.errors import ConfigError

if TYPE_CHECKING:
    from synapse.config.homeserver import HomeServerConfig

__all__ = [
    "Config",
    "ConfigError",
    "parse_bool",
    "parse_duration",
    "parse_size",
    "read_bool",
    "read_dict",
    "read_duration",
    "read_float",
    "read_int",
    "read_list",
    "read_optional_str",
    "read_size",
    "read_str",
    "read_str_list",
]

T = TypeVar("T")

Path = Sequence[str]

_MISSING: Any = object()

_TRUE_STRINGS = frozenset({"y", "yes", "t", "true", "on", "1"})
_FALSE_STRINGS = frozenset({"n", "no", "f", "false", "off", "0", ""})

# Multipliers of the duration suffixes, in milliseconds.
_DURATION_UNITS = {
    "ms": 1,
    "s": 1000,
    "m": 60 * 1000,
    "h": 60 * 60 * 1000,
    "d": 24 * 60 * 60 * 1000,
    "w": 7 * 24 * 60 * 60 * 1000,
    "y": 365 * 24 * 60 * 60 * 1000,
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)?\s*$")

# Multipliers of the size suffixes, in bytes (binary, as Synapse reads them).
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtb]?)b?\s*$", re.IGNORECASE)


def _path(path: Path, key: str | int) -> list[str]:
    return [*path, str(key)]


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def parse_bool(value: Any, path: Path = ()) -> bool:
    """Read a boolean the lenient way Synapse does.

    ``true``/``false``, the numbers 0 and 1 (any non-zero number is true), ``null``
    (false) and the strings ``yes/no/true/false/on/off/y/n/t/f/1/0`` in any case;
    the empty string is false.
    """
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE_STRINGS:
            return True
        if lowered in _FALSE_STRINGS:
            return False
        raise ConfigError(f"expected a boolean (true or false), got {value!r}", list(path))
    raise ConfigError(f"expected a boolean (true or false), got {_type_name(value)}", list(path))


def parse_duration(value: Any, path: Path = ()) -> int:
    """A duration in milliseconds: a number of ms, or a string such as ``"1h"``, ``"7d"``, ``"500ms"``.

    The suffixes are ms, s, m, h, d, w, y; a string without a suffix is milliseconds.
    """
    if isinstance(value, bool) or value is None:
        raise ConfigError(
            f"expected a duration such as 5000, '30s' or '1h', got {_type_name(value)}", list(path)
        )
    if isinstance(value, (int, float)):
        if value < 0:
            raise ConfigError("a duration cannot be negative", list(path))
        return int(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return int(float(m.group(1)) * _DURATION_UNITS[m.group(2) or "ms"])
        raise ConfigError(
            f"expected a duration such as 5000, '30s' or '1h', got {value!r}", list(path)
        )
    raise ConfigError(
        f"expected a duration such as 5000, '30s' or '1h', got {_type_name(value)}", list(path)
    )


def parse_size(value: Any, path: Path = ()) -> int:
    """A size in bytes: a number of bytes, or a string such as ``"50M"``, ``"10K"``, ``"1G"``."""
    if isinstance(value, bool) or value is None:
        raise ConfigError(
            f"expected a size such as 1024, '10K' or '50M', got {_type_name(value)}", list(path)
        )
    if isinstance(value, (int, float)):
        if value < 0:
            raise ConfigError("a size cannot be negative", list(path))
        return int(value)
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m:
            return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
        raise ConfigError(
            f"expected a size such as 1024, '10K' or '50M', got {value!r}", list(path)
        )
    raise ConfigError(
        f"expected a size such as 1024, '10K' or '50M', got {_type_name(value)}", list(path)
    )


def _get(config: Mapping[str, Any], key: str, default: Any) -> Any:
    """The value at ``key``; an explicit ``null`` counts as absent."""
    value = config.get(key, _MISSING)
    if value is _MISSING or value is None:
        return default
    return value


def _required(key: str, path: Path) -> ConfigError:
    return ConfigError("missing required setting", _path(path, key))


def read_bool(config: Mapping[str, Any], key: str, default: bool, path: Path = ()) -> bool:
    """A lenient boolean (see :func:`parse_bool`); an explicit ``null`` is false as in Synapse."""
    if key not in config:
        return default
    return parse_bool(config[key], _path(path, key))


@overload
def read_int(
    config: Mapping[str, Any], key: str, default: int, path: Path = ..., minimum: int | None = ...
) -> int: ...
@overload
def read_int(
    config: Mapping[str, Any], key: str, default: None, path: Path = ..., minimum: int | None = ...
) -> int | None: ...
def read_int(
    config: Mapping[str, Any],
    key: str,
    default: int | None = _MISSING,
    path: Path = (),
    minimum: int | None = None,
) -> int | None:
    """An integer; a string of digits is accepted, a float or anything else is an error."""
    value = _get(config, key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            raise _required(key, path)
        return default
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"expected an integer, got {_type_name(value)}", _path(path, key))
    if minimum is not None and value < minimum:
        raise ConfigError(f"must be at least {minimum}, got {value}", _path(path, key))
    return value


@overload
def read_float(config: Mapping[str, Any], key: str, default: float, path: Path = ...) -> float: ...
@overload
def read_float(
    config: Mapping[str, Any], key: str, default: None, path: Path = ...
) -> float | None: ...
def read_float(
    config: Mapping[str, Any], key: str, default: float | None = _MISSING, path: Path = ()
) -> float | None:
    """A number (int or float); a numeric string is accepted."""
    value = _get(config, key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            raise _required(key, path)
        return default
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"expected a number, got {value!r}", _path(path, key))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"expected a number, got {_type_name(value)}", _path(path, key))
    return float(value)


def read_str(config: Mapping[str, Any], key: str, default: str = _MISSING, path: Path = ()) -> str:
    """A string; numbers are not silently turned into strings (except where Synapse does)."""
    value = _get(config, key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            raise _required(key, path)
        return default
    if not isinstance(value, str):
        raise ConfigError(f"expected a string, got {_type_name(value)}", _path(path, key))
    return value


def read_optional_str(config: Mapping[str, Any], key: str, path: Path = ()) -> str | None:
    """A string or ``None`` when absent or ``null``."""
    value = _get(config, key, None)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"expected a string, got {_type_name(value)}", _path(path, key))
    return value


def read_duration(
    config: Mapping[str, Any], key: str, default: int | str | None, path: Path = ()
) -> int:
    """A duration in milliseconds (see :func:`parse_duration`); ``default`` may itself be ``"1h"``."""
    value = _get(config, key, _MISSING)
    if value is _MISSING:
        if default is None:
            raise _required(key, path)
        return parse_duration(default, _path(path, key))
    return parse_duration(value, _path(path, key))


def read_optional_duration(config: Mapping[str, Any], key: str, path: Path = ()) -> int | None:
    """A duration in milliseconds, or ``None`` when absent or ``null``."""
    value = _get(config, key, None)
    if value is None:
        return None
    return parse_duration(value, _path(path, key))


def read_size(config: Mapping[str, Any], key: str, default: int | str, path: Path = ()) -> int:
    """A size in bytes (see :func:`parse_size`)."""
    value = _get(config, key, default)
    return parse_size(value, _path(path, key))


def read_dict(
    config: Mapping[str, Any], key: str, path: Path = (), required: bool = False
) -> dict[str, Any]:
    """A mapping; absent or ``null`` is an empty dict (unless ``required``)."""
    value = _get(config, key, _MISSING)
    if value is _MISSING:
        if required:
            raise _required(key, path)
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a mapping, got {_type_name(value)}", _path(path, key))
    return dict(value)


def read_list(
    config: Mapping[str, Any], key: str, path: Path = (), default: list[Any] | None = None
) -> list[Any]:
    """A list; absent or ``null`` is ``default`` (an empty list unless given)."""
    value = _get(config, key, _MISSING)
    if value is _MISSING:
        return list(default) if default is not None else []
    if not isinstance(value, list):
        raise ConfigError(f"expected a list, got {_type_name(value)}", _path(path, key))
    return value


def read_str_list(
    config: Mapping[str, Any], key: str, path: Path = (), default: Iterable[str] | None = None
) -> list[str]:
    """A list of strings."""
    value = read_list(config, key, path, default=list(default) if default is not None else None)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigError(
                f"expected a string, got {_type_name(item)}", [*_path(path, key), str(i)]
            )
    return list(value)


def random_string(length: int) -> str:
    """A random string for generated secrets (letters, digits and a few symbols)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:^&*-_+=#~@"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def abspath(path: str, config_dir_path: str = "") -> str:
    """A path from the config made absolute, relative paths read against the config dir."""
    path = os.path.expanduser(path)
    if not os.path.isabs(path) and config_dir_path:
        path = os.path.join(config_dir_path, path)
    return os.path.abspath(path)


def quote_yaml(value: str) -> str:
    """A string as a double-quoted YAML scalar."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class Config:
    """One section of the homeserver config, e.g. ``server`` or ``database``.

    Subclasses set ``section`` (the attribute name on :class:`HomeServerConfig`), read
    their keys in :meth:`read_config`, and describe them in :meth:`generate_config_section`.
    """

    section: ClassVar[str]

    def __init__(self, root: HomeServerConfig | None = None) -> None:
        self.root = root

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        """Read this section's keys from the whole config dict."""

    def generate_config_section(
        self,
        config_dir_path: str,
        data_dir_path: str,
        server_name: str,
        generate_secrets: bool = False,
        report_stats: bool | None = None,
        **kwargs: Any,
    ) -> str:
        """This section's part of the config file: commented YAML (empty when it has none)."""
        return ""

    def generate_files(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        """Create the extra files this section needs (signing key, log config) when missing."""
