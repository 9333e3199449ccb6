"""Account data (``account_data``): global and per room, tags included (``m.tag``).

Global entries have ``room_id = ''``. Every change takes the next position of the
account data stream; a ``StreamChangeCache`` of users answers "did this user's account
data change since N" from memory, and each user's global account data is cached (it is
read on every ``/sync``, e.g. for the ignored users).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from synapse.api.constants import AccountDataTypes
from synapse.storage.databases.main._events_sql import encode_json
from synapse.storage.util.id_generators import AbstractStreamIdGenerator, StreamIdGenerator
from synapse.types import JsonMapping
from synapse.util.caches.lrucache import LruCache
from synapse.util.caches.stream_change_cache import StreamChangeCache

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

# The room_id of global account data.
GLOBAL = ""

# A user's global account data, and their account data per room: type -> content.
AccountData = dict[str, JsonMapping]
RoomAccountData = dict[str, dict[str, JsonMapping]]


class AccountDataStore:
    """The ``account_data`` table and the account data stream."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._id_gen = StreamIdGenerator(
            None, database, "account_data", "stream_id", "account_data_sequence"
        )
        self._user_change_cache = StreamChangeCache(
            "account_data_users", self._id_gen.get_current_token()
        )
        self._global_cache: LruCache[str, AccountData] = LruCache(10_000)

    # --- positions -----------------------------------------------------------------
    @property
    def stream_id_generator(self) -> AbstractStreamIdGenerator:
        return self._id_gen

    def get_max_account_data_stream_id(self) -> int:
        """The position up to which every account data change is persisted."""
        return self._id_gen.get_current_token()

    def has_account_data_changed(self, user_id: str, from_key: int) -> bool:
        """False only when the user's account data surely did not change after ``from_key``."""
        return self._user_change_cache.has_entity_changed(user_id, from_key)

    # --- reads -----------------------------------------------------------------------
    async def get_global_account_data_for_user(self, user_id: str) -> AccountData:
        """The user's global account data: type -> content (cached)."""
        cached = self._global_cache.get(user_id)
        if cached is None:
            rows = await self.db_pool.simple_select_list(
                "account_data",
                {"user_id": user_id, "room_id": GLOBAL},
                ("account_data_type", "content"),
                desc="get_global_account_data_for_user",
            )
            cached = {t: json.loads(c) for t, c in rows}
            self._global_cache.set(user_id, cached)
        return cached

    async def get_global_account_data_by_type_for_user(
        self, user_id: str, account_data_type: str
    ) -> JsonMapping | None:
        """The content of one type of the user's global account data, or None."""
        return (await self.get_global_account_data_for_user(user_id)).get(account_data_type)

    async def get_account_data_for_room_and_type(
        self, user_id: str, room_id: str, account_data_type: str
    ) -> JsonMapping | None:
        """The content of one type of the user's account data for a room, or None."""
        content = await self.db_pool.simple_select_one_onecol(
            "account_data",
            {"user_id": user_id, "room_id": room_id, "account_data_type": account_data_type},
            "content",
            allow_none=True,
            desc="get_account_data_for_room_and_type",
        )
        return None if content is None else json.loads(content)

    async def get_account_data_for_room(self, user_id: str, room_id: str) -> AccountData:
        """The user's account data for one room: type -> content."""
        rows = await self.db_pool.simple_select_list(
            "account_data",
            {"user_id": user_id, "room_id": room_id},
            ("account_data_type", "content"),
            desc="get_account_data_for_room",
        )
        return {t: json.loads(c) for t, c in rows}

    async def get_room_account_data_for_user(self, user_id: str) -> RoomAccountData:
        """All the user's account data of rooms: room ID -> type -> content."""
        rows = await self.db_pool.execute(
            "get_room_account_data_for_user",
            "SELECT room_id, account_data_type, content FROM account_data"
            " WHERE user_id = ? AND room_id != ?",
            user_id,
            GLOBAL,
        )
        out: RoomAccountData = {}
        for room_id, typ, content in rows:
            out.setdefault(room_id, {})[typ] = json.loads(content)
        return out

    async def get_updated_account_data_for_user(
        self, user_id: str, from_key: int, to_key: int
    ) -> tuple[AccountData, RoomAccountData]:
        """The user's global and room account data that changed in ``(from_key, to_key]``.

        Answered from memory, without a query, when nothing of the user's changed.
        """
        if from_key >= to_key or not self.has_account_data_changed(user_id, from_key):
            return {}, {}
        rows = await self.db_pool.execute(
            "get_updated_account_data_for_user",
            "SELECT room_id, account_data_type, content FROM account_data"
            " WHERE user_id = ? AND stream_id > ? AND stream_id <= ?",
            user_id,
            from_key,
            to_key,
        )
        global_data: AccountData = {}
        rooms: RoomAccountData = {}
        for room_id, typ, content in rows:
            if room_id == GLOBAL:
                global_data[typ] = json.loads(content)
            else:
                rooms.setdefault(room_id, {})[typ] = json.loads(content)
        return global_data, rooms

    async def get_tags_for_room(self, user_id: str, room_id: str) -> dict[str, JsonMapping]:
        """The user's tags on a room: tag -> its content (``order``, ...)."""
        content = await self.get_account_data_for_room_and_type(
            user_id, room_id, AccountDataTypes.TAG
        )
        return _tags_of(content)

    # --- writes ----------------------------------------------------------------------
    async def add_account_data_for_user(
        self, user_id: str, account_data_type: str, content: JsonMapping
    ) -> int:
        """Set one type of the user's global account data; its stream position."""
        return await self.db_pool.runInteraction(
            "add_account_data_for_user",
            self._set_txn,
            user_id,
            GLOBAL,
            account_data_type,
            lambda _old: content,
        )

    async def add_account_data_to_room(
        self, user_id: str, room_id: str, account_data_type: str, content: JsonMapping
    ) -> int:
        """Set one type of the user's account data for a room; its stream position."""
        if room_id == GLOBAL:
            raise ValueError("A room ID is needed")
        return await self.db_pool.runInteraction(
            "add_account_data_to_room",
            self._set_txn,
            user_id,
            room_id,
            account_data_type,
            lambda _old: content,
        )

    async def add_tag_to_room(
        self, user_id: str, room_id: str, tag: str, tag_content: JsonMapping
    ) -> int:
        """Add (or replace) one tag of the user on a room; its stream position."""

        def update(old: JsonMapping | None) -> JsonMapping:
            tags = dict(_tags_of(old))
            tags[tag] = tag_content
            return {**(old or {}), "tags": tags}

        return await self.db_pool.runInteraction(
            "add_tag_to_room", self._set_txn, user_id, room_id, AccountDataTypes.TAG, update
        )

    async def remove_tag_from_room(self, user_id: str, room_id: str, tag: str) -> int | None:
        """Remove one tag of the user from a room; its stream position (None if the
        room did not have that tag)."""

        def update(old: JsonMapping | None) -> JsonMapping | None:
            tags = dict(_tags_of(old))
            if tag not in tags:
                return None
            del tags[tag]
            return {**(old or {}), "tags": tags}

        return await self.db_pool.runInteraction(
            "remove_tag_from_room", self._set_txn, user_id, room_id, AccountDataTypes.TAG, update
        )

    def _set_txn(
        self,
        txn: LoggingTransaction,
        user_id: str,
        room_id: str,
        account_data_type: str,
        update: Callable[[JsonMapping | None], JsonMapping | None],
    ) -> Any:
        """Replace an entry by ``update(old content)`` (None: leave it alone) in one
        transaction, so that concurrent tag changes are not lost."""
        key = {"user_id": user_id, "room_id": room_id, "account_data_type": account_data_type}
        old_text = self.db_pool.simple_select_one_onecol_txn(
            txn, "account_data", key, "content", allow_none=True
        )
        new = update(None if old_text is None else json.loads(old_text))
        if new is None:
            return None
        stream_id = self._id_gen.get_next_txn(txn)
        self.db_pool.simple_upsert_txn(
            txn, "account_data", key, {"content": encode_json(new), "stream_id": stream_id}
        )
        txn.call_after(self._changed, user_id, room_id, stream_id)
        return stream_id

    def _changed(self, user_id: str, room_id: str, stream_id: int) -> None:
        self._user_change_cache.entity_has_changed(user_id, stream_id)
        if room_id == GLOBAL:
            self._global_cache.invalidate(user_id)


def _tags_of(content: Mapping[str, Any] | None) -> dict[str, JsonMapping]:
    """The ``tags`` of ``m.tag`` content, leaving out anything malformed."""
    tags = content.get("tags") if content is not None else None
    if not isinstance(tags, Mapping):
        return {}
    return {t: c for t, c in tags.items() if isinstance(t, str) and isinstance(c, Mapping)}
