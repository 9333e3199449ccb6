"""``E2eKeysHandler`` and its stores: claims that run at the same time never hand out a
key twice (also with real threads on PostgreSQL), deleted devices lose their keys,
cross-signing uploads ask for user-interactive auth only when the spec says."""

from __future__ import annotations

import os
import threading
import unittest
from typing import Any

from twisted.internet import defer

from synapse.api.errors import SynapseError
from synapse.types import JsonDict
from tests.rest.client.e2e_helpers import cross_signing_key, device_keys, one_time_keys, sign
from tests.unittest import HomeserverTestCase

ALG = "signed_curve25519"


class E2eKeysHandlerTestCase(HomeserverTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.handler = hs.get_e2e_keys_handler()
        self.store = hs.get_datastores().main.e2e_keys
        self.user = self.register_user("alice", "pass")
        self.get_success(hs.get_device_handler().check_device_registered(self.user, "D1"))
        keys_json, self.key = device_keys(self.user, "D1")
        self.ids = [f"k{i:02d}" for i in range(20)]
        self.get_success(
            self.handler.upload_keys_for_user(
                self.user,
                "D1",
                {
                    "device_keys": keys_json,
                    "one_time_keys": one_time_keys(self.user, self.key, self.ids),
                },
            )
        )

    def _claimed_ids(self, results: list[JsonDict]) -> list[str]:
        out = []
        for result in results:
            for key_id in result["one_time_keys"].get(self.user, {}).get("D1", {}):
                out.append(key_id.split(":", 1)[1])
        return out

    def test_concurrent_claims_never_share_a_key(self) -> None:
        query = {self.user: {"D1": ALG}}
        claims = [defer.ensureDeferred(self.handler.claim_one_time_keys(query)) for _ in range(30)]
        results = self.get_success(defer.gatherResults(claims))
        claimed = self._claimed_ids(results)
        self.assertEqual(sorted(claimed), self.ids)
        counts = self.get_success(self.store.get_key_counts(self.user, "D1"))
        self.assertEqual(dict(counts.one_time_keys), {})

    @unittest.skipUnless(os.environ.get("SYNAPSE_POSTGRES"), "needs PostgreSQL")
    def test_claims_in_parallel_threads_never_share_a_key(self) -> None:
        db_pool = self.store.db_pool
        barrier = threading.Barrier(4)
        claimed: list[list[str]] = [[] for _ in range(4)]
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            conn = db_pool._take_connection()
            try:
                barrier.wait()
                while True:
                    got = db_pool.new_transaction(
                        conn, "claim", [], [], self.store._claim_keys_txn, [(self.user, "D1", ALG)]
                    )
                    keys = got.get(self.user, {}).get("D1", {})
                    if not keys:
                        return
                    claimed[n].extend(k.split(":", 1)[1] for k in keys)
            except BaseException as e:
                errors.append(e)
            finally:
                db_pool._return_connection(conn)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        everything = [k for keys in claimed for k in keys]
        self.assertEqual(sorted(everything), self.ids)

    def test_deleting_a_device_deletes_its_keys(self) -> None:
        self.get_success(self.hs.get_device_handler().delete_device(self.user, "D1"))
        self.assertEqual(self.get_success(self.store.get_device_keys([(self.user, None)])), {})
        counts = self.get_success(self.store.get_key_counts(self.user, "D1"))
        self.assertEqual(dict(counts.one_time_keys), {})
        result = self.get_success(self.handler.claim_one_time_keys({self.user: {"D1": ALG}}))
        self.assertEqual(result["one_time_keys"], {})

    def test_cross_signing_auth_asked_only_for_new_keys_over_a_master_key(self) -> None:
        asked: list[int] = []

        async def ui_auth() -> JsonDict:
            asked.append(1)
            return body

        master = cross_signing_key(self.user, "master")
        body: JsonDict = {"master_key": master[0]}
        self.get_success(self.handler.upload_signing_keys_for_user(self.user, body, ui_auth))
        self.assertEqual(asked, [])
        self.get_success(self.handler.upload_signing_keys_for_user(self.user, body, ui_auth))
        self.assertEqual(asked, [])
        ssk = cross_signing_key(self.user, "self_signing", (master[1], master[2]))
        body = {"master_key": master[0], "self_signing_key": ssk[0]}
        self.get_success(self.handler.upload_signing_keys_for_user(self.user, body, ui_auth))
        self.assertEqual(asked, [1])

        async def refuse() -> JsonDict:
            raise SynapseError(401, "no")

        other = cross_signing_key(self.user, "master")
        self.get_failure(
            self.handler.upload_signing_keys_for_user(self.user, {"master_key": other[0]}, refuse),
            SynapseError,
        )
        stored = self.get_success(self.store.get_cross_signing_keys([self.user]))
        self.assertEqual(stored[self.user]["master"], master[0])

    def test_signature_upload_is_a_device_list_change(self) -> None:
        lists = self.hs.get_datastores().main.device_lists
        keys = {"master": cross_signing_key(self.user, "master")}
        master = keys["master"]
        ssk = cross_signing_key(self.user, "self_signing", (master[1], master[2]))

        async def no_auth() -> JsonDict:
            raise AssertionError("not needed")

        self.get_success(
            self.handler.upload_signing_keys_for_user(
                self.user, {"master_key": master[0], "self_signing_key": ssk[0]}, no_auth
            )
        )
        before = lists.get_device_list_stream_id()
        stored = self.get_success(self.store.get_device_keys([(self.user, "D1")]))
        signed = sign(stored[self.user]["D1"].keys, self.user, ssk[1])
        result = self.get_success(
            self.handler.upload_signatures_for_device_keys(self.user, {self.user: {"D1": signed}})
        )
        self.assertEqual(result, {"failures": {}})
        after = lists.get_device_list_stream_id()
        self.assertGreater(after, before)
        changed = self.get_success(lists.get_users_whose_devices_changed(before, after))
        self.assertEqual(changed, {self.user})
