"""The keyring: other servers' signing keys, and the checks of signatures made with them.

``Keyring.verify_json_for_server(server_name, json_object, validity_time)`` checks that
``server_name`` signed ``json_object`` with a key valid at ``validity_time`` (ms);
``verify_json_objects_for_server`` and ``verify_events_for_server`` check many at once,
fetching the keys they need in one go.

Keys of this server come from the config. Keys of others are looked up, in order:

1. in memory (what this process fetched or read before);
2. ``StoreKeyFetcher``: the ``server_keys_json`` table;
3. ``NotaryKeyFetcher``: the ``trusted_key_servers`` (``POST /_matrix/key/v2/query``,
   batched across servers, the answer checked against the notary's pinned keys);
4. ``ServerKeyFetcher``: the server itself (``GET /_matrix/key/v2/server``).

A step runs only for the keys still missing or not valid long enough. Lookups for one
server are queued, so concurrent requests for the same keys cause one fetch. A fetched
key response must be signed by the server itself, name it, and carry a
``valid_until_ts``; a key is then valid until that time, but never more than seven days
after it was fetched (the spec's rule); an old key until its ``expired_ts``.
"""

from __future__ import annotations

import abc
import json
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attr
from canonicaljson import encode_canonical_json
from signedjson.key import decode_verify_key_bytes, get_verify_key
from signedjson.sign import SUPPORTED_ALGORITHMS, SignatureVerifyException, verify_signed_json
from signedjson.types import VerifyKey
from twisted.internet import defer
from unpaddedbase64 import decode_base64

from synapse.api.errors import (
    Codes,
    FederationDeniedError,
    HttpResponseException,
    RequestSendFailed,
    SynapseError,
)
from synapse.crypto.event_signing import verify_event_signature
from synapse.types import JsonDict, JsonMapping
from synapse.util.batching_queue import BatchingQueue
from synapse.util.caches.lrucache import LruCache

if TYPE_CHECKING:
    from synapse.config.key import TrustedKeyServer
    from synapse.events import EventBase
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# The spec: use the lesser of valid_until_ts and seven days into the future.
MAX_KEY_VALIDITY_MS = 7 * 24 * 3600 * 1000
# Keys of this server are valid for as long as it has them.
LOCAL_KEY_VALID_UNTIL = 2**63 - 1
# Per-attempt timeout of key fetches: they hold up the checks waiting for them.
KEY_FETCH_TIMEOUT_MS = 10_000

SERVER_KEY_PATH = "/_matrix/key/v2/server"
NOTARY_QUERY_PATH = "/_matrix/key/v2/query"


class KeyLookupError(ValueError):
    """A key response could not be used (unreachable server, bad shape, bad signature)."""


@attr.s(slots=True, frozen=True, auto_attribs=True)
class FetchKeyResult:
    """A verify key and until when (ms) signatures made with it are accepted."""

    verify_key: VerifyKey
    valid_until_ts: int


@attr.s(slots=True, frozen=True, auto_attribs=True)
class _FetchKeyRequest:
    server_name: str
    # Key ID -> the time (ms) the key must be valid until.
    minimum_valid_until_ts: Mapping[str, int]


def key_id_of(key: Any) -> str:
    """``ed25519:abc`` for a signedjson signing or verify key."""
    return f"{key.alg}:{key.version}"


def signature_key_ids(json_object: JsonMapping, server_name: str) -> list[str]:
    """The IDs of the supported-algorithm keys ``server_name`` signed ``json_object`` with."""
    signatures = json_object.get("signatures")
    if not isinstance(signatures, Mapping):
        return []
    by_server = signatures.get(server_name)
    if not isinstance(by_server, Mapping):
        return []
    return [
        key_id
        for key_id in by_server
        if isinstance(key_id, str)
        and ":" in key_id
        and key_id.split(":", 1)[0] in SUPPORTED_ALGORITHMS
    ]


# --- key responses -------------------------------------------------------------------


@attr.s(slots=True, frozen=True, auto_attribs=True)
class ServerKeys:
    """A checked ``/_matrix/key/v2/server`` response."""

    server_name: str
    valid_until_ts: int
    verify_keys: dict[str, VerifyKey]
    # Key ID -> (key, expired_ts).
    old_verify_keys: dict[str, tuple[VerifyKey, int]]

    def results(self, time_added_ms: int) -> dict[str, FetchKeyResult]:
        """Every key with its validity: current keys capped at a week after ``time_added_ms``."""
        results = {
            key_id: FetchKeyResult(key, expired_ts)
            for key_id, (key, expired_ts) in self.old_verify_keys.items()
        }
        valid_until = min(self.valid_until_ts, time_added_ms + MAX_KEY_VALIDITY_MS)
        for key_id, key in self.verify_keys.items():
            results[key_id] = FetchKeyResult(key, valid_until)
        return results


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _decode_key(key_id: Any, key_json: Any, where: str) -> VerifyKey | None:
    """The key of a ``{"key": base64}`` entry; None for an algorithm we do not know."""
    if not isinstance(key_id, str) or ":" not in key_id:
        raise KeyLookupError(f"Bad key ID {key_id!r} in {where}")
    if key_id.split(":", 1)[0] not in SUPPORTED_ALGORITHMS:
        return None
    if not isinstance(key_json, Mapping) or not isinstance(key_json.get("key"), str):
        raise KeyLookupError(f"Key {key_id} in {where} has no 'key' string")
    try:
        return decode_verify_key_bytes(key_id, decode_base64(key_json["key"]))
    except Exception as e:
        raise KeyLookupError(f"Key {key_id} in {where} is not a valid key: {e}")


def parse_server_keys(response: Any, expected_server_name: str) -> ServerKeys:
    """Check the shape and the self-signature of a server key response.

    The response must name ``expected_server_name``, have an integer ``valid_until_ts``,
    and be signed by that server with at least one of its ``verify_keys``; every such
    signature must verify. Raises ``KeyLookupError`` otherwise.
    """
    if not isinstance(response, Mapping):
        raise KeyLookupError("Key response is not a JSON object")
    server_name = response.get("server_name")
    if server_name != expected_server_name:
        raise KeyLookupError(
            f"Key response names server {server_name!r}, expected {expected_server_name!r}"
        )
    valid_until_ts = response.get("valid_until_ts")
    if not isinstance(valid_until_ts, int) or isinstance(valid_until_ts, bool):
        raise KeyLookupError(f"Key response of {server_name} has no integer valid_until_ts")

    verify_keys_json = response.get("verify_keys")
    if not isinstance(verify_keys_json, Mapping):
        raise KeyLookupError(f"Key response of {server_name} has no verify_keys object")
    verify_keys: dict[str, VerifyKey] = {}
    for key_id, key_json in verify_keys_json.items():
        key = _decode_key(key_id, key_json, "verify_keys")
        if key is not None:
            verify_keys[key_id] = key

    old_keys_json = response.get("old_verify_keys", {})
    if not isinstance(old_keys_json, Mapping):
        raise KeyLookupError(f"old_verify_keys of {server_name} is not an object")
    old_verify_keys: dict[str, tuple[VerifyKey, int]] = {}
    for key_id, key_json in old_keys_json.items():
        key = _decode_key(key_id, key_json, "old_verify_keys")
        if key is None or key_id in verify_keys:
            continue
        expired_ts = key_json.get("expired_ts")
        if not _is_int(expired_ts):
            raise KeyLookupError(f"Old key {key_id} of {server_name} has no integer expired_ts")
        old_verify_keys[key_id] = (key, expired_ts)

    verified = False
    for key_id in signature_key_ids(response, server_name):
        key = verify_keys.get(key_id)
        if key is None:
            # Signed with a key not listed as current: not evidence either way.
            continue
        try:
            verify_signed_json(dict(response), server_name, key)
        except SignatureVerifyException as e:
            raise KeyLookupError(f"Key response of {server_name} has a bad signature: {e}")
        verified = True
    if not verified:
        raise KeyLookupError(f"Key response of {server_name} is not signed by {server_name}")
    return ServerKeys(server_name, valid_until_ts, verify_keys, old_verify_keys)


# --- fetchers ------------------------------------------------------------------------


class KeyFetcher(abc.ABC):
    """One source of keys."""

    @abc.abstractmethod
    async def get_keys(
        self, server_name: str, key_ids: list[str], minimum_valid_until_ts: int
    ) -> dict[str, FetchKeyResult]:
        """Keys of ``server_name`` (at least those of ``key_ids`` it has; possibly more)."""


class StoreKeyFetcher(KeyFetcher):
    """Keys stored by earlier fetches (``server_keys_json``): for each key ID, the row
    valid the longest."""

    def __init__(self, hs: HomeServer) -> None:
        self._store = hs.get_datastores().main.keys

    async def get_keys(
        self, server_name: str, key_ids: list[str], minimum_valid_until_ts: int
    ) -> dict[str, FetchKeyResult]:
        rows = await self._store.get_server_keys_json(server_name, key_ids)
        results: dict[str, FetchKeyResult] = {}
        for row in sorted(rows, key=lambda r: r.ts_valid_until_ms):
            try:
                key_json = json.loads(row.key_json)
                key = _decode_key(
                    row.key_id,
                    (key_json.get("verify_keys") or {}).get(row.key_id)
                    or (key_json.get("old_verify_keys") or {}).get(row.key_id),
                    "stored keys",
                )
            except (KeyLookupError, ValueError, AttributeError) as e:
                logger.warning("Unusable stored key %s of %s: %s", row.key_id, server_name, e)
                continue
            if key is not None:
                results[row.key_id] = FetchKeyResult(key, row.ts_valid_until_ms)
        return results


class BaseV2KeyFetcher(KeyFetcher, abc.ABC):
    """A fetcher of ``/_matrix/key/v2`` responses, which it checks and stores."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        self._clock = hs.get_clock()
        self._store = hs.get_datastores().main.keys

    @property
    def _client(self) -> Any:
        # Looked up on use: tests replace the client after the keyring is built.
        return self._hs.get_federation_http_client()

    async def process_v2_response(
        self, from_server: str, response_json: Any, expected_server_name: str, time_added_ms: int
    ) -> dict[str, FetchKeyResult]:
        """Check a key response of ``expected_server_name``, store it, return its keys."""
        keys = parse_server_keys(response_json, expected_server_name)
        results = keys.results(time_added_ms)
        await self._store.store_server_keys_response(
            server_name=expected_server_name,
            from_server=from_server,
            ts_added_ms=time_added_ms,
            key_json=encode_canonical_json(response_json).decode("utf-8"),
            valid_until_by_key_id={k: r.valid_until_ts for k, r in results.items()},
        )
        return results


class ServerKeyFetcher(BaseV2KeyFetcher):
    """Asks the server itself: ``GET /_matrix/key/v2/server``."""

    async def get_keys(
        self, server_name: str, key_ids: list[str], minimum_valid_until_ts: int
    ) -> dict[str, FetchKeyResult]:
        return await self.fetch_server_keys(server_name)

    async def fetch_server_keys(self, server_name: str) -> dict[str, FetchKeyResult]:
        """Every key in the server's current response (``KeyLookupError`` on failure)."""
        time_now = self._clock.time_msec()
        try:
            response = await self._client.get_json(
                server_name, SERVER_KEY_PATH, timeout=KEY_FETCH_TIMEOUT_MS
            )
        except (RequestSendFailed, HttpResponseException, FederationDeniedError) as e:
            raise KeyLookupError(f"Failed to fetch the keys of {server_name}: {e}")
        return await self.process_v2_response(server_name, response, server_name, time_now)


class NotaryKeyFetcher(BaseV2KeyFetcher):
    """Asks the ``trusted_key_servers`` in turn (``POST /_matrix/key/v2/query``).

    Lookups of several servers made together go in one query. A notary's answer for a
    server counts only if the notary signed it with one of the keys configured for it
    (unless none are configured, i.e. ``accept_keys_insecurely``) and the server's own
    signature checks out.
    """

    def __init__(self, hs: HomeServer) -> None:
        super().__init__(hs)
        self._notaries: list[TrustedKeyServer] = list(hs.config.key.trusted_key_servers)
        self._queue: BatchingQueue[_FetchKeyRequest, dict[str, dict[str, FetchKeyResult]]] = (
            BatchingQueue("notary_key_fetch", self._clock, self._fetch_batch)
        )

    async def get_keys(
        self, server_name: str, key_ids: list[str], minimum_valid_until_ts: int
    ) -> dict[str, FetchKeyResult]:
        if not self._notaries:
            return {}
        request = _FetchKeyRequest(
            server_name, {key_id: minimum_valid_until_ts for key_id in key_ids}
        )
        results = await self._queue.add_to_queue(request)
        return results.get(server_name, {})

    async def _fetch_batch(
        self, requests: list[_FetchKeyRequest]
    ) -> dict[str, dict[str, FetchKeyResult]]:
        wanted: dict[str, dict[str, int]] = {}
        for request in requests:
            server_wants = wanted.setdefault(request.server_name, {})
            for key_id, ts in request.minimum_valid_until_ts.items():
                server_wants[key_id] = max(ts, server_wants.get(key_id, 0))

        results: dict[str, dict[str, FetchKeyResult]] = {}
        for notary in self._notaries:
            missing = {
                server_name: {
                    key_id: ts
                    for key_id, ts in key_ids.items()
                    if key_id not in results.get(server_name, {})
                    or results[server_name][key_id].valid_until_ts < ts
                }
                for server_name, key_ids in wanted.items()
            }
            missing = {s: k for s, k in missing.items() if k}
            if not missing:
                break
            try:
                answer = await self._query_notary(notary, missing)
            except KeyLookupError as e:
                logger.info("Notary %s could not help: %s", notary.server_name, e)
                continue
            for server_name, keys in answer.items():
                server_results = results.setdefault(server_name, {})
                for key_id, result in keys.items():
                    old = server_results.get(key_id)
                    if old is None or result.valid_until_ts > old.valid_until_ts:
                        server_results[key_id] = result
        return results

    async def _query_notary(
        self, notary: TrustedKeyServer, wanted: Mapping[str, Mapping[str, int]]
    ) -> dict[str, dict[str, FetchKeyResult]]:
        time_now = self._clock.time_msec()
        query = {
            server_name: {key_id: {"minimum_valid_until_ts": ts} for key_id, ts in key_ids.items()}
            for server_name, key_ids in wanted.items()
        }
        try:
            response = await self._client.post_json(
                notary.server_name,
                NOTARY_QUERY_PATH,
                data={"server_keys": query},
                timeout=KEY_FETCH_TIMEOUT_MS,
            )
        except (RequestSendFailed, HttpResponseException, FederationDeniedError) as e:
            raise KeyLookupError(f"Query failed: {e}")
        if not isinstance(response, Mapping) or not isinstance(response.get("server_keys"), list):
            raise KeyLookupError("Response has no server_keys list")

        results: dict[str, dict[str, FetchKeyResult]] = {}
        for entry in response["server_keys"]:
            server_name = entry.get("server_name") if isinstance(entry, Mapping) else None
            if not isinstance(server_name, str) or server_name not in wanted:
                continue
            try:
                self._check_notary_signature(notary, entry)
                keys = await self.process_v2_response(
                    notary.server_name, entry, server_name, time_now
                )
            except KeyLookupError as e:
                logger.warning(
                    "Ignoring keys of %s from notary %s: %s", server_name, notary.server_name, e
                )
                continue
            server_results = results.setdefault(server_name, {})
            for key_id, result in keys.items():
                old = server_results.get(key_id)
                if old is None or result.valid_until_ts > old.valid_until_ts:
                    server_results[key_id] = result
        return results

    @staticmethod
    def _check_notary_signature(notary: TrustedKeyServer, entry: Mapping[str, Any]) -> None:
        if notary.verify_keys is None:
            return
        verified = False
        for key_id in signature_key_ids(entry, notary.server_name):
            key = notary.verify_keys.get(key_id)
            if key is None:
                continue
            try:
                verify_signed_json(dict(entry), notary.server_name, key)
            except SignatureVerifyException as e:
                raise KeyLookupError(f"bad notary signature: {e}")
            verified = True
        if not verified:
            raise KeyLookupError(f"not signed by {notary.server_name} with a configured key")


# --- the keyring ---------------------------------------------------------------------


class Keyring:
    """Verifies signatures of other servers (and ours), fetching their keys as needed."""

    def __init__(self, hs: HomeServer, key_fetchers: Iterable[KeyFetcher] | None = None) -> None:
        self._clock = hs.get_clock()
        self._server_name = hs.hostname
        if key_fetchers is None:
            key_fetchers = (StoreKeyFetcher(hs), NotaryKeyFetcher(hs), ServerKeyFetcher(hs))
        self._fetchers = list(key_fetchers)

        key_config = hs.config.key
        self._local_keys: dict[str, FetchKeyResult] = {}
        for key_id, old_key in key_config.old_signing_keys.items():
            expired_ts = int(getattr(old_key, "expired", 0) or 0)
            self._local_keys[key_id] = FetchKeyResult(old_key, expired_ts)
        for signing_key in key_config.signing_key:
            self._local_keys[key_id_of(signing_key)] = FetchKeyResult(
                get_verify_key(signing_key), LOCAL_KEY_VALID_UNTIL
            )

        # (server name, key ID) -> the longest-valid key seen.
        self._key_cache: LruCache[tuple[str, str], FetchKeyResult] = LruCache(10_000)
        self._fetch_queue: BatchingQueue[_FetchKeyRequest, dict[str, FetchKeyResult]] = (
            BatchingQueue("keyring_server", self._clock, self._fetch_batch)
        )

    # --- verification ------------------------------------------------------------------

    async def verify_json_for_server(
        self, server_name: str, json_object: JsonMapping, validity_time: int
    ) -> None:
        """Check that ``server_name`` signed ``json_object`` with keys valid at
        ``validity_time`` (ms). Raises ``SynapseError`` 401 ``M_UNAUTHORIZED`` if not."""
        (error,) = await self.verify_json_objects_for_server(
            [(server_name, json_object, validity_time)]
        )
        if error is not None:
            raise error

    async def verify_json_objects_for_server(
        self, items: Iterable[tuple[str, JsonMapping, int]]
    ) -> list[SynapseError | None]:
        """``verify_json_for_server`` for many objects; per object, None or the error."""
        items = list(items)
        key_ids_per_item = [signature_key_ids(obj, server) for server, obj, _ in items]
        keys = await self._keys_for_items(
            (server, key_ids, validity)
            for (server, _, validity), key_ids in zip(items, key_ids_per_item, strict=True)
        )
        results: list[SynapseError | None] = []
        for (server_name, json_object, validity_time), key_ids in zip(
            items, key_ids_per_item, strict=True
        ):
            results.append(
                self._check_json(
                    server_name, json_object, validity_time, key_ids, keys.get(server_name, {})
                )
            )
        return results

    async def verify_events_for_server(
        self, server_and_events: Iterable[tuple[str, EventBase]]
    ) -> list[SynapseError | None]:
        """Check that each event is signed by the given server; per event, None or the error.

        From room version 5 the key must be valid at the event's ``origin_server_ts``;
        before, any key the server ever had will do. The signature covers the redacted
        event. Errors: 401 ``M_UNAUTHORIZED`` (no signature by a usable key), 403
        ``M_FORBIDDEN`` (a signature does not verify).
        """
        checks: list[tuple[str, EventBase, JsonDict, int, list[str]]] = []
        for server_name, event in server_and_events:
            pdu = event.get_dict()
            validity = event.origin_server_ts if event.room_version.enforce_key_validity else 0
            if not _is_int(validity):
                validity = 0
            checks.append((server_name, event, pdu, validity, signature_key_ids(pdu, server_name)))
        keys = await self._keys_for_items(
            (server, key_ids, validity) for server, _, _, validity, key_ids in checks
        )
        results: list[SynapseError | None] = []
        for server_name, event, pdu, validity, key_ids in checks:
            server_keys = keys.get(server_name, {})
            usable = {
                key_id: server_keys[key_id].verify_key
                for key_id in key_ids
                if key_id in server_keys and server_keys[key_id].valid_until_ts >= validity
            }
            try:
                verify_event_signature(event.room_version, pdu, server_name, usable)
            except SynapseError as e:
                results.append(e)
            else:
                results.append(None)
        return results

    def _check_json(
        self,
        server_name: str,
        json_object: JsonMapping,
        validity_time: int,
        key_ids: list[str],
        server_keys: Mapping[str, FetchKeyResult],
    ) -> SynapseError | None:
        if not key_ids:
            return SynapseError(401, f"Not signed by {server_name}", Codes.UNAUTHORIZED)
        usable = [
            (key_id, server_keys[key_id].verify_key)
            for key_id in key_ids
            if key_id in server_keys and server_keys[key_id].valid_until_ts >= validity_time
        ]
        if not usable:
            return SynapseError(
                401,
                f"No key of {server_name} valid at {validity_time} for signatures {sorted(key_ids)}",
                Codes.UNAUTHORIZED,
            )
        for key_id, key in usable:
            try:
                verify_signed_json(dict(json_object), server_name, key)
            except SignatureVerifyException:
                return SynapseError(
                    401,
                    f"Invalid signature for server {server_name} with key {key_id}",
                    Codes.UNAUTHORIZED,
                )
        return None

    # --- finding keys ------------------------------------------------------------------

    async def get_server_verify_keys(
        self, server_name: str, key_ids: Iterable[str], minimum_valid_until_ts: int = 0
    ) -> dict[str, FetchKeyResult]:
        """The keys of ``server_name`` found for ``key_ids`` (fetched if needed), valid or not."""
        key_ids = list(key_ids)
        found = await self._keys_for_items([(server_name, key_ids, minimum_valid_until_ts)])
        return {k: v for k, v in found.get(server_name, {}).items() if k in key_ids}

    async def _keys_for_items(
        self, items: Iterable[tuple[str, list[str], int]]
    ) -> dict[str, dict[str, FetchKeyResult]]:
        """The keys each server has for the given key IDs, fetched where the ones known
        are not valid until the time asked for."""
        wanted: dict[str, dict[str, int]] = {}
        for server_name, key_ids, validity in items:
            server_wants = wanted.setdefault(server_name, {})
            for key_id in key_ids:
                server_wants[key_id] = max(validity, server_wants.get(key_id, validity))

        async def for_server(server_name: str) -> tuple[str, dict[str, FetchKeyResult]]:
            return server_name, await self._get_server_keys(server_name, wanted[server_name])

        found = await defer.gatherResults(
            [defer.ensureDeferred(for_server(s)) for s in wanted if wanted[s]],
            consumeErrors=True,
        )
        return dict(found)

    async def _get_server_keys(
        self, server_name: str, wanted: Mapping[str, int]
    ) -> dict[str, FetchKeyResult]:
        if server_name == self._server_name:
            return dict(self._local_keys)
        found = self._cached_keys(server_name, wanted)
        if all(k in found and found[k].valid_until_ts >= ts for k, ts in wanted.items()):
            return found
        return await self._fetch_queue.add_to_queue(
            _FetchKeyRequest(server_name, dict(wanted)), key=server_name
        )

    def _cached_keys(self, server_name: str, key_ids: Iterable[str]) -> dict[str, FetchKeyResult]:
        found: dict[str, FetchKeyResult] = {}
        for key_id in key_ids:
            cached = self._key_cache.get((server_name, key_id))
            if cached is not None:
                found[key_id] = cached
        return found

    def _remember(self, server_name: str, key_id: str, result: FetchKeyResult) -> None:
        cached = self._key_cache.get((server_name, key_id))
        if cached is None or result.valid_until_ts > cached.valid_until_ts:
            self._key_cache.set((server_name, key_id), result)

    async def _fetch_batch(self, requests: list[_FetchKeyRequest]) -> dict[str, FetchKeyResult]:
        """Run the fetchers for the keys of one server that the requests still lack."""
        server_name = requests[0].server_name
        wanted: dict[str, int] = {}
        for request in requests:
            for key_id, ts in request.minimum_valid_until_ts.items():
                wanted[key_id] = max(ts, wanted.get(key_id, ts))

        # An earlier batch may have fetched them already.
        found = self._cached_keys(server_name, wanted)
        for fetcher in self._fetchers:
            missing = {
                key_id: ts
                for key_id, ts in wanted.items()
                if key_id not in found or found[key_id].valid_until_ts < ts
            }
            if not missing:
                break
            try:
                results = await fetcher.get_keys(
                    server_name, sorted(missing), max(missing.values())
                )
            except Exception as e:
                logger.info(
                    "%s could not get keys %s of %s: %s",
                    type(fetcher).__name__,
                    sorted(missing),
                    server_name,
                    e,
                )
                continue
            for key_id, result in results.items():
                self._remember(server_name, key_id, result)
                old = found.get(key_id)
                if old is None or result.valid_until_ts > old.valid_until_ts:
                    found[key_id] = result
        return found
