"""Decisions behind the admin API: creating and changing users, shutting down and purging
rooms, purging history, joining users to rooms and making them room admins.

Room deletions and history purges run as background tasks; their statuses live in
memory (for this process's lifetime, as Synapse's did before its task scheduler).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import attr
from twisted.internet import defer

from synapse.api.constants import EventTypes, Membership
from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.types import JsonDict, Requester, RoomStreamToken, UserID, create_requester

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

DEFAULT_NEW_ROOM_NAME = "Content Violation Notification"
DEFAULT_NEW_ROOM_MESSAGE = (
    "Sharing illegal content on this server is not permitted and rooms in violation will "
    "be blocked."
)

# Statuses of background tasks, as Synapse names them.
STATUS_SCHEDULED = "scheduled"
STATUS_ACTIVE = "active"
STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"


@attr.s(auto_attribs=True, slots=True)
class DeleteRoomTask:
    """A room deletion (``DELETE /_synapse/admin/v2/rooms/{roomId}``) and its progress."""

    delete_id: str
    room_id: str
    status: str = STATUS_SCHEDULED
    error: str | None = None
    kicked_users: list[str] = attr.Factory(list)
    failed_to_kick_users: list[str] = attr.Factory(list)
    local_aliases: list[str] = attr.Factory(list)
    new_room_id: str | None = None

    def to_json(self) -> JsonDict:
        result: JsonDict = {
            "delete_id": self.delete_id,
            "room_id": self.room_id,
            "status": self.status,
            "shutdown_room": {
                "kicked_users": self.kicked_users,
                "failed_to_kick_users": self.failed_to_kick_users,
                "local_aliases": self.local_aliases,
                "new_room_id": self.new_room_id,
            },
        }
        if self.error is not None:
            result["error"] = self.error
        return result


@attr.s(auto_attribs=True, slots=True)
class PurgeTask:
    """A history purge and its status."""

    purge_id: str
    room_id: str
    status: str = STATUS_ACTIVE
    error: str | None = None

    def to_json(self) -> JsonDict:
        result: JsonDict = {"status": self.status}
        if self.error is not None:
            result["error"] = self.error
        return result


class AdminHandler:
    """``hs.get_admin_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self._stores = hs.get_datastores().main
        self._clock = hs.get_clock()
        self._server_name = hs.hostname
        self._delete_tasks: dict[str, DeleteRoomTask] = {}
        self._purge_tasks: dict[str, PurgeTask] = {}
        self._running: set[defer.Deferred[None]] = set()

    def _run_in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a task that records its own outcome; the request does not wait for it."""
        d = defer.ensureDeferred(coro)
        self._running.add(d)
        d.addBoth(lambda _: self._running.discard(d))

    def is_mine_id(self, user_id: str) -> bool:
        return self.hs.is_mine_id(user_id)

    # --- users ---------------------------------------------------------------------
    async def get_user(self, user_id: str) -> JsonDict | None:
        """A user in the shape of ``GET /_synapse/admin/v2/users/{userId}``."""
        details = await self._stores.admin.get_user_details(user_id)
        if details is None:
            return None
        # Synapse lists creation times in milliseconds but shows one user's in seconds.
        details["creation_ts"] //= 1000
        details.update(
            {
                "threepids": [],
                "external_ids": [],
                "consent_server_notice_sent": None,
                "consent_version": None,
                "consent_ts": None,
            }
        )
        return details

    async def create_or_modify_user(
        self, requester: Requester, user_id: str, body: JsonDict
    ) -> tuple[int, JsonDict]:
        """Create ``user_id`` (201) or change it (200) as the PUT body says; the user after."""
        stores = self._stores
        auth_handler = self.hs.get_auth_handler()
        password = body.get("password")
        if password is not None:
            auth_handler.validate_password_policy(password)
        user = await stores.registration.get_user_by_id(user_id)
        if user is None:
            return 201, await self._create_user(user_id, body, password)

        if body.get("deactivated") is False and user.is_deactivated and password is None:
            if self.hs.config.registration.password_enabled:
                raise SynapseError(
                    400, "Must provide a password to re-activate an account.", Codes.BAD_JSON
                )
        if body.get("admin") is False and user_id == requester.user.to_string() and user.is_admin:
            raise SynapseError(400, "You may not demote yourself.")

        target = UserID.from_string(user_id)
        profile = self.hs.get_profile_handler()
        if "displayname" in body and body["displayname"] is not None:
            await profile.set_displayname(target, requester, body["displayname"], by_admin=True)
        if "avatar_url" in body and body["avatar_url"] is not None:
            await profile.set_avatar_url(target, requester, body["avatar_url"], by_admin=True)
        if "admin" in body:
            await stores.registration.set_server_admin(user_id, body["admin"])
        if "user_type" in body:
            await stores.registration.set_user_type(user_id, body["user_type"])
        if "locked" in body:
            await stores.registration.set_user_locked_status(user_id, body["locked"])
            if body["locked"]:
                await auth_handler.delete_access_tokens_for_user(user_id)
        if password is not None:
            await self.hs.get_set_password_handler().set_password(
                user_id, await auth_handler.hash(password), body.get("logout_devices", True)
            )
        if "deactivated" in body:
            if body["deactivated"] and not user.is_deactivated:
                await self.hs.get_deactivate_account_handler().deactivate_account(
                    user_id, erase_data=bool(body.get("erase", False))
                )
            elif body["deactivated"] is False and user.is_deactivated:
                await self.hs.get_deactivate_account_handler().activate_account(user_id)
                if password is not None:
                    await stores.registration.set_user_password_hash(
                        user_id, await auth_handler.hash(password)
                    )
        result = await self.get_user(user_id)
        assert result is not None
        return 200, result

    async def _create_user(self, user_id: str, body: JsonDict, password: str | None) -> JsonDict:
        target = UserID.from_string(user_id)
        if not self.is_mine_id(user_id):
            raise SynapseError(400, "This endpoint can only be used with local users")
        password_hash = await self.hs.get_auth_handler().hash(password) if password else None
        await self.hs.get_registration_handler().register_user(
            localpart=target.localpart,
            password_hash=password_hash,
            admin=bool(body.get("admin", False)),
            user_type=body.get("user_type"),
            default_display_name=body.get("displayname"),
        )
        if body.get("avatar_url") is not None:
            await self.hs.get_profile_handler().set_avatar_url(
                target, create_requester(user_id), body["avatar_url"], by_admin=True
            )
        if body.get("locked"):
            await self._stores.registration.set_user_locked_status(user_id, True)
        if body.get("deactivated"):
            await self.hs.get_deactivate_account_handler().deactivate_account(user_id)
        result = await self.get_user(user_id)
        assert result is not None
        return result

    async def login_as_user(
        self, requester: Requester, user_id: str, valid_until_ms: int | None
    ) -> str:
        """An access token that acts as ``user_id`` and is owned by the admin."""
        if user_id == requester.user.to_string():
            raise SynapseError(400, "Cannot use admin API to login as self")
        if not self.is_mine_id(user_id):
            raise SynapseError(400, "Only local users can be logged in as")
        if await self._stores.registration.get_user_by_id(user_id) is None:
            raise NotFoundError("User not found")
        auth_handler = self.hs.get_auth_handler()
        token = auth_handler.generate_access_token(UserID.from_string(user_id))
        await self._stores.registration.add_access_token_to_user(
            requester.user.to_string(),
            token,
            None,
            valid_until_ms=valid_until_ms,
            puppets_user_id=user_id,
        )
        return token

    # --- rooms ---------------------------------------------------------------------
    async def get_room_details(self, room_id: str) -> JsonDict:
        rooms = await self._stores.admin.get_rooms_details([room_id])
        if not rooms:
            raise NotFoundError("Room not found")
        room = rooms[0]
        room["joined_local_devices"] = await self._stores.admin.count_local_devices_in_room(room_id)
        room["forgotten"] = False
        return room

    async def join_user_to_room(self, requester: Requester, user_id: str, room_id: str) -> None:
        """Join a local user to a room; in a room not open to all, the admin (who must be
        in it) invites the user first."""
        if not self.is_mine_id(user_id):
            raise SynapseError(400, "This endpoint can only be used with local users")
        if await self._stores.registration.get_user_by_id(user_id) is None:
            raise NotFoundError("User not found")
        if await self._stores.rooms.get_room(room_id) is None:
            raise NotFoundError("Room not found")
        member_handler = self.hs.get_room_member_handler()
        join_rule = await self._current_content_field(room_id, EventTypes.JoinRules, "join_rule")
        admin_id = requester.user.to_string()
        if join_rule != "public" and user_id != admin_id:
            (
                membership,
                _,
            ) = await self._stores.roommember.get_local_current_membership_for_user_in_room(
                admin_id, room_id
            )
            if membership != Membership.JOIN:
                raise SynapseError(
                    403, "You are not joined to the room: the user cannot be invited"
                )
            (
                target_membership,
                _,
            ) = await self._stores.roommember.get_local_current_membership_for_user_in_room(
                user_id, room_id
            )
            if target_membership not in (Membership.JOIN, Membership.INVITE):
                await member_handler.update_membership(
                    requester, user_id, room_id, "invite", ratelimit=False
                )
        await member_handler.update_membership(
            create_requester(user_id), user_id, room_id, "join", ratelimit=False
        )

    async def make_room_admin(self, room_id: str, user_id: str) -> None:
        """Give ``user_id`` the highest power level of the room's local members, sent by
        the most powerful local member; invite the user if the room is not public."""
        if not self.is_mine_id(user_id):
            raise SynapseError(400, "Only local users can be admins of rooms")
        if await self._stores.rooms.get_room(room_id) is None:
            raise NotFoundError("Room not found")
        power_levels = await self._current_content(room_id, EventTypes.PowerLevels)
        if power_levels is None:
            raise SynapseError(400, "Room has no power levels event")
        members = await self._stores.roommember.get_users_in_room(room_id)
        local = [m for m in members if self.is_mine_id(m)]
        users = power_levels.get("users", {})
        if not isinstance(users, dict):
            users = {}
        default = power_levels.get("users_default", 0)
        creators = await self._room_creators(room_id)
        candidates = sorted(m for m in local if m in creators)
        if not candidates:
            levels: dict[str, int] = {}
            for member in local:
                level = users.get(member, default)
                if isinstance(level, int):
                    levels[member] = level
            if levels:
                top = max(levels.values())
                candidates = sorted(m for m, level in levels.items() if level == top)
        if not candidates:
            raise SynapseError(400, "No local admin user in room", Codes.UNKNOWN)
        sender = candidates[0]
        # A creator of a version 12 room outranks every level: the new admin gets 100.
        new_level = 100 if sender in creators else users.get(sender, default)
        if user_id not in creators:
            new_users = dict(users)
            new_users[user_id] = new_level
            new_content = dict(power_levels)
            new_content["users"] = new_users
            await self.hs.get_event_creation_handler().create_and_send_nonmember_event(
                create_requester(sender),
                {
                    "type": EventTypes.PowerLevels,
                    "state_key": "",
                    "room_id": room_id,
                    "sender": sender,
                    "content": new_content,
                },
                ratelimit=False,
            )
        membership, _ = await self._stores.roommember.get_local_current_membership_for_user_in_room(
            user_id, room_id
        )
        join_rule = await self._current_content_field(room_id, EventTypes.JoinRules, "join_rule")
        if membership not in (Membership.JOIN, Membership.INVITE) and join_rule != "public":
            await self.hs.get_room_member_handler().update_membership(
                create_requester(sender), user_id, room_id, "invite", ratelimit=False
            )

    async def _room_creators(self, room_id: str) -> set[str]:
        """The creators of a room whose versions give them unlimited power (v12)."""
        room_version = await self._stores.rooms.get_room_version(room_id)
        if not room_version.hydra:
            return set()
        create = await self._current_content(room_id, EventTypes.Create) or {}
        sender = await self._create_sender(room_id)
        additional = create.get("additional_creators")
        extra = (
            [c for c in additional if isinstance(c, str)] if isinstance(additional, list) else []
        )
        return {sender, *extra} if sender is not None else set(extra)

    async def _create_sender(self, room_id: str) -> str | None:
        event_id = await self._stores.state.get_current_state_event_id(
            room_id, EventTypes.Create, ""
        )
        if event_id is None:
            return None
        event = await self._stores.events.get_event(event_id, allow_none=True)
        return event.sender if event is not None else None

    async def _current_content(self, room_id: str, event_type: str) -> JsonDict | None:
        event_id = await self._stores.state.get_current_state_event_id(room_id, event_type, "")
        if event_id is None:
            return None
        event = await self._stores.events.get_event(event_id, allow_none=True)
        return dict(event.content) if event is not None else None

    async def _current_content_field(self, room_id: str, event_type: str, key: str) -> Any:
        content = await self._current_content(room_id, event_type)
        return content.get(key) if content else None

    async def delete_forward_extremities(self, room_id: str) -> int:
        """Keep only the newest forward extremity of the room; how many were deleted."""
        extremities = await self._stores.admin.get_forward_extremities_details(room_id)
        if len(extremities) <= 1:
            return 0
        keep = extremities[-1]["event_id"]
        to_delete = [e["event_id"] for e in extremities[:-1]]
        federation_store = self._stores.event_federation
        await self._stores.db_pool.runInteraction(
            "delete_forward_extremities",
            federation_store.update_forward_extremities_txn,
            room_id,
            to_delete,
            [],
            [keep],
        )
        return len(to_delete)

    # --- room deletion -------------------------------------------------------------
    def get_delete_task(self, delete_id: str) -> DeleteRoomTask | None:
        return self._delete_tasks.get(delete_id)

    def get_delete_tasks_for_room(self, room_id: str) -> list[DeleteRoomTask]:
        return [t for t in self._delete_tasks.values() if t.room_id == room_id]

    async def start_delete_room(
        self,
        requester: Requester,
        room_id: str,
        new_room_user_id: str | None,
        room_name: str | None,
        message: str | None,
        block: bool,
        purge: bool,
        force_purge: bool,
        wait: bool = False,
    ) -> DeleteRoomTask:
        """Start shutting down (and purging) a room in the background, or with ``wait``
        do it before returning (the v1 API; a failure is then a 400). The task."""
        if new_room_user_id is not None:
            if not self.is_mine_id(new_room_user_id):
                raise SynapseError(400, f"User must be our own: {new_room_user_id}")
            if await self._stores.registration.get_user_by_id(new_room_user_id) is None:
                raise NotFoundError("Unknown new_room_user_id")
        if await self._stores.rooms.get_room(room_id) is None and not block:
            raise NotFoundError(f"Unknown room id {room_id}")
        for task in self.get_delete_tasks_for_room(room_id):
            if task.status in (STATUS_SCHEDULED, STATUS_ACTIVE):
                raise SynapseError(
                    400, f"History purge already in progress for {room_id}", Codes.UNKNOWN
                )
        task = DeleteRoomTask(delete_id=uuid.uuid4().hex, room_id=room_id)
        self._delete_tasks[task.delete_id] = task
        work = self._delete_room(
            task,
            requester.user.to_string(),
            new_room_user_id,
            room_name,
            message,
            block,
            purge,
            force_purge,
        )
        if not wait:
            self._run_in_background(work)
            return task
        await work
        if task.status == STATUS_FAILED:
            raise SynapseError(400, task.error or "Room deletion failed")
        return task

    async def _delete_room(
        self,
        task: DeleteRoomTask,
        requester_user_id: str,
        new_room_user_id: str | None,
        room_name: str | None,
        message: str | None,
        block: bool,
        purge: bool,
        force_purge: bool,
    ) -> None:
        task.status = STATUS_ACTIVE
        try:
            await self._shutdown_room(
                task, requester_user_id, new_room_user_id, room_name, message, block
            )
            if purge:
                remaining = await self._stores.admin.get_local_users_related_to_room(task.room_id)
                joined = [u for u, m in remaining if m == Membership.JOIN]
                if joined and not force_purge:
                    raise SynapseError(400, "Users are still joined to this room")
                await self.purge_room(task.room_id)
            task.status = STATUS_COMPLETE
        except Exception as e:
            logger.exception("Deleting room %s failed", task.room_id)
            task.status = STATUS_FAILED
            task.error = e.msg if isinstance(e, SynapseError) else str(e)

    async def _shutdown_room(
        self,
        task: DeleteRoomTask,
        requester_user_id: str,
        new_room_user_id: str | None,
        room_name: str | None,
        message: str | None,
        block: bool,
    ) -> None:
        room_id = task.room_id
        stores = self._stores
        if block:
            await stores.admin.block_room(room_id, requester_user_id)
        if await stores.rooms.get_room(room_id) is None:
            return
        if new_room_user_id is not None:
            new_room_requester = create_requester(new_room_user_id)
            new_room_id, _, _ = await self.hs.get_room_creation_handler().create_room(
                new_room_requester,
                {
                    "preset": "public_chat",
                    "name": room_name or DEFAULT_NEW_ROOM_NAME,
                    "power_level_content_override": {"users_default": -10},
                },
                ratelimit=False,
            )
            await self.hs.get_event_creation_handler().create_and_send_nonmember_event(
                new_room_requester,
                {
                    "type": "m.room.message",
                    "content": {"body": message or DEFAULT_NEW_ROOM_MESSAGE, "msgtype": "m.text"},
                    "room_id": new_room_id,
                    "sender": new_room_user_id,
                },
                ratelimit=False,
            )
            task.new_room_id = new_room_id

        # Unpublish the room, so it leaves the public room list at once.
        room = await stores.rooms.get_room(room_id)
        if room is not None and room.is_public:
            await stores.rooms.set_room_is_public(room_id, False)

        member_handler = self.hs.get_room_member_handler()
        for user_id, membership in await stores.admin.get_local_users_related_to_room(room_id):
            requester = create_requester(user_id)
            try:
                await member_handler.update_membership(
                    requester, user_id, room_id, "leave", ratelimit=False
                )
                # Forgotten, so the room leaves the user's client too.
                await member_handler.forget(requester.user, room_id)
                if task.new_room_id is not None and membership == Membership.JOIN:
                    await member_handler.update_membership(
                        requester, user_id, task.new_room_id, "join", ratelimit=False
                    )
                task.kicked_users.append(user_id)
            except Exception:
                logger.warning("Failed to make %s leave %s", user_id, room_id, exc_info=True)
                task.failed_to_kick_users.append(user_id)

        aliases = await stores.directory.get_aliases_for_room(room_id)
        for alias in aliases:
            await stores.directory.delete_room_alias(alias)
            if task.new_room_id is not None:
                await stores.directory.create_room_alias_association(
                    alias, task.new_room_id, [self._server_name], new_room_user_id
                )
        task.local_aliases = aliases

    async def purge_room(self, room_id: str) -> None:
        """Remove everything this server holds about the room (but whether it is blocked)."""
        event_ids, members = await self._stores.admin.purge_room(room_id)
        self._invalidate_room_caches(room_id, event_ids, members)
        logger.info("Purged room %s (%d events)", room_id, len(event_ids))

    def _invalidate_room_caches(
        self, room_id: str, event_ids: list[str], members: list[str]
    ) -> None:
        stores = self._stores
        stores.events.invalidate_events(event_ids)
        stores.state.invalidate_current_state(room_id)
        stores.roommember._invalidate_membership_caches(room_id, members)
        stores.event_federation._extremities_written(room_id, None)
        stores.rooms._room_version_cache.invalidate(room_id)

    # --- history purges ------------------------------------------------------------
    def get_purge_task(self, purge_id: str) -> PurgeTask | None:
        return self._purge_tasks.get(purge_id)

    async def start_purge_history(
        self,
        room_id: str,
        event_id: str | None,
        ts: int | None,
        delete_local_events: bool,
    ) -> str:
        """Start purging the room's history before an event (or a time); the purge ID."""
        stores = self._stores
        if await stores.rooms.get_room(room_id) is None:
            raise NotFoundError("Unknown room")
        if event_id is not None:
            event = await stores.events.get_event(event_id, allow_none=True)
            if event is None:
                raise NotFoundError("Unknown event")
            if event.room_id != room_id:
                raise SynapseError(400, "Event is for wrong room.")
            token = await stores.stream.get_topological_token_for_event(event_id)
        elif ts is not None:
            found = await stores.event_timestamps.get_event_id_for_timestamp(room_id, ts, "b")
            if found is None:
                raise SynapseError(404, "there is no event to be purged", Codes.NOT_FOUND)
            # Purge up to and including the last event before ts.
            found_token = await stores.stream.get_topological_token_for_event(found[0])
            token = RoomStreamToken(
                stream=found_token.stream + 1, topological=found_token.topological
            )
        else:
            raise SynapseError(
                400, "must specify purge_up_to_event_id or purge_up_to_ts", Codes.BAD_JSON
            )
        for task in self._purge_tasks.values():
            if task.room_id == room_id and task.status == STATUS_ACTIVE:
                raise SynapseError(400, f"History purge already in progress for {room_id}")
        task = PurgeTask(purge_id=uuid.uuid4().hex, room_id=room_id)
        self._purge_tasks[task.purge_id] = task
        assert token.topological is not None
        self._run_in_background(
            self._purge_history(task, token.topological, token.stream, delete_local_events)
        )
        return task.purge_id

    async def _purge_history(
        self, task: PurgeTask, topological: int, stream: int, delete_local: bool
    ) -> None:
        try:
            event_ids = await self._stores.admin.purge_history(
                task.room_id, topological, stream, delete_local
            )
            self._stores.events.invalidate_events(event_ids)
            task.status = STATUS_COMPLETE
        except Exception as e:
            logger.exception("Purging history of %s failed", task.room_id)
            task.status = STATUS_FAILED
            task.error = str(e)
