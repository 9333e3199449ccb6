"""``/user/{userId}/account_data/{type}`` and ``/user/{userId}/rooms/{roomId}/account_data/{type}``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.api.constants import AccountDataTypes, ReceiptTypes
from synapse.api.errors import AuthError, Codes, NotFoundError, SynapseError
from synapse.http.servlet import RestServlet, parse_json_object_from_request
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict, JsonMapping, Requester
from synapse.util.identifiers import is_valid_room_id

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

# Types the server manages: clients read them but never set them directly (405).
SERVER_MANAGED_TYPES = frozenset((ReceiptTypes.FULLY_READ, AccountDataTypes.PUSH_RULES))


def check_own_user(requester: Requester, user_id: str, action: str) -> None:
    """403 M_FORBIDDEN unless ``user_id`` is the requester."""
    if user_id != requester.user.to_string():
        raise AuthError(403, f"Cannot {action} account data for other users.")


def check_room_id(room_id: str) -> None:
    if not is_valid_room_id(room_id):
        raise SynapseError(400, f"{room_id!r} is not a valid room ID.", Codes.INVALID_PARAM)


def check_settable_type(account_data_type: str) -> None:
    """400 for an empty type, 405 M_BAD_JSON for one the server manages."""
    if not account_data_type:
        raise SynapseError(400, "The account data type must not be empty.", Codes.INVALID_PARAM)
    if account_data_type in SERVER_MANAGED_TYPES:
        raise SynapseError(405, f"Cannot set {account_data_type} through this API.", Codes.BAD_JSON)


class AccountDataServlet(RestServlet):
    PATTERNS = client_patterns(
        "/user/(?P<user_id>[^/]*)/account_data/(?P<account_data_type>[^/]*)$"
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.store = hs.get_datastores().main.account_data
        self.handler = hs.get_account_data_handler()
        self.push_rules_handler = hs.get_push_rules_handler()

    async def on_PUT(
        self, request: Request, user_id: str, account_data_type: str
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        check_own_user(requester, user_id, "add")
        body = parse_json_object_from_request(request)
        check_settable_type(account_data_type)
        await self.handler.add_account_data_for_user(user_id, account_data_type, body)
        return 200, {}

    async def on_GET(
        self, request: Request, user_id: str, account_data_type: str
    ) -> tuple[int, JsonMapping]:
        requester = await self.auth.get_user_by_req(request)
        check_own_user(requester, user_id, "get")
        if account_data_type == AccountDataTypes.PUSH_RULES:
            # Kept by the push rules handler rather than as account data.
            ruleset = await self.push_rules_handler.get_ruleset(user_id)
            return 200, {"global": ruleset.to_client()}
        content = await self.store.get_global_account_data_by_type_for_user(
            user_id, account_data_type
        )
        if content is None:
            raise NotFoundError("Account data not found.")
        return 200, content


class RoomAccountDataServlet(RestServlet):
    PATTERNS = client_patterns(
        "/user/(?P<user_id>[^/]*)/rooms/(?P<room_id>[^/]*)"
        "/account_data/(?P<account_data_type>[^/]*)$"
    )

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.store = hs.get_datastores().main.account_data
        self.handler = hs.get_account_data_handler()

    async def on_PUT(
        self, request: Request, user_id: str, room_id: str, account_data_type: str
    ) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        check_own_user(requester, user_id, "add")
        body = parse_json_object_from_request(request)
        check_room_id(room_id)
        check_settable_type(account_data_type)
        await self.handler.add_account_data_to_room(user_id, room_id, account_data_type, body)
        return 200, {}

    async def on_GET(
        self, request: Request, user_id: str, room_id: str, account_data_type: str
    ) -> tuple[int, JsonMapping]:
        requester = await self.auth.get_user_by_req(request)
        check_own_user(requester, user_id, "get")
        check_room_id(room_id)
        content = await self.store.get_account_data_for_room_and_type(
            user_id, room_id, account_data_type
        )
        if content is None:
            raise NotFoundError("Room account data not found.")
        return 200, content


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    AccountDataServlet(hs).register(http_server)
    RoomAccountDataServlet(hs).register(http_server)
