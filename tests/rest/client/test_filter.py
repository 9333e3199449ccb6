"""``POST /user/{userId}/filter`` and ``GET /user/{userId}/filter/{filterId}``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from synapse.api.errors import Codes, SynapseError
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.history_test_base import HistoryTestCase

API = "client-server/filter.yaml"
EXAMPLE_FILTER: JsonDict = {
    "room": {
        "state": {"types": ["m.room.*"], "not_rooms": ["!726s6s6q:example.com"]},
        "timeline": {
            "limit": 10,
            "types": ["m.room.message"],
            "not_rooms": ["!726s6s6q:example.com"],
            "not_senders": ["@spam:example.com"],
        },
        "ephemeral": {"types": ["m.receipt", "m.typing"]},
    },
    "presence": {"types": ["m.presence"], "not_senders": ["@alice:example.com"]},
    "event_format": "client",
    "event_fields": ["type", "content", "sender"],
}


class FilterServletTestCase(HistoryTestCase):
    def upload(
        self, user_id: str, filter_json: Any, tok: str | None, expect: int = 200
    ) -> JsonDict:
        channel = self.make_request(
            "POST", f"user/{quote(user_id)}/filter", filter_json, access_token=tok
        )
        self.assertEqual(channel.code, expect, channel.json_body)
        return channel.json_body

    def download(
        self, user_id: str, filter_id: str, tok: str | None, expect: int = 200
    ) -> JsonDict:
        channel = self.make_request(
            "GET", f"user/{quote(user_id)}/filter/{quote(filter_id)}", access_token=tok
        )
        self.assertEqual(channel.code, expect, channel.json_body)
        return channel.json_body

    def test_upload_and_download(self) -> None:
        body = self.upload(self.user, EXAMPLE_FILTER, self.tok)
        assert_response_matches_spec(body, API, "/user/{userId}/filter", "post")
        self.assertFalse(body["filter_id"].startswith("{"))
        got = self.download(self.user, body["filter_id"], self.tok)
        self.assertEqual(got, EXAMPLE_FILTER)
        assert_response_matches_spec(got, API, "/user/{userId}/filter/{filterId}", "get")

    def test_ids_are_per_upload_and_identical_filters_share_one(self) -> None:
        first = self.upload(self.user, {"room": {"timeline": {"limit": 1}}}, self.tok)["filter_id"]
        second = self.upload(self.user, {"room": {"timeline": {"limit": 2}}}, self.tok)["filter_id"]
        again = self.upload(self.user, {"room": {"timeline": {"limit": 1}}}, self.tok)["filter_id"]
        self.assertNotEqual(first, second)
        self.assertEqual(first, again)
        # Another user's filter IDs are their own.
        theirs = self.upload(self.other, {"room": {"timeline": {"limit": 2}}}, self.other_tok)
        self.assertEqual(
            self.download(self.other, theirs["filter_id"], self.other_tok),
            {"room": {"timeline": {"limit": 2}}},
        )
        self.assertEqual(
            self.download(self.user, second, self.tok), {"room": {"timeline": {"limit": 2}}}
        )

    def test_empty_filter(self) -> None:
        filter_id = self.upload(self.user, {}, self.tok)["filter_id"]
        self.assertEqual(self.download(self.user, filter_id, self.tok), {})

    def test_other_users_filters_are_forbidden(self) -> None:
        body = self.upload(self.other, {}, self.tok, expect=403)
        self.assertEqual(body["errcode"], Codes.FORBIDDEN)
        filter_id = self.upload(self.other, {}, self.other_tok)["filter_id"]
        body = self.download(self.other, filter_id, self.tok, expect=403)
        self.assertEqual(body["errcode"], Codes.FORBIDDEN)
        body = self.upload("@someone:elsewhere", {}, self.tok, expect=403)
        self.assertEqual(body["errcode"], Codes.FORBIDDEN)

    def test_unknown_filter(self) -> None:
        for filter_id in ("0", "12345", "abc", "-1", "99999999999999999999999"):
            body = self.download(self.user, filter_id, self.tok, expect=404)
            self.assertEqual(body["errcode"], Codes.NOT_FOUND)

    def test_needs_auth(self) -> None:
        body = self.upload(self.user, {}, None, expect=401)
        self.assertEqual(body["errcode"], Codes.MISSING_TOKEN)
        body = self.download(self.user, "0", None, expect=401)
        self.assertEqual(body["errcode"], Codes.MISSING_TOKEN)

    def test_bad_bodies(self) -> None:
        channel = self.make_request(
            "POST", f"user/{quote(self.user)}/filter", b"{not json", access_token=self.tok
        )
        self.assertEqual(channel.code, 400)
        self.assertEqual(channel.json_body["errcode"], Codes.NOT_JSON)
        bad_filters: list[Any] = [
            [],
            b'"filter"',
            {"event_format": "html"},
            {"event_fields": "content"},
            {"room": {"timeline": {"limit": "ten"}}},
            {"room": {"timeline": {"limit": -5}}},
            {"room": {"rooms": ["#alias:test"]}},
            {"room": {"state": {"lazy_load_members": "true"}}},
            {"presence": {"senders": [7]}},
            {"account_data": {"types": "m.direct"}},
        ]
        for bad in bad_filters:
            body = self.upload(self.user, bad, self.tok, expect=400)
            self.assertEqual(body["errcode"], Codes.BAD_JSON, bad)
        # Nothing was stored by the failures.
        self.download(self.user, "0", self.tok, expect=404)

    def test_filter_from_param(self) -> None:
        filtering = self.hs.get_filtering()
        filter_id = self.upload(self.user, {"room": {"timeline": {"limit": 3}}}, self.tok)[
            "filter_id"
        ]
        collection = self.get_success(filtering.get_filter_from_param(self.user, filter_id))
        self.assertEqual(collection.timeline_limit(), 3)
        inline = self.get_success(
            filtering.get_filter_from_param(self.user, '{"room": {"timeline": {"limit": 4}}}')
        )
        self.assertEqual(inline.timeline_limit(), 4)
        self.assertEqual(
            self.get_success(filtering.get_filter_from_param(self.user, None)).timeline_limit(),
            10,
        )
        for bad, errcode in (
            ("123", Codes.INVALID_PARAM),
            ("{nope", Codes.NOT_JSON),
            ('{"room": []}', Codes.BAD_JSON),
        ):
            failure = self.get_failure(
                filtering.get_filter_from_param(self.user, bad), SynapseError
            )
            assert isinstance(failure.value, SynapseError)
            self.assertEqual(failure.value.errcode, errcode, bad)
        # Another user's filter ID means nothing for this user.
        failure = self.get_failure(
            filtering.get_filter_from_param(self.other, filter_id), SynapseError
        )
        assert isinstance(failure.value, SynapseError)
        self.assertEqual(failure.value.errcode, Codes.INVALID_PARAM)
