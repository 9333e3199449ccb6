"""End-to-end encryption keys: uploads, queries and claims of device keys, and
cross-signing keys with their signatures.

Everything here concerns local users; remote users' keys need federation, whose
requests plug in at ``_query_remote_keys``, ``_claim_remote_keys`` and
``_upload_remote_signatures`` (today they fail, and the failure is reported per server
in ``failures`` as the spec asks).

The servlets check the shapes of bodies (JSON schemas); this handler checks what a
schema cannot (IDs that must match, signatures) before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from signedjson.key import decode_verify_key_bytes
from signedjson.sign import SignatureVerifyException, verify_signed_json
from unpaddedbase64 import decode_base64

from synapse.api.errors import Codes, SynapseError
from synapse.storage.databases.main.end_to_end_keys import KeyUpload, Signature
from synapse.types import JsonDict, StreamToken
from synapse.util.identifiers import is_valid_user_id
from synapse.util.linearizer import Linearizer

if TYPE_CHECKING:
    from synapse.handlers.sync import DeviceListUpdates
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

# Clients that predate per-algorithm counts expect this one to be present.
_DEFAULT_COUNTED_ALGORITHM = "signed_curve25519"


class KeyCheckError(SynapseError):
    """A key or signature that cannot be accepted (400)."""

    def __init__(self, msg: str, errcode: str = Codes.INVALID_PARAM) -> None:
        super().__init__(400, msg, errcode)


def split_key_id(key_id: str) -> tuple[str, str]:
    """``algorithm:id`` -> ``(algorithm, id)``; 400 ``M_INVALID_PARAM`` otherwise."""
    algorithm, sep, ident = key_id.partition(":")
    if not sep or not algorithm or not ident:
        raise KeyCheckError(f"Key ID {key_id!r} is not of the form <algorithm>:<id>")
    return algorithm, ident


def _verify(signed: JsonDict, signer_user_id: str, verify_key: Any) -> bool:
    try:
        verify_signed_json(signed, signer_user_id, verify_key)
    except (SignatureVerifyException, ValueError, TypeError, KeyError):
        # Missing, wrong, or malformed (not base64, a wrong length): invalid all the same.
        return False
    return True


def verify_signature_by_key_id(
    signed: JsonDict, signer_user_id: str, key_id: str, public_key: str
) -> bool:
    """Whether ``signed`` has a valid signature under ``signatures[signer][key_id]``
    (``ed25519:<name>``) made with ``public_key``."""
    algorithm, _name = split_key_id(key_id)
    if algorithm != "ed25519":
        return False
    try:
        verify_key = decode_verify_key_bytes(key_id, decode_base64(public_key))
    except Exception:
        return False
    return _verify(signed, signer_user_id, verify_key)


def _cross_signing_public_key(key: JsonDict) -> str:
    """The one ed25519 public key of a cross-signing key, checked to be named by itself."""
    keys = key.get("keys")
    if not isinstance(keys, dict) or len(keys) != 1:
        raise KeyCheckError("A cross-signing key must hold exactly one key")
    ((key_id, public_key),) = keys.items()
    algorithm, name = split_key_id(key_id)
    if algorithm != "ed25519" or name != public_key:
        raise KeyCheckError(f"Cross-signing key {key_id!r} is not ed25519:<its public key>")
    return str(public_key)


def _without_signatures(obj: JsonDict) -> JsonDict:
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}


def _failure(e: Exception) -> JsonDict:
    """How a server that could not be asked appears in ``failures``."""
    if isinstance(e, SynapseError):
        return {"status": e.code, "errcode": e.errcode, "message": e.msg}
    return {"status": 503, "message": str(e)}


class E2eKeysHandler:
    """``hs.get_e2e_keys_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self._stores = hs.get_datastores().main
        self._store = self._stores.e2e_keys
        self._device_lists = hs.get_device_list_handler()
        self._signing_linearizer = Linearizer("cross_signing_upload")

    # --- POST /keys/upload -------------------------------------------------------------
    async def upload_keys_for_user(self, user_id: str, device_id: str, body: JsonDict) -> JsonDict:
        """Store the device's identity, one-time and fallback keys; the counts of its
        one-time keys left. Nothing is written if anything is refused."""
        device_keys = body.get("device_keys")
        if device_keys is not None:
            device_keys = self._check_device_keys(user_id, device_id, device_keys)
        one_time_keys = self._parse_keys(body.get("one_time_keys") or {})
        fallback_keys = self._parse_keys(body.get("fallback_keys") or {})
        algorithms = [k[0] for k in fallback_keys]
        if len(set(algorithms)) != len(algorithms):
            raise KeyCheckError("At most one fallback key per algorithm")

        changed = await self._store.upload_keys(
            user_id,
            device_id,
            self.clock.time_msec(),
            device_keys,
            one_time_keys,
            fallback_keys,
        )
        if changed:
            await self._device_lists.notify_device_update(user_id, [device_id])
        counts = await self._store.get_key_counts(user_id, device_id)
        return {"one_time_key_counts": self.counts_with_default(counts.one_time_keys)}

    @staticmethod
    def counts_with_default(counts: Mapping[str, int]) -> dict[str, int]:
        return {_DEFAULT_COUNTED_ALGORITHM: 0, **counts}

    @staticmethod
    def _check_device_keys(user_id: str, device_id: str, device_keys: JsonDict) -> JsonDict:
        if device_keys.get("user_id") != user_id:
            raise KeyCheckError("device_keys.user_id is not the user of the access token")
        if device_keys.get("device_id") != device_id:
            raise KeyCheckError("device_keys.device_id is not the device of the access token")
        public_key = device_keys["keys"].get(f"ed25519:{device_id}")
        if not isinstance(public_key, str):
            raise KeyCheckError(f"device_keys.keys has no ed25519:{device_id} key")
        if not verify_signature_by_key_id(device_keys, user_id, f"ed25519:{device_id}", public_key):
            raise KeyCheckError(
                "device_keys is not signed by the device's ed25519 key", Codes.INVALID_SIGNATURE
            )
        # Servers add their own ``unsigned``; a client's is not kept.
        return {k: v for k, v in device_keys.items() if k != "unsigned"}

    @staticmethod
    def _parse_keys(keys: Mapping[str, Any]) -> list[KeyUpload]:
        out: list[KeyUpload] = []
        for key_id, key in keys.items():
            algorithm, ident = split_key_id(key_id)
            out.append((algorithm, ident, key))
        return out

    async def get_key_counts(
        self, user_id: str, device_id: str
    ) -> tuple[dict[str, int], list[str]]:
        """The device's one-time key counts (for ``/sync``) and unused fallback key types."""
        counts = await self._store.get_key_counts(user_id, device_id)
        return (
            self.counts_with_default(counts.one_time_keys),
            list(counts.unused_fallback_key_types),
        )

    # --- POST /keys/query --------------------------------------------------------------
    async def query_devices(
        self, query: Mapping[str, list[str]], from_user_id: str, timeout_ms: int = 10_000
    ) -> JsonDict:
        """Device keys and cross-signing keys of the users queried (all their devices
        for an empty list). The user-signing key is only given for oneself."""
        for user_id in query:
            if not is_valid_user_id(user_id):
                raise SynapseError(400, f"Invalid user ID {user_id!r}", Codes.INVALID_PARAM)
        local = {u: d for u, d in query.items() if self.hs.is_mine_id(u)}
        remote: dict[str, dict[str, list[str]]] = {}
        for user_id, devices in query.items():
            if user_id not in local:
                remote.setdefault(user_id.split(":", 1)[1], {})[user_id] = devices

        result: JsonDict = {
            "device_keys": await self._local_device_keys(local),
            "failures": {},
            "master_keys": {},
            "self_signing_keys": {},
            "user_signing_keys": {},
        }
        await self._add_cross_signing_keys(result, list(local), from_user_id)
        for destination, users in remote.items():
            try:
                answer = await self._query_remote_keys(destination, users, timeout_ms)
            except Exception as e:
                result["failures"][destination] = _failure(e)
                continue
            for section in ("device_keys", "master_keys", "self_signing_keys"):
                section_answer = answer.get(section)
                if isinstance(section_answer, dict):
                    result[section].update({u: v for u, v in section_answer.items() if u in users})
        return result

    async def _local_device_keys(
        self, query: Mapping[str, list[str]]
    ) -> dict[str, dict[str, JsonDict]]:
        pairs: list[tuple[str, str | None]] = []
        for user_id, device_ids in query.items():
            if device_ids:
                pairs.extend((user_id, d) for d in device_ids)
            else:
                pairs.append((user_id, None))
        stored = await self._store.get_device_keys(pairs)
        signatures = await self._store.get_signatures(
            [(u, d) for u, devices in stored.items() for d in devices]
        )
        out: dict[str, dict[str, JsonDict]] = {u: {} for u in query}
        for user_id, devices in stored.items():
            for device_id, info in devices.items():
                keys = dict(info.keys)
                sigs = [s for s in signatures.get((user_id, device_id), []) if s.user_id == user_id]
                keys = _with_signatures(keys, sigs)
                if info.display_name is not None:
                    keys["unsigned"] = {"device_display_name": info.display_name}
                else:
                    keys["unsigned"] = {}
                out[user_id][device_id] = keys
        return out

    async def _add_cross_signing_keys(
        self, result: JsonDict, user_ids: list[str], from_user_id: str
    ) -> None:
        keys = await self._store.get_cross_signing_keys(user_ids)
        masters = {
            u: _cross_signing_public_key(k["master"]) for u, k in keys.items() if "master" in k
        }
        signatures = await self._store.get_signatures(list(masters.items()))
        for user_id, user_keys in keys.items():
            if "master" in user_keys:
                # The owner's devices' signatures, and the requester's own (user-signing).
                sigs = [
                    s
                    for s in signatures.get((user_id, masters[user_id]), [])
                    if s.user_id in (user_id, from_user_id)
                ]
                result["master_keys"][user_id] = _with_signatures(user_keys["master"], sigs)
            if "self_signing" in user_keys:
                result["self_signing_keys"][user_id] = user_keys["self_signing"]
            if "user_signing" in user_keys and user_id == from_user_id:
                result["user_signing_keys"][user_id] = user_keys["user_signing"]

    async def _query_remote_keys(
        self, destination: str, query: Mapping[str, list[str]], timeout_ms: int
    ) -> JsonDict:
        """Federation hook: ``POST /_matrix/federation/v1/user/keys/query`` to
        ``destination``; its ``device_keys``, ``master_keys`` and ``self_signing_keys``."""
        raise SynapseError(503, "Federation is not available yet", Codes.UNKNOWN)

    # --- POST /keys/claim --------------------------------------------------------------
    async def claim_one_time_keys(
        self, query: Mapping[str, Mapping[str, str]], timeout_ms: int = 10_000
    ) -> JsonDict:
        """One key per device and algorithm asked for: a one-time key, else the fallback key."""
        for user_id in query:
            if not is_valid_user_id(user_id):
                raise SynapseError(400, f"Invalid user ID {user_id!r}", Codes.INVALID_PARAM)
        local = [
            (user_id, device_id, algorithm)
            for user_id, devices in query.items()
            if self.hs.is_mine_id(user_id)
            for device_id, algorithm in devices.items()
        ]
        result: JsonDict = {"one_time_keys": await self._store.claim_keys(local), "failures": {}}
        remote: dict[str, dict[str, Mapping[str, str]]] = {}
        for user_id, devices in query.items():
            if not self.hs.is_mine_id(user_id):
                remote.setdefault(user_id.split(":", 1)[1], {})[user_id] = devices
        for destination, users in remote.items():
            try:
                answer = await self._claim_remote_keys(destination, users, timeout_ms)
            except Exception as e:
                result["failures"][destination] = _failure(e)
                continue
            for user_id, devices in answer.items():
                if user_id in users and isinstance(devices, dict):
                    result["one_time_keys"][user_id] = devices
        return result

    async def _claim_remote_keys(
        self, destination: str, query: Mapping[str, Mapping[str, str]], timeout_ms: int
    ) -> JsonDict:
        """Federation hook: ``POST /_matrix/federation/v1/user/keys/claim`` to
        ``destination``; its ``one_time_keys``."""
        raise SynapseError(503, "Federation is not available yet", Codes.UNKNOWN)

    # --- GET /keys/changes -------------------------------------------------------------
    async def get_key_changes(
        self, user_id: str, from_token: StreamToken, to_token: StreamToken
    ) -> DeviceListUpdates:
        return await self._device_lists.get_device_list_changes(user_id, from_token, to_token)

    # --- POST /keys/device_signing/upload ----------------------------------------------
    async def upload_signing_keys_for_user(
        self,
        user_id: str,
        body: JsonDict,
        ui_auth: Callable[[], Awaitable[JsonDict]],
    ) -> None:
        """Replace the user's cross-signing keys with those in ``body``.

        ``ui_auth()`` (user-interactive auth, returning the body as first submitted) is
        awaited unless the user has no master key yet or the request holds no new key,
        as the spec allows. Every key is checked before any is stored.
        """
        async with self._signing_linearizer.queue(user_id):
            existing = await self._store.get_cross_signing_keys([user_id])
            current = existing.get(user_id, {})
            uploaded = {
                t: body[f"{t}_key"]
                for t in ("master", "self_signing", "user_signing")
                if f"{t}_key" in body
            }
            if "master" in current and any(current.get(t) != k for t, k in uploaded.items()):
                body = await ui_auth()
                uploaded = {
                    t: body[f"{t}_key"]
                    for t in ("master", "self_signing", "user_signing")
                    if isinstance(body.get(f"{t}_key"), dict)
                }
            new_keys = await self._check_signing_keys(user_id, uploaded, current)
            if not new_keys:
                return
            await self._store.set_cross_signing_keys(user_id, new_keys)
        await self._device_lists.notify_device_update(user_id, [None])

    async def _check_signing_keys(
        self, user_id: str, uploaded: Mapping[str, JsonDict], current: Mapping[str, JsonDict]
    ) -> dict[str, JsonDict]:
        """The keys of ``uploaded`` that differ from ``current``, once all are valid."""
        for keytype, key in uploaded.items():
            if key.get("user_id") != user_id:
                raise KeyCheckError(f"{keytype}_key.user_id is not the user of the access token")
            usage = key.get("usage")
            if not isinstance(usage, list) or keytype not in usage:
                raise KeyCheckError(f"{keytype}_key.usage must include {keytype!r}")
        public_keys = {t: _cross_signing_public_key(k) for t, k in uploaded.items()}
        master: JsonDict | None = uploaded.get("master") or current.get("master")
        if master is None:
            raise SynapseError(400, "No master key is available", Codes.MISSING_PARAM)
        master_public = _cross_signing_public_key(master)
        for keytype in ("self_signing", "user_signing"):
            signed_key = uploaded.get(keytype)
            if signed_key is not None and not verify_signature_by_key_id(
                signed_key, user_id, f"ed25519:{master_public}", master_public
            ):
                raise KeyCheckError(
                    f"{keytype}_key is not signed by the master key", Codes.INVALID_SIGNATURE
                )
        devices = await self._stores.devices.get_devices_by_user(user_id)
        for keytype, public_key in public_keys.items():
            if public_key in devices:
                raise SynapseError(
                    403, f"The {keytype} key's ID is one of the user's device IDs", Codes.FORBIDDEN
                )
        return {t: k for t, k in uploaded.items() if current.get(t) != k}

    # --- POST /keys/signatures/upload --------------------------------------------------
    async def upload_signatures_for_device_keys(
        self, user_id: str, signatures: Mapping[str, Mapping[str, JsonDict]]
    ) -> JsonDict:
        """Store the valid signatures: of one's own devices (by the self-signing key) and
        master key (by a device), and of other users' master keys (by the user-signing
        key). Each refused one is in ``failures`` with its reason."""
        failures: dict[str, dict[str, JsonDict]] = {}
        to_store: list[Signature] = []
        own_keys = (await self._store.get_cross_signing_keys([user_id])).get(user_id, {})

        for target_user, objects in signatures.items():
            if not is_valid_user_id(target_user):
                raise SynapseError(400, f"Invalid user ID {target_user!r}", Codes.INVALID_PARAM)
            if not self.hs.is_mine_id(target_user):
                try:
                    await self._upload_remote_signatures(user_id, target_user, objects)
                except SynapseError as e:
                    failures[target_user] = {k: e.error_dict() for k in objects}
                continue
            for key_id, signed in objects.items():
                try:
                    if target_user == user_id:
                        to_store.extend(
                            await self._check_own_signature(user_id, key_id, signed, own_keys)
                        )
                    else:
                        to_store.extend(
                            await self._check_user_signature(
                                user_id, target_user, key_id, signed, own_keys
                            )
                        )
                except SynapseError as e:
                    failures.setdefault(target_user, {})[key_id] = e.error_dict()

        await self._store.store_signatures(to_store)
        for target_user in sorted({s.target_user_id for s in to_store}):
            await self._device_lists.notify_device_update(target_user, [None])
        return {"failures": failures}

    async def _check_own_signature(
        self, user_id: str, key_id: str, signed: JsonDict, own_keys: Mapping[str, JsonDict]
    ) -> list[Signature]:
        """Signatures of one's own device (by the self-signing key) or master key (by
        devices)."""
        master = own_keys.get("master")
        if master is not None and key_id == _cross_signing_public_key(master):
            return await self._check_master_signed_by_devices(user_id, key_id, signed, master)

        self_signing = own_keys.get("self_signing")
        if self_signing is None:
            raise SynapseError(400, "No self-signing key is uploaded", Codes.MISSING_PARAM)
        stored = (await self._store.get_device_keys([(user_id, key_id)])).get(user_id, {})
        if key_id not in stored:
            raise SynapseError(404, f"Unknown device or key {key_id!r}", Codes.NOT_FOUND)
        if _without_signatures(signed) != _without_signatures(stored[key_id].keys):
            raise KeyCheckError("The signed object is not the stored device key")
        ssk_public = _cross_signing_public_key(self_signing)
        ssk_key_id = f"ed25519:{ssk_public}"
        signature = _signature_of(signed, user_id, ssk_key_id)
        if signature is None or not verify_signature_by_key_id(
            signed, user_id, ssk_key_id, ssk_public
        ):
            raise KeyCheckError(
                "Invalid signature by the self-signing key", Codes.INVALID_SIGNATURE
            )
        return [Signature(user_id, ssk_key_id, user_id, key_id, signature)]

    async def _check_master_signed_by_devices(
        self, user_id: str, master_public: str, signed: JsonDict, master: JsonDict
    ) -> list[Signature]:
        if _without_signatures(signed) != _without_signatures(master):
            raise KeyCheckError("The signed object is not the stored master key")
        by_user = (signed.get("signatures") or {}).get(user_id)
        if not isinstance(by_user, dict):
            raise KeyCheckError("No signature by the user", Codes.INVALID_SIGNATURE)
        device_key_ids = [
            k for k in by_user if k.startswith("ed25519:") and k != f"ed25519:{master_public}"
        ]
        if not device_key_ids:
            raise KeyCheckError("No signature by a device", Codes.INVALID_SIGNATURE)
        devices = await self._store.get_device_keys(
            [(user_id, k.split(":", 1)[1]) for k in device_key_ids]
        )
        out: list[Signature] = []
        for sig_key_id in device_key_ids:
            device_id = sig_key_id.split(":", 1)[1]
            device = devices.get(user_id, {}).get(device_id)
            public = device.keys.get("keys", {}).get(sig_key_id) if device else None
            if not isinstance(public, str) or not verify_signature_by_key_id(
                signed, user_id, sig_key_id, public
            ):
                raise KeyCheckError(
                    f"Invalid signature by device {device_id!r}", Codes.INVALID_SIGNATURE
                )
            out.append(Signature(user_id, sig_key_id, user_id, master_public, by_user[sig_key_id]))
        return out

    async def _check_user_signature(
        self,
        user_id: str,
        target_user: str,
        key_id: str,
        signed: JsonDict,
        own_keys: Mapping[str, JsonDict],
    ) -> list[Signature]:
        """A signature of another local user's master key by one's user-signing key."""
        user_signing = own_keys.get("user_signing")
        if user_signing is None:
            raise SynapseError(400, "No user-signing key is uploaded", Codes.MISSING_PARAM)
        target_master = (
            (await self._store.get_cross_signing_keys([target_user], ["master"]))
            .get(target_user, {})
            .get("master")
        )
        if target_master is None or _cross_signing_public_key(target_master) != key_id:
            raise SynapseError(404, f"Unknown master key {key_id!r}", Codes.NOT_FOUND)
        if _without_signatures(signed) != _without_signatures(target_master):
            raise KeyCheckError("The signed object is not the stored master key")
        usk_public = _cross_signing_public_key(user_signing)
        usk_key_id = f"ed25519:{usk_public}"
        signature = _signature_of(signed, user_id, usk_key_id)
        if signature is None or not verify_signature_by_key_id(
            signed, user_id, usk_key_id, usk_public
        ):
            raise KeyCheckError(
                "Invalid signature by the user-signing key", Codes.INVALID_SIGNATURE
            )
        return [Signature(user_id, usk_key_id, target_user, key_id, signature)]

    async def _upload_remote_signatures(
        self, user_id: str, target_user: str, objects: Mapping[str, JsonDict]
    ) -> None:
        """Federation hook: check a signature of a remote user's master key against the
        key federation fetched, store it, and send it to the user's server
        (``m.signing_key_update``)."""
        raise SynapseError(
            404, "Keys of users on other servers are not available yet", Codes.NOT_FOUND
        )


def _signature_of(signed: JsonDict, user_id: str, key_id: str) -> str | None:
    sigs = signed.get("signatures")
    by_user = sigs.get(user_id) if isinstance(sigs, dict) else None
    sig = by_user.get(key_id) if isinstance(by_user, dict) else None
    return sig if isinstance(sig, str) else None


def _with_signatures(key: JsonDict, signatures: list[Signature]) -> JsonDict:
    """``key`` with the stored signatures merged into its ``signatures``."""
    if not signatures:
        return key
    merged: dict[str, dict[str, str]] = {
        u: dict(s) for u, s in (key.get("signatures") or {}).items() if isinstance(s, dict)
    }
    for s in signatures:
        merged.setdefault(s.user_id, {})[s.key_id] = s.signature
    return {**key, "signatures": merged}
