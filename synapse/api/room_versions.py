"""The room versions of the Matrix specification and the properties that set them apart."""

from __future__ import annotations

import attr


class EventFormatVersions:
    """How events are shaped on the wire."""

    ROOM_V1_V2 = 1  # event_id is in the event, chosen by the origin server
    ROOM_V3 = 2  # event_id is the reference hash, standard base64
    ROOM_V4_PLUS = 3  # event_id is the reference hash, URL-safe base64
    ROOM_V11_HYDRA_PLUS = 4  # as v4, and the room ID is the create event's reference hash


KNOWN_EVENT_FORMAT_VERSIONS = {
    EventFormatVersions.ROOM_V1_V2,
    EventFormatVersions.ROOM_V3,
    EventFormatVersions.ROOM_V4_PLUS,
    EventFormatVersions.ROOM_V11_HYDRA_PLUS,
}


class StateResolutionVersions:
    V1 = 1  # room version 1
    V2 = 2  # room versions 2 to 11
    V2_1 = 3  # room version 12: iterative auth checks from empty state, conflicted subgraph


class RoomDisposition:
    STABLE = "stable"
    UNSTABLE = "unstable"


@attr.s(slots=True, frozen=True, auto_attribs=True)
class RoomVersion:
    """The features of one room version."""

    identifier: str
    disposition: str
    event_format: int
    state_res: int
    # Signing keys must be valid (valid_until_ts) at the event's origin_server_ts (v5+).
    enforce_key_validity: bool
    # m.room.aliases has special auth rules (v1-v5).
    special_case_aliases_auth: bool
    # Integers must be in [-(2**53)+1, (2**53)-1], no floats (v6+).
    strict_canonicaljson: bool
    # The "notifications" key of power levels is protected by auth rules (v6+).
    limit_notifications_power_levels: bool
    # The create event has no "creator" key: the sender is the creator (v11+).
    implicit_room_creator: bool
    # The redaction algorithm of room version 11.
    updated_redaction_rules: bool
    # restricted join rule (v8+).
    restricted_join_rule: bool
    # join_authorised_via_users_server kept on redaction (v9+).
    restricted_join_rule_fix: bool
    # knock join rule (v7+).
    knock_join_rule: bool
    # knock_restricted join rule (v10+).
    knock_restricted_join_rule: bool
    # Power level values must be integers, not strings (v10+).
    enforce_int_power_levels: bool
    # The room ID is derived from the create event; creators have infinite power (v12).
    hydra: bool

    @property
    def event_ids_in_events(self) -> bool:
        return self.event_format == EventFormatVersions.ROOM_V1_V2


class RoomVersions:
    V1 = RoomVersion(
        "1",
        RoomDisposition.STABLE,
        EventFormatVersions.ROOM_V1_V2,
        StateResolutionVersions.V1,
        enforce_key_validity=False,
        special_case_aliases_auth=True,
        strict_canonicaljson=False,
        limit_notifications_power_levels=False,
        implicit_room_creator=False,
        updated_redaction_rules=False,
        restricted_join_rule=False,
        restricted_join_rule_fix=False,
        knock_join_rule=False,
        knock_restricted_join_rule=False,
        enforce_int_power_levels=False,
        hydra=False,
    )
    V2 = attr.evolve(V1, identifier="2", state_res=StateResolutionVersions.V2)
    V3 = attr.evolve(V2, identifier="3", event_format=EventFormatVersions.ROOM_V3)
    V4 = attr.evolve(V3, identifier="4", event_format=EventFormatVersions.ROOM_V4_PLUS)
    V5 = attr.evolve(V4, identifier="5", enforce_key_validity=True)
    V6 = attr.evolve(
        V5,
        identifier="6",
        special_case_aliases_auth=False,
        strict_canonicaljson=True,
        limit_notifications_power_levels=True,
    )
    V7 = attr.evolve(V6, identifier="7", knock_join_rule=True)
    V8 = attr.evolve(V7, identifier="8", restricted_join_rule=True)
    V9 = attr.evolve(V8, identifier="9", restricted_join_rule_fix=True)
    V10 = attr.evolve(
        V9, identifier="10", knock_restricted_join_rule=True, enforce_int_power_levels=True
    )
    V11 = attr.evolve(
        V10, identifier="11", implicit_room_creator=True, updated_redaction_rules=True
    )
    V12 = attr.evolve(
        V11,
        identifier="12",
        event_format=EventFormatVersions.ROOM_V11_HYDRA_PLUS,
        state_res=StateResolutionVersions.V2_1,
        hydra=True,
    )


KNOWN_ROOM_VERSIONS: dict[str, RoomVersion] = {
    v.identifier: v
    for v in (
        RoomVersions.V1,
        RoomVersions.V2,
        RoomVersions.V3,
        RoomVersions.V4,
        RoomVersions.V5,
        RoomVersions.V6,
        RoomVersions.V7,
        RoomVersions.V8,
        RoomVersions.V9,
        RoomVersions.V10,
        RoomVersions.V11,
        RoomVersions.V12,
    )
}

DEFAULT_ROOM_VERSION = RoomVersions.V10.identifier
