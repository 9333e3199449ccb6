"""Small shared types: JSON aliases, Matrix identifiers and the authenticated Requester."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

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
            raise SynapseError(
                400,
                f"Expected {cls.__name__} string to start with '{cls.SIGIL}'",
                Codes.INVALID_PARAM,
            )
        parts = s[1:].split(":", 1)
        if len(parts) != 2 or not parts[1]:
            raise SynapseError(
                400,
                f"Expected {cls.__name__} of the form '{cls.SIGIL}localname:domain'",
                Codes.INVALID_PARAM,
            )
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


# --- stream positions -------------------------------------------------------------------


class StreamKeyType:
    """The streams a sync token has one position in, named as ``StreamToken`` attributes."""

    ROOM = "room_key"
    PRESENCE = "presence_key"
    TYPING = "typing_key"
    RECEIPT = "receipt_key"
    ACCOUNT_DATA = "account_data_key"
    PUSH_RULES = "push_rules_key"
    TO_DEVICE = "to_device_key"
    DEVICE_LIST = "device_list_key"
    GROUPS = "groups_key"
    UN_PARTIAL_STATED_ROOMS = "un_partial_stated_rooms_key"


@attr.s(slots=True, frozen=True, auto_attribs=True, order=False)
class RoomStreamToken:
    """A position in the room event stream.

    ``s<stream>`` is a live position: every event with ``stream_ordering <= stream``.
    ``t<topological>-<stream>`` is a pagination position in the (depth, stream) order of
    one room: every event with ``(topological_ordering, stream_ordering) <= (t, s)``.
    """

    stream: int
    topological: int | None = None

    @classmethod
    def parse(cls, string: str) -> RoomStreamToken:
        try:
            if string[0] == "s":
                return cls(stream=int(string[1:]))
            if string[0] == "t":
                topo, stream = string[1:].split("-", 1)
                return cls(stream=int(stream), topological=int(topo))
        except (ValueError, IndexError):
            pass
        raise SynapseError(400, f"Invalid room stream token {string!r}", Codes.INVALID_PARAM)

    @classmethod
    def parse_stream_token(cls, string: str) -> RoomStreamToken:
        """Parse a token that must be a live (``s``) position."""
        if string[:1] == "s":
            return cls.parse(string)
        raise SynapseError(400, f"Invalid stream token {string!r}", Codes.INVALID_PARAM)

    def to_string(self) -> str:
        if self.topological is not None:
            return f"t{self.topological}-{self.stream}"
        return f"s{self.stream}"

    __str__ = to_string

    def as_tuple(self) -> tuple[int | None, int]:
        return (self.topological, self.stream)

    def copy_and_advance(self, other: RoomStreamToken) -> RoomStreamToken:
        """The later of two live positions (a stream token, topology dropped)."""
        return RoomStreamToken(stream=max(self.stream, other.stream))

    def is_after(self, other: RoomStreamToken) -> bool:
        return self.stream > other.stream

    def is_before_or_eq(self, other: RoomStreamToken) -> bool:
        return self.stream <= other.stream


@attr.s(slots=True, frozen=True, auto_attribs=True)
class PersistedEventPosition:
    """Where an event landed in the room stream, and which process wrote it."""

    instance_name: str
    stream: int

    def to_room_stream_token(self) -> RoomStreamToken:
        return RoomStreamToken(stream=self.stream)

    def persisted_after(self, token: RoomStreamToken) -> bool:
        return self.stream > token.stream


_TOKEN_SEPARATOR = "_"
_INT_STREAM_KEYS = (
    StreamKeyType.PRESENCE,
    StreamKeyType.TYPING,
    StreamKeyType.RECEIPT,
    StreamKeyType.ACCOUNT_DATA,
    StreamKeyType.PUSH_RULES,
    StreamKeyType.TO_DEVICE,
    StreamKeyType.DEVICE_LIST,
    StreamKeyType.GROUPS,
    StreamKeyType.UN_PARTIAL_STATED_ROOMS,
)


@attr.s(slots=True, frozen=True, auto_attribs=True)
class StreamToken:
    """One position per stream: what a ``/sync`` ``next_batch`` stands for.

    Serialised as ``s<room>_<presence>_<typing>_<receipt>_<account_data>_<push_rules>_
    <to_device>_<device_list>_<groups>_<un_partial_stated_rooms>``; clients treat it as opaque.
    """

    room_key: RoomStreamToken
    presence_key: int = 0
    typing_key: int = 0
    receipt_key: int = 0
    account_data_key: int = 0
    push_rules_key: int = 0
    to_device_key: int = 0
    device_list_key: int = 0
    groups_key: int = 0
    un_partial_stated_rooms_key: int = 0

    START: ClassVar[StreamToken]

    @classmethod
    def from_string(cls, string: str) -> StreamToken:
        parts = string.split(_TOKEN_SEPARATOR)
        if not parts or len(parts) > 1 + len(_INT_STREAM_KEYS):
            raise SynapseError(400, f"Invalid stream token {string!r}", Codes.INVALID_PARAM)
        room_key = RoomStreamToken.parse(parts[0])
        try:
            ints = [int(p) for p in parts[1:]]
        except ValueError:
            raise SynapseError(
                400, f"Invalid stream token {string!r}", Codes.INVALID_PARAM
            ) from None
        # Older tokens may carry fewer streams; missing ones start at zero.
        return cls(room_key, **dict(zip(_INT_STREAM_KEYS, ints, strict=False)))

    def to_string(self) -> str:
        return _TOKEN_SEPARATOR.join(
            [self.room_key.to_string()] + [str(getattr(self, k)) for k in _INT_STREAM_KEYS]
        )

    __str__ = to_string

    def get_field(self, key: str) -> Any:
        return getattr(self, key)

    def copy_and_advance(self, key: str, new_value: Any) -> StreamToken:
        """This token with stream ``key`` moved forward to ``new_value`` (never backwards)."""
        if key == StreamKeyType.ROOM:
            if isinstance(new_value, int):
                new_value = RoomStreamToken(stream=new_value)
            return attr.evolve(self, room_key=self.room_key.copy_and_advance(new_value))
        if new_value <= getattr(self, key):
            return self
        return attr.evolve(self, **{key: new_value})

    def copy_and_replace(self, key: str, new_value: Any) -> StreamToken:
        """This token with stream ``key`` set to ``new_value``."""
        if key == StreamKeyType.ROOM and isinstance(new_value, int):
            new_value = RoomStreamToken(stream=new_value)
        return attr.evolve(self, **{key: new_value})

    def is_after(self, other: StreamToken) -> bool:
        """Whether any stream of this token is ahead of ``other``."""
        if self.room_key.is_after(other.room_key):
            return True
        return any(getattr(self, k) > getattr(other, k) for k in _INT_STREAM_KEYS)


StreamToken.START = StreamToken(RoomStreamToken(stream=0))
