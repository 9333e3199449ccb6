"""The user directory's tables: who may be found, by which words, and who shares a room.

Search works the same on both engines, with no full-text engine: each user's display
name and user ID are cut into words (runs of letters and digits, case-folded, accents
dropped) stored in ``user_directory_search_terms``; a search word matches a term it is
a prefix of, which is an index range scan (``term >= w AND term < w'``, ``w'`` being
``w`` with its last character moved one code point on). Both engines compare text by
code point here (SQLite's BINARY collation; PostgreSQL databases are created with
``LC_COLLATE C``), so the range means the same everywhere.

Who a searcher may find is worked out in the query from ``user_directory_rooms`` (who
is joined where) and ``user_directory_public_rooms``; nothing is computed per pair of
users, so a join costs one row whatever the size of the room.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

import attr

from synapse.storage.databases.main._events_sql import batch_iter, in_list

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

# Terms are cut to this many characters, and a user keeps at most this many terms.
MAX_TERM_LENGTH = 64
MAX_TERMS_PER_USER = 100

_WORD_RE = re.compile(r"[^\W_]+")

# The kinds of stale entry (``user_directory_stale``): see the schema delta.
WHOLE_ROOM = "*"


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def search_words(text: str) -> list[str]:
    """The words of ``text`` as they are matched: case-folded, without accents."""
    return [w[:MAX_TERM_LENGTH] for w in _WORD_RE.findall(_fold(text))]


def terms_for_user(user_id: str, display_name: str | None) -> set[str]:
    """The terms a user is found by: the words of their display name and user ID."""
    terms = search_words(display_name or "") + search_words(user_id)
    return set(terms[:MAX_TERMS_PER_USER])


def sort_name_for_user(user_id: str, display_name: str | None) -> str:
    return _fold(display_name or user_id[1:].split(":", 1)[0])


def prefix_end(word: str) -> str | None:
    """The smallest string greater than every string starting with ``word`` (None if
    there is none)."""
    while word:
        code = ord(word[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            return word[:-1] + chr(code)
        word = word[:-1]
    return None


@attr.s(slots=True, frozen=True, auto_attribs=True)
class DirectoryUser:
    user_id: str
    display_name: str | None
    avatar_url: str | None
    # Whether they share a room with the searcher.
    shares_room: bool = False


class UserDirectoryStore:
    """``user_directory``, its search terms, rooms, public rooms and stale entries."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs

    # --- what is stale -------------------------------------------------------------
    def add_stale_entries_txn(
        self, txn: LoggingTransaction, entries: Collection[tuple[str, str]]
    ) -> None:
        """Mark ``(room_id, user_id)`` entries as to be brought up to date."""
        txn.execute_batch(
            "INSERT INTO user_directory_stale (room_id, user_id, version) VALUES (?, ?, 1)"
            " ON CONFLICT (room_id, user_id)"
            " DO UPDATE SET version = user_directory_stale.version + 1",
            sorted(entries),
        )

    async def add_stale_entries(self, entries: Collection[tuple[str, str]]) -> None:
        await self.db_pool.runInteraction(
            "add_user_directory_stale_entries", self.add_stale_entries_txn, entries
        )

    async def mark_stale(self, room_id: str, user_id: str) -> int:
        """Mark one entry stale; the version it now has."""

        def _txn(txn: LoggingTransaction) -> int:
            self.add_stale_entries_txn(txn, [(room_id, user_id)])
            return int(
                self.db_pool.simple_select_one_onecol_txn(
                    txn, "user_directory_stale", {"room_id": room_id, "user_id": user_id}, "version"
                )
            )

        return await self.db_pool.runInteraction("mark_user_directory_stale", _txn)

    async def get_stale_entries(self, limit: int) -> list[tuple[str, str, int]]:
        """Up to ``limit`` stale entries: ``(room_id, user_id, version)``."""
        rows = await self.db_pool.execute(
            "get_user_directory_stale_entries",
            "SELECT room_id, user_id, version FROM user_directory_stale"
            " ORDER BY room_id, user_id LIMIT ?",
            limit,
        )
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def remove_stale_entries(self, entries: Iterable[tuple[str, str, int]]) -> None:
        """Forget entries that were processed, unless they were written again since."""
        rows = list(entries)
        if not rows:
            return

        def _txn(txn: LoggingTransaction) -> None:
            txn.execute_batch(
                "DELETE FROM user_directory_stale"
                " WHERE room_id = ? AND user_id = ? AND version = ?",
                rows,
            )

        await self.db_pool.runInteraction("remove_user_directory_stale_entries", _txn)

    # --- users -----------------------------------------------------------------------
    async def update_profile(
        self, user_id: str, display_name: str | None, avatar_url: str | None
    ) -> None:
        """Add the user to the directory, or change their name and avatar there."""
        await self.db_pool.runInteraction(
            "update_user_directory_profile",
            self._update_profile_txn,
            user_id,
            display_name,
            avatar_url,
        )

    def _update_profile_txn(
        self,
        txn: LoggingTransaction,
        user_id: str,
        display_name: str | None,
        avatar_url: str | None,
    ) -> None:
        existing = self.db_pool.simple_select_one_txn(
            txn, "user_directory", {"user_id": user_id}, ("display_name",), allow_none=True
        )
        self.db_pool.simple_upsert_txn(
            txn,
            "user_directory",
            {"user_id": user_id},
            {
                "display_name": display_name,
                "avatar_url": avatar_url,
                "is_local": 1 if self.hs.is_mine_id(user_id) else 0,
                "sort_name": sort_name_for_user(user_id, display_name),
            },
        )
        if existing is not None and existing[0] == display_name:
            return
        self.db_pool.simple_delete_txn(txn, "user_directory_search_terms", {"user_id": user_id})
        self.db_pool.simple_insert_many_txn(
            txn,
            "user_directory_search_terms",
            ("term", "user_id"),
            [(term, user_id) for term in sorted(terms_for_user(user_id, display_name))],
        )

    async def remove_user(self, user_id: str) -> None:
        """Take the user out of the directory (their rooms too)."""

        def _txn(txn: LoggingTransaction) -> None:
            self._remove_user_txn(txn, user_id)
            self.db_pool.simple_delete_txn(txn, "user_directory_rooms", {"user_id": user_id})

        await self.db_pool.runInteraction("remove_user_from_user_directory", _txn)

    def _remove_user_txn(self, txn: LoggingTransaction, user_id: str) -> None:
        self.db_pool.simple_delete_txn(txn, "user_directory", {"user_id": user_id})
        self.db_pool.simple_delete_txn(txn, "user_directory_search_terms", {"user_id": user_id})

    async def get_user(self, user_id: str) -> DirectoryUser | None:
        """The user's directory entry, if they have one."""
        row = await self.db_pool.simple_select_one(
            "user_directory",
            {"user_id": user_id},
            ("display_name", "avatar_url"),
            allow_none=True,
            desc="get_user_directory_entry",
        )
        return None if row is None else DirectoryUser(user_id, row[0], row[1])

    # --- rooms -----------------------------------------------------------------------
    async def add_user_to_room(self, user_id: str, room_id: str) -> None:
        await self.db_pool.simple_insert(
            "user_directory_rooms",
            {"user_id": user_id, "room_id": room_id},
            or_ignore=True,
            desc="add_user_directory_room",
        )

    async def remove_user_from_room(self, user_id: str, room_id: str) -> None:
        """The user left the room; a remote user in no room any more leaves the directory."""

        def _txn(txn: LoggingTransaction) -> None:
            self.db_pool.simple_delete_txn(
                txn, "user_directory_rooms", {"user_id": user_id, "room_id": room_id}
            )
            self._drop_roomless_remote_users_txn(txn, [user_id])

        await self.db_pool.runInteraction("remove_user_directory_room", _txn)

    async def replace_room_members(self, room_id: str, user_ids: Collection[str]) -> None:
        """Make ``user_ids`` the room's joined users."""

        def _txn(txn: LoggingTransaction) -> None:
            before = set(
                self.db_pool.simple_select_onecol_txn(
                    txn, "user_directory_rooms", {"room_id": room_id}, "user_id"
                )
            )
            gone = before - set(user_ids)
            for chunk in batch_iter(sorted(gone)):
                clause, args = in_list("user_id", chunk)
                txn.execute(
                    f"DELETE FROM user_directory_rooms WHERE room_id = ? AND {clause}",
                    [room_id, *args],
                )
            new = sorted(set(user_ids) - before)
            self.db_pool.simple_insert_many_txn(
                txn, "user_directory_rooms", ("user_id", "room_id"), [(u, room_id) for u in new]
            )
            self._drop_roomless_remote_users_txn(txn, gone)

        await self.db_pool.runInteraction("replace_user_directory_room_members", _txn)

    def _drop_roomless_remote_users_txn(
        self, txn: LoggingTransaction, user_ids: Iterable[str]
    ) -> None:
        for user_id in user_ids:
            if self.hs.is_mine_id(user_id):
                continue
            txn.execute("SELECT 1 FROM user_directory_rooms WHERE user_id = ? LIMIT 1", (user_id,))
            if txn.fetchone() is None:
                self._remove_user_txn(txn, user_id)

    async def set_room_public(self, room_id: str, public: bool) -> None:
        """Whether anyone may find the room's members."""
        if public:
            await self.db_pool.simple_insert(
                "user_directory_public_rooms",
                {"room_id": room_id},
                or_ignore=True,
                desc="set_user_directory_room_public",
            )
        else:
            await self.db_pool.simple_delete(
                "user_directory_public_rooms",
                {"room_id": room_id},
                desc="set_user_directory_room_private",
            )

    async def get_rooms_of_user(self, user_id: str) -> set[str]:
        rows = await self.db_pool.simple_select_onecol(
            "user_directory_rooms", {"user_id": user_id}, "room_id", desc="get_user_directory_rooms"
        )
        return set(rows)

    async def get_public_rooms(self) -> set[str]:
        rows = await self.db_pool.simple_select_onecol(
            "user_directory_public_rooms", {}, "room_id", desc="get_user_directory_public_rooms"
        )
        return set(rows)

    # --- search ----------------------------------------------------------------------
    async def search(
        self,
        searcher: str,
        words: list[str],
        limit: int,
        search_all_users: bool,
        prefer_local_users: bool,
        exclude_remote_users: bool = False,
    ) -> list[DirectoryUser]:
        """Users matching every word whom ``searcher`` may find, best first, at most
        ``limit``: local users first (with ``prefer_local_users``), then those sharing
        a room with the searcher, then by name.

        The searcher may find users sharing a room with them, users in a public room
        and, with ``search_all_users``, every local user; with ``exclude_remote_users``
        only local users.
        """
        if not words or limit <= 0:
            return []
        return await self.db_pool.runInteraction(
            "search_user_directory",
            self._search_txn,
            searcher,
            words,
            limit,
            search_all_users,
            prefer_local_users,
            exclude_remote_users,
        )

    @staticmethod
    def _search_txn(
        txn: LoggingTransaction,
        searcher: str,
        words: list[str],
        limit: int,
        search_all_users: bool,
        prefer_local_users: bool,
        exclude_remote_users: bool,
    ) -> list[DirectoryUser]:
        shares_room = (
            "EXISTS (SELECT 1 FROM user_directory_rooms AS mine"
            " INNER JOIN user_directory_rooms AS theirs ON theirs.room_id = mine.room_id"
            " WHERE mine.user_id = ? AND theirs.user_id = d.user_id)"
        )
        in_public_room = (
            "EXISTS (SELECT 1 FROM user_directory_rooms AS r"
            " INNER JOIN user_directory_public_rooms AS p ON p.room_id = r.room_id"
            " WHERE r.user_id = d.user_id)"
        )
        args: list[object] = [searcher]
        conditions: list[str] = []
        for word in words:
            end = prefix_end(word)
            if end is None:
                conditions.append(
                    "d.user_id IN (SELECT t.user_id FROM user_directory_search_terms AS t"
                    " WHERE t.term >= ?)"
                )
                args.append(word)
            else:
                conditions.append(
                    "d.user_id IN (SELECT t.user_id FROM user_directory_search_terms AS t"
                    " WHERE t.term >= ? AND t.term < ?)"
                )
                args.extend((word, end))
        visible = [shares_room, in_public_room]
        if search_all_users:
            visible.insert(0, "d.is_local = 1")
        if exclude_remote_users:
            conditions.append("d.is_local = 1")
        args.append(searcher)
        order = ["shares_room DESC", "d.sort_name", "d.user_id"]
        if prefer_local_users:
            order.insert(0, "d.is_local DESC")
        txn.execute(
            f"SELECT d.user_id, d.display_name, d.avatar_url,"
            f" CASE WHEN {shares_room} THEN 1 ELSE 0 END AS shares_room"
            f" FROM user_directory AS d"
            f" WHERE {' AND '.join(conditions)} AND ({' OR '.join(visible)})"
            f" ORDER BY {', '.join(order)} LIMIT ?",
            [*args, limit],
        )
        return [DirectoryUser(r[0], r[1], r[2], bool(r[3])) for r in txn.fetchall()]
