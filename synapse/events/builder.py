"""Building new events: fill in the DAG fields, hash and sign, and make the event object.

Pure: the caller passes the prev and auth events, the clock value and the signing key.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Mapping
from typing import Any, Union

import attr
from signedjson.types import SigningKey
from unpaddedbase64 import encode_base64

from synapse.api.constants import MAX_DEPTH, EventTypes
from synapse.api.room_versions import RoomVersion
from synapse.crypto.event_signing import (
    add_hashes_and_signatures,
    compute_event_reference_hash,
)
from synapse.events import EventBase, make_event_from_dict
from synapse.types import JsonDict

# Depths are capped where canonical JSON integers end (v6+), else at the int64 limit.
MAX_DEPTH_STRICT = 2**53 - 1

# A reference to an earlier event: its ID, or for room versions 1 and 2 the pair of its
# ID and its reference hashes ({"sha256": "<unpadded base64>"}).
EventReference = Union[str, tuple[str, Mapping[str, str]]]

_ID_CHARS = string.ascii_letters


def random_string(length: int) -> str:
    """A random string of ASCII letters."""
    return "".join(secrets.choice(_ID_CHARS) for _ in range(length))


def max_depth_for(room_version: RoomVersion) -> int:
    """The largest depth an event of ``room_version`` may have."""
    return MAX_DEPTH_STRICT if room_version.strict_canonicaljson else MAX_DEPTH


def compute_depth(room_version: RoomVersion, prev_depths: Iterable[int]) -> int:
    """The depth of a new event: the largest depth of its prev events plus one, capped."""
    return min(max(prev_depths, default=0) + 1, max_depth_for(room_version))


def event_reference(event: EventBase) -> EventReference:
    """How a new event of the same room refers to ``event`` in prev_events/auth_events."""
    if event.room_version.event_ids_in_events:
        _, digest = compute_event_reference_hash(event.get_pdu_json(), event.room_version)
        return (event.event_id, {"sha256": encode_base64(digest)})
    return event.event_id


def _format_references(room_version: RoomVersion, refs: Iterable[EventReference]) -> list[Any]:
    out: list[Any] = []
    if room_version.event_ids_in_events:
        for ref in refs:
            if isinstance(ref, str) or len(ref) != 2:
                raise ValueError(
                    f"Room version {room_version.identifier} needs [event_id, hashes] references"
                )
            out.append([ref[0], dict(ref[1])])
    else:
        for ref in refs:
            out.append(ref if isinstance(ref, str) else ref[0])
    return out


@attr.s(slots=True, auto_attribs=True, kw_only=True)
class EventBuilder:
    """The fields of a new event that its creator chooses.

    For room version 12 create events ``room_id`` is None: the room ID is derived from
    the event. ``redacts`` goes to ``content`` from room version 11, else to the top level.
    """

    room_version: RoomVersion
    type: str
    sender: str
    room_id: str | None
    content: JsonDict = attr.Factory(dict)
    state_key: str | None = None
    redacts: str | None = None
    unsigned: JsonDict = attr.Factory(dict)
    internal_metadata: JsonDict = attr.Factory(dict)

    def is_state(self) -> bool:
        return self.state_key is not None

    def _is_hydra_create(self) -> bool:
        return self.room_version.hydra and self.type == EventTypes.Create and self.state_key == ""

    def build_pdu_dict(
        self,
        *,
        prev_events: Iterable[EventReference],
        auth_events: Iterable[EventReference],
        origin_server_ts: int,
        depth: int | None = None,
        prev_depths: Iterable[int] = (),
        server_name: str | None = None,
        event_id_localpart: str | None = None,
    ) -> JsonDict:
        """The unsigned PDU dict (no hashes or signatures yet).

        ``depth`` defaults to :func:`compute_depth` of ``prev_depths``. ``server_name``
        (the sender's server by default) names the event ID of room versions 1 and 2,
        whose local part is ``event_id_localpart`` or random.
        """
        rv = self.room_version
        content = dict(self.content)
        if (
            self.type == EventTypes.Create
            and not rv.implicit_room_creator
            and "creator" not in content
        ):
            content["creator"] = self.sender
        if self.redacts is not None and rv.updated_redaction_rules:
            content["redacts"] = self.redacts

        pdu: JsonDict = {
            "type": self.type,
            "sender": self.sender,
            "content": content,
            "prev_events": _format_references(rv, prev_events),
            "auth_events": _format_references(rv, auth_events),
            "depth": depth if depth is not None else compute_depth(rv, prev_depths),
            "origin_server_ts": origin_server_ts,
        }
        if self._is_hydra_create():
            if self.room_id is not None:
                raise ValueError("Room version 12 create events have no room_id")
        else:
            if self.room_id is None:
                raise ValueError("room_id is required")
            pdu["room_id"] = self.room_id
        if self.state_key is not None:
            pdu["state_key"] = self.state_key
        if self.redacts is not None and not rv.updated_redaction_rules:
            pdu["redacts"] = self.redacts
        if rv.event_ids_in_events:
            if server_name is None:
                server_name = self.sender.split(":", 1)[1]
            localpart = event_id_localpart or random_string(18)
            pdu["event_id"] = f"${localpart}:{server_name}"
        if self.unsigned:
            pdu["unsigned"] = dict(self.unsigned)
        return pdu

    def build(
        self,
        *,
        prev_events: Iterable[EventReference],
        auth_events: Iterable[EventReference],
        origin_server_ts: int,
        signing_key: SigningKey,
        server_name: str,
        depth: int | None = None,
        prev_depths: Iterable[int] = (),
        event_id_localpart: str | None = None,
    ) -> EventBase:
        """Fill in the DAG fields, hash, sign as ``server_name`` and make the event."""
        pdu = self.build_pdu_dict(
            prev_events=prev_events,
            auth_events=auth_events,
            origin_server_ts=origin_server_ts,
            depth=depth,
            prev_depths=prev_depths,
            server_name=server_name,
            event_id_localpart=event_id_localpart,
        )
        add_hashes_and_signatures(self.room_version, pdu, server_name, signing_key)
        return make_event_from_dict(pdu, self.room_version, self.internal_metadata or None)


def room_id_for_create_event(create_event: EventBase) -> str:
    """The room ID that a room version 12 create event gives its room."""
    return "!" + create_event.event_id[1:]
