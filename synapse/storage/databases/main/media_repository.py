"""Local media and its thumbnails: ``local_media_repository`` and ``..._thumbnails``."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import attr

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction

_MEDIA_COLUMNS = (
    "media_id",
    "media_type",
    "media_length",
    "upload_name",
    "created_ts",
    "user_id",
    "quarantined_by",
    "safe_from_quarantine",
    "last_access_ts",
    "sha256",
)

# The columns GET /_synapse/admin/v1/users/{userId}/media may order by.
MEDIA_ORDER_COLUMNS = (
    "media_id",
    "upload_name",
    "created_ts",
    "last_access_ts",
    "media_length",
    "media_type",
    "quarantined_by",
    "safe_from_quarantine",
)


@attr.s(slots=True, frozen=True, auto_attribs=True)
class LocalMedia:
    """One row of ``local_media_repository``; ``media_length`` is None until uploaded."""

    media_id: str
    media_type: str | None
    media_length: int | None
    upload_name: str | None
    created_ts: int
    user_id: str | None
    quarantined_by: str | None
    safe_from_quarantine: bool
    last_access_ts: int | None
    sha256: str | None

    @property
    def is_uploaded(self) -> bool:
        return self.media_length is not None


@attr.s(slots=True, frozen=True, auto_attribs=True)
class ThumbnailInfo:
    width: int
    height: int
    type: str
    method: str
    length: int


def _to_media(row: tuple[Any, ...]) -> LocalMedia:
    values = list(row)
    values[7] = bool(values[7])
    return LocalMedia(*values)


class MediaStore:
    """Rows of local media. Files live in the media store; see ``synapse.media.media_storage``."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs

    # --- one piece of media -------------------------------------------------------------

    async def store_local_media_id(self, media_id: str, time_now_ms: int, user_id: str) -> None:
        """Reserve ``media_id`` for ``user_id``, whose content comes later (async upload)."""
        await self.db_pool.simple_insert(
            "local_media_repository",
            {"media_id": media_id, "created_ts": time_now_ms, "user_id": user_id},
            desc="store_local_media_id",
        )

    async def store_local_media(
        self,
        media_id: str,
        media_type: str,
        time_now_ms: int,
        upload_name: str | None,
        media_length: int,
        user_id: str | None,
        sha256: str,
    ) -> None:
        await self.db_pool.simple_insert(
            "local_media_repository",
            {
                "media_id": media_id,
                "media_type": media_type,
                "created_ts": time_now_ms,
                "upload_name": upload_name,
                "media_length": media_length,
                "user_id": user_id,
                "sha256": sha256,
            },
            desc="store_local_media",
        )

    async def update_local_media(
        self,
        media_id: str,
        media_type: str,
        upload_name: str | None,
        media_length: int,
        user_id: str,
        sha256: str,
    ) -> bool:
        """Fill in the content of a reserved media ID; False if it already has content."""

        def _update(txn: LoggingTransaction) -> bool:
            txn.execute(
                "UPDATE local_media_repository"
                " SET media_type = ?, upload_name = ?, media_length = ?, sha256 = ?"
                " WHERE media_id = ? AND user_id = ? AND media_length IS NULL",
                (media_type, upload_name, media_length, sha256, media_id, user_id),
            )
            return txn.rowcount == 1

        return await self.db_pool.run_autocommit("update_local_media", _update)

    async def clear_local_media_content(self, media_id: str) -> None:
        """Make an uploaded media ID pending again (its file could not be kept)."""
        await self.db_pool.simple_update(
            "local_media_repository",
            {"media_id": media_id},
            {"media_type": None, "upload_name": None, "media_length": None, "sha256": None},
            desc="clear_local_media_content",
        )

    async def get_local_media(self, media_id: str) -> LocalMedia | None:
        row = await self.db_pool.simple_select_one(
            "local_media_repository",
            {"media_id": media_id},
            _MEDIA_COLUMNS,
            allow_none=True,
            desc="get_local_media",
        )
        return _to_media(row) if row is not None else None

    async def count_pending_media(self, user_id: str, created_after_ms: int) -> int:
        """How many media IDs ``user_id`` reserved after ``created_after_ms`` without uploading."""
        rows = await self.db_pool.execute(
            "count_pending_media",
            "SELECT COUNT(*) FROM local_media_repository"
            " WHERE user_id = ? AND created_ts > ? AND media_length IS NULL",
            user_id,
            created_after_ms,
        )
        return int(rows[0][0])

    async def get_media_uploaded_size_for_user(self, user_id: str, since_ms: int) -> int:
        """How many bytes ``user_id`` uploaded to media IDs created after ``since_ms``."""
        rows = await self.db_pool.execute(
            "get_media_uploaded_size_for_user",
            "SELECT COALESCE(SUM(media_length), 0) FROM local_media_repository"
            " WHERE user_id = ? AND created_ts > ?",
            user_id,
            since_ms,
        )
        return int(rows[0][0])

    async def update_cached_last_access_time(
        self, media_ids: Collection[str], time_ms: int
    ) -> None:
        """Record that ``media_ids`` were downloaded at ``time_ms``."""

        def _update(txn: LoggingTransaction) -> None:
            txn.execute_batch(
                "UPDATE local_media_repository SET last_access_ts = ? WHERE media_id = ?",
                [(time_ms, media_id) for media_id in media_ids],
            )

        if media_ids:
            await self.db_pool.runInteraction("update_cached_last_access_time", _update)

    # --- thumbnails ---------------------------------------------------------------------

    async def store_local_thumbnail(self, media_id: str, thumbnail: ThumbnailInfo) -> None:
        await self.db_pool.simple_upsert(
            "local_media_repository_thumbnails",
            {
                "media_id": media_id,
                "thumbnail_width": thumbnail.width,
                "thumbnail_height": thumbnail.height,
                "thumbnail_type": thumbnail.type,
                "thumbnail_method": thumbnail.method,
            },
            {"thumbnail_length": thumbnail.length},
            desc="store_local_thumbnail",
        )

    async def get_local_media_thumbnails(self, media_id: str) -> list[ThumbnailInfo]:
        rows = await self.db_pool.simple_select_list(
            "local_media_repository_thumbnails",
            {"media_id": media_id},
            (
                "thumbnail_width",
                "thumbnail_height",
                "thumbnail_type",
                "thumbnail_method",
                "thumbnail_length",
            ),
            desc="get_local_media_thumbnails",
        )
        return [ThumbnailInfo(*row) for row in rows]

    # --- deleting -------------------------------------------------------------------------

    async def delete_local_media(self, media_ids: Collection[str]) -> None:
        """Delete the rows of ``media_ids`` and of their thumbnails."""

        def _delete(txn: LoggingTransaction) -> None:
            for table in ("local_media_repository_thumbnails", "local_media_repository"):
                self.db_pool.simple_delete_many_txn(txn, table, "media_id", media_ids, {})

        if media_ids:
            await self.db_pool.runInteraction("delete_local_media", _delete)

    async def get_local_media_ids_before(
        self, before_ts: int, size_gt: int, keep_profiles: bool
    ) -> list[str]:
        """Uploaded media last used (downloaded, else uploaded) before ``before_ts`` and
        larger than ``size_gt`` bytes, leaving out quarantined and protected media.

        With ``keep_profiles``, media used as a user's avatar (in a profile or in a room
        membership) is left out too: this one query reads ``profiles`` and
        ``room_memberships`` as well as the media tables.
        """
        sql = (
            "SELECT media_id FROM local_media_repository"
            " WHERE COALESCE(last_access_ts, created_ts) < ? AND media_length > ?"
            " AND quarantined_by IS NULL AND NOT safe_from_quarantine"
        )
        args: list[Any] = [before_ts, size_gt]
        if keep_profiles:
            mxc_prefix = f"mxc://{self.hs.hostname}/"
            sql += (
                " AND NOT EXISTS (SELECT 1 FROM profiles WHERE avatar_url = ? || media_id)"
                " AND NOT EXISTS (SELECT 1 FROM room_memberships WHERE avatar_url = ? || media_id)"
            )
            args.extend([mxc_prefix, mxc_prefix])
        rows = await self.db_pool.execute("get_local_media_ids_before", sql, *args)
        return [row[0] for row in rows]

    # --- quarantine and protection ------------------------------------------------------

    async def quarantine_local_media(self, media_id: str, quarantined_by: str) -> None:
        """Quarantine ``media_id`` unless it is protected."""

        def _quarantine(txn: LoggingTransaction) -> None:
            txn.execute(
                "UPDATE local_media_repository SET quarantined_by = ?"
                " WHERE media_id = ? AND NOT safe_from_quarantine",
                (quarantined_by, media_id),
            )

        await self.db_pool.run_autocommit("quarantine_local_media", _quarantine)

    async def quarantine_media_of_user(self, user_id: str, quarantined_by: str) -> int:
        """Quarantine every unprotected piece of media ``user_id`` uploaded; returns how many."""

        def _quarantine(txn: LoggingTransaction) -> int:
            txn.execute(
                "UPDATE local_media_repository SET quarantined_by = ?"
                " WHERE user_id = ? AND NOT safe_from_quarantine",
                (quarantined_by, user_id),
            )
            return max(txn.rowcount, 0)

        return await self.db_pool.runInteraction("quarantine_media_of_user", _quarantine)

    async def unquarantine_local_media(self, media_id: str) -> None:
        await self.db_pool.simple_update(
            "local_media_repository",
            {"media_id": media_id},
            {"quarantined_by": None},
            desc="unquarantine_local_media",
        )

    async def mark_local_media_as_safe(self, media_id: str, safe: bool = True) -> None:
        """Protect (or stop protecting) ``media_id`` from quarantine."""
        await self.db_pool.simple_update(
            "local_media_repository",
            {"media_id": media_id},
            {"safe_from_quarantine": safe},
            desc="mark_local_media_as_safe",
        )

    # --- per user ---------------------------------------------------------------------------

    async def get_local_media_by_user_paginate(
        self, start: int, limit: int, user_id: str, order_by: str, direction_forwards: bool
    ) -> tuple[list[LocalMedia], int]:
        """A page of ``user_id``'s media, and how much media the user has in all."""
        if order_by not in MEDIA_ORDER_COLUMNS:
            raise ValueError(f"Cannot order media by {order_by!r}")
        # NULL sorts as the smallest value on both engines.
        order, nulls = ("ASC", "FIRST") if direction_forwards else ("DESC", "LAST")

        def _paginate(txn: LoggingTransaction) -> tuple[list[LocalMedia], int]:
            txn.execute("SELECT COUNT(*) FROM local_media_repository WHERE user_id = ?", (user_id,))
            row = txn.fetchone()
            total = int(row[0]) if row else 0
            # media_id breaks ties, so that pages neither repeat nor skip rows.
            txn.execute(
                f"SELECT {', '.join(_MEDIA_COLUMNS)} FROM local_media_repository"
                f" WHERE user_id = ? ORDER BY {order_by} {order} NULLS {nulls}, media_id {order}"
                " LIMIT ? OFFSET ?",
                (user_id, limit, start),
            )
            return [_to_media(r) for r in txn.fetchall()], total

        return await self.db_pool.runInteraction("get_local_media_by_user_paginate", _paginate)
