"""``POST /_synapse/admin/v1/send_server_notice`` (and ``PUT .../{txnId}``): a message
from the server's system user to a local user, as Synapse sends it."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from synapse.api.errors import NotFoundError, SynapseError
from synapse.http.servlet import RestServlet, parse_and_validate_json_object_from_request
from synapse.rest.admin._base import admin_patterns, assert_requester_is_admin
from synapse.rest.admin.users import parse_user_id
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_SCHEMA: JsonDict = {
    "type": "object",
    "required": ["user_id", "content"],
    "properties": {
        "user_id": {"type": "string"},
        "content": {"type": "object"},
        "type": {"type": "string", "minLength": 1},
        "state_key": {"type": "string"},
    },
}


class SendServerNoticeServlet(RestServlet):
    PATTERNS = admin_patterns("/send_server_notice(/(?P<txn_id>[^/]*))?$")

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.auth = hs.get_auth()
        self.notices = hs.get_server_notices_handler()

    async def _send(self, request: Request, txn_id: str | None) -> tuple[int, JsonDict]:
        await assert_requester_is_admin(self.auth, request)
        body = parse_and_validate_json_object_from_request(request, _SCHEMA)
        if not self.notices.is_enabled():
            raise SynapseError(
                HTTPStatus.BAD_REQUEST, "Server notices are not enabled on this server"
            )
        user_id = parse_user_id(self.hs, body["user_id"], "send server notices to").to_string()
        if await self.hs.get_datastores().main.registration.get_user_by_id(user_id) is None:
            raise NotFoundError("User not found")
        event = await self.notices.send_notice(
            user_id,
            body["content"],
            event_type=body.get("type", "m.room.message"),
            state_key=body.get("state_key"),
            txn_id=txn_id,
        )
        return HTTPStatus.OK, {"event_id": event.event_id}

    async def on_POST(self, request: Request, txn_id: str | None = None) -> tuple[int, JsonDict]:
        return await self._send(request, txn_id)

    async def on_PUT(self, request: Request, txn_id: str | None = None) -> tuple[int, JsonDict]:
        return await self._send(request, txn_id)


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    SendServerNoticeServlet(hs).register(http_server)
