"""``/keys/upload``, ``/keys/query``, ``/keys/claim``, ``/keys/changes``,
``/keys/device_signing/upload`` and ``/keys/signatures/upload``."""

from __future__ import annotations

from typing import Any

from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.e2e_helpers import (
    E2eTestCase,
    cross_signing_key,
    device_keys,
    one_time_keys,
    sign,
)


class KeyUploadTestCase(E2eTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.user = self.register_user("alice", "pass")
        self.tok = self.login("alice", "pass", device_id="ALICE1")
        self.store = hs.get_datastores().main.e2e_keys

    def _stored_device(self) -> JsonDict | None:
        stored = self.get_success(self.store.get_device_keys([(self.user, "ALICE1")]))
        info = stored.get(self.user, {}).get("ALICE1")
        return info.keys if info else None

    def _counts(self) -> dict[str, int]:
        return dict(self.get_success(self.store.get_key_counts(self.user, "ALICE1")).one_time_keys)

    def test_upload_device_and_one_time_keys(self) -> None:
        keys_json, key = device_keys(self.user, "ALICE1")
        channel = self.post(
            "keys/upload",
            {"device_keys": keys_json, "one_time_keys": one_time_keys(self.user, key, ["a", "b"])},
            self.tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"one_time_key_counts": {"signed_curve25519": 2}})
        self.assertEqual(self._stored_device(), keys_json)
        # Uploading the same keys again changes nothing.
        channel = self.post(
            "keys/upload",
            {"device_keys": keys_json, "one_time_keys": one_time_keys(self.user, key, ["a"])},
            self.tok,
        )
        self.assertEqual(channel.json_body["one_time_key_counts"]["signed_curve25519"], 2)

    def test_empty_upload_returns_counts(self) -> None:
        channel = self.post("keys/upload", {}, self.tok)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(
            channel.json_body, "client-server/keys.yaml", "/keys/upload", "post"
        )
        self.assertEqual(channel.json_body["one_time_key_counts"], {"signed_curve25519": 0})

    def test_other_algorithms_counted_apart(self) -> None:
        _, key = self.upload_device_keys(self.user, "ALICE1", self.tok)
        channel = self.post(
            "keys/upload",
            {"one_time_keys": {"curve25519:x": "plainkey", "curve25519:y": "plainkey2"}},
            self.tok,
        )
        self.assertEqual(
            channel.json_body["one_time_key_counts"], {"signed_curve25519": 0, "curve25519": 2}
        )

    def test_device_keys_of_another_user_or_device_refused(self) -> None:
        for user, device in (("@bob:test", "ALICE1"), (self.user, "OTHER")):
            keys_json, key = device_keys(user, device)
            channel = self.post(
                "keys/upload",
                {"device_keys": keys_json, "one_time_keys": one_time_keys(user, key, ["a"])},
                self.tok,
            )
            self.assertEqual(channel.code, 400, channel.json_body)
            self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM")
        self.assertIsNone(self._stored_device())
        self.assertEqual(self._counts(), {})

    def test_device_keys_with_a_bad_signature_refused(self) -> None:
        keys_json, _ = device_keys(self.user, "ALICE1")
        other_json, _ = device_keys(self.user, "ALICE1")
        # Signed by another key than the one it names.
        keys_json["signatures"] = other_json["signatures"]
        channel = self.post("keys/upload", {"device_keys": keys_json}, self.tok)
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_INVALID_SIGNATURE")
        # Not signed at all; no ed25519 key at all.
        unsigned = {**keys_json, "signatures": {}}
        channel = self.post("keys/upload", {"device_keys": unsigned}, self.tok)
        self.assertEqual(channel.json_body["errcode"], "M_INVALID_SIGNATURE")
        no_key = {**keys_json, "keys": {"curve25519:ALICE1": "x"}}
        channel = self.post("keys/upload", {"device_keys": no_key}, self.tok)
        self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM")
        self.assertIsNone(self._stored_device())

    def test_changed_one_time_key_refused_and_nothing_written(self) -> None:
        _, key = self.upload_device_keys(self.user, "ALICE1", self.tok, ["a"])
        new_device_keys, _ = device_keys(self.user, "ALICE1")
        body = {
            "device_keys": new_device_keys,
            "one_time_keys": {
                **one_time_keys(self.user, key, ["b"]),
                "signed_curve25519:a": {"key": "different"},
            },
        }
        channel = self.post("keys/upload", body, self.tok)
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_INVALID_PARAM")
        self.assertEqual(self._counts(), {"signed_curve25519": 1})
        self.assertNotEqual(self._stored_device(), new_device_keys)

    def test_bad_bodies(self) -> None:
        keys_json, _ = device_keys(self.user, "ALICE1")
        cases: list[tuple[JsonDict, str]] = [
            ({"device_keys": "x"}, "M_BAD_JSON"),
            ({"device_keys": {**keys_json, "keys": {"ed25519:ALICE1": 5}}}, "M_BAD_JSON"),
            (
                {"device_keys": {k: v for k, v in keys_json.items() if k != "algorithms"}},
                "M_MISSING_PARAM",
            ),
            ({"one_time_keys": {"signed_curve25519:a": 5}}, "M_BAD_JSON"),
            ({"one_time_keys": {"nocolon": "key"}}, "M_INVALID_PARAM"),
            ({"one_time_keys": {":a": "key"}}, "M_INVALID_PARAM"),
            ({"fallback_keys": {"signed_curve25519:a": {"nokey": 1}}}, "M_MISSING_PARAM"),
            (
                {"fallback_keys": {"signed_curve25519:a": "k1", "signed_curve25519:b": "k2"}},
                "M_INVALID_PARAM",
            ),
        ]
        for body, errcode in cases:
            channel = self.post("keys/upload", body, self.tok)
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], errcode, body)
        self.assertIsNone(self._stored_device())
        self.assertEqual(self._counts(), {})
        fallback = self.get_success(self.store.get_key_counts(self.user, "ALICE1"))
        self.assertEqual(fallback.unused_fallback_key_types, ())

    def test_needs_a_token(self) -> None:
        channel = self.post("keys/upload", {}, None)
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")


class KeyQueryTestCase(E2eTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.alice = self.register_user("alice", "pass")
        self.alice_tok = self.login("alice", "pass", device_id="ALICE1")
        self.bob = self.register_user("bob", "pass")
        self.bob_tok = self.login("bob", "pass", device_id="BOB1")
        self.bob_tok2 = self.login("bob", "pass", device_id="BOB2")
        self.make_request(
            "PUT", "devices/BOB1", {"display_name": "Bob's phone"}, access_token=self.bob_tok
        )
        self.bob_keys, _ = self.upload_device_keys(self.bob, "BOB1", self.bob_tok)
        self.bob_keys2, _ = self.upload_device_keys(self.bob, "BOB2", self.bob_tok2)

    def test_all_devices_with_display_names(self) -> None:
        body = self.query(self.alice_tok, {self.bob: []})
        devices = body["device_keys"][self.bob]
        self.assertEqual(set(devices), {"BOB1", "BOB2"})
        expected = {**self.bob_keys, "unsigned": {"device_display_name": "Bob's phone"}}
        self.assertEqual(devices["BOB1"], expected)
        self.assertEqual(body["failures"], {})

    def test_some_devices(self) -> None:
        body = self.query(self.alice_tok, {self.bob: ["BOB2", "NOPE"]})
        self.assertEqual(set(body["device_keys"][self.bob]), {"BOB2"})

    def test_devices_without_keys_and_unknown_users(self) -> None:
        body = self.query(self.bob_tok, {self.alice: [], "@nobody:test": []})
        self.assertEqual(body["device_keys"], {self.alice: {}, "@nobody:test": {}})

    def test_remote_users_are_failures(self) -> None:
        body = self.query(self.alice_tok, {"@carol:elsewhere.example": [], self.bob: ["BOB1"]})
        self.assertIn("elsewhere.example", body["failures"])
        self.assertNotIn("@carol:elsewhere.example", body["device_keys"])
        self.assertIn("BOB1", body["device_keys"][self.bob])

    def test_cross_signing_keys_user_signing_only_for_oneself(self) -> None:
        keys = self.upload_cross_signing(self.bob, self.bob_tok)
        body = self.query(self.alice_tok, {self.bob: []})
        self.assertEqual(body["master_keys"][self.bob], keys["master"][0])
        self.assertEqual(body["self_signing_keys"][self.bob], keys["self_signing"][0])
        self.assertEqual(body["user_signing_keys"], {})
        own = self.query(self.bob_tok, {self.bob: []})
        self.assertEqual(own["user_signing_keys"][self.bob], keys["user_signing"][0])

    def test_bad_queries(self) -> None:
        for body, errcode in (
            ({}, "M_MISSING_PARAM"),
            ({"device_keys": []}, "M_BAD_JSON"),
            ({"device_keys": {self.bob: "BOB1"}}, "M_BAD_JSON"),
            ({"device_keys": {self.bob: [1]}}, "M_BAD_JSON"),
            ({"device_keys": {"not a user": []}}, "M_INVALID_PARAM"),
            ({"device_keys": {}, "timeout": "soon"}, "M_BAD_JSON"),
        ):
            channel = self.post("keys/query", body, self.alice_tok)
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], errcode, body)


class KeyClaimTestCase(E2eTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.alice = self.register_user("alice", "pass")
        self.alice_tok = self.login("alice", "pass", device_id="ALICE1")
        self.bob = self.register_user("bob", "pass")
        self.bob_tok = self.login("bob", "pass", device_id="BOB1")
        _, self.bob_key = self.upload_device_keys(self.bob, "BOB1", self.bob_tok, ["k1", "k2"])
        self.e2e_store = hs.get_datastores().main.e2e_keys

    def _claim_bob(self) -> JsonDict:
        body = self.claim(self.alice_tok, {self.bob: {"BOB1": "signed_curve25519"}})
        return body["one_time_keys"].get(self.bob, {}).get("BOB1", {})

    def test_keys_handed_out_once_in_upload_order_then_fallback(self) -> None:
        self.reactor.advance(1)
        self.post(
            "keys/upload",
            {"one_time_keys": one_time_keys(self.bob, self.bob_key, ["a0"])},
            self.bob_tok,
        )
        fallback = one_time_keys(self.bob, self.bob_key, ["fb"], fallback=True)
        self.post("keys/upload", {"fallback_keys": fallback}, self.bob_tok)

        first, second, third = self._claim_bob(), self._claim_bob(), self._claim_bob()
        self.assertEqual({*first, *second}, {"signed_curve25519:k1", "signed_curve25519:k2"})
        self.assertEqual(list(third), ["signed_curve25519:a0"])
        self.assertEqual(first[next(iter(first))]["signatures"][self.bob].keys(), {"ed25519:BOB1"})
        counts = self.get_success(self.e2e_store.get_key_counts(self.bob, "BOB1"))
        self.assertEqual(counts.one_time_keys, {})
        self.assertEqual(counts.unused_fallback_key_types, ("signed_curve25519",))

        # No one-time key left: the fallback key, again and again, now marked used.
        self.assertEqual(self._claim_bob(), fallback)
        self.assertEqual(self._claim_bob(), fallback)
        counts = self.get_success(self.e2e_store.get_key_counts(self.bob, "BOB1"))
        self.assertEqual(counts.unused_fallback_key_types, ())

        # The same fallback key uploaded again stays used; a new one is unused.
        self.post("keys/upload", {"fallback_keys": fallback}, self.bob_tok)
        counts = self.get_success(self.e2e_store.get_key_counts(self.bob, "BOB1"))
        self.assertEqual(counts.unused_fallback_key_types, ())
        new_fallback = one_time_keys(self.bob, self.bob_key, ["fb2"], fallback=True)
        self.post("keys/upload", {"fallback_keys": new_fallback}, self.bob_tok)
        counts = self.get_success(self.e2e_store.get_key_counts(self.bob, "BOB1"))
        self.assertEqual(counts.unused_fallback_key_types, ("signed_curve25519",))
        self.assertEqual(self._claim_bob(), new_fallback)

    def test_nothing_for_unknown_devices_and_algorithms(self) -> None:
        body = self.claim(
            self.alice_tok,
            {self.bob: {"NOPE": "signed_curve25519", "BOB1": "curve25519"}, "@x:test": {"D": "a"}},
        )
        self.assertEqual(body["one_time_keys"], {})

    def test_remote_users_are_failures(self) -> None:
        body = self.claim(self.alice_tok, {"@carol:elsewhere.example": {"D": "signed_curve25519"}})
        self.assertEqual(list(body["failures"]), ["elsewhere.example"])

    def test_bad_claims(self) -> None:
        for body, errcode in (
            ({}, "M_MISSING_PARAM"),
            ({"one_time_keys": {self.bob: "BOB1"}}, "M_BAD_JSON"),
            ({"one_time_keys": {self.bob: {"BOB1": 1}}}, "M_BAD_JSON"),
            ({"one_time_keys": {"bob": {"BOB1": "signed_curve25519"}}}, "M_INVALID_PARAM"),
            ({"one_time_keys": {}, "timeout": -1}, "M_BAD_JSON"),
        ):
            channel = self.post("keys/claim", body, self.alice_tok)
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], errcode, body)
        counts = self.get_success(self.e2e_store.get_key_counts(self.bob, "BOB1"))
        self.assertEqual(counts.one_time_keys, {"signed_curve25519": 2})


class CrossSigningTestCase(E2eTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.alice = self.register_user("alice", "pass")
        self.alice_tok = self.login("alice", "pass", device_id="ALICE1")
        self.e2e_store = hs.get_datastores().main.e2e_keys

    def _stored(self) -> dict[str, JsonDict]:
        keys = self.get_success(self.e2e_store.get_cross_signing_keys([self.alice]))
        return keys.get(self.alice, {})

    def _auth(self, session: str) -> JsonDict:
        return {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": self.alice},
            "password": "pass",
            "session": session,
        }

    def test_first_upload_without_auth_then_auth_needed(self) -> None:
        keys = self.upload_cross_signing(self.alice, self.alice_tok)
        self.assertEqual(self._stored()["master"], keys["master"][0])

        # The same keys again: nothing new, no auth asked for.
        body = {
            "master_key": keys["master"][0],
            "self_signing_key": keys["self_signing"][0],
        }
        channel = self.post("keys/device_signing/upload", body, self.alice_tok)
        self.assertEqual(channel.code, 200, channel.json_body)

        # A new master key needs the password.
        master = cross_signing_key(self.alice, "master")
        channel = self.post("keys/device_signing/upload", {"master_key": master[0]}, self.alice_tok)
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertIn("flows", channel.json_body)
        self.assertEqual(self._stored()["master"], keys["master"][0])
        session = channel.json_body["session"]
        channel = self.post(
            "keys/device_signing/upload",
            {"master_key": master[0], "auth": self._auth(session)},
            self.alice_tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self._stored()["master"], master[0])

    def test_self_signing_key_must_be_signed_by_master(self) -> None:
        master = cross_signing_key(self.alice, "master")
        stranger = cross_signing_key(self.alice, "master")
        ssk = cross_signing_key(self.alice, "self_signing", (stranger[1], stranger[2]))
        channel = self.post(
            "keys/device_signing/upload",
            {"master_key": master[0], "self_signing_key": ssk[0]},
            self.alice_tok,
        )
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_INVALID_SIGNATURE")
        assert_response_matches_spec(
            channel.json_body,
            "client-server/cross_signing.yaml",
            "/keys/device_signing/upload",
            "post",
            400,
        )
        self.assertEqual(self._stored(), {})

    def test_no_master_key(self) -> None:
        master = cross_signing_key(self.alice, "master")
        ssk = cross_signing_key(self.alice, "self_signing", (master[1], master[2]))
        channel = self.post(
            "keys/device_signing/upload", {"self_signing_key": ssk[0]}, self.alice_tok
        )
        self.assertEqual(channel.code, 400, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_PARAM")

    def test_bad_keys_refused(self) -> None:
        master = cross_signing_key(self.alice, "master")
        public = master[2]
        bad: list[tuple[JsonDict, int, str]] = [
            ({**master[0], "user_id": "@bob:test"}, 400, "M_INVALID_PARAM"),
            ({**master[0], "usage": ["self_signing"]}, 400, "M_INVALID_PARAM"),
            ({**master[0], "keys": {"ed25519:other": public}}, 400, "M_INVALID_PARAM"),
            ({**master[0], "keys": {}}, 400, "M_INVALID_PARAM"),
            ({**master[0], "keys": {"ed25519:ALICE1": "ALICE1"}}, 403, "M_FORBIDDEN"),
            ({**master[0], "usage": "master"}, 400, "M_BAD_JSON"),
            ({"user_id": self.alice, "usage": ["master"]}, 400, "M_MISSING_PARAM"),
        ]
        for key, code, errcode in bad:
            channel = self.post("keys/device_signing/upload", {"master_key": key}, self.alice_tok)
            self.assertEqual(channel.code, code, (key, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], errcode, key)
        self.assertEqual(self._stored(), {})

    def test_signatures_of_own_device_and_master_key(self) -> None:
        device_json, device_key = self.upload_device_keys(self.alice, "ALICE1", self.alice_tok)
        keys = self.upload_cross_signing(self.alice, self.alice_tok)
        master_json, _, master_public = keys["master"]
        _, ssk, ssk_public = keys["self_signing"]

        signed_device = sign(device_json, self.alice, ssk)
        signed_master = sign(master_json, self.alice, device_key)
        channel = self.post(
            "keys/signatures/upload",
            {self.alice: {"ALICE1": signed_device, master_public: signed_master}},
            self.alice_tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(
            channel.json_body,
            "client-server/cross_signing.yaml",
            "/keys/signatures/upload",
            "post",
        )
        self.assertEqual(channel.json_body["failures"], {})

        body = self.query(self.alice_tok, {self.alice: []})
        device_sigs = body["device_keys"][self.alice]["ALICE1"]["signatures"][self.alice]
        self.assertEqual(
            device_sigs[f"ed25519:{ssk_public}"],
            signed_device["signatures"][self.alice][f"ed25519:{ssk_public}"],
        )
        self.assertIn("ed25519:ALICE1", device_sigs)
        master_sigs = body["master_keys"][self.alice]["signatures"][self.alice]
        self.assertEqual(
            master_sigs["ed25519:ALICE1"],
            signed_master["signatures"][self.alice]["ed25519:ALICE1"],
        )

    def test_bad_signatures_are_failures(self) -> None:
        device_json, _ = self.upload_device_keys(self.alice, "ALICE1", self.alice_tok)
        keys = self.upload_cross_signing(self.alice, self.alice_tok)
        _, usk, _ = keys["user_signing"]
        wrong_signer = sign(device_json, self.alice, usk)
        tampered = sign({**device_json, "algorithms": []}, self.alice, keys["self_signing"][1])
        channel = self.post(
            "keys/signatures/upload",
            {
                self.alice: {"ALICE1": wrong_signer, "NOPE": wrong_signer},
                "@carol:elsewhere.example": {"somekey": {"user_id": "@carol:elsewhere.example"}},
            },
            self.alice_tok,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        failures = channel.json_body["failures"]
        self.assertEqual(failures[self.alice]["ALICE1"]["errcode"], "M_INVALID_SIGNATURE")
        self.assertEqual(failures[self.alice]["NOPE"]["errcode"], "M_NOT_FOUND")
        self.assertIn("somekey", failures["@carol:elsewhere.example"])
        channel = self.post(
            "keys/signatures/upload", {self.alice: {"ALICE1": tampered}}, self.alice_tok
        )
        self.assertEqual(
            channel.json_body["failures"][self.alice]["ALICE1"]["errcode"], "M_INVALID_PARAM"
        )
        sigs = self.get_success(self.e2e_store.get_signatures([(self.alice, "ALICE1")]))
        self.assertEqual(sigs, {})

    def test_signature_of_another_users_master_key_seen_by_the_signer_only(self) -> None:
        bob = self.register_user("bob", "pass")
        bob_tok = self.login("bob", "pass", device_id="BOB1")
        self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass", device_id="CAROL1")
        bob_keys = self.upload_cross_signing(bob, bob_tok)
        alice_keys = self.upload_cross_signing(self.alice, self.alice_tok)
        _, usk, usk_public = alice_keys["user_signing"]
        bob_master, _, bob_master_public = bob_keys["master"]

        signed = sign(bob_master, self.alice, usk)
        channel = self.post(
            "keys/signatures/upload", {bob: {bob_master_public: signed}}, self.alice_tok
        )
        self.assertEqual(channel.json_body["failures"], {})

        seen = self.query(self.alice_tok, {bob: []})["master_keys"][bob]
        self.assertEqual(
            seen["signatures"][self.alice][f"ed25519:{usk_public}"],
            signed["signatures"][self.alice][f"ed25519:{usk_public}"],
        )
        for tok in (bob_tok, carol_tok):
            seen = self.query(tok, {bob: []})["master_keys"][bob]
            self.assertNotIn(self.alice, seen.get("signatures", {}))

        # Only the current master key of another user may be signed by the user-signing key.
        unknown = self.post("keys/signatures/upload", {bob: {"notakey": signed}}, self.alice_tok)
        self.assertEqual(unknown.json_body["failures"][bob]["notakey"]["errcode"], "M_NOT_FOUND")
        forged = sign(bob_master, self.alice, alice_keys["self_signing"][1])
        channel = self.post("keys/signatures/upload", {bob: {bob_master_public: forged}}, carol_tok)
        self.assertEqual(
            channel.json_body["failures"][bob][bob_master_public]["errcode"], "M_MISSING_PARAM"
        )

    def test_bad_signature_bodies(self) -> None:
        for body, errcode in (
            ({self.alice: "x"}, "M_BAD_JSON"),
            ({self.alice: {"ALICE1": "x"}}, "M_BAD_JSON"),
            ({self.alice: {"ALICE1": {"signatures": "x"}}}, "M_BAD_JSON"),
            ({"alice": {"ALICE1": {}}}, "M_INVALID_PARAM"),
        ):
            channel = self.post("keys/signatures/upload", body, self.alice_tok)
            self.assertEqual(channel.code, 400, (body, channel.json_body))
            self.assertEqual(channel.json_body["errcode"], errcode, body)


class KeyChangesTestCase(E2eTestCase):
    def test_bad_tokens(self) -> None:
        self.register_user("alice", "pass")
        tok = self.login("alice", "pass", device_id="A")
        for query in ("", "?from=s1", "?to=s1", "?from=nonsense&to=s1", "?from=s1&to=x_y"):
            channel = self.make_request("GET", f"keys/changes{query}", access_token=tok)
            self.assertEqual(channel.code, 400, (query, channel.json_body))
            self.assertIn(channel.json_body["errcode"], ("M_MISSING_PARAM", "M_INVALID_PARAM"))
