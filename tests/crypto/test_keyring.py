"""The keyring: fetching, caching and refetching other servers' keys, and checking
signatures of JSON objects and events with them."""

from __future__ import annotations

from typing import Any

from signedjson.key import (
    decode_signing_key_base64,
    encode_verify_key_base64,
    generate_signing_key,
    get_verify_key,
)
from signedjson.sign import sign_json
from twisted.internet import defer

from synapse.api.errors import SynapseError
from synapse.api.room_versions import RoomVersions
from synapse.crypto.keyring import (
    MAX_KEY_VALIDITY_MS,
    FetchKeyResult,
    KeyFetcher,
    Keyring,
    StoreKeyFetcher,
)
from synapse.events import EventBase
from synapse.events.builder import EventBuilder
from synapse.types import JsonDict
from tests.federation.utils import FederatingHomeserverTestCase

DAY = 24 * 3600
NOTARY_SEED = "nkd0BEN1DN9aYmcY8hl1mFmSAaZLpgwOQsrSYXRmg0Q"
NOTARY_KEY = decode_signing_key_base64("ed25519", "notary", NOTARY_SEED)


def signed(obj: JsonDict, hs: Any, key: Any = None) -> JsonDict:
    return sign_json(dict(obj), hs.hostname, key or hs.config.key.signing_key[0])


class KeyringTestCase(FederatingHomeserverTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.remote = self.make_remote_homeserver("remote.test")
        self.keyring = hs.get_keyring()

    def _fetches(self, server: str = "remote.test") -> int:
        return len(self.network.requests_to(server, b"/_matrix/key/v2/server"))

    def _verify(
        self,
        server: str,
        obj: JsonDict,
        validity: int | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        keyring = keyring or self.keyring
        when = self.clock.time_msec() if validity is None else validity
        self.get_success(keyring.verify_json_for_server(server, obj, when), by=0.1)

    def _verify_fails(
        self, server: str, obj: JsonDict, validity: int | None = None
    ) -> SynapseError:
        when = self.clock.time_msec() if validity is None else validity
        failure = self.get_failure(
            self.keyring.verify_json_for_server(server, obj, when), SynapseError, by=0.1
        )
        error = failure.value
        assert isinstance(error, SynapseError)
        self.assertEqual(error.code, 401)
        self.assertEqual(error.errcode, "M_UNAUTHORIZED")
        return error

    def test_fetches_caches_and_refetches_when_stale(self) -> None:
        obj = signed({"hello": "world"}, self.remote)
        self._verify("remote.test", obj)
        self.assertEqual(self._fetches(), 1)

        # Stored with the response's validity.
        rows = self.get_success(
            self.hs.get_datastores().main.keys.get_server_keys_json("remote.test")
        )
        self.assertEqual(len(rows), 1)
        published = self.remote.get_key_server_handler().local_key_response()
        self.assertEqual(rows[0].from_server, "remote.test")
        self.assertEqual(rows[0].ts_valid_until_ms, published["valid_until_ts"])

        # Known now: in memory, and in the database for a keyring that starts afresh.
        self._verify("remote.test", obj)
        self._verify("remote.test", obj, keyring=Keyring(self.hs))
        self.assertEqual(self._fetches(), 1)

        # Once the key's validity has passed, it is fetched again.
        self.reactor.advance(2 * DAY)
        self._verify("remote.test", obj)
        self.assertEqual(self._fetches(), 2)

    def test_bad_signatures(self) -> None:
        obj = signed({"hello": "world"}, self.remote)
        tampered = dict(obj, hello="there")
        self.assertIn("Invalid signature", self._verify_fails("remote.test", tampered).msg)

        self._verify_fails("remote.test", {"hello": "world"})
        self._verify_fails("remote.test", {"hello": "world", "signatures": "nonsense"})
        # Signed by someone else entirely.
        self._verify_fails("remote.test", signed({"a": 1}, self.hs))

    def test_unknown_key(self) -> None:
        obj = signed({"a": 1}, self.remote, generate_signing_key("other"))
        error = self._verify_fails("remote.test", obj)
        self.assertIn("ed25519:other", error.msg)
        self.assertEqual(self._fetches(), 1)

    def test_key_not_valid_at_validity_time(self) -> None:
        obj = signed({"a": 1}, self.remote)
        published = self.remote.get_key_server_handler().local_key_response()
        valid_until = published["valid_until_ts"]
        self._verify("remote.test", obj, validity=valid_until)
        self._verify_fails("remote.test", obj, validity=valid_until + 1)
        # The keyring asked again for a key valid long enough.
        self.assertEqual(self._fetches(), 2)

    def test_own_keys_answered_locally(self) -> None:
        self._verify("test", signed({"a": 1}, self.hs))
        self._verify_fails("test", signed({"a": 1}, self.hs, generate_signing_key("nope")))
        self.assertEqual(self.network.requests, [])

    def test_unreachable_server(self) -> None:
        self.network.unreachable.add("remote.test")
        self._verify_fails("remote.test", signed({"a": 1}, self.remote))

    def test_concurrent_requests_share_one_fetch(self) -> None:
        obj = signed({"a": 1}, self.remote)
        now = self.clock.time_msec()
        d1 = defer.ensureDeferred(self.keyring.verify_json_for_server("remote.test", obj, now))
        d2 = defer.ensureDeferred(self.keyring.verify_json_for_server("remote.test", obj, now))
        self.pump()
        self.successResultOf(d1)
        self.successResultOf(d2)
        self.assertEqual(self._fetches(), 1)

    def test_request_while_fetch_in_flight_waits_for_it(self) -> None:
        obj = signed({"a": 1}, self.remote)
        now = self.clock.time_msec()
        self.network.hold("remote.test")
        d1 = defer.ensureDeferred(self.keyring.verify_json_for_server("remote.test", obj, now))
        self.pump()
        d2 = defer.ensureDeferred(self.keyring.verify_json_for_server("remote.test", obj, now))
        self.pump()
        self.assertNoResult(d1)
        self.assertNoResult(d2)
        self.network.release("remote.test")
        self.pump()
        self.successResultOf(d1)
        self.successResultOf(d2)
        self.assertEqual(self._fetches(), 1)

    def test_batched_verification(self) -> None:
        other = self.make_remote_homeserver("other.test")
        now = self.clock.time_msec()
        results = self.get_success(
            self.keyring.verify_json_objects_for_server(
                [
                    ("remote.test", signed({"a": 1}, self.remote), now),
                    ("other.test", signed({"b": 2}, other), now),
                    ("other.test", dict(signed({"b": 2}, other), b=3), now),
                    ("test", signed({"c": 3}, self.hs), now),
                ]
            )
        )
        self.assertIsNone(results[0])
        self.assertIsNone(results[1])
        assert results[2] is not None
        self.assertEqual(results[2].code, 401)
        self.assertIsNone(results[3])
        self.assertEqual(self._fetches("remote.test"), 1)
        self.assertEqual(self._fetches("other.test"), 1)

    def _responder(self, response: JsonDict) -> None:
        self.network.add_responder("fake.test", lambda *_: (200, response))

    def _fake_key_response(self, key: Any, **overrides: Any) -> JsonDict:
        response: JsonDict = {
            "server_name": "fake.test",
            "valid_until_ts": self.clock.time_msec() + DAY * 1000,
            "verify_keys": {"ed25519:k": {"key": encode_verify_key_base64(get_verify_key(key))}},
            "old_verify_keys": {},
        }
        response.update(overrides)
        return sign_json(response, "fake.test", key)

    def test_direct_fetch_checks_the_response(self) -> None:
        key = generate_signing_key("k")
        obj = sign_json({"a": 1}, "fake.test", key)

        # Naming another server.
        self._responder(self._fake_key_response(key, server_name="other.test"))
        self._verify_fails("fake.test", obj)
        # Without valid_until_ts.
        response = self._fake_key_response(key)
        del response["valid_until_ts"]
        self._responder(response)
        self._verify_fails("fake.test", obj)
        # Not signed by the server.
        response = self._fake_key_response(key)
        del response["signatures"]
        self._responder(response)
        self._verify_fails("fake.test", obj)
        # Signed by another key than the one it lists.
        response = self._fake_key_response(key)
        response = sign_json(
            {k: v for k, v in response.items() if k != "signatures"},
            "fake.test",
            generate_signing_key("k"),
        )
        self._responder(response)
        self._verify_fails("fake.test", obj)
        # Nothing of those was stored.
        self.assertEqual(
            self.get_success(self.hs.get_datastores().main.keys.get_server_keys_json("fake.test")),
            [],
        )

        # And a good one.
        self._responder(self._fake_key_response(key))
        self._verify("fake.test", obj)

    def test_validity_capped_at_a_week(self) -> None:
        key = generate_signing_key("k")
        now = self.clock.time_msec()
        self._responder(self._fake_key_response(key, valid_until_ts=now + 365 * DAY * 1000))
        self._verify("fake.test", sign_json({"a": 1}, "fake.test", key))
        (row,) = self.get_success(
            self.hs.get_datastores().main.keys.get_server_keys_json("fake.test")
        )
        self.assertEqual(row.ts_valid_until_ms, now + MAX_KEY_VALIDITY_MS)

    def test_fetchers_in_order(self) -> None:
        calls: list[str] = []
        key = get_verify_key(generate_signing_key("k"))
        gate: defer.Deferred[None] = defer.Deferred()

        class Fetcher(KeyFetcher):
            def __init__(
                self, name: str, result: dict[str, FetchKeyResult], wait: bool = False
            ) -> None:
                self.name = name
                self.result = result
                self.wait = wait

            async def get_keys(
                self, server_name: str, key_ids: list[str], minimum_valid_until_ts: int
            ) -> dict[str, FetchKeyResult]:
                calls.append(self.name)
                if self.wait:
                    await gate
                if self.name == "broken":
                    raise RuntimeError("broken")
                return self.result

        good = {"ed25519:k": FetchKeyResult(key, 2**62)}
        keyring = Keyring(
            self.hs,
            key_fetchers=[
                Fetcher("broken", {}),
                Fetcher("empty", {}, wait=True),
                Fetcher("good", good),
            ],
        )
        d1 = defer.ensureDeferred(keyring.get_server_verify_keys("x.test", ["ed25519:k"]))
        self.pump()
        # While the first lookup waits, a second for the same key queues behind it...
        d2 = defer.ensureDeferred(keyring.get_server_verify_keys("x.test", ["ed25519:k"]))
        self.pump()
        gate.callback(None)
        self.pump()
        self.assertEqual(self.successResultOf(d1), good)
        # ... and is answered by what the first one found, without asking again.
        self.assertEqual(self.successResultOf(d2), good)
        self.assertEqual(calls, ["broken", "empty", "good"])

    def test_store_fetcher(self) -> None:
        self._verify("remote.test", signed({"a": 1}, self.remote))
        fetcher = StoreKeyFetcher(self.hs)
        key_id = next(
            iter(self.remote.get_key_server_handler().local_key_response()["verify_keys"])
        )
        found = self.get_success(fetcher.get_keys("remote.test", [key_id, "ed25519:nope"], 0))
        self.assertEqual(set(found), {key_id})
        self.assertEqual(
            encode_verify_key_base64(found[key_id].verify_key),
            encode_verify_key_base64(get_verify_key(self.remote.config.key.signing_key[0])),
        )


class EventVerificationTestCase(FederatingHomeserverTestCase):
    OLD_KEY = generate_signing_key("old")
    OLD_EXPIRED_TS = 1_600_000_000_000

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.remote = self.make_remote_homeserver(
            "remote.test",
            {
                "old_signing_keys": {
                    "ed25519:old": {
                        "key": encode_verify_key_base64(get_verify_key(self.OLD_KEY)),
                        "expired_ts": self.OLD_EXPIRED_TS,
                    }
                }
            },
        )
        self.keyring = hs.get_keyring()

    def _event(self, room_version: Any, ts: int, key: Any = None, **fields: Any) -> EventBase:
        return EventBuilder(
            room_version=room_version,
            type="m.room.message",
            sender="@alice:remote.test",
            room_id="!room:remote.test",
            content={"body": "hi", **fields},
        ).build(
            prev_events=[],
            auth_events=[],
            origin_server_ts=ts,
            signing_key=key or self.remote.config.key.signing_key[0],
            server_name="remote.test",
        )

    def _check(self, *events: EventBase) -> list[SynapseError | None]:
        return self.get_success(
            self.keyring.verify_events_for_server([("remote.test", e) for e in events]), by=0.1
        )

    def test_current_key(self) -> None:
        now = self.clock.time_msec()
        self.assertEqual(self._check(self._event(RoomVersions.V10, now)), [None])

    def test_key_validity_from_room_version_5(self) -> None:
        # An event claiming a time after the key's validity ends.
        later = self.clock.time_msec() + 3 * DAY * 1000
        v5, v4 = self._event(RoomVersions.V5, later), self._event(RoomVersions.V4, later)
        errors = self._check(v5, v4)
        assert errors[0] is not None
        self.assertEqual(errors[0].code, 401)
        # Room versions 1 to 4 ignore the validity period.
        self.assertIsNone(errors[1])

    def test_old_key(self) -> None:
        before = self.OLD_EXPIRED_TS - 1000
        after = self.OLD_EXPIRED_TS + 1000
        results = self._check(
            self._event(RoomVersions.V10, before, self.OLD_KEY),
            self._event(RoomVersions.V10, after, self.OLD_KEY),
            self._event(RoomVersions.V3, after, self.OLD_KEY),
        )
        self.assertIsNone(results[0])
        assert results[1] is not None
        self.assertEqual(results[1].code, 401)
        self.assertIsNone(results[2])
        # An old key never authenticates a request (only events).
        obj = sign_json({"a": 1}, "remote.test", self.OLD_KEY)
        self.get_failure(
            self.keyring.verify_json_for_server("remote.test", obj, self.clock.time_msec()),
            SynapseError,
        )

    def test_tampered_event(self) -> None:
        event = self._event(RoomVersions.V10, self.clock.time_msec())
        pdu = event.get_pdu_json()
        pdu["origin_server_ts"] += 1
        from synapse.events import make_event_from_dict

        tampered = make_event_from_dict(pdu, RoomVersions.V10)
        (error,) = self._check(tampered)
        assert error is not None
        self.assertEqual(error.code, 403)

    def test_unsigned_event(self) -> None:
        event = self._event(RoomVersions.V10, self.clock.time_msec())
        pdu = event.get_pdu_json()
        pdu["signatures"] = {}
        from synapse.events import make_event_from_dict

        (error,) = self._check(make_event_from_dict(pdu, RoomVersions.V10))
        assert error is not None
        self.assertEqual(error.code, 401)


class NotaryKeyFetchTestCase(FederatingHomeserverTestCase):
    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["trusted_key_servers"] = [
            {
                "server_name": "notary.test",
                "verify_keys": {
                    "ed25519:notary": encode_verify_key_base64(get_verify_key(NOTARY_KEY))
                },
            }
        ]
        return config

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.notary = self.make_remote_homeserver(
            "notary.test",
            {"signing_key": f"ed25519 notary {NOTARY_SEED}", "trusted_key_servers": []},
        )
        self.remote = self.make_remote_homeserver("remote.test", {"trusted_key_servers": []})
        self.other = self.make_remote_homeserver("other.test", {"trusted_key_servers": []})
        self.keyring = hs.get_keyring()

    def _queries_from_test(self) -> list[Any]:
        return [
            r
            for r in self.network.requests_to("notary.test", b"/_matrix/key/v2/query")
            if r.origin == "test"
        ]

    def _direct_from_test(self, server: str) -> list[Any]:
        return [
            r
            for r in self.network.requests_to(server, b"/_matrix/key/v2/server")
            if r.origin == "test"
        ]

    def test_keys_through_the_notary(self) -> None:
        now = self.clock.time_msec()
        results = self.get_success(
            self.keyring.verify_json_objects_for_server(
                [
                    ("remote.test", signed({"a": 1}, self.remote), now),
                    ("other.test", signed({"b": 1}, self.other), now),
                ]
            ),
            by=0.1,
        )
        self.assertEqual(results, [None, None])
        # One query to the notary, for both servers; none to the servers themselves.
        (query,) = self._queries_from_test()
        self.assertEqual(set(query.json["server_keys"]), {"remote.test", "other.test"})
        self.assertEqual(self._direct_from_test("remote.test"), [])
        self.assertEqual(self._direct_from_test("other.test"), [])
        rows = self.get_success(
            self.hs.get_datastores().main.keys.get_server_keys_json("remote.test")
        )
        self.assertEqual([r.from_server for r in rows], ["notary.test"])

    def test_notary_signature_must_match_pinned_key(self) -> None:
        # The notary now signs with a key that is not the pinned one.
        self.notary.get_key_server_handler()._notary_signing_keys = [generate_signing_key("x")]
        self.get_success(
            self.keyring.verify_json_for_server(
                "remote.test", signed({"a": 1}, self.remote), self.clock.time_msec()
            ),
            by=0.1,
        )
        # The notary's answer was refused; the key came from the server itself.
        self.assertEqual(len(self._queries_from_test()), 1)
        self.assertEqual(len(self._direct_from_test("remote.test")), 1)

    def test_notary_unreachable(self) -> None:
        self.network.unreachable.add("notary.test")
        self.get_success(
            self.keyring.verify_json_for_server(
                "remote.test", signed({"a": 1}, self.remote), self.clock.time_msec()
            ),
            by=0.1,
        )
        self.assertEqual(len(self._direct_from_test("remote.test")), 1)
