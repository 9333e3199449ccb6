"""The admin API for media: details, deletion, quarantine, protection, users' media."""

from __future__ import annotations

from typing import Any

from tests.media.images import png_bytes
from tests.rest.media._base import MediaTestCase
from tests.server import FakeChannel

ADMIN = "/_synapse/admin/v1"


class AdminMediaTestCase(MediaTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.admin = self.register_user("admin", "password", admin=True)
        self.admin_token = self.create_access_token(self.admin)

    def admin_request(
        self, method: str, path: str, token: str | None = None, content: object = b""
    ) -> FakeChannel:
        return self.make_request(
            method, ADMIN + path, content, access_token=token or self.admin_token
        )

    def test_non_admins_are_refused(self) -> None:
        media_id = self.upload_media(b"data")
        requests = [
            ("GET", f"/media/test/{media_id}"),
            ("DELETE", f"/media/test/{media_id}"),
            ("POST", "/media/delete?before_ts=40000000000"),
            ("POST", "/media/test/delete?before_ts=40000000000"),
            ("POST", f"/media/quarantine/test/{media_id}"),
            ("POST", f"/media/unquarantine/test/{media_id}"),
            ("POST", f"/media/protect/{media_id}"),
            ("POST", f"/media/unprotect/{media_id}"),
            ("GET", f"/users/{self.user}/media"),
            ("DELETE", f"/users/{self.user}/media"),
            ("POST", f"/user/{self.user}/media/quarantine"),
            ("POST", "/purge_media_cache?before_ts=40000000000"),
        ]
        for method, path in requests:
            channel = self.admin_request(method, path, token=self.token)
            self.assertEqual(channel.code, 403, (method, path, channel.result))
            self.assertEqual(channel.json_body["errcode"], "M_FORBIDDEN")
            channel = self.make_request(method, ADMIN + path)
            self.assertEqual(channel.code, 401, (method, path))
        # Nothing happened to the media.
        self.assertEqual(self.download(media_id).code, 200)

    def test_media_info(self) -> None:
        created = self.clock.time_msec()
        media_id = self.upload_media(b"12345", content_type=b"text/plain", filename="a.txt")
        channel = self.admin_request("GET", f"/media/test/{media_id}")
        self.assertEqual(channel.code, 200, channel.result)
        self.assertEqual(
            channel.json_body,
            {
                "media_info": {
                    "media_origin": "test",
                    "media_id": media_id,
                    "media_type": "text/plain",
                    "media_length": 5,
                    "upload_name": "a.txt",
                    "created_ts": created,
                    "last_access_ts": None,
                    "quarantined_by": None,
                    "safe_from_quarantine": False,
                    "user_id": self.user,
                    "sha256": "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5",
                }
            },
        )
        for path in ("/media/test/abcdefghijklmnopqrstuvwx", f"/media/other.example/{media_id}"):
            channel = self.admin_request("GET", path)
            self.assertEqual(channel.code, 404)
            self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")

    def test_delete_one(self) -> None:
        media_id = self.upload_media(png_bytes(200, 200))
        self.assertNotEqual(self.stored_files(), [])
        channel = self.admin_request("DELETE", f"/media/test/{media_id}")
        self.assertEqual(channel.code, 200, channel.result)
        self.assertEqual(channel.json_body, {"deleted_media": [media_id], "total": 1})
        # The content, its thumbnails and their directories are gone.
        self.assertEqual(self.stored_files(), [])
        self.assertEqual(self.download(media_id).code, 404)
        self.assertEqual(self.get_success(self.store.get_local_media_thumbnails(media_id)), [])

        self.assertEqual(self.admin_request("DELETE", f"/media/test/{media_id}").code, 404)
        channel = self.admin_request("DELETE", f"/media/other.example/{media_id}")
        self.assertEqual(channel.code, 400)

    def test_delete_by_date_and_size(self) -> None:
        old_small = self.upload_media(b"x")
        old_big = self.upload_media(b"x" * 100)
        old_protected = self.upload_media(b"x" * 100)
        old_quarantined = self.upload_media(b"x" * 100)
        self.get_success(self.store.mark_local_media_as_safe(old_protected))
        self.get_success(self.store.quarantine_local_media(old_quarantined, self.admin))
        self.reactor.advance(100)
        cutoff = self.clock.time_msec()
        self.reactor.advance(100)
        new = self.upload_media(b"x" * 100)

        channel = self.admin_request("POST", f"/media/delete?before_ts={cutoff}&size_gt=10")
        self.assertEqual(channel.code, 200, channel.result)
        self.assertEqual(channel.json_body, {"deleted_media": [old_big], "total": 1})
        channel = self.admin_request("POST", f"/media/test/delete?before_ts={cutoff}")
        self.assertEqual(channel.json_body, {"deleted_media": [old_small], "total": 1})
        for kept in (old_protected, old_quarantined, new):
            self.assertIsNotNone(self.get_success(self.store.get_local_media(kept)))

    def test_delete_by_date_uses_last_access(self) -> None:
        media_id = self.upload_media(b"data")
        self.reactor.advance(100)
        cutoff = self.clock.time_msec()
        self.reactor.advance(100)
        self.download(media_id)
        channel = self.admin_request("POST", f"/media/delete?before_ts={cutoff}")
        self.assertEqual(channel.json_body, {"deleted_media": [], "total": 0})

    def test_delete_keeps_avatars(self) -> None:
        media_id = self.upload_media(b"avatar")
        self.get_success(
            self.hs.get_datastores().main.profile.set_profile_avatar_url(
                self.user, f"mxc://test/{media_id}"
            )
        )
        self.reactor.advance(10)
        before_ts = self.clock.time_msec()
        channel = self.admin_request("POST", f"/media/delete?before_ts={before_ts}")
        self.assertEqual(channel.json_body["total"], 0)
        channel = self.admin_request(
            "POST", f"/media/delete?before_ts={before_ts}&keep_profiles=false"
        )
        self.assertEqual(channel.json_body, {"deleted_media": [media_id], "total": 1})

    def test_delete_by_date_bad_input(self) -> None:
        for query, errcode in [
            ("", "M_MISSING_PARAM"),
            ("before_ts=1700000000", "M_INVALID_PARAM"),
            ("before_ts=-1", "M_INVALID_PARAM"),
            ("before_ts=40000000000&size_gt=-1", "M_INVALID_PARAM"),
            ("before_ts=40000000000&keep_profiles=maybe", "M_INVALID_PARAM"),
        ]:
            channel = self.admin_request("POST", f"/media/delete?{query}")
            self.assertEqual(channel.code, 400, (query, channel.result))
            self.assertEqual(channel.json_body["errcode"], errcode, query)
        channel = self.admin_request("POST", "/media/other.example/delete?before_ts=40000000000")
        self.assertEqual(channel.code, 400)

    def test_quarantine(self) -> None:
        media_id = self.upload_media(png_bytes(100, 100))
        channel = self.admin_request("POST", f"/media/quarantine/test/{media_id}")
        self.assertEqual((channel.code, channel.json_body), (200, {}))
        for authenticated in (True, False):
            channel = self.download(media_id, authenticated=authenticated)
            self.assertEqual(channel.code, 404)
            self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")
        self.assertEqual(self.thumbnail(media_id, 32, 32, "crop").code, 404)
        info = self.admin_request("GET", f"/media/test/{media_id}").json_body["media_info"]
        self.assertEqual(info["quarantined_by"], self.admin)

        channel = self.admin_request("POST", f"/media/unquarantine/test/{media_id}")
        self.assertEqual((channel.code, channel.json_body), (200, {}))
        self.assertEqual(self.download(media_id).code, 200)
        self.assertEqual(self.thumbnail(media_id, 32, 32, "crop").code, 200)

        # Remote media is accepted (there is none cached yet).
        channel = self.admin_request("POST", "/media/quarantine/other.example/abcdef")
        self.assertEqual(channel.code, 200)

    def test_protected_media_cannot_be_quarantined(self) -> None:
        media_id = self.upload_media(b"data")
        self.assertEqual(self.admin_request("POST", f"/media/protect/{media_id}").code, 200)
        info = self.admin_request("GET", f"/media/test/{media_id}").json_body["media_info"]
        self.assertTrue(info["safe_from_quarantine"])
        self.admin_request("POST", f"/media/quarantine/test/{media_id}")
        self.assertEqual(self.download(media_id).code, 200)

        self.assertEqual(self.admin_request("POST", f"/media/unprotect/{media_id}").code, 200)
        self.admin_request("POST", f"/media/quarantine/test/{media_id}")
        self.assertEqual(self.download(media_id).code, 404)

    def test_quarantine_a_users_media(self) -> None:
        first = self.upload_media(b"one")
        second = self.upload_media(b"two")
        self.admin_request("POST", f"/media/protect/{second}")
        channel = self.admin_request("POST", f"/user/{self.user}/media/quarantine")
        self.assertEqual(channel.code, 200, channel.result)
        self.assertEqual(channel.json_body, {"num_quarantined": 1})
        self.assertEqual(self.download(first).code, 404)
        self.assertEqual(self.download(second).code, 200)

    def test_user_media_list(self) -> None:
        ids = []
        for i, size in enumerate([30, 10, 20]):
            ids.append(self.upload_media(b"x" * size, filename=f"f{i}"))
            self.reactor.advance(1)
        path = f"/users/{self.user}/media"

        channel = self.admin_request("GET", path)
        self.assertEqual(channel.code, 200, channel.result)
        self.assertEqual(channel.json_body["total"], 3)
        self.assertNotIn("next_token", channel.json_body)
        self.assertEqual([m["media_id"] for m in channel.json_body["media"]], ids)
        self.assertEqual(
            set(channel.json_body["media"][0]),
            {
                "media_id",
                "media_type",
                "media_length",
                "upload_name",
                "created_ts",
                "last_access_ts",
                "quarantined_by",
                "safe_from_quarantine",
            },
        )

        channel = self.admin_request("GET", f"{path}?limit=2")
        self.assertEqual([m["media_id"] for m in channel.json_body["media"]], ids[:2])
        self.assertEqual(channel.json_body["next_token"], 2)
        channel = self.admin_request("GET", f"{path}?limit=2&from=2")
        self.assertEqual([m["media_id"] for m in channel.json_body["media"]], ids[2:])
        self.assertNotIn("next_token", channel.json_body)

        channel = self.admin_request("GET", f"{path}?order_by=media_length")
        self.assertEqual([m["media_length"] for m in channel.json_body["media"]], [10, 20, 30])
        channel = self.admin_request("GET", f"{path}?order_by=media_length&dir=b")
        self.assertEqual([m["media_length"] for m in channel.json_body["media"]], [30, 20, 10])

        # Another user's list is empty.
        channel = self.admin_request("GET", f"/users/{self.admin}/media")
        self.assertEqual(channel.json_body, {"media": [], "total": 0})

    def test_user_media_bad_input(self) -> None:
        path = f"/users/{self.user}/media"
        for query in ["from=-1", "limit=-1", "order_by=sha256", "dir=x", "limit=x"]:
            channel = self.admin_request("GET", f"{path}?{query}")
            self.assertEqual(channel.code, 400, (query, channel.result))
            self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM")
        channel = self.admin_request("GET", "/users/@someone:other.example/media")
        self.assertEqual(channel.code, 400)
        channel = self.admin_request("GET", "/users/@nobody:test/media")
        self.assertEqual(channel.code, 404)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")
        channel = self.admin_request("GET", "/users/not-a-user/media")
        self.assertEqual(channel.code, 400)

    def test_delete_user_media(self) -> None:
        ids = []
        for _ in range(3):
            ids.append(self.upload_media(b"data"))
            self.reactor.advance(1)
        other = self.upload_media(b"admin's", token=self.admin_token)
        channel = self.admin_request("DELETE", f"/users/{self.user}/media?limit=2")
        self.assertEqual(channel.code, 200, channel.result)
        self.assertEqual(channel.json_body, {"deleted_media": ids[:2], "total": 2})
        channel = self.admin_request("DELETE", f"/users/{self.user}/media")
        self.assertEqual(channel.json_body, {"deleted_media": ids[2:], "total": 1})
        self.assertEqual(self.download(other).code, 200)
        self.assertEqual(
            [f for f in self.stored_files() if f.startswith("local_content")],
            [f"local_content/{other[:2]}/{other[2:4]}/{other[4:]}"],
        )

    def test_purge_media_cache(self) -> None:
        channel = self.admin_request("POST", "/purge_media_cache?before_ts=40000000000")
        self.assertEqual((channel.code, channel.json_body), (200, {"deleted": 0}))
        channel = self.admin_request("POST", "/purge_media_cache")
        self.assertEqual(channel.code, 400)
