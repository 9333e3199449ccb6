"""MediaStore: the rows of local media, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from synapse.storage.databases.main.media_repository import MEDIA_ORDER_COLUMNS, ThumbnailInfo
from tests.unittest import HomeserverTestCase

USER = "@alice:test"


class MediaStoreTestCase(HomeserverTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.store = hs.get_datastores().main.media

    def add(self, media_id: str, created_ts: int, length: int = 1, user_id: str = USER) -> None:
        self.get_success(
            self.store.store_local_media(
                media_id, "text/plain", created_ts, None, length, user_id, "00"
            )
        )

    def test_reserved_then_uploaded(self) -> None:
        self.get_success(self.store.store_local_media_id("pendingid", 1000, USER))
        media = self.get_success(self.store.get_local_media("pendingid"))
        assert media is not None
        self.assertFalse(media.is_uploaded)
        self.assertEqual(self.get_success(self.store.count_pending_media(USER, 999)), 1)
        self.assertEqual(self.get_success(self.store.count_pending_media(USER, 1000)), 0)

        # Only the user who reserved it, and only once.
        args = ("pendingid", "image/png", "a.png", 5, "@bob:test", "ff")
        self.assertFalse(self.get_success(self.store.update_local_media(*args)))
        args = ("pendingid", "image/png", "a.png", 5, USER, "ff")
        self.assertTrue(self.get_success(self.store.update_local_media(*args)))
        self.assertFalse(self.get_success(self.store.update_local_media(*args)))
        media = self.get_success(self.store.get_local_media("pendingid"))
        assert media is not None
        self.assertEqual(
            (media.media_type, media.media_length, media.sha256), ("image/png", 5, "ff")
        )
        self.assertEqual(self.get_success(self.store.count_pending_media(USER, 0)), 0)

    def test_thumbnails(self) -> None:
        self.add("mediaid", 1)
        info = ThumbnailInfo(32, 32, "image/png", "crop", 100)
        self.get_success(self.store.store_local_thumbnail("mediaid", info))
        # Stored again (e.g. made again after its file was lost): one row.
        self.get_success(self.store.store_local_thumbnail("mediaid", info))
        self.assertEqual(self.get_success(self.store.get_local_media_thumbnails("mediaid")), [info])
        self.get_success(self.store.delete_local_media(["mediaid"]))
        self.assertEqual(self.get_success(self.store.get_local_media_thumbnails("mediaid")), [])
        self.assertIsNone(self.get_success(self.store.get_local_media("mediaid")))

    def test_pagination_orders_nulls_the_same_on_both_engines(self) -> None:
        self.add("aaaaa", 3)
        self.add("bbbbb", 1)
        self.add("ccccc", 2)
        self.get_success(self.store.update_cached_last_access_time(["bbbbb"], 50))
        self.get_success(self.store.update_cached_last_access_time(["ccccc"], 40))

        def page(
            order_by: str, forwards: bool = True, start: int = 0, limit: int = 10
        ) -> list[str]:
            media, total = self.get_success(
                self.store.get_local_media_by_user_paginate(start, limit, USER, order_by, forwards)
            )
            self.assertEqual(total, 3)
            return [m.media_id for m in media]

        self.assertEqual(page("created_ts"), ["bbbbb", "ccccc", "aaaaa"])
        self.assertEqual(page("created_ts", forwards=False), ["aaaaa", "ccccc", "bbbbb"])
        self.assertEqual(page("last_access_ts"), ["aaaaa", "ccccc", "bbbbb"])
        self.assertEqual(page("last_access_ts", forwards=False), ["bbbbb", "ccccc", "aaaaa"])
        self.assertEqual(page("created_ts", start=1, limit=1), ["ccccc"])
        for column in MEDIA_ORDER_COLUMNS:
            self.assertEqual(sorted(page(column)), ["aaaaa", "bbbbb", "ccccc"])
        self.get_failure(
            self.store.get_local_media_by_user_paginate(0, 1, USER, "1; DROP TABLE x", True),
            ValueError,
        )

    def test_old_media_leaves_avatars_of_memberships(self) -> None:
        self.add("avatarid", 1)
        self.add("otherid", 1)

        def add_membership(txn: Any) -> None:
            txn.execute(
                "INSERT INTO room_memberships (event_id, user_id, sender, room_id, membership,"
                " avatar_url, event_stream_ordering) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ("$e", USER, USER, "!r:test", "join", "mxc://test/avatarid", 1),
            )

        self.get_success(self.store.db_pool.runInteraction("add_membership", add_membership))
        self.assertEqual(
            self.get_success(self.store.get_local_media_ids_before(10, 0, True)), ["otherid"]
        )
        self.assertEqual(
            sorted(self.get_success(self.store.get_local_media_ids_before(10, 0, False))),
            ["avatarid", "otherid"],
        )
