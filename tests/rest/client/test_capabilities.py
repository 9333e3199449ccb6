"""``GET /_matrix/client/v3/capabilities``."""

from __future__ import annotations

from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.rest.client import capabilities
from tests.matrix_spec import assert_response_matches_spec
from tests.unittest import HomeserverTestCase, override_config


class CapabilitiesTestCase(HomeserverTestCase):
    servlets = [capabilities.register_servlets]

    def prepare(self, reactor, clock, hs) -> None:  # type: ignore[no-untyped-def]
        user_id = self.register_user("alice", "password")
        self.token = self.create_access_token(user_id)

    def get_capabilities(self) -> dict:
        channel = self.make_request("GET", "capabilities", access_token=self.token)
        self.assertEqual(channel.code, 200, channel.json_body)
        assert_response_matches_spec(
            channel.json_body, "client-server/capabilities.yaml", "/capabilities", "get"
        )
        return channel.json_body["capabilities"]

    def test_defaults(self) -> None:
        caps = self.get_capabilities()
        self.assertEqual(
            caps["m.room_versions"]["default"],
            self.hs.config.server.default_room_version.identifier,
        )
        self.assertEqual(
            caps["m.room_versions"]["available"],
            {v.identifier: v.disposition for v in KNOWN_ROOM_VERSIONS.values()},
        )
        self.assertEqual(caps["m.change_password"], {"enabled": True})
        self.assertEqual(caps["m.set_displayname"], {"enabled": True})
        self.assertEqual(caps["m.set_avatar_url"], {"enabled": True})
        self.assertEqual(caps["m.3pid_changes"], {"enabled": True})
        self.assertEqual(caps["m.get_login_token"], {"enabled": False})
        self.assertEqual(
            caps["m.profile_fields"], {"enabled": True, "allowed": ["displayname", "avatar_url"]}
        )

    @override_config(
        {
            "password_config": {"enabled": False},
            "enable_set_displayname": False,
            "enable_set_avatar_url": False,
            "enable_3pid_changes": False,
            "default_room_version": "11",
        }
    )
    def test_config_switches(self) -> None:
        caps = self.get_capabilities()
        self.assertEqual(caps["m.room_versions"]["default"], "11")
        self.assertEqual(caps["m.change_password"], {"enabled": False})
        self.assertEqual(caps["m.set_displayname"], {"enabled": False})
        self.assertEqual(caps["m.set_avatar_url"], {"enabled": False})
        self.assertEqual(caps["m.3pid_changes"], {"enabled": False})
        self.assertEqual(caps["m.profile_fields"], {"enabled": False, "allowed": []})

    @override_config({"enable_set_avatar_url": False})
    def test_profile_fields_follow_displayname_and_avatar(self) -> None:
        caps = self.get_capabilities()
        self.assertEqual(caps["m.profile_fields"], {"enabled": True, "allowed": ["displayname"]})
        self.assertEqual(caps["m.set_displayname"], {"enabled": True})
        self.assertEqual(caps["m.set_avatar_url"], {"enabled": False})

    def test_requires_auth(self) -> None:
        channel = self.make_request("GET", "capabilities")
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")
        channel = self.make_request("GET", "capabilities", access_token="nope")
        self.assertEqual(channel.code, 401)
        self.assertEqual(channel.json_body["errcode"], "M_UNKNOWN_TOKEN")
