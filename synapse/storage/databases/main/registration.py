"""Users, their passwords and flags, and their access tokens (stored only as hashes)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import attr

from synapse.api.errors import Codes, StoreError

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction


def hash_access_token(token: str) -> str:
    """The form an access token is stored and looked up in: its SHA-256, hex encoded."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@attr.s(slots=True, frozen=True, auto_attribs=True)
class UserInfo:
    """What the server knows of one local account."""

    user_id: str
    creation_ts: int
    is_admin: bool
    is_guest: bool
    is_deactivated: bool
    user_type: str | None
    appservice_id: str | None
    is_shadow_banned: bool
    is_locked: bool
    is_suspended: bool


@attr.s(slots=True, frozen=True, auto_attribs=True)
class TokenLookupResult:
    """The owner of an access token, as found by its hash."""

    user_id: str
    token_id: int
    device_id: str | None
    is_guest: bool
    is_deactivated: bool
    valid_until_ms: int | None
    token_owner: str
    is_locked: bool = False


_USER_COLUMNS = (
    "name",
    "creation_ts",
    "admin",
    "is_guest",
    "deactivated",
    "user_type",
    "appservice_id",
    "shadow_banned",
    "locked",
    "suspended",
)


def _user_info_from_row(row: tuple[Any, ...]) -> UserInfo:
    return UserInfo(
        user_id=row[0],
        creation_ts=int(row[1]),
        is_admin=bool(row[2]),
        is_guest=bool(row[3]),
        is_deactivated=bool(row[4]),
        user_type=row[5],
        appservice_id=row[6],
        is_shadow_banned=bool(row[7]),
        is_locked=bool(row[8]),
        is_suspended=bool(row[9]),
    )


class RegistrationStore:
    """The ``users`` and ``access_tokens`` tables."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._clock = hs.get_clock()
        self._next_guest_localpart: int | None = None

    # Users

    async def register_user(
        self,
        user_id: str,
        password_hash: str | None = None,
        make_guest: bool = False,
        appservice_id: str | None = None,
        admin: bool = False,
        user_type: str | None = None,
        shadow_banned: bool = False,
        create_profile_with_displayname: str | None = None,
    ) -> None:
        """Create a user and its (empty or named) profile in one transaction.

        Raises StoreError(400, M_USER_IN_USE) if the user ID is taken.
        """
        await self.db_pool.runInteraction(
            "register_user",
            self._register_user_txn,
            user_id,
            password_hash,
            make_guest,
            appservice_id,
            admin,
            user_type,
            shadow_banned,
            create_profile_with_displayname,
        )

    def _register_user_txn(
        self,
        txn: LoggingTransaction,
        user_id: str,
        password_hash: str | None,
        make_guest: bool,
        appservice_id: str | None,
        admin: bool,
        user_type: str | None,
        shadow_banned: bool,
        displayname: str | None,
    ) -> None:
        txn.execute("SELECT 1 FROM users WHERE name = ?", (user_id,))
        if txn.fetchone() is not None:
            raise StoreError(400, "User ID already taken.", Codes.USER_IN_USE)
        txn.execute(
            "INSERT INTO users (name, password_hash, creation_ts, admin, is_guest,"
            " appservice_id, user_type, deactivated, shadow_banned, locked, suspended)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, 0, 0)",
            (
                user_id,
                password_hash,
                self._clock.time_msec() // 1000,
                1 if admin else 0,
                1 if make_guest else 0,
                appservice_id,
                user_type,
                1 if shadow_banned else 0,
            ),
        )
        txn.execute(
            "INSERT INTO profiles (user_id, displayname, avatar_url) VALUES (?, ?, NULL)",
            (user_id, displayname),
        )

    async def upgrade_guest_user(self, user_id: str, password_hash: str) -> None:
        """Make a guest a full user with a password; M_USER_IN_USE if it is no guest."""

        def _txn(txn: LoggingTransaction) -> None:
            txn.execute(
                "UPDATE users SET password_hash = ?, is_guest = 0, upgrade_ts = ?"
                " WHERE name = ? AND is_guest = 1",
                (password_hash, self._clock.time_msec(), user_id),
            )
            if txn.rowcount != 1:
                raise StoreError(400, "User ID already taken.", Codes.USER_IN_USE)

        await self.db_pool.runInteraction("upgrade_guest_user", _txn)

    async def get_user_by_id(self, user_id: str) -> UserInfo | None:
        """The account ``user_id``, or None if there is none."""
        row = await self.db_pool.simple_select_one(
            "users", {"name": user_id}, _USER_COLUMNS, allow_none=True, desc="get_user_by_id"
        )
        return _user_info_from_row(row) if row is not None else None

    async def get_users_by_id_case_insensitive(self, user_id: str) -> dict[str, str | None]:
        """Every user ID equal to ``user_id`` but for case, with its password hash."""

        def _txn(txn: LoggingTransaction) -> dict[str, str | None]:
            txn.execute(
                "SELECT name, password_hash FROM users WHERE LOWER(name) = LOWER(?)",
                (user_id,),
            )
            return {row[0]: row[1] for row in txn.fetchall()}

        return await self.db_pool.runInteraction("get_users_by_id_case_insensitive", _txn)

    async def get_user_password_hash(self, user_id: str) -> str | None:
        return await self.db_pool.simple_select_one_onecol(
            "users", {"name": user_id}, "password_hash", allow_none=True, desc="get_password_hash"
        )

    async def set_user_password_hash(self, user_id: str, password_hash: str | None) -> None:
        await self.db_pool.simple_update_one(
            "users", {"name": user_id}, {"password_hash": password_hash}, desc="set_password_hash"
        )

    async def is_server_admin(self, user_id: str) -> bool:
        res = await self.db_pool.simple_select_one_onecol(
            "users", {"name": user_id}, "admin", allow_none=True, desc="is_server_admin"
        )
        return bool(res)

    async def set_server_admin(self, user_id: str, admin: bool) -> None:
        await self.db_pool.simple_update_one(
            "users", {"name": user_id}, {"admin": 1 if admin else 0}, desc="set_server_admin"
        )

    async def set_user_type(self, user_id: str, user_type: str | None) -> None:
        await self.db_pool.simple_update_one(
            "users", {"name": user_id}, {"user_type": user_type}, desc="set_user_type"
        )

    async def set_shadow_banned(self, user_id: str, shadow_banned: bool) -> None:
        await self.db_pool.simple_update_one(
            "users",
            {"name": user_id},
            {"shadow_banned": 1 if shadow_banned else 0},
            desc="set_shadow_banned",
        )

    async def set_user_locked_status(self, user_id: str, locked: bool) -> None:
        await self.db_pool.simple_update_one(
            "users", {"name": user_id}, {"locked": 1 if locked else 0}, desc="set_locked"
        )

    async def set_user_deactivated_status(self, user_id: str, deactivated: bool) -> None:
        await self.db_pool.simple_update_one(
            "users",
            {"name": user_id},
            {"deactivated": 1 if deactivated else 0},
            desc="set_user_deactivated_status",
        )

    async def get_user_deactivated_status(self, user_id: str) -> bool:
        res = await self.db_pool.simple_select_one_onecol(
            "users", {"name": user_id}, "deactivated", allow_none=True, desc="get_deactivated"
        )
        return bool(res)

    async def mark_user_erased(self, user_id: str) -> None:
        """Record that the user asked for their data to be erased."""
        await self.db_pool.simple_upsert(
            "erased_users", {"user_id": user_id}, {}, desc="mark_user_erased"
        )

    async def mark_user_not_erased(self, user_id: str) -> None:
        await self.db_pool.simple_delete(
            "erased_users", {"user_id": user_id}, desc="mark_user_not_erased"
        )

    async def is_user_erased(self, user_id: str) -> bool:
        res = await self.db_pool.simple_select_one_onecol(
            "erased_users", {"user_id": user_id}, "user_id", allow_none=True, desc="is_erased"
        )
        return res is not None

    async def count_all_users(self) -> int:
        def _txn(txn: LoggingTransaction) -> int:
            txn.execute("SELECT COUNT(*) FROM users")
            row = txn.fetchone()
            return int(row[0]) if row else 0

        return await self.db_pool.runInteraction("count_all_users", _txn)

    async def generate_user_localpart(self) -> str:
        """A numeric localpart not in use yet (numeric localparts are kept for guests)."""
        if self._next_guest_localpart is None:

            def _txn(txn: LoggingTransaction) -> int:
                clauses = " OR ".join(f"name LIKE '@{d}%'" for d in range(10))
                txn.execute(f"SELECT name FROM users WHERE {clauses}")
                highest = 0
                for (name,) in txn.fetchall():
                    localpart = name[1:].split(":", 1)[0]
                    if localpart.isdigit():
                        highest = max(highest, int(localpart))
                return highest + 1

            self._next_guest_localpart = await self.db_pool.runInteraction(
                "generate_user_localpart", _txn
            )
        value = self._next_guest_localpart
        self._next_guest_localpart = value + 1
        return str(value)

    # Access tokens

    async def add_access_token_to_user(
        self,
        user_id: str,
        token: str,
        device_id: str | None,
        valid_until_ms: int | None = None,
        puppets_user_id: str | None = None,
    ) -> int:
        """Store (the hash of) a new access token and return its id."""

        def _txn(txn: LoggingTransaction) -> int:
            txn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM access_tokens")
            row = txn.fetchone()
            assert row is not None
            token_id = int(row[0])
            txn.execute(
                "INSERT INTO access_tokens (id, user_id, device_id, token_hash,"
                " valid_until_ms, puppets_user_id, last_validated, used)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (
                    token_id,
                    user_id,
                    device_id,
                    hash_access_token(token),
                    valid_until_ms,
                    puppets_user_id,
                    self._clock.time_msec(),
                ),
            )
            return token_id

        # Two writers may pick the same id at once; the loser's insert fails and retries.
        for attempt in range(5):
            try:
                return await self.db_pool.runInteraction("add_access_token_to_user", _txn)
            except Exception as e:
                if not isinstance(e, self.db_pool.engine.module.IntegrityError) or attempt == 4:
                    raise
        raise AssertionError("unreachable")

    async def get_user_by_access_token(self, token: str) -> TokenLookupResult | None:
        """Whose token this is (looked up by its hash), or None if it is unknown."""

        def _txn(txn: LoggingTransaction) -> TokenLookupResult | None:
            txn.execute(
                "SELECT t.id, t.user_id, t.device_id, t.valid_until_ms, t.puppets_user_id,"
                " u.is_guest, u.deactivated, u.locked"
                " FROM access_tokens AS t"
                " INNER JOIN users AS u ON u.name = COALESCE(t.puppets_user_id, t.user_id)"
                " WHERE t.token_hash = ?",
                (hash_access_token(token),),
            )
            row = txn.fetchone()
            if row is None:
                return None
            token_id, owner, device_id, valid_until_ms, puppets, is_guest, deactivated, locked = row
            return TokenLookupResult(
                user_id=puppets or owner,
                token_id=int(token_id),
                device_id=device_id,
                is_guest=bool(is_guest),
                is_deactivated=bool(deactivated),
                valid_until_ms=valid_until_ms,
                token_owner=owner,
                is_locked=bool(locked),
            )

        return await self.db_pool.runInteraction("get_user_by_access_token", _txn)

    async def delete_access_token(self, token: str) -> None:
        await self.db_pool.simple_delete(
            "access_tokens", {"token_hash": hash_access_token(token)}, desc="delete_access_token"
        )

    async def user_delete_access_tokens(
        self,
        user_id: str,
        except_token_id: int | None = None,
        device_id: str | None = None,
    ) -> list[tuple[int, str | None]]:
        """Delete a user's tokens (optionally only one device's, or all but one token).

        Returns the ``(token_id, device_id)`` of each deleted token.
        """

        def _txn(txn: LoggingTransaction) -> list[tuple[int, str | None]]:
            clause = "user_id = ?"
            args: list[Any] = [user_id]
            if device_id is not None:
                clause += " AND device_id = ?"
                args.append(device_id)
            if except_token_id is not None:
                clause += " AND id != ?"
                args.append(except_token_id)
            txn.execute(f"SELECT id, device_id FROM access_tokens WHERE {clause}", args)
            deleted = [(int(r[0]), r[1]) for r in txn.fetchall()]
            txn.execute(f"DELETE FROM access_tokens WHERE {clause}", args)
            return deleted

        return await self.db_pool.runInteraction("user_delete_access_tokens", _txn)

    async def delete_access_tokens_for_devices(self, user_id: str, device_ids: list[str]) -> None:
        def _txn(txn: LoggingTransaction) -> None:
            for device_id in device_ids:
                txn.execute(
                    "DELETE FROM access_tokens WHERE user_id = ? AND device_id = ?",
                    (user_id, device_id),
                )

        await self.db_pool.runInteraction("delete_access_tokens_for_devices", _txn)

    async def count_access_tokens(self, user_id: str) -> int:
        def _txn(txn: LoggingTransaction) -> int:
            txn.execute("SELECT COUNT(*) FROM access_tokens WHERE user_id = ?", (user_id,))
            row = txn.fetchone()
            return int(row[0]) if row else 0

        return await self.db_pool.runInteraction("count_access_tokens", _txn)

    async def mark_access_token_as_used(self, token_id: int) -> None:
        await self.db_pool.simple_update(
            "access_tokens", {"id": token_id}, {"used": 1}, desc="mark_access_token_as_used"
        )

    # Registration tokens

    async def create_registration_token(
        self, token: str, uses_allowed: int | None, expiry_time: int | None
    ) -> bool:
        """Add a token; return False if it exists already."""

        def _txn(txn: LoggingTransaction) -> bool:
            txn.execute("SELECT 1 FROM registration_tokens WHERE token = ?", (token,))
            if txn.fetchone() is not None:
                return False
            txn.execute(
                "INSERT INTO registration_tokens (token, uses_allowed, pending, completed,"
                " expiry_time) VALUES (?, ?, 0, 0, ?)",
                (token, uses_allowed, expiry_time),
            )
            return True

        return await self.db_pool.runInteraction("create_registration_token", _txn)

    async def registration_token_is_valid(self, token: str) -> bool:
        """Whether ``token`` exists, has not expired and has uses left."""
        row = await self.db_pool.simple_select_one(
            "registration_tokens",
            {"token": token},
            ("uses_allowed", "pending", "completed", "expiry_time"),
            allow_none=True,
            desc="registration_token_is_valid",
        )
        if row is None:
            return False
        uses_allowed, pending, completed, expiry_time = row
        if expiry_time is not None and expiry_time < self._clock.time_msec():
            return False
        return uses_allowed is None or pending + completed < uses_allowed

    async def set_registration_token_pending(self, token: str) -> None:
        """Count a registration in progress with ``token``."""

        def _txn(txn: LoggingTransaction) -> None:
            txn.execute(
                "UPDATE registration_tokens SET pending = pending + 1 WHERE token = ?", (token,)
            )

        await self.db_pool.runInteraction("set_registration_token_pending", _txn)

    async def use_registration_token(self, token: str) -> None:
        """Turn one pending use of ``token`` into a completed one."""

        def _txn(txn: LoggingTransaction) -> None:
            txn.execute(
                "UPDATE registration_tokens SET pending = pending - 1, completed = completed + 1"
                " WHERE token = ? AND pending > 0",
                (token,),
            )

        await self.db_pool.runInteraction("use_registration_token", _txn)
