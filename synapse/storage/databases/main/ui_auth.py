"""User-interactive authentication sessions and the stages completed in them."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

import attr

from synapse.api.errors import StoreError

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool, LoggingTransaction


@attr.s(slots=True, frozen=True, auto_attribs=True)
class UIAuthSessionData:
    session_id: str
    clientdict: dict[str, Any]
    uri: str
    method: str
    description: str
    creation_time: int


class UIAuthStore:
    """The ``ui_auth_sessions`` and ``ui_auth_sessions_credentials`` tables."""

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.hs = hs
        self._clock = hs.get_clock()

    async def create_ui_auth_session(
        self, clientdict: dict[str, Any], uri: str, method: str, description: str
    ) -> UIAuthSessionData:
        """Start a new session with a fresh random ID."""
        now = self._clock.time_msec()

        def _txn(txn: LoggingTransaction) -> str:
            for _ in range(5):
                session_id = secrets.token_urlsafe(18)
                txn.execute("SELECT 1 FROM ui_auth_sessions WHERE session_id = ?", (session_id,))
                if txn.fetchone() is None:
                    txn.execute(
                        "INSERT INTO ui_auth_sessions (session_id, creation_time, serverdict,"
                        " clientdict, uri, method, description) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (session_id, now, "{}", json.dumps(clientdict), uri, method, description),
                    )
                    return session_id
            raise StoreError(500, "Couldn't generate a session ID.")

        session_id = await self.db_pool.runInteraction("create_ui_auth_session", _txn)
        return UIAuthSessionData(session_id, clientdict, uri, method, description, now)

    async def get_ui_auth_session(self, session_id: str) -> UIAuthSessionData:
        """The session, or StoreError(404) if it does not exist."""
        row = await self.db_pool.simple_select_one(
            "ui_auth_sessions",
            {"session_id": session_id},
            ("clientdict", "uri", "method", "description", "creation_time"),
            allow_none=True,
            desc="get_ui_auth_session",
        )
        if row is None:
            raise StoreError(404, "Unknown session ID")
        return UIAuthSessionData(session_id, json.loads(row[0]), row[1], row[2], row[3], row[4])

    async def mark_ui_auth_stage_complete(
        self, session_id: str, stage_type: str, result: Any
    ) -> None:
        """Record ``result`` (JSON) as the outcome of a stage of the session."""

        def _txn(txn: LoggingTransaction) -> None:
            txn.execute("SELECT 1 FROM ui_auth_sessions WHERE session_id = ?", (session_id,))
            if txn.fetchone() is None:
                raise StoreError(400, "Unknown session ID")
            txn.execute(
                "DELETE FROM ui_auth_sessions_credentials WHERE session_id = ? AND stage_type = ?",
                (session_id, stage_type),
            )
            txn.execute(
                "INSERT INTO ui_auth_sessions_credentials (session_id, stage_type, result)"
                " VALUES (?, ?, ?)",
                (session_id, stage_type, json.dumps(result)),
            )

        await self.db_pool.runInteraction("mark_ui_auth_stage_complete", _txn)

    async def get_completed_ui_auth_stages(self, session_id: str) -> dict[str, Any]:
        rows = await self.db_pool.simple_select_list(
            "ui_auth_sessions_credentials",
            {"session_id": session_id},
            ("stage_type", "result"),
            desc="get_completed_ui_auth_stages",
        )
        return {row[0]: json.loads(row[1]) for row in rows}

    async def set_ui_auth_clientdict(self, session_id: str, clientdict: dict[str, Any]) -> None:
        await self.db_pool.simple_update_one(
            "ui_auth_sessions",
            {"session_id": session_id},
            {"clientdict": json.dumps(clientdict)},
            desc="set_ui_auth_clientdict",
        )

    async def set_ui_auth_session_data(self, session_id: str, key: str, value: Any) -> None:
        """Store a server-side value in the session (kept away from the client)."""

        def _txn(txn: LoggingTransaction) -> None:
            txn.execute(
                "SELECT serverdict FROM ui_auth_sessions WHERE session_id = ?", (session_id,)
            )
            row = txn.fetchone()
            if row is None:
                raise StoreError(404, "Unknown session ID")
            serverdict = json.loads(row[0])
            serverdict[key] = value
            txn.execute(
                "UPDATE ui_auth_sessions SET serverdict = ? WHERE session_id = ?",
                (json.dumps(serverdict), session_id),
            )

        await self.db_pool.runInteraction("set_ui_auth_session_data", _txn)

    async def get_ui_auth_session_data(self, session_id: str, key: str, default: Any = None) -> Any:
        serverdict = await self.db_pool.simple_select_one_onecol(
            "ui_auth_sessions",
            {"session_id": session_id},
            "serverdict",
            allow_none=True,
            desc="get_ui_auth_session_data",
        )
        if serverdict is None:
            raise StoreError(404, "Unknown session ID")
        return json.loads(serverdict).get(key, default)

    async def delete_old_ui_auth_sessions(self, expiration_time_ms: int) -> None:
        """Drop the sessions created before ``expiration_time_ms``."""

        def _txn(txn: LoggingTransaction) -> None:
            txn.execute(
                "SELECT session_id FROM ui_auth_sessions WHERE creation_time <= ?",
                (expiration_time_ms,),
            )
            ids = [r[0] for r in txn.fetchall()]
            for session_id in ids:
                txn.execute(
                    "DELETE FROM ui_auth_sessions_credentials WHERE session_id = ?", (session_id,)
                )
                txn.execute("DELETE FROM ui_auth_sessions WHERE session_id = ?", (session_id,))

        await self.db_pool.runInteraction("delete_old_ui_auth_sessions", _txn)
