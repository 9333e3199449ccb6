"""The key server API's logic: this server's key response, and answers as a notary.

``local_key_response()`` is what ``GET /_matrix/key/v2/server`` serves: every current
key in ``verify_keys``, ``old_signing_keys`` in ``old_verify_keys``, signed with every
current key. It is valid for ``key_refresh_interval`` from when it is made, and made
afresh once less than half of that is left, so it is always valid for at least half the
interval.

``query_keys()`` answers ``/_matrix/key/v2/query``: the key responses stored from each
server itself, fetched again from the server when there are none, when one asked for is
missing, when they do not last until the ``minimum_valid_until_ts`` asked for, or when
half their lifetime has passed (the spec's advice to notaries). When the server cannot
be reached, what is stored is served anyway. Each response is returned with this
server's signature added.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attr
from signedjson.key import encode_verify_key_base64, get_verify_key
from signedjson.sign import sign_json
from twisted.internet import defer

from synapse.crypto.keyring import KeyLookupError, ServerKeyFetcher, key_id_of
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.databases.main.keys import ServerKeyJson

logger = logging.getLogger(__name__)


@attr.s(slots=True, frozen=True, auto_attribs=True)
class KeyQuery:
    """What is asked of one server's keys: ``key_ids`` (none: all of them), and the time
    (ms) they should be valid until (None: now)."""

    key_ids: frozenset[str] = frozenset()
    minimum_valid_until_ts: int | None = None


class KeyServerHandler:
    """Builds this server's key response and answers notary queries."""

    def __init__(self, hs: HomeServer) -> None:
        self._clock = hs.get_clock()
        self._server_name = hs.hostname
        self._store = hs.get_datastores().main.keys
        key_config = hs.config.key
        self._signing_keys = list(key_config.signing_key)
        self._old_keys = dict(key_config.old_signing_keys)
        self._refresh_interval_ms = int(key_config.key_refresh_interval)
        # Notary answers are signed with the key server keys when configured.
        self._notary_signing_keys = list(key_config.key_server_signing_keys) or self._signing_keys
        self._fetcher = ServerKeyFetcher(hs)
        # Server name -> callers waiting for the fetch in flight.
        self._fetches_in_flight: dict[str, list[defer.Deferred[None]]] = {}
        self._local_response: JsonDict | None = None

    # --- our own keys --------------------------------------------------------------------

    def local_key_response(self) -> JsonDict:
        """This server's signed key response (a fresh copy)."""
        now = self._clock.time_msec()
        current = self._local_response
        if current is None or now + self._refresh_interval_ms // 2 > current["valid_until_ts"]:
            current = self._build_local_response(now)
            self._local_response = current
        return json.loads(json.dumps(current))

    def _build_local_response(self, now: int) -> JsonDict:
        response: JsonDict = {
            "server_name": self._server_name,
            "valid_until_ts": now + self._refresh_interval_ms,
            "verify_keys": {
                key_id_of(key): {"key": encode_verify_key_base64(get_verify_key(key))}
                for key in self._signing_keys
            },
            "old_verify_keys": {
                key_id: {
                    "key": encode_verify_key_base64(key),
                    "expired_ts": int(getattr(key, "expired", 0) or 0),
                }
                for key_id, key in self._old_keys.items()
            },
        }
        for key in self._signing_keys:
            response = sign_json(response, self._server_name, key)
        return response

    # --- the notary ----------------------------------------------------------------------

    async def query_keys(self, query: Mapping[str, KeyQuery]) -> list[JsonDict]:
        """Key responses of the servers in ``query``, signed by this server.

        Servers of which nothing is stored and that cannot be reached are left out.
        """
        now = self._clock.time_msec()
        remote = {s: q for s, q in query.items() if s != self._server_name}
        stored = await self._origin_rows(remote)

        stale = [s for s, q in remote.items() if self._needs_fetch(stored[s], q, now)]
        if stale:
            await defer.gatherResults(
                [defer.ensureDeferred(self._fetch(server_name)) for server_name in stale],
                consumeErrors=True,
            )
            stored.update(await self._origin_rows({s: remote[s] for s in stale}))

        results: list[JsonDict] = []
        if self._server_name in query:
            results.append(self._notary_sign(self.local_key_response()))
        for server_name, server_query in remote.items():
            for response in self._responses_to_serve(stored[server_name], server_query):
                results.append(self._notary_sign(response))
        return results

    async def _origin_rows(self, query: Mapping[str, KeyQuery]) -> dict[str, list[ServerKeyJson]]:
        """The stored rows that came from each server itself (every key ID)."""
        rows = await self._store.get_server_keys_json_for_servers({s: None for s in query})
        return {
            server_name: [r for r in rows.get(server_name, []) if r.from_server == server_name]
            for server_name in query
        }

    async def _fetch(self, server_name: str) -> None:
        """Fetch the server's keys; callers arriving meanwhile wait for the same fetch."""
        waiters = self._fetches_in_flight.get(server_name)
        if waiters is not None:
            waiter: defer.Deferred[None] = defer.Deferred()
            waiters.append(waiter)
            await waiter
            return
        self._fetches_in_flight[server_name] = []
        try:
            await self._fetcher.fetch_server_keys(server_name)
        except KeyLookupError as e:
            logger.info("Serving stored keys of %s: %s", server_name, e)
        finally:
            for waiter in self._fetches_in_flight.pop(server_name):
                waiter.callback(None)

    def _needs_fetch(self, rows: list[ServerKeyJson], query: KeyQuery, now: int) -> bool:
        if not rows:
            return True
        newest = max(rows, key=lambda r: r.ts_added_ms)
        try:
            latest = json.loads(newest.key_json)
            valid_until = int(latest["valid_until_ts"])
        except (ValueError, KeyError, TypeError):
            return True
        known = {r.key_id for r in rows}
        if not query.key_ids <= known:
            return True
        wanted_until = max(query.minimum_valid_until_ts or now, now)
        if valid_until < wanted_until:
            return True
        half_life = newest.ts_added_ms + (valid_until - newest.ts_added_ms) // 2
        return now > half_life

    @staticmethod
    def _responses_to_serve(rows: list[ServerKeyJson], query: KeyQuery) -> list[JsonDict]:
        if query.key_ids:
            rows = [r for r in rows if r.key_id in query.key_ids]
        # Rows of one fetch share their response: send each response once.
        seen: set[str] = set()
        responses: list[JsonDict] = []
        for row in sorted(rows, key=lambda r: (-r.ts_added_ms, r.key_id)):
            if row.key_json in seen:
                continue
            seen.add(row.key_json)
            try:
                responses.append(json.loads(row.key_json))
            except ValueError:
                logger.warning("Unreadable stored key response of %s", row.server_name)
        return responses

    def _notary_sign(self, response: Any) -> JsonDict:
        for key in self._notary_signing_keys:
            response = sign_json(response, self._server_name, key)
        return response
