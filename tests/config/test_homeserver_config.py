"""``HomeServerConfig.parse_config_dict``: every section, types checked, unknown keys warned."""

from __future__ import annotations

import ipaddress
import os
import tempfile
import unittest
from typing import Any

from signedjson.key import (
    encode_verify_key_base64,
    generate_signing_key,
    get_verify_key,
    write_signing_keys,
)

from synapse.config._base import ConfigError
from synapse.config.homeserver import HomeServerConfig
from synapse.config.ratelimiting import RatelimitSettings


def parse(extra: Any = None, **kwargs: Any) -> HomeServerConfig:
    config: dict[str, Any] = {"server_name": "example.com"}
    config.update(extra or {})
    return HomeServerConfig.parse_config_dict(config, **kwargs)


class ServerSectionTestCase(unittest.TestCase):
    def test_defaults(self) -> None:
        config = parse()
        server = config.server
        self.assertEqual(server.server_name, "example.com")
        self.assertEqual(server.public_baseurl, "https://example.com/")
        self.assertIsNone(server.pid_file)
        self.assertEqual(server.listeners, [])
        self.assertFalse(server.serve_server_wellknown)
        self.assertTrue(server.presence_enabled)
        self.assertTrue(server.require_membership_for_aliases)
        self.assertFalse(server.enable_ephemeral_messages)
        self.assertFalse(server.limit_usage_by_mau)
        self.assertEqual(server.max_mau_value, 0)
        self.assertFalse(server.allow_public_rooms_without_auth)
        self.assertEqual(server.default_room_version.identifier, "10")
        self.assertIsNone(server.max_event_delay_ms)
        self.assertEqual(server.redaction_retention_period, 7 * 86_400_000)
        self.assertIsNone(config.server_notices.server_notices_mxid)

    def test_values(self) -> None:
        config = parse(
            {
                "public_baseurl": "https://matrix.example.com",
                "pid_file": "/run/hs.pid",
                "serve_server_wellknown": "true",
                "user_agent_suffix": "custom",
                "use_frozen_dicts": 1,
                "presence": {"enabled": False},
                "require_membership_for_aliases": "no",
                "enable_ephemeral_messages": "yes",
                "limit_usage_by_mau": True,
                "max_mau_value": 50,
                "allow_public_rooms_without_auth": "",
                "default_room_version": "11",
                "max_event_delay_duration": "1d",
                "redaction_retention_period": None,
                "server_notices": {
                    "system_mxid_localpart": "notices",
                    "system_mxid_display_name": "Notices",
                    "room_name": "Server Notices!",
                },
            }
        )
        server = config.server
        self.assertEqual(server.public_baseurl, "https://matrix.example.com/")
        self.assertEqual(server.pid_file, "/run/hs.pid")
        self.assertTrue(server.serve_server_wellknown)
        self.assertEqual(server.user_agent_suffix, "custom")
        self.assertTrue(server.use_frozen_dicts)
        self.assertFalse(server.presence_enabled)
        self.assertFalse(server.require_membership_for_aliases)
        self.assertTrue(server.enable_ephemeral_messages)
        self.assertTrue(server.limit_usage_by_mau)
        self.assertEqual(server.max_mau_value, 50)
        self.assertFalse(server.allow_public_rooms_without_auth)
        self.assertEqual(server.default_room_version.identifier, "11")
        self.assertEqual(server.max_event_delay_ms, 86_400_000)
        self.assertIsNone(server.redaction_retention_period)
        notices = config.server_notices
        self.assertEqual(notices.server_notices_mxid, "@notices:example.com")
        self.assertEqual(notices.server_notices_mxid_display_name, "Notices")
        self.assertEqual(notices.server_notices_room_name, "Server Notices!")

    def test_presence(self) -> None:
        self.assertTrue(parse().server.track_presence)
        self.assertFalse(parse({"use_presence": False}).server.presence_enabled)
        server = parse({"presence": {"enabled": "untracked"}}).server
        self.assertFalse(server.presence_enabled)
        self.assertTrue(server.track_presence)
        with self.assertRaises(ConfigError) as cm:
            parse({"presence": {"enabled": "sometimes"}})
        self.assertIn("'presence.enabled'", str(cm.exception))

    def test_listeners(self) -> None:
        config = parse(
            {
                "listeners": [
                    {
                        "port": 8008,
                        "type": "http",
                        "x_forwarded": True,
                        "bind_addresses": ["::1", "127.0.0.1"],
                        "resources": [{"names": ["client", "federation"], "compress": False}],
                    },
                    {"port": "9000", "type": "metrics", "bind_addresses": ["127.0.0.1"]},
                    {
                        "port": 8448,
                        "resources": [{"names": ["federation", "keys", "media", "health"]}],
                    },
                ]
            }
        )
        first, metrics, fed = config.server.listeners
        self.assertEqual(first.port, 8008)
        self.assertEqual(first.bind_addresses, ["::1", "127.0.0.1"])
        self.assertFalse(first.tls)
        assert first.http_options is not None
        self.assertTrue(first.http_options.x_forwarded)
        self.assertEqual(first.resource_names, {"client", "federation"})
        self.assertEqual(metrics.type, "metrics")
        self.assertEqual(metrics.port, 9000)
        self.assertEqual(metrics.resource_names, {"metrics"})
        self.assertEqual(fed.bind_addresses, ["::", "0.0.0.0"])
        self.assertEqual(fed.resource_names, {"federation", "keys", "media", "health"})

    def test_listener_errors_name_the_key(self) -> None:
        cases = [
            ({"listeners": [{"type": "http"}]}, "listeners.0.port"),
            ({"listeners": [{"port": "eighty"}]}, "listeners.0.port"),
            ({"listeners": [{"port": 99999}]}, "listeners.0.port"),
            ({"listeners": [{"port": 80, "type": "gopher"}]}, "listeners.0.type"),
            (
                {"listeners": [{"port": 80, "resources": [{"names": ["cliant"]}]}]},
                "listeners.0.resources.0.names",
            ),
            ({"listeners": [{"port": 80, "tls": "sometimes"}]}, "listeners.0.tls"),
            ({"listeners": {"port": 80}}, "listeners"),
        ]
        for extra, key in cases:
            with self.assertRaises(ConfigError, msg=key) as cm:
                parse(extra)
            self.assertIn(f"'{key}'", str(cm.exception))

    def test_server_name_required(self) -> None:
        with self.assertRaises(ConfigError) as cm:
            HomeServerConfig.parse_config_dict({})
        self.assertIn("server_name", str(cm.exception))

    def test_bad_room_version(self) -> None:
        with self.assertRaises(ConfigError) as cm:
            parse({"default_room_version": "99"})
        self.assertIn("default_room_version", str(cm.exception))

    def test_instance_form(self) -> None:
        """A config object can also be filled in place, as Synapse-style code does."""
        config = HomeServerConfig()
        returned = config.parse_config_dict({"server_name": "a.example"}, "", "")
        self.assertIs(returned, config)
        self.assertEqual(config.server.server_name, "a.example")


class DatabaseSectionTestCase(unittest.TestCase):
    def test_default_is_sqlite_in_data_dir(self) -> None:
        config = parse(data_dir_path="/var/lib/hs")
        (db,) = config.database.databases
        self.assertEqual(db.name, "sqlite3")
        self.assertEqual(db.args["database"], "/var/lib/hs/homeserver.db")
        self.assertEqual(db.config["args"]["database"], "/var/lib/hs/homeserver.db")
        self.assertEqual(db.data_stores, ["main", "state"])

    def test_database_form(self) -> None:
        config = parse({"database": {"name": "sqlite3", "args": {"database": ":memory:"}}})
        (db,) = config.database.databases
        self.assertEqual(db.name, "sqlite3")
        self.assertEqual(db.args, {"database": ":memory:"})
        self.assertTrue(db.is_in_memory)

    def test_postgres(self) -> None:
        config = parse(
            {
                "database": {
                    "name": "psycopg2",
                    "txn_limit": 10000,
                    "args": {
                        "user": "synapse",
                        "password": "secret",
                        "dbname": "synapse",
                        "host": "localhost",
                        "port": 5432,
                        "cp_min": 2,
                        "cp_max": 7,
                    },
                }
            }
        )
        (db,) = config.database.databases
        self.assertEqual(db.name, "psycopg2")
        self.assertEqual(db.cp_min, 2)
        self.assertEqual(db.cp_max, 7)
        self.assertEqual(db.txn_limit, 10000)
        self.assertEqual(
            db.args,
            {
                "user": "synapse",
                "password": "secret",
                "dbname": "synapse",
                "host": "localhost",
                "port": 5432,
            },
        )
        self.assertEqual(db.config["args"]["cp_max"], 7)

    def test_databases_form(self) -> None:
        config = parse({"databases": {"main": {"name": "psycopg2", "args": {"dbname": "synapse"}}}})
        (db,) = config.database.databases
        self.assertEqual(db.connection_name, "main")
        self.assertEqual(db.name, "psycopg2")
        self.assertEqual(db.data_stores, ["main", "state"])
        self.assertIs(config.database.get_single_database(), db)

    def test_database_errors(self) -> None:
        cases = [
            ({"database": {"name": "mysql", "args": {}}}, "database.name"),
            ({"database": {"name": "sqlite3", "args": {}}}, "database.args.database"),
            (
                {"database": {"name": "psycopg2", "args": {"cp_max": "many"}}},
                "database.args.cp_max",
            ),
            ({"database": "sqlite"}, "database"),
            ({"databases": {"main": {"name": "oracle"}}}, "databases.main.name"),
            (
                {
                    "database": {"name": "sqlite3", "args": {"database": ":memory:"}},
                    "databases": {},
                },
                "databases",
            ),
        ]
        for extra, key in cases:
            with self.assertRaises(ConfigError, msg=key) as cm:
                parse(extra)
            self.assertIn(f"'{key}'", str(cm.exception))


class KeySectionTestCase(unittest.TestCase):
    def test_signing_key_from_default_path(self) -> None:
        key = generate_signing_key("abcd")
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "example.com.signing.key"), "w") as f:
                write_signing_keys(f, [key])
            config = parse(config_dir_path=d)
        (loaded,) = config.key.signing_key
        self.assertEqual(loaded.version, "abcd")
        self.assertEqual(loaded.alg, "ed25519")
        self.assertEqual(bytes(loaded), bytes(key))

    def test_missing_signing_key_file(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaises(ConfigError) as cm:
                parse({"signing_key_path": os.path.join(d, "nope.key")})
        self.assertIn("signing_key_path", str(cm.exception))
        self.assertIn("--generate-keys", str(cm.exception))

    def test_without_config_dir_a_key_is_made_in_memory(self) -> None:
        self.assertEqual(len(parse().key.signing_key), 1)

    def test_key_settings(self) -> None:
        old = get_verify_key(generate_signing_key("old"))
        notary = get_verify_key(generate_signing_key("auto"))
        config = parse(
            {
                "old_signing_keys": {
                    "ed25519:old": {"key": encode_verify_key_base64(old), "expired_ts": 1234}
                },
                "key_refresh_interval": "2d",
                "trusted_key_servers": [
                    {
                        "server_name": "notary.example",
                        "verify_keys": {"ed25519:auto": encode_verify_key_base64(notary)},
                    },
                    {"server_name": "other.example"},
                ],
                "suppress_key_server_warning": True,
            }
        )
        key = config.key
        self.assertEqual(bytes(key.old_signing_keys["ed25519:old"]), bytes(old))
        self.assertEqual(key.old_signing_keys["ed25519:old"].expired, 1234)  # type: ignore[attr-defined]
        self.assertEqual(key.key_refresh_interval, 2 * 86_400_000)
        self.assertEqual(
            [s.server_name for s in key.trusted_key_servers], ["notary.example", "other.example"]
        )
        pinned = key.trusted_key_servers[0].verify_keys
        assert pinned is not None
        self.assertEqual(bytes(pinned["ed25519:auto"]), bytes(notary))
        self.assertIsNone(key.trusted_key_servers[1].verify_keys)
        self.assertTrue(key.suppress_key_server_warning)
        self.assertEqual(config.warnings, [])

    def test_default_trusted_key_server_warns(self) -> None:
        config = parse()
        self.assertEqual([s.server_name for s in config.key.trusted_key_servers], ["matrix.org"])
        self.assertTrue(any("matrix.org" in w for w in config.warnings))

    def test_perspectives(self) -> None:
        notary = get_verify_key(generate_signing_key("auto"))
        config = parse(
            {
                "perspectives": {
                    "servers": {
                        "p.example": {
                            "verify_keys": {
                                "ed25519:auto": {"key": encode_verify_key_base64(notary)}
                            }
                        }
                    }
                },
                "trusted_key_servers": [],
            }
        )
        self.assertEqual([s.server_name for s in config.key.trusted_key_servers], ["p.example"])

    def test_bad_old_key(self) -> None:
        with self.assertRaises(ConfigError) as cm:
            parse({"old_signing_keys": {"ed25519:old": {"key": "!!!"}}})
        self.assertIn("old_signing_keys.ed25519:old", str(cm.exception))


class RegistrationSectionTestCase(unittest.TestCase):
    def test_defaults(self) -> None:
        reg = parse().registration
        self.assertFalse(reg.enable_registration)
        self.assertFalse(reg.registration_requires_token)
        self.assertIsNone(reg.registration_shared_secret)
        self.assertEqual(reg.bcrypt_rounds, 12)
        self.assertTrue(reg.password_enabled)
        self.assertTrue(reg.password_enabled_for_reauth)
        self.assertEqual(reg.password_pepper, "")
        self.assertFalse(reg.password_policy_enabled)
        self.assertFalse(reg.allow_guest_access)
        self.assertEqual(reg.auto_join_rooms, [])

    def test_values(self) -> None:
        config = parse(
            {
                "enable_registration": "true",
                "enable_registration_without_verification": "true",
                "registration_requires_token": 1,
                "registration_shared_secret": "s3cret",
                "bcrypt_rounds": 4,
                "password_config": {
                    "enabled": "only_for_reauth",
                    "pepper": "pep",
                    "policy": {"enabled": True, "minimum_length": 8, "require_digit": "yes"},
                },
                "allow_guest_access": "on",
                "macaroon_secret_key": "mac",
                "form_secret": "form",
                "auto_join_rooms": ["#lobby:example.com"],
            }
        )
        reg = config.registration
        self.assertTrue(reg.enable_registration)
        self.assertTrue(reg.enable_registration_without_verification)
        self.assertTrue(reg.registration_requires_token)
        self.assertEqual(reg.registration_shared_secret, "s3cret")
        self.assertEqual(reg.bcrypt_rounds, 4)
        self.assertFalse(reg.password_enabled)
        self.assertTrue(reg.password_enabled_for_reauth)
        self.assertEqual(reg.password_pepper, "pep")
        self.assertTrue(reg.password_policy_enabled)
        self.assertEqual(reg.password_policy["minimum_length"], 8)
        self.assertTrue(reg.password_policy["require_digit"])
        self.assertTrue(reg.allow_guest_access)
        self.assertEqual(reg.macaroon_secret_key, "mac")
        self.assertEqual(config.key.macaroon_secret_key, "mac")
        self.assertEqual(reg.form_secret, "form")
        self.assertEqual(reg.auto_join_rooms, ["#lobby:example.com"])

    def test_open_registration_needs_verification(self) -> None:
        with self.assertRaises(ConfigError) as cm:
            parse({"enable_registration": True})
        self.assertIn("enable_registration_without_verification", str(cm.exception))
        self.assertTrue(
            parse(
                {"enable_registration": True, "registration_requires_token": True}
            ).registration.enable_registration
        )

    def test_wrong_types(self) -> None:
        for extra, key in [
            ({"bcrypt_rounds": "lots"}, "bcrypt_rounds"),
            ({"password_config": {"pepper": 5}}, "password_config.pepper"),
            ({"registration_shared_secret": ["a"]}, "registration_shared_secret"),
            ({"auto_join_rooms": "#a:b"}, "auto_join_rooms"),
        ]:
            with self.assertRaises(ConfigError, msg=key) as cm:
                parse(extra)
            self.assertIn(f"'{key}'", str(cm.exception))


class RatelimitingSectionTestCase(unittest.TestCase):
    def test_defaults(self) -> None:
        rl = parse().ratelimiting
        self.assertEqual(rl.rc_message, RatelimitSettings(0.2, 10, "rc_message"))
        self.assertEqual((rl.rc_registration.per_second, rl.rc_registration.burst_count), (0.17, 3))
        self.assertEqual(
            (rl.rc_login.address.per_second, rl.rc_login.address.burst_count), (0.003, 5)
        )
        self.assertEqual(
            (rl.rc_login.account.per_second, rl.rc_login.account.burst_count), (0.003, 5)
        )
        self.assertEqual(
            (rl.rc_login.failed_attempts.per_second, rl.rc_login.failed_attempts.burst_count),
            (0.17, 3),
        )
        self.assertEqual((rl.rc_joins_local.per_second, rl.rc_joins_local.burst_count), (0.1, 10))
        self.assertEqual(
            (rl.rc_joins_remote.per_second, rl.rc_joins_remote.burst_count), (0.01, 10)
        )
        self.assertEqual(
            (rl.rc_joins_per_room.per_second, rl.rc_joins_per_room.burst_count), (1, 10)
        )
        self.assertEqual(
            (rl.rc_invites_per_room.per_second, rl.rc_invites_per_room.burst_count), (0.3, 10)
        )
        self.assertEqual(
            (rl.rc_invites_per_user.per_second, rl.rc_invites_per_user.burst_count), (0.003, 5)
        )
        self.assertEqual(
            (rl.rc_invites_per_issuer.per_second, rl.rc_invites_per_issuer.burst_count), (0.3, 10)
        )
        self.assertEqual(
            (rl.rc_3pid_validation.per_second, rl.rc_3pid_validation.burst_count), (0.003, 5)
        )
        self.assertIsNone(rl.rc_admin_redaction)
        fed = rl.rc_federation
        self.assertEqual(
            (fed.window_size, fed.sleep_limit, fed.sleep_delay, fed.reject_limit, fed.concurrent),
            (1000, 10, 500, 50, 3),
        )
        self.assertEqual(rl.federation_rr_transactions_per_room_per_second, 50)

    def test_values(self) -> None:
        rl = parse(
            {
                "rc_message": {"per_second": 1, "burst_count": 2},
                "rc_login": {"address": {"per_second": 5}, "failed_attempts": {"burst_count": 9}},
                "rc_joins": {"local": {"per_second": 3, "burst_count": 4}},
                "rc_invites": {"per_issuer": {"per_second": 0.5, "burst_count": 1}},
                "rc_admin_redaction": {"per_second": 2, "burst_count": 20},
                "rc_registration_token_validity": {"per_second": 0.5, "burst_count": 1},
                "rc_third_party_invite": {"per_second": 0.5, "burst_count": 1},
                "rc_room_creation": {"per_second": 0.5, "burst_count": 1},
                "rc_media_create": {"per_second": 0.5, "burst_count": 1},
                "rc_presence": {"per_user": {"per_second": 0.5, "burst_count": 1}},
                "rc_federation": {
                    "window_size": 2000,
                    "sleep_limit": 1,
                    "sleep_delay": "1s",
                    "reject_limit": 2,
                    "concurrent": 4,
                },
            }
        ).ratelimiting
        self.assertEqual((rl.rc_message.per_second, rl.rc_message.burst_count), (1, 2))
        self.assertEqual((rl.rc_login.address.per_second, rl.rc_login.address.burst_count), (5, 5))
        self.assertEqual(rl.rc_login_failed_attempts.burst_count, 9)
        self.assertEqual((rl.rc_joins_local.per_second, rl.rc_joins_local.burst_count), (3, 4))
        self.assertEqual(rl.rc_invites_per_issuer.per_second, 0.5)
        assert rl.rc_admin_redaction is not None
        self.assertEqual(rl.rc_admin_redaction.burst_count, 20)
        for name in (
            "rc_registration_token_validity",
            "rc_third_party_invite",
            "rc_room_creation",
            "rc_media_create",
        ):
            self.assertEqual(getattr(rl, name).per_second, 0.5, name)
        self.assertEqual(rl.rc_presence_per_user.per_second, 0.5)
        self.assertEqual(rl.rc_federation.window_size, 2000)
        self.assertEqual(rl.rc_federation.sleep_delay, 1000)
        self.assertEqual(rl.rc_federation.concurrent, 4)

    def test_wrong_type_names_nested_key(self) -> None:
        with self.assertRaises(ConfigError) as cm:
            parse({"rc_login": {"address": {"per_second": "fast"}}})
        self.assertIn("'rc_login.address.per_second'", str(cm.exception))
        with self.assertRaises(ConfigError) as cm:
            parse({"rc_message": 5})
        self.assertIn("'rc_message'", str(cm.exception))


class OtherSectionsTestCase(unittest.TestCase):
    def test_media(self) -> None:
        media = parse(data_dir_path="/data").media
        self.assertTrue(media.enable_media_repo)
        self.assertEqual(media.media_store_path, "/data/media_store")
        self.assertEqual(media.max_upload_size, 50 * 1024 * 1024)
        self.assertFalse(media.dynamic_thumbnails)
        self.assertEqual(len(media.thumbnail_requirements), 5)
        self.assertFalse(media.url_preview_enabled)

        media = parse(
            {
                "enable_media_repo": "false",
                "media_store_path": "/srv/media",
                "max_upload_size": "10M",
                "dynamic_thumbnails": True,
                "thumbnail_sizes": [{"width": 64, "height": 48, "method": "scale"}],
                "url_preview_enabled": True,
                "url_preview_ip_range_blacklist": ["10.0.0.0/8"],
                "url_preview_ip_range_whitelist": ["10.1.0.0/16"],
            }
        ).media
        self.assertFalse(media.enable_media_repo)
        self.assertEqual(media.media_store_path, "/srv/media")
        self.assertEqual(media.max_upload_size, 10 * 1024 * 1024)
        self.assertTrue(media.dynamic_thumbnails)
        self.assertEqual(
            [(t.width, t.height, t.method) for t in media.thumbnail_requirements],
            [(64, 48, "scale")],
        )
        self.assertEqual(media.url_preview_ip_range_blacklist, [ipaddress.ip_network("10.0.0.0/8")])

        for extra, key in [
            ({"max_upload_size": "huge"}, "max_upload_size"),
            (
                {"thumbnail_sizes": [{"width": 1, "height": 1, "method": "stretch"}]},
                "thumbnail_sizes.0.method",
            ),
            ({"url_preview_enabled": True}, "url_preview_ip_range_blacklist"),
            ({"url_preview_ip_range_blacklist": ["nonsense"]}, "url_preview_ip_range_blacklist.0"),
        ]:
            with self.assertRaises(ConfigError, msg=key) as cm:
                parse(extra)
            self.assertIn(f"'{key}'", str(cm.exception))

    def test_caches(self) -> None:
        caches = parse(
            {
                "caches": {
                    "global_factor": 2,
                    "per_cache_factors": {"get_users_in_room": 3},
                    "sync_response_cache_duration": "5m",
                }
            }
        ).caches
        self.assertEqual(caches.global_factor, 2.0)
        self.assertEqual(caches.get_factor_for("get_users_in_room"), 3.0)
        self.assertEqual(caches.get_factor_for("other"), 2.0)
        self.assertEqual(caches.sync_response_cache_duration, 300_000)
        with self.assertRaises(ConfigError) as cm:
            parse({"caches": {"per_cache_factors": {"x": "big"}}})
        self.assertIn("caches.per_cache_factors.x", str(cm.exception))

    def test_metrics(self) -> None:
        config = parse({"enable_metrics": "true", "report_stats": "yes"})
        self.assertTrue(config.metrics.enable_metrics)
        self.assertTrue(config.metrics.report_stats)
        self.assertFalse(parse().metrics.enable_metrics)

    def test_federation(self) -> None:
        fed = parse().federation
        self.assertIsNone(fed.federation_domain_whitelist)
        self.assertTrue(fed.federation_verify_certificates)
        self.assertTrue(fed.send_federation)
        self.assertFalse(fed.allow_public_rooms_over_federation)
        self.assertIn(ipaddress.ip_network("10.0.0.0/8"), fed.ip_range_blacklist)
        self.assertEqual(fed.destination_max_retry_interval_ms, 7 * 86_400_000)

        fed = parse(
            {
                "federation_domain_whitelist": ["a.example", "b.example"],
                "federation_verify_certificates": "false",
                "federation_ip_range_blacklist": ["192.168.0.0/16"],
                "ip_range_whitelist": ["192.168.1.0/24"],
                "allow_public_rooms_over_federation": True,
                "send_federation": 0,
                "trusted_key_servers": [
                    {"server_name": "n.example", "accept_keys_insecurely": True}
                ],
                "federation": {
                    "destination_min_retry_interval": "1m",
                    "max_long_retry_delay": "30s",
                },
            }
        ).federation
        self.assertEqual(fed.federation_domain_whitelist, {"a.example": True, "b.example": True})
        self.assertFalse(fed.federation_verify_certificates)
        self.assertIn(ipaddress.ip_network("192.168.0.0/16"), fed.federation_ip_range_blacklist)
        self.assertNotIn(ipaddress.ip_network("10.0.0.0/8"), fed.federation_ip_range_blacklist)
        self.assertEqual(fed.federation_ip_range_whitelist, [])
        self.assertIn(ipaddress.ip_network("10.0.0.0/8"), fed.ip_range_blacklist)
        self.assertEqual(fed.ip_range_whitelist, [ipaddress.ip_network("192.168.1.0/24")])

        self.assertTrue(fed.allow_public_rooms_over_federation)
        self.assertFalse(fed.send_federation)
        self.assertEqual(fed.destination_min_retry_interval_ms, 60_000)
        self.assertEqual(fed.max_long_retry_delay_ms, 30_000)

        fed = parse(
            {"ip_range_blacklist": ["10.0.0.0/8"], "ip_range_whitelist": ["10.1.0.0/16"]}
        ).federation
        self.assertNotIn(ipaddress.ip_network("192.168.0.0/16"), fed.ip_range_blacklist)
        self.assertIs(fed.federation_ip_range_blacklist, fed.ip_range_blacklist)
        self.assertEqual(fed.federation_ip_range_whitelist, [ipaddress.ip_network("10.1.0.0/16")])

    def test_directories(self) -> None:
        config = parse(
            {
                "user_directory": {"enabled": True, "search_all_users": "true"},
                "room_list_publication_rules": [{"user_id": "@admin:*", "action": "allow"}],
            }
        )
        self.assertTrue(config.user_directory.user_directory_search_all_users)
        self.assertTrue(
            config.room_directory.is_publishing_room_allowed(
                "@admin:example.com", "!r:example.com", []
            )
        )
        self.assertFalse(
            config.room_directory.is_publishing_room_allowed(
                "@bob:example.com", "!r:example.com", []
            )
        )
        self.assertTrue(
            config.room_directory.is_alias_creation_allowed("@bob:example.com", "!r:e", "#a:e")
        )

    def test_tls(self) -> None:
        with self.assertRaises(ConfigError) as cm:
            parse({"listeners": [{"port": 8448, "tls": True}]})
        self.assertIn("tls_certificate_path", str(cm.exception))
        tls = parse(
            {"tls_certificate_path": "/etc/c.pem", "tls_private_key_path": "/etc/k.pem"}
        ).tls
        self.assertEqual(tls.tls_certificate_file, "/etc/c.pem")

    def test_appservice(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bridge.yaml")
            with open(path, "w") as f:
                f.write(
                    "id: bridge\nas_token: a\nhs_token: h\nsender_localpart: bot\nurl: http://localhost:9000\n"
                )
            config = parse({"app_service_config_files": [path]})
            self.assertEqual(config.appservice.app_service_registrations[0]["id"], "bridge")
            with self.assertRaises(ConfigError) as cm:
                parse({"app_service_config_files": [os.path.join(d, "missing.yaml")]})
            self.assertIn("app_service_config_files.0", str(cm.exception))

    def test_redis_and_workers(self) -> None:
        config = parse(
            {
                "redis": {"enabled": True, "host": "redis.local", "port": 6380, "password": "pw"},
                "instance_map": {
                    "main": {"host": "localhost", "port": 8034},
                    "w1": {"host": "localhost", "port": 8035},
                },
                "stream_writers": {"events": ["w1"], "typing": "w1"},
                "run_background_tasks_on": "w1",
            }
        )
        self.assertTrue(config.redis.redis_enabled)
        self.assertEqual((config.redis.redis_host, config.redis.redis_port), ("redis.local", 6380))
        worker = config.worker
        self.assertIsNone(worker.worker_app)
        self.assertEqual(worker.instance_name, "master")
        self.assertEqual(worker.writers.events, ["w1"])
        self.assertEqual(worker.writers.typing, ["w1"])
        self.assertEqual(worker.writers.to_device, ["master"])
        self.assertEqual(worker.instance_map["w1"].port, 8035)
        self.assertFalse(worker.run_background_tasks)

        config = parse(
            {
                "worker_app": "synapse.app.generic_worker",
                "worker_name": "w1",
                "worker_listeners": [
                    {"port": 8083, "type": "http", "resources": [{"names": ["client"]}]}
                ],
            }
        )
        self.assertEqual(config.worker.instance_name, "w1")
        self.assertEqual(config.worker.worker_listeners[0].resource_names, {"client"})
        with self.assertRaises(ConfigError) as cm:
            parse({"stream_writers": {"events": "nowhere"}})
        self.assertIn("stream_writers.events", str(cm.exception))

    def test_room(self) -> None:
        config = parse({"encryption_enabled_by_default_for_room_type": "invite"})
        self.assertEqual(
            config.room.encryption_enabled_by_default_for_room_presets,
            ["private_chat", "trusted_private_chat"],
        )
        with self.assertRaises(ConfigError):
            parse({"encryption_enabled_by_default_for_room_type": "sometimes"})


class UnknownKeysTestCase(unittest.TestCase):
    def test_unknown_and_unsupported_keys_warn_once_each(self) -> None:
        config = parse(
            {
                "suppress_key_server_warning": True,
                "no_such_setting": 1,
                "oidc_providers": [{"idp_id": "x"}],
                "email": {"smtp_host": "localhost"},
                "enable_registration": False,
            }
        )
        self.assertEqual(len(config.warnings), 3, config.warnings)
        self.assertTrue(any("no_such_setting" in w and "Unknown" in w for w in config.warnings))
        self.assertTrue(any("oidc_providers" in w and "not support" in w for w in config.warnings))
        self.assertTrue(any("'email'" in w for w in config.warnings))

    def test_known_keys_do_not_warn(self) -> None:
        config = parse(
            {
                "suppress_key_server_warning": True,
                "enable_registration": False,
                "rc_message": {"per_second": 1},
                "federation_rc_window_size": 1000,
                "caches": {},
                "redis": {},
                "presence": {},
                "max_upload_size": "1M",
                # Read even when the feature it belongs to is off.
                "max_mau_value": 10,
            }
        )
        self.assertEqual(config.warnings, [])
        self.assertEqual(config.server.max_mau_value, 0)
