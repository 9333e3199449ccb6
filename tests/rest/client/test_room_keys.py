"""Server-side key backups: ``/room_keys/version`` and ``/room_keys/keys``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.e2e_helpers import E2eTestCase
from tests.server import FakeChannel

ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
API = "client-server/key_backup.yaml"
ROOM = "!room:test"


def key(index: int = 0, forwarded: int = 0, verified: bool = False, tag: str = "x") -> JsonDict:
    return {
        "first_message_index": index,
        "forwarded_count": forwarded,
        "is_verified": verified,
        "session_data": {"ciphertext": tag, "ephemeral": "e", "mac": "m"},
    }


class RoomKeysTestCase(E2eTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.user = self.register_user("alice", "pass")
        self.tok = self.login("alice", "pass", device_id="A1")

    def req(self, method: str, path: str, body: Any = None, tok: str | None = None) -> FakeChannel:
        return self.make_request(
            method, path, body if body is not None else b"", access_token=tok or self.tok
        )

    def create(self, auth_data: JsonDict | None = None) -> str:
        channel = self.req(
            "POST",
            "room_keys/version",
            {"algorithm": ALGORITHM, "auth_data": auth_data or {"public_key": "pk"}},
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, API, "/room_keys/version", "post")
        return channel.json_body["version"]

    def keys_path(self, version: str, room: str | None = None, session: str | None = None) -> str:
        path = "room_keys/keys"
        if room is not None:
            path += "/" + quote(room, safe="")
            if session is not None:
                path += "/" + quote(session, safe="")
        return f"{path}?version={quote(version, safe='')}"

    def test_versions(self) -> None:
        channel = self.req("GET", "room_keys/version")
        self.assertEqual(channel.code, 404, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")
        assert_response_matches_spec(channel.json_body, API, "/room_keys/version", "get", 404)

        first = self.create()
        second = self.create({"public_key": "pk2"})
        self.assertNotEqual(first, second)
        channel = self.req("GET", "room_keys/version")
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, API, "/room_keys/version", "get")
        self.assertEqual(channel.json_body["version"], second)
        self.assertEqual(channel.json_body["auth_data"], {"public_key": "pk2"})
        self.assertEqual(channel.json_body["count"], 0)

        channel = self.req("GET", f"room_keys/version/{first}")
        assert_response_matches_spec(channel.json_body, API, "/room_keys/version/{version}", "get")
        self.assertEqual(channel.json_body["auth_data"], {"public_key": "pk"})

        # Update: auth_data only, the algorithm must match.
        channel = self.req(
            "PUT",
            f"room_keys/version/{first}",
            {"algorithm": ALGORITHM, "auth_data": {"public_key": "new"}, "version": first},
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.req("GET", f"room_keys/version/{first}")
        self.assertEqual(channel.json_body["auth_data"], {"public_key": "new"})
        for body in (
            {"algorithm": "other", "auth_data": {}},
            {"algorithm": ALGORITHM, "auth_data": {}, "version": second},
        ):
            channel = self.req("PUT", f"room_keys/version/{first}", body)
            self.assertEqual(channel.code, 400, channel.json_body)
            self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM")
        channel = self.req("GET", f"room_keys/version/{first}")
        self.assertEqual(channel.json_body["auth_data"], {"public_key": "new"})

        # Delete the current one: the older one is current again; numbers not reused.
        channel = self.req("DELETE", f"room_keys/version/{second}")
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self.req("GET", f"room_keys/version/{second}").code, 404)
        self.assertEqual(self.req("GET", "room_keys/version").json_body["version"], first)
        third = self.create()
        self.assertNotIn(third, (first, second))
        self.assertEqual(self.req("DELETE", f"room_keys/version/{second}").code, 404)

    def test_unknown_versions(self) -> None:
        self.create()
        for version in ("999", "abc", "01", "-1", "99999999999999999999999"):
            for method, body in (
                ("GET", None),
                ("DELETE", None),
                ("PUT", {"algorithm": ALGORITHM, "auth_data": {}}),
            ):
                channel = self.req(method, f"room_keys/version/{quote(version)}", body)
                self.assertEqual(channel.code, 404, (method, version, channel.json_body))
                self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")

    def test_versions_are_per_user(self) -> None:
        version = self.create()
        self.register_user("bob", "pass")
        bob = self.login("bob", "pass", device_id="B1")
        self.assertEqual(self.req("GET", f"room_keys/version/{version}", tok=bob).code, 404)
        self.assertEqual(self.req("GET", "room_keys/version", tok=bob).code, 404)
        channel = self.req("PUT", self.keys_path(version, ROOM, "s"), key(), tok=bob)
        self.assertEqual(channel.code, 404, channel.json_body)

    def test_keys_put_get_delete_at_each_level(self) -> None:
        version = self.create()
        channel = self.req("PUT", self.keys_path(version, ROOM, "s1"), key(tag="s1"))
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(
            channel.json_body, API, "/room_keys/keys/{roomId}/{sessionId}", "put"
        )
        self.assertEqual(channel.json_body["count"], 1)
        etag1 = channel.json_body["etag"]

        channel = self.req("PUT", self.keys_path(version, ROOM), {"sessions": {"s2": key()}})
        self.assertEqual(channel.json_body["count"], 2)
        self.assertNotEqual(channel.json_body["etag"], etag1)
        channel = self.req(
            "PUT", self.keys_path(version), {"rooms": {"!other:test": {"sessions": {"s3": key()}}}}
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(channel.json_body, API, "/room_keys/keys", "put")
        self.assertEqual(channel.json_body["count"], 3)

        channel = self.req("GET", self.keys_path(version, ROOM, "s1"))
        assert_response_matches_spec(
            channel.json_body, API, "/room_keys/keys/{roomId}/{sessionId}", "get"
        )
        self.assertEqual(channel.json_body, key(tag="s1"))
        channel = self.req("GET", self.keys_path(version, ROOM))
        assert_response_matches_spec(channel.json_body, API, "/room_keys/keys/{roomId}", "get")
        self.assertEqual(set(channel.json_body["sessions"]), {"s1", "s2"})
        channel = self.req("GET", self.keys_path(version))
        assert_response_matches_spec(channel.json_body, API, "/room_keys/keys", "get")
        self.assertEqual(set(channel.json_body["rooms"]), {ROOM, "!other:test"})

        info = self.req("GET", "room_keys/version").json_body
        self.assertEqual(info["count"], 3)

        # Missing things.
        channel = self.req("GET", self.keys_path(version, ROOM, "nope"))
        self.assertEqual(channel.code, 404)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")
        channel = self.req("GET", self.keys_path(version, "!empty:test"))
        self.assertEqual(channel.json_body, {"sessions": {}})

        channel = self.req("DELETE", self.keys_path(version, ROOM, "s1"))
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(
            channel.json_body, API, "/room_keys/keys/{roomId}/{sessionId}", "delete"
        )
        self.assertEqual(channel.json_body["count"], 2)
        channel = self.req("DELETE", self.keys_path(version, ROOM))
        self.assertEqual(channel.json_body["count"], 1)
        channel = self.req("DELETE", self.keys_path(version))
        self.assertEqual(channel.json_body["count"], 0)
        self.assertEqual(self.req("GET", self.keys_path(version)).json_body, {"rooms": {}})

        # Deleting the version deletes its keys.
        self.req("PUT", self.keys_path(version, ROOM, "s1"), key())
        self.req("DELETE", f"room_keys/version/{version}")
        self.assertEqual(self.req("GET", self.keys_path(version)).code, 404)

    def test_replacement_rules(self) -> None:
        version = self.create()
        path = self.keys_path(version, ROOM, "s")

        def stored() -> JsonDict:
            return self.req("GET", path).json_body

        def put(new: JsonDict) -> str:
            channel = self.req("PUT", path, new)
            self.assertEqual(channel.code, 200, channel.json_body)
            return channel.json_body["etag"]

        etag = put(key(index=5, forwarded=2, verified=False, tag="a"))
        # A verified key beats an unverified one whatever its index.
        etag2 = put(key(index=9, forwarded=9, verified=True, tag="b"))
        self.assertEqual(stored()["session_data"]["ciphertext"], "b")
        self.assertNotEqual(etag, etag2)
        # An unverified key never replaces a verified one; nothing changes, nor the etag.
        self.assertEqual(put(key(index=0, forwarded=0, verified=False, tag="c")), etag2)
        self.assertEqual(stored()["session_data"]["ciphertext"], "b")
        # Same verification: the lower first message index wins.
        put(key(index=3, forwarded=9, verified=True, tag="d"))
        self.assertEqual(stored()["session_data"]["ciphertext"], "d")
        put(key(index=4, forwarded=0, verified=True, tag="e"))
        self.assertEqual(stored()["session_data"]["ciphertext"], "d")
        # Same index: the lower forwarded count wins; an equal one does not replace.
        put(key(index=3, forwarded=1, verified=True, tag="f"))
        self.assertEqual(stored()["session_data"]["ciphertext"], "f")
        put(key(index=3, forwarded=1, verified=True, tag="g"))
        self.assertEqual(stored()["session_data"]["ciphertext"], "f")

    def test_writes_only_to_the_current_version(self) -> None:
        channel = self.req("PUT", self.keys_path("1", ROOM, "s"), key())
        self.assertEqual(channel.code, 404, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_NOT_FOUND")

        old = self.create()
        current = self.create()
        for version in (old, "12345", "junk"):
            channel = self.req("PUT", self.keys_path(version, ROOM, "s"), key())
            self.assertEqual(channel.code, 403, channel.json_body)
            self.assertEqual(channel.json_body["errcode"], "M_WRONG_ROOM_KEYS_VERSION")
            self.assertEqual(channel.json_body["current_version"], current)
            assert_response_matches_spec(
                channel.json_body, API, "/room_keys/keys/{roomId}/{sessionId}", "put", 403
            )
        self.assertEqual(self.req("GET", self.keys_path(old)).json_body, {"rooms": {}})
        # Reading an older version is fine.
        self.assertEqual(self.req("GET", self.keys_path(old)).code, 200)

    def test_bad_requests_write_nothing(self) -> None:
        version = self.create()
        session_path = self.keys_path(version, ROOM, "s")
        bad_keys: list[tuple[Any, str]] = [
            ({**key(), "first_message_index": "1"}, "M_BAD_JSON"),
            ({**key(), "first_message_index": -1}, "M_BAD_JSON"),
            ({**key(), "forwarded_count": 2**63}, "M_BAD_JSON"),
            ({**key(), "is_verified": "yes"}, "M_BAD_JSON"),
            ({**key(), "session_data": "x"}, "M_BAD_JSON"),
            ({k: v for k, v in key().items() if k != "session_data"}, "M_MISSING_PARAM"),
        ]
        for body, errcode in bad_keys:
            channel = self.req("PUT", session_path, body)
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], errcode, body)
        channel = self.req("PUT", self.keys_path(version, ROOM), {"sessions": {"a": key(), "b": 1}})
        self.assertEqual(channel.json_body["errcode"], "M_BAD_JSON")
        channel = self.req("PUT", self.keys_path(version), {"rooms": {ROOM: {}}})
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_PARAM")
        channel = self.req("PUT", f"room_keys/keys/{quote(ROOM)}/s", key())
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_PARAM")
        self.assertEqual(self.req("GET", self.keys_path(version)).json_body, {"rooms": {}})

        for body, errcode in (
            ({"auth_data": {}}, "M_MISSING_PARAM"),
            ({"algorithm": ALGORITHM, "auth_data": "x"}, "M_BAD_JSON"),
            ({"algorithm": 1, "auth_data": {}}, "M_BAD_JSON"),
        ):
            channel = self.req("POST", "room_keys/version", body)
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], errcode)
        self.assertEqual(self.req("GET", "room_keys/version").json_body["version"], version)
