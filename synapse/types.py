"""Small shared types: JSON aliases, Matrix identifiers and the authenticated Requester."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, TypeVar

import attr

from synapse.api.errors import Codes, SynapseError

JsonDict = dict[str, Any]
JsonMapping = Mapping[str, Any]
StateKey = tuple[str, str]
T = TypeVar("T")
StateMap = Mapping[StateKey, T]
MutableStateMap = dict[StateKey, T]

_DS = TypeVar("_DS", bound="DomainSpecificString")


@attr.s(slots=True, frozen=True, auto_attribs=True, repr=False)
class DomainSpecificString:
    """An identifier of the form ``<sigil><localpart>:<domain>``."""

    SIGIL = ""
    localpart: str
    domain: str

    @classmethod
    def from_string(cls: type[_DS], s: str) -> _DS:
        if not isinstance(s, str) or len(s) < 1 or s[0:1] != cls.SIGIL:
            raise SynapseError(400, f"Expected {cls.__name__} string to start with '{cls.SIGIL}'", Codes.INVALID_PARAM)
        parts = s[1:].split(":", 1)
        if len(parts) != 2 or not parts[1]:
            raise SynapseError(400, f"Expected {cls.__name__} of the form '{cls.SIGIL}localname:domain'", Codes.INVALID_PARAM)
        return cls(localpart=parts[0], domain=parts[1])

    @classmethod
    def is_valid(cls, s: str) -> bool:
        try:
            obj = cls.from_string(s)
        except Exception:
            return False
        return is_valid_server_name(obj.domain)

    def to_string(self) -> str:
        return f"{self.SIGIL}{self.localpart}:{self.domain}"

    __str__ = to_string

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.to_string()!r})"


@attr.s(slots=True, frozen=True, auto_attribs=True, repr=False)
class UserID(DomainSpecificString):
    SIGIL = "@"


@attr.s(slots=True, frozen=True, auto_attribs=True, repr=False)
class RoomAlias(DomainSpecificString):
    SIGIL = "#"


@attr.s(slots=True, frozen=True, auto_attribs=True, repr=False)
class RoomID(DomainSpecificString):
    SIGIL = "!"


_SERVER_NAME_RE = re.compile(
    r"^(?:\[[0-9A-Fa-f:.]{2,45}\]|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[-0-9A-Za-z.]{1,255})(?::[0-9]{1,5})?$"
)


def is_valid_server_name(server_name: str) -> bool:
    """Whether ``server_name`` matches the spec's server name grammar (host plus optional port)."""
    if not _SERVER_NAME_RE.match(server_name):
        return False
    if ":" in server_name and not server_name.startswith("["):
        port = server_name.rsplit(":", 1)[1]
        return 0 < int(port) < 65536
    if server_name.startswith("[") and "]:" in server_name:
        port = server_name.rsplit("]:", 1)[1]
        return 0 < int(port) < 65536
    return True


def parse_server_name(server_name: str) -> tuple[str, int | None]:
    """Split a server name into host and port; raise ValueError if it is not valid."""
    if not is_valid_server_name(server_name):
        raise ValueError(f"Invalid server name '{server_name}'")
    if server_name.startswith("["):
        host, _, rest = server_name.partition("]")
        return host + "]", int(rest[1:]) if rest else None
    if ":" in server_name:
        host, port = server_name.rsplit(":", 1)
        return host, int(port)
    return server_name, None


# The characters a new user ID's localpart may contain (the spec's user ID grammar).
_VALID_LOCALPART_RE = re.compile(r"^[a-z0-9._=\-/+]+$")
# Historical user IDs may contain any printable ASCII but ':'.
_VALID_HISTORICAL_CHARS = set(string.printable) - set(string.whitespace) - {":"}


def contains_invalid_mxid_characters(localpart: str) -> bool:
    """Whether the localpart has characters the spec does not allow in new user IDs."""
    return _VALID_LOCALPART_RE.match(localpart) is None


def is_valid_historical_localpart(localpart: str) -> bool:
    return bool(localpart) and all(c in _VALID_HISTORICAL_CHARS for c in localpart)


@attr.s(slots=True, frozen=True, auto_attribs=True)
class Requester:
    """Who made a request: the user, the device, and how they authenticated."""

    user: UserID
    access_token_id: int | None = None
    is_guest: bool = False
    device_id: str | None = None
    app_service_id: str | None = None
    authenticated_entity: str | None = None
    shadow_banned: bool = False

    def __attrs_post_init__(self) -> None:
        if self.authenticated_entity is None:
            object.__setattr__(self, "authenticated_entity", self.user.to_string())


def create_requester(
    user_id: str | UserID,
    access_token_id: int | None = None,
    is_guest: bool = False,
    device_id: str | None = None,
    app_service_id: str | None = None,
    authenticated_entity: str | None = None,
) -> Requester:
    if isinstance(user_id, str):
        user_id = UserID.from_string(user_id)
    return Requester(
        user=user_id,
        access_token_id=access_token_id,
        is_guest=is_guest,
        device_id=device_id,
        app_service_id=app_service_id,
        authenticated_entity=authenticated_entity,
    )
