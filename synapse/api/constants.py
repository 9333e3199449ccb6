"""Constants of the Matrix protocol: event types, memberships, join rules and the like."""

from __future__ import annotations

from typing import Final

MAX_PDU_SIZE: Final = 65536
MAX_USERID_LENGTH: Final = 255
MAX_ALIAS_LENGTH: Final = 255
MAX_DEPTH: Final = 2**63 - 1


class Membership:
    INVITE: Final = "invite"
    JOIN: Final = "join"
    KNOCK: Final = "knock"
    LEAVE: Final = "leave"
    BAN: Final = "ban"
    LIST: Final = frozenset((INVITE, JOIN, KNOCK, LEAVE, BAN))


class PresenceState:
    OFFLINE: Final = "offline"
    UNAVAILABLE: Final = "unavailable"
    ONLINE: Final = "online"
    BUSY: Final = "org.matrix.msc3026.busy"


class JoinRules:
    PUBLIC: Final = "public"
    KNOCK: Final = "knock"
    INVITE: Final = "invite"
    PRIVATE: Final = "private"
    RESTRICTED: Final = "restricted"
    KNOCK_RESTRICTED: Final = "knock_restricted"


class RestrictedJoinRuleTypes:
    ROOM_MEMBERSHIP: Final = "m.room_membership"


class RoomCreationPreset:
    PRIVATE_CHAT: Final = "private_chat"
    PUBLIC_CHAT: Final = "public_chat"
    TRUSTED_PRIVATE_CHAT: Final = "trusted_private_chat"


class LoginType:
    PASSWORD: Final = "m.login.password"
    EMAIL_IDENTITY: Final = "m.login.email.identity"
    MSISDN: Final = "m.login.msisdn"
    RECAPTCHA: Final = "m.login.recaptcha"
    TERMS: Final = "m.login.terms"
    SSO: Final = "m.login.sso"
    DUMMY: Final = "m.login.dummy"
    REGISTRATION_TOKEN: Final = "m.login.registration_token"
    TOKEN: Final = "m.login.token"
    APPLICATION_SERVICE: Final = "m.login.application_service"


class EventTypes:
    Member: Final = "m.room.member"
    Create: Final = "m.room.create"
    Tombstone: Final = "m.room.tombstone"
    JoinRules: Final = "m.room.join_rules"
    PowerLevels: Final = "m.room.power_levels"
    Aliases: Final = "m.room.aliases"
    Redaction: Final = "m.room.redaction"
    ThirdPartyInvite: Final = "m.room.third_party_invite"
    RoomHistoryVisibility: Final = "m.room.history_visibility"
    CanonicalAlias: Final = "m.room.canonical_alias"
    Encrypted: Final = "m.room.encrypted"
    RoomAvatar: Final = "m.room.avatar"
    RoomEncryption: Final = "m.room.encryption"
    GuestAccess: Final = "m.room.guest_access"
    ServerACL: Final = "m.room.server_acl"
    Pinned: Final = "m.room.pinned_events"
    Message: Final = "m.room.message"
    Topic: Final = "m.room.topic"
    Name: Final = "m.room.name"
    Retention: Final = "m.room.retention"
    Dummy: Final = "org.matrix.dummy_event"
    SpaceChild: Final = "m.space.child"
    SpaceParent: Final = "m.space.parent"
    Reaction: Final = "m.reaction"
    Sticker: Final = "m.sticker"
    CallInvite: Final = "m.call.invite"
    Presence: Final = "m.presence"
    Typing: Final = "m.typing"
    Receipt: Final = "m.receipt"
    Tag: Final = "m.tag"
    PushRules: Final = "m.push_rules"
    Direct: Final = "m.direct"
    FullyRead: Final = "m.fully_read"
    IgnoredUserList: Final = "m.ignored_user_list"


class RelationTypes:
    ANNOTATION: Final = "m.annotation"
    REPLACE: Final = "m.replace"
    REFERENCE: Final = "m.reference"
    THREAD: Final = "m.thread"


class ReceiptTypes:
    READ: Final = "m.read"
    READ_PRIVATE: Final = "m.read.private"
    FULLY_READ: Final = "m.fully_read"


class HistoryVisibility:
    INVITED: Final = "invited"
    JOINED: Final = "joined"
    SHARED: Final = "shared"
    WORLD_READABLE: Final = "world_readable"


class GuestAccess:
    CAN_JOIN: Final = "can_join"
    FORBIDDEN: Final = "forbidden"


class EventContentFields:
    LABELS: Final = "org.matrix.labels"
    ROOM_TYPE: Final = "type"
    ROOM_CREATOR: Final = "creator"
    ADDITIONAL_CREATORS: Final = "additional_creators"
    RELATIONS: Final = "m.relates_to"
    AUTHORISING_USER: Final = "join_authorised_via_users_server"


class UserTypes:
    SUPPORT: Final = "support"
    BOT: Final = "bot"
    ALL_USER_TYPES: Final = (SUPPORT, BOT)


class Direction:
    BACKWARDS: Final = "b"
    FORWARDS: Final = "f"


class AccountDataTypes:
    DIRECT: Final = "m.direct"
    IGNORED_USER_LIST: Final = "m.ignored_user_list"
    TAG: Final = "m.tag"
    PUSH_RULES: Final = "m.push_rules"
