"""Event classes, one per event format, over the event's plain JSON dict.

An event is immutable once built. Its wire form is the dict it was made from; the
classes only give typed, cheap access to it. ``make_event_from_dict`` picks the class
for a room version.
"""

from __future__ import annotations

from typing import Any

from unpaddedbase64 import encode_base64

from synapse.api.constants import EventTypes
from synapse.api.room_versions import EventFormatVersions, RoomVersion
from synapse.types import JsonDict


class EventInternalMetadata:
    """What this server knows about an event beyond its wire form; never sent out."""

    __slots__ = (
        "outlier",
        "out_of_band_membership",
        "txn_id",
        "token_id",
        "device_id",
        "stream_ordering",
        "instance_name",
        "send_on_behalf_of",
        "soft_failed",
        "proactively_send",
        "redacted",
        "policy_server_spammy",
    )

    def __init__(self, d: JsonDict | None = None) -> None:
        d = d or {}
        self.outlier: bool = bool(d.get("outlier", False))
        self.out_of_band_membership: bool = bool(d.get("out_of_band_membership", False))
        self.txn_id: str | None = d.get("txn_id")
        self.token_id: int | None = d.get("token_id")
        self.device_id: str | None = d.get("device_id")
        self.stream_ordering: int | None = d.get("stream_ordering")
        self.instance_name: str | None = d.get("instance_name")
        self.send_on_behalf_of: str | None = d.get("send_on_behalf_of")
        self.soft_failed: bool = bool(d.get("soft_failed", False))
        self.proactively_send: bool = bool(d.get("proactively_send", True))
        self.redacted: bool = bool(d.get("redacted", False))
        self.policy_server_spammy: bool = False

    def get_dict(self) -> JsonDict:
        """The fields worth storing (those that differ from the defaults)."""
        out: JsonDict = {}
        for k in self.__slots__:
            v = getattr(self, k)
            if k in ("stream_ordering", "instance_name", "policy_server_spammy"):
                continue
            if k == "proactively_send":
                if not v:
                    out[k] = v
            elif v:
                out[k] = v
        return out

    def is_outlier(self) -> bool:
        return self.outlier


class EventBase:
    """An event of any format. Subclasses say how event IDs and references are shaped."""

    __slots__ = (
        "_dict",
        "room_version",
        "signatures",
        "unsigned",
        "internal_metadata",
        "rejected_reason",
        "_event_id",
    )

    format_version: int = EventFormatVersions.ROOM_V1_V2

    def __init__(
        self,
        event_dict: JsonDict,
        room_version: RoomVersion,
        internal_metadata_dict: JsonDict | None = None,
        rejected_reason: str | None = None,
    ) -> None:
        event_dict = dict(event_dict)
        self.signatures: JsonDict = event_dict.pop("signatures", {}) or {}
        self.unsigned: JsonDict = dict(event_dict.pop("unsigned", {}) or {})
        self._dict = event_dict
        self.room_version = room_version
        self.internal_metadata = EventInternalMetadata(internal_metadata_dict)
        self.rejected_reason = rejected_reason
        self._event_id: str | None = None

    # --- fields ---------------------------------------------------------------------
    @property
    def event_id(self) -> str:
        raise NotImplementedError

    @property
    def room_id(self) -> str:
        return self._dict["room_id"]

    @property
    def sender(self) -> str:
        return self._dict["sender"]

    @property
    def type(self) -> str:
        return self._dict["type"]

    @property
    def content(self) -> JsonDict:
        return self._dict.get("content", {})

    @property
    def depth(self) -> int:
        return self._dict.get("depth", 0)

    @property
    def origin_server_ts(self) -> int:
        return self._dict.get("origin_server_ts", 0)

    @property
    def hashes(self) -> JsonDict:
        return self._dict.get("hashes", {})

    @property
    def state_key(self) -> str:
        """The state key; raises AttributeError for a non-state event (use is_state())."""
        try:
            return self._dict["state_key"]
        except KeyError:
            raise AttributeError("state_key") from None

    def get_state_key(self) -> str | None:
        return self._dict.get("state_key")

    def is_state(self) -> bool:
        return "state_key" in self._dict

    @property
    def membership(self) -> str:
        return self.content["membership"]

    @property
    def redacts(self) -> str | None:
        """The event a redaction redacts: content.redacts from v11, the top-level key before."""
        if self.type != EventTypes.Redaction:
            return None
        if self.room_version.updated_redaction_rules:
            r = self.content.get("redacts")
            if isinstance(r, str):
                return r
        r = self._dict.get("redacts")
        return r if isinstance(r, str) else None

    def prev_event_ids(self) -> list[str]:
        return list(self._dict.get("prev_events", []))

    def auth_event_ids(self) -> list[str]:
        return list(self._dict.get("auth_events", []))

    def get(self, key: str, default: Any = None) -> Any:
        return self._dict.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self._dict

    # --- serialisation --------------------------------------------------------------
    def get_dict(self) -> JsonDict:
        """The event's JSON with signatures and unsigned (a fresh shallow copy)."""
        d = dict(self._dict)
        d["signatures"] = self.signatures
        d["unsigned"] = dict(self.unsigned)
        return d

    def get_pdu_json(self, time_now: int | None = None) -> JsonDict:
        """The federation form: age in unsigned instead of age_ts, no local-only fields."""
        pdu = self.get_dict()
        unsigned = pdu["unsigned"]
        if time_now is not None and "age_ts" in unsigned:
            unsigned["age"] = time_now - unsigned.pop("age_ts")
        else:
            unsigned.pop("age_ts", None)
        unsigned.pop("redacted_because", None)
        unsigned.pop("transaction_id", None)
        if not unsigned:
            del pdu["unsigned"]
        return pdu

    def get_templated_pdu_json(self) -> JsonDict:
        """The PDU without signatures and unsigned: what the content hash covers."""
        return dict(self._dict)

    def is_redacted(self) -> bool:
        return self.internal_metadata.redacted

    def __repr__(self) -> str:
        sk = self.get_state_key()
        sk_part = f", state_key={sk!r}" if sk is not None else ""
        return (
            f"<{self.__class__.__name__} event_id={self.event_id!r}, type={self.type!r}{sk_part}>"
        )


class FrozenEvent(EventBase):
    """Room versions 1 and 2: the event ID is in the event; references are [id, hashes] pairs."""

    format_version = EventFormatVersions.ROOM_V1_V2

    @property
    def event_id(self) -> str:
        return self._dict["event_id"]

    def prev_event_ids(self) -> list[str]:
        return [e for e, _ in self._dict.get("prev_events", [])]

    def auth_event_ids(self) -> list[str]:
        return [e for e, _ in self._dict.get("auth_events", [])]


class FrozenEventV2(EventBase):
    """Room version 3: the event ID is the reference hash in standard unpadded base64."""

    format_version = EventFormatVersions.ROOM_V3

    def _reference_hash_b64(self, urlsafe: bool) -> str:
        from synapse.crypto.event_signing import compute_event_reference_hash

        # The reference hash leaves out signatures and unsigned, which _dict lacks.
        _, digest = compute_event_reference_hash(self._dict, self.room_version)
        return encode_base64(digest, urlsafe=urlsafe)

    @property
    def event_id(self) -> str:
        if self._event_id is None:
            self._event_id = "$" + self._reference_hash_b64(urlsafe=False)
        return self._event_id


class FrozenEventV3(FrozenEventV2):
    """Room versions 4 to 11: the event ID is the reference hash in URL-safe base64."""

    format_version = EventFormatVersions.ROOM_V4_PLUS

    @property
    def event_id(self) -> str:
        if self._event_id is None:
            self._event_id = "$" + self._reference_hash_b64(urlsafe=True)
        return self._event_id


class FrozenEventV4(FrozenEventV3):
    """Room version 12: the create event has no room_id; the room ID is its reference hash."""

    format_version = EventFormatVersions.ROOM_V11_HYDRA_PLUS

    @property
    def room_id(self) -> str:
        if self._dict.get("type") == EventTypes.Create and self._dict.get("state_key") == "":
            return "!" + self.event_id[1:]
        return self._dict["room_id"]


_FORMAT_CLASSES: dict[int, type[EventBase]] = {
    EventFormatVersions.ROOM_V1_V2: FrozenEvent,
    EventFormatVersions.ROOM_V3: FrozenEventV2,
    EventFormatVersions.ROOM_V4_PLUS: FrozenEventV3,
    EventFormatVersions.ROOM_V11_HYDRA_PLUS: FrozenEventV4,
}


def make_event_from_dict(
    event_dict: JsonDict,
    room_version: RoomVersion,
    internal_metadata_dict: JsonDict | None = None,
    rejected_reason: str | None = None,
) -> EventBase:
    """Build the event class for ``room_version`` around a PDU dict."""
    cls = _FORMAT_CLASSES[room_version.event_format]
    return cls(event_dict, room_version, internal_metadata_dict, rejected_reason)
