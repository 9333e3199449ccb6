"""Creating accounts: user ID rules, guests, and the first device and token."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from synapse.api.constants import MAX_USERID_LENGTH, UserTypes
from synapse.api.errors import AuthError, Codes, NotFoundError, StoreError, SynapseError
from synapse.api.ratelimiting import Ratelimiter
from synapse.types import (
    JsonDict,
    RoomAlias,
    UserID,
    contains_invalid_mxid_characters,
    create_requester,
)

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)


class RegistrationHandler:
    """Checks user IDs and registers users, devices and their first access token."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self._stores = hs.get_datastores().main
        self._auth_handler = hs.get_auth_handler()
        self._device_handler = hs.get_device_handler()
        self._registration_limiter = Ratelimiter(
            self._stores, self.clock, hs.config.ratelimiting.rc_registration
        )

    async def check_registration_ratelimit(self, address: str) -> None:
        """429 M_LIMIT_EXCEEDED when ``address`` registers (or probes names) too often."""
        await self._registration_limiter.ratelimit(None, key=address)

    async def check_username(
        self,
        localpart: str,
        inhibit_user_in_use_error: bool = False,
    ) -> None:
        """Raise unless ``localpart`` may name a new account.

        400 M_INVALID_USERNAME for IDs outside the spec's grammar, numeric IDs (kept for
        guests) and IDs beginning with ``_`` (kept for application services); 400
        M_USER_IN_USE when taken; 400 M_EXCLUSIVE inside an application service's
        exclusive namespace.
        """
        if not localpart:
            raise SynapseError(400, "User ID cannot be empty", Codes.INVALID_USERNAME)
        if contains_invalid_mxid_characters(localpart):
            raise SynapseError(
                400,
                "User ID can only contain characters a-z, 0-9, or '=_-./+'",
                Codes.INVALID_USERNAME,
            )
        if localpart[0] == "_":
            raise SynapseError(400, "User ID may not begin with _", Codes.INVALID_USERNAME)
        if localpart.isdigit():
            raise SynapseError(
                400, "Numeric user IDs are reserved for guest users.", Codes.INVALID_USERNAME
            )
        user_id = UserID(localpart, self.hs.hostname).to_string()
        if len(user_id) > MAX_USERID_LENGTH:
            raise SynapseError(
                400,
                f"User ID may not be longer than {MAX_USERID_LENGTH} characters",
                Codes.INVALID_USERNAME,
            )
        self.check_user_id_not_appservice_exclusive(user_id)
        if not inhibit_user_in_use_error:
            if await self._auth_handler.check_user_exists(user_id) is not None:
                raise SynapseError(400, "User ID already taken.", Codes.USER_IN_USE)

    def check_user_id_not_appservice_exclusive(
        self, user_id: str, allowed_appservice: Any | None = None
    ) -> None:
        """400 M_EXCLUSIVE if an application service (other than the one allowed) owns the ID."""
        appservice_store = getattr(self._stores, "appservice", None)
        if appservice_store is None:
            return
        for service in appservice_store.get_app_services():
            if service is allowed_appservice:
                continue
            if service.is_exclusive_user(user_id):
                raise SynapseError(
                    400,
                    "This user ID is reserved by an application service.",
                    errcode=Codes.EXCLUSIVE,
                )

    async def register_user(
        self,
        localpart: str | None = None,
        password_hash: str | None = None,
        make_guest: bool = False,
        admin: bool = False,
        user_type: str | None = None,
        default_display_name: str | None = None,
        appservice_id: str | None = None,
        shadow_banned: bool = False,
    ) -> str:
        """Create an account and return its user ID.

        Without a localpart a fresh numeric one is chosen (the guest form). A named
        account gets its localpart as display name unless another is given. The new
        user then joins the configured ``auto_join_rooms``.
        """
        user_id = await self._create_user(
            localpart,
            password_hash,
            make_guest,
            admin,
            user_type,
            default_display_name,
            appservice_id,
            shadow_banned,
        )
        await self.hs.get_user_directory_handler().local_user_changed(user_id)
        config = self.hs.config.registration
        if (
            config.auto_join_rooms
            and user_type != UserTypes.SUPPORT
            and appservice_id is None
            and (not make_guest or config.auto_join_rooms_for_guests)
        ):
            await self._auto_join_rooms(user_id)
        return user_id

    async def _create_user(
        self,
        localpart: str | None = None,
        password_hash: str | None = None,
        make_guest: bool = False,
        admin: bool = False,
        user_type: str | None = None,
        default_display_name: str | None = None,
        appservice_id: str | None = None,
        shadow_banned: bool = False,
    ) -> str:
        if user_type is not None and user_type not in UserTypes.ALL_USER_TYPES:
            raise SynapseError(400, "Invalid user type", Codes.INVALID_PARAM)
        if localpart is not None:
            await self.check_username(localpart)
            user_id = UserID(localpart, self.hs.hostname).to_string()
            if default_display_name is None and not make_guest:
                default_display_name = localpart
            await self._stores.registration.register_user(
                user_id,
                password_hash=password_hash,
                make_guest=make_guest,
                appservice_id=appservice_id,
                admin=admin,
                user_type=user_type,
                shadow_banned=shadow_banned,
                create_profile_with_displayname=default_display_name,
            )
            return user_id

        for _ in range(10):
            generated = await self._stores.registration.generate_user_localpart()
            user_id = UserID(generated, self.hs.hostname).to_string()
            try:
                await self._stores.registration.register_user(
                    user_id,
                    password_hash=password_hash,
                    make_guest=make_guest,
                    admin=admin,
                    user_type=user_type,
                    shadow_banned=shadow_banned,
                    create_profile_with_displayname=default_display_name,
                )
                return user_id
            except StoreError as e:
                if e.errcode != Codes.USER_IN_USE:
                    raise
        raise SynapseError(500, "Unable to find a free user ID")

    async def register_guest(self, initial_device_display_name: str | None) -> str:
        """Create a guest account, if the server allows guests (403 otherwise)."""
        if not self.hs.config.registration.allow_guest_access:
            raise AuthError(403, "Guest access is disabled", errcode=Codes.GUEST_ACCESS_FORBIDDEN)
        return await self.register_user(make_guest=True)

    async def _auto_join_rooms(self, user_id: str) -> None:
        """Join the new user to each of ``auto_join_rooms``; a failure is only logged.

        A missing local alias is created (``autocreate_auto_join_rooms``) when the first
        user registers, by ``auto_join_mxid_localpart``'s user if set, else by the new user.
        """
        config = self.hs.config.registration
        create_missing = (
            config.autocreate_auto_join_rooms
            and await self._stores.registration.count_all_users() == 1
        )
        member_handler = self.hs.get_room_member_handler()
        requester = create_requester(user_id)
        for room in config.auto_join_rooms:
            try:
                room_id: str | None
                try:
                    room_id = await self.hs.get_directory_handler().resolve_room_id_or_alias(room)
                except NotFoundError:
                    if not (create_missing and room.startswith("#") and self.hs.is_mine_id(room)):
                        raise
                    room_id = await self._create_auto_join_room(room, user_id)
                if room_id is None:
                    continue
                await member_handler.update_membership(
                    requester, user_id, room_id, "join", ratelimit=False
                )
            except Exception:
                logger.warning("Failed to auto-join %s to %s", user_id, room, exc_info=True)

    async def _create_auto_join_room(self, alias: str, user_id: str) -> str | None:
        """Create the room of ``alias``; its ID, or None when the new user created it."""
        config = self.hs.config.registration
        creator = config.auto_join_user_id or user_id
        preset = config.autocreate_auto_join_room_preset or "public_chat"
        room_config: JsonDict = {
            "preset": preset,
            "room_alias_name": RoomAlias.from_string(alias).localpart,
        }
        if creator != user_id and preset != "public_chat":
            room_config["invite"] = [user_id]
        room_id, _, _ = await self.hs.get_room_creation_handler().create_room(
            create_requester(creator), room_config, ratelimit=False
        )
        return None if creator == user_id else room_id

    async def get_guest_user_id(self, guest_access_token: str) -> str:
        """The guest a ``guest_access_token`` belongs to; 403 M_FORBIDDEN if it is no guest's."""
        info = await self._stores.registration.get_user_by_access_token(guest_access_token)
        if info is None or not info.is_guest or info.is_deactivated:
            raise AuthError(403, "Invalid guest access token", errcode=Codes.FORBIDDEN)
        return info.user_id

    async def upgrade_guest(self, user_id: str, password_hash: str) -> None:
        """Turn a guest account into a full one; it is named after its localpart if unnamed."""
        await self._stores.registration.upgrade_guest_user(user_id, password_hash)
        profile = await self._stores.profile.get_profileinfo(user_id)
        if profile is None or profile.display_name is None:
            await self._stores.profile.set_profile_displayname(
                user_id, UserID.from_string(user_id).localpart
            )
        await self.hs.get_user_directory_handler().local_user_changed(user_id)

    async def register_device(
        self,
        user_id: str,
        device_id: str | None,
        initial_display_name: str | None,
        is_guest: bool = False,
        valid_until_ms: int | None = None,
    ) -> tuple[str, str]:
        """Create (or reuse) a device and issue an access token on it.

        A device ID that already had a token loses the old one. Returns
        ``(device_id, access_token)``.
        """
        device_id = await self._device_handler.check_device_registered(
            user_id, device_id, initial_display_name
        )
        await self._auth_handler.delete_access_tokens_for_user(user_id, device_id=device_id)
        token = await self._auth_handler.create_access_token_for_user_id(
            user_id, device_id, valid_until_ms=valid_until_ms
        )
        return device_id, token
