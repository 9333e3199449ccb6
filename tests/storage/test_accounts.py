"""The account stores: users, hashed access tokens, devices, profiles and UI auth sessions."""

from __future__ import annotations

from typing import Any

from synapse.api.errors import StoreError
from synapse.storage.databases.main.registration import hash_access_token
from tests.unittest import HomeserverTestCase


class RegistrationStoreTestCase(HomeserverTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.stores = hs.get_datastores().main
        self.store = self.stores.registration

    def _rows(self, sql: str) -> list[Any]:
        def _txn(txn: Any) -> list[Any]:
            txn.execute(sql)
            return txn.fetchall()

        return self.get_success(self.stores.db_pool.runInteraction("test", _txn))

    def test_register_and_get(self) -> None:
        self.get_success(
            self.store.register_user(
                "@a:test",
                password_hash="h",
                admin=True,
                user_type="bot",
                create_profile_with_displayname="A",
            )
        )
        user = self.get_success(self.store.get_user_by_id("@a:test"))
        assert user is not None
        self.assertTrue(user.is_admin)
        self.assertFalse(user.is_guest)
        self.assertFalse(user.is_deactivated)
        self.assertEqual(user.user_type, "bot")
        self.assertEqual(self.get_success(self.store.get_user_password_hash("@a:test")), "h")
        profile = self.get_success(self.stores.profile.get_profileinfo("@a:test"))
        self.assertEqual(profile.display_name, "A")
        self.assertIsNone(self.get_success(self.store.get_user_by_id("@b:test")))

    def test_duplicate_user_writes_nothing(self) -> None:
        self.get_success(self.store.register_user("@a:test", password_hash="h1"))
        failure = self.get_failure(
            self.store.register_user("@a:test", password_hash="h2"), StoreError
        )
        assert isinstance(failure.value, StoreError)
        self.assertEqual(failure.value.errcode, "M_USER_IN_USE")
        self.assertEqual(self.get_success(self.store.get_user_password_hash("@a:test")), "h1")
        self.assertEqual(self.get_success(self.store.count_all_users()), 1)

    def test_case_insensitive_lookup(self) -> None:
        self.get_success(self.store.register_user("@abc:test", password_hash="h"))
        users = self.get_success(self.store.get_users_by_id_case_insensitive("@ABC:test"))
        self.assertEqual(users, {"@abc:test": "h"})

    def test_tokens_are_stored_hashed(self) -> None:
        self.get_success(self.store.register_user("@a:test"))
        token = "syt_YQ_secretsecretsecret_abcdef"
        token_id = self.get_success(self.store.add_access_token_to_user("@a:test", token, "DEV"))
        rows = self._rows("SELECT * FROM access_tokens")
        self.assertEqual(len(rows), 1)
        flat = " ".join(str(v) for v in rows[0])
        self.assertNotIn(token, flat)
        self.assertNotIn("secretsecretsecret", flat)
        self.assertIn(hash_access_token(token), flat)

        info = self.get_success(self.store.get_user_by_access_token(token))
        assert info is not None
        self.assertEqual(info.user_id, "@a:test")
        self.assertEqual(info.device_id, "DEV")
        self.assertEqual(info.token_id, token_id)
        # The stored hash does not work as a token.
        self.assertIsNone(
            self.get_success(self.store.get_user_by_access_token(hash_access_token(token)))
        )

    def test_delete_tokens(self) -> None:
        self.get_success(self.store.register_user("@a:test"))
        ids = [
            self.get_success(self.store.add_access_token_to_user("@a:test", f"t{i}", f"D{i % 2}"))
            for i in range(4)
        ]
        self.assertEqual(len(set(ids)), 4)
        deleted = self.get_success(self.store.user_delete_access_tokens("@a:test", device_id="D0"))
        self.assertEqual(sorted(d for _, d in deleted), ["D0", "D0"])
        self.assertIsNone(self.get_success(self.store.get_user_by_access_token("t0")))
        self.assertIsNotNone(self.get_success(self.store.get_user_by_access_token("t1")))
        self.get_success(self.store.user_delete_access_tokens("@a:test", except_token_id=ids[1]))
        self.assertIsNotNone(self.get_success(self.store.get_user_by_access_token("t1")))
        self.assertIsNone(self.get_success(self.store.get_user_by_access_token("t3")))
        self.get_success(self.store.delete_access_token("t1"))
        self.assertEqual(self.get_success(self.store.count_access_tokens("@a:test")), 0)

    def test_deactivated_flag_reaches_token_lookup(self) -> None:
        self.get_success(self.store.register_user("@a:test"))
        self.get_success(self.store.add_access_token_to_user("@a:test", "tok", None))
        self.get_success(self.store.set_user_deactivated_status("@a:test", True))
        info = self.get_success(self.store.get_user_by_access_token("tok"))
        assert info is not None
        self.assertTrue(info.is_deactivated)

    def test_generated_localparts_are_fresh(self) -> None:
        self.get_success(self.store.register_user("@7:test"))
        first = self.get_success(self.store.generate_user_localpart())
        second = self.get_success(self.store.generate_user_localpart())
        self.assertEqual(first, "8")
        self.assertEqual(second, "9")


class DeviceStoreTestCase(HomeserverTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.store = hs.get_datastores().main.devices

    def test_device_lifecycle(self) -> None:
        self.assertTrue(self.get_success(self.store.store_device("@a:test", "D1", "Phone")))
        # Storing again keeps the first name.
        self.assertFalse(self.get_success(self.store.store_device("@a:test", "D1", "Other")))
        device = self.get_success(self.store.get_device("@a:test", "D1"))
        self.assertEqual(device.display_name, "Phone")
        self.assertTrue(self.get_success(self.store.update_device("@a:test", "D1", "Tablet")))
        self.assertFalse(self.get_success(self.store.update_device("@a:test", "NOPE", "x")))
        self.get_success(self.store.store_device("@a:test", "D2", None))
        self.get_success(self.store.store_device("@b:test", "D1", None))
        devices = self.get_success(self.store.get_devices_by_user("@a:test"))
        self.assertEqual(sorted(devices), ["D1", "D2"])
        self.assertEqual(devices["D1"].display_name, "Tablet")
        self.get_success(self.store.delete_devices("@a:test", ["D1"]))
        self.assertIsNone(self.get_success(self.store.get_device("@a:test", "D1")))
        self.assertIsNotNone(self.get_success(self.store.get_device("@b:test", "D1")))

    def test_client_ips(self) -> None:
        self.get_success(self.store.store_device("@a:test", "D1", None))
        self.get_success(self.store.insert_client_ip("@a:test", "D1", "1.2.3.4", "ua", 1000))
        self.get_success(self.store.insert_client_ip("@a:test", "D1", "1.2.3.4", "ua", 2000))
        ips = self.get_success(self.store.get_user_ip_and_agents("@a:test"))
        self.assertEqual(
            ips, [{"ip": "1.2.3.4", "user_agent": "ua", "last_seen": 2000, "device_id": "D1"}]
        )
        device = self.get_success(self.store.get_device("@a:test", "D1"))
        self.assertEqual((device.last_seen_ip, device.last_seen_ts), ("1.2.3.4", 2000))


class UIAuthStoreTestCase(HomeserverTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.store = hs.get_datastores().main.ui_auth

    def test_session(self) -> None:
        session = self.get_success(
            self.store.create_ui_auth_session({"a": 1}, "/uri", "POST", "desc")
        )
        got = self.get_success(self.store.get_ui_auth_session(session.session_id))
        self.assertEqual((got.clientdict, got.uri, got.method), ({"a": 1}, "/uri", "POST"))
        self.get_success(
            self.store.mark_ui_auth_stage_complete(session.session_id, "m.login.dummy", True)
        )
        self.assertEqual(
            self.get_success(self.store.get_completed_ui_auth_stages(session.session_id)),
            {"m.login.dummy": True},
        )
        self.get_success(self.store.set_ui_auth_session_data(session.session_id, "k", "v"))
        self.assertEqual(
            self.get_success(self.store.get_ui_auth_session_data(session.session_id, "k")), "v"
        )
        self.get_failure(self.store.get_ui_auth_session("nope"), StoreError)

    def test_expiry(self) -> None:
        session = self.get_success(self.store.create_ui_auth_session({}, "/u", "POST", "d"))
        self.get_success(self.store.delete_old_ui_auth_sessions(self.hs.get_clock().time_msec()))
        self.get_failure(self.store.get_ui_auth_session(session.session_id), StoreError)
