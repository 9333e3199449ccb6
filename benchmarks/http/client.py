"""A small Matrix client on treq: just the calls the benchmark makes, over a pool of
persistent loopback connections."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from typing import Any, cast
from urllib.parse import quote

import treq
from treq.client import HTTPClient
from twisted.internet import reactor as _reactor
from twisted.internet import task
from twisted.internet.interfaces import IReactorTime
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent

JsonDict = dict[str, Any]

reactor = cast(IReactorTime, _reactor)

REQUEST_TIMEOUT_S = 120.0


class HttpError(Exception):
    def __init__(self, method: str, path: str, code: int, body: bytes) -> None:
        super().__init__(f"{method} {path}: HTTP {code}: {body[:500]!r}")
        self.code = code


def make_http_client(connections: int) -> tuple[HTTPClient, HTTPConnectionPool]:
    pool = HTTPConnectionPool(_reactor, persistent=True)
    pool.maxPersistentPerHost = connections
    pool.cachedConnectionTimeout = 600
    pool.retryAutomatically = False
    return HTTPClient(cast(IAgent, Agent(_reactor, pool=pool))), pool


class MatrixClient:
    """One account's view of the server; ``access_token`` is set by ``register``."""

    _txn_ids = itertools.count()

    def __init__(self, http: HTTPClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url
        self.access_token: str | None = None
        self.user_id = ""

    async def request(
        self,
        method: str,
        path: str,
        body: JsonDict | None = None,
        query: dict[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT_S,
    ) -> JsonDict:
        headers = Headers({b"Content-Type": [b"application/json"]})
        if self.access_token:
            headers.addRawHeader(b"Authorization", b"Bearer " + self.access_token.encode("ascii"))
        data = json.dumps(body).encode("utf-8") if body is not None else None
        response = await self.http.request(
            method,
            self.base_url + path,
            headers=headers,
            data=data,
            params=query,
            timeout=timeout,
        )
        content = await treq.content(response)
        if response.code != 200:
            raise HttpError(method, path, response.code, content)
        result: JsonDict = json.loads(content)
        return result

    async def register_with_shared_secret(
        self, shared_secret: str, username: str, password: str
    ) -> None:
        """``/_synapse/admin/v1/register``: the way scripts create accounts on both servers."""
        path = "/_synapse/admin/v1/register"
        nonce = (await self.request("GET", path))["nonce"]
        mac = hmac.new(shared_secret.encode("utf-8"), digestmod=hashlib.sha1)
        mac.update(f"{nonce}\0{username}\0{password}\0notadmin".encode())
        result = await self.request(
            "POST",
            path,
            {
                "nonce": nonce,
                "username": username,
                "password": password,
                "admin": False,
                "mac": mac.hexdigest(),
            },
        )
        self.access_token = result["access_token"]
        self.user_id = result["user_id"]

    async def create_room(self, preset: str = "public_chat") -> str:
        result = await self.request("POST", "/_matrix/client/v3/createRoom", {"preset": preset})
        return str(result["room_id"])

    async def join(self, room_id: str) -> None:
        await self.request("POST", f"/_matrix/client/v3/join/{quote(room_id, safe='')}", {})

    async def send_message(self, room_id: str, body: str) -> str:
        txn_id = f"b{next(self._txn_ids)}"
        result = await self.request(
            "PUT",
            f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/send/m.room.message/{txn_id}",
            {"msgtype": "m.text", "body": body},
        )
        return str(result["event_id"])

    async def sync(
        self,
        since: str | None = None,
        timeout_ms: int = 0,
        filter_json: str | None = None,
    ) -> JsonDict:
        query = {"timeout": str(timeout_ms)}
        if since is not None:
            query["since"] = since
        if filter_json is not None:
            query["filter"] = filter_json
        return await self.request(
            "GET",
            "/_matrix/client/v3/sync",
            query=query,
            timeout=timeout_ms / 1000 + REQUEST_TIMEOUT_S,
        )


async def sleep(seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)
