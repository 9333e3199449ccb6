"""Push rules: ``/pushrules/``, ``/pushrules/global/`` and
``/pushrules/global/{kind}/{ruleId}`` (with ``/enabled`` and ``/actions``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from synapse.http.servlet import (
    RestServlet,
    parse_and_validate_json_object_from_request,
    parse_string,
)
from synapse.rest.client._base import client_patterns
from synapse.types import JsonDict

if TYPE_CHECKING:
    from synapse.http.server import JsonResource
    from synapse.http.site import SynapseRequest as Request
    from synapse.server import HomeServer

_ACTIONS: JsonDict = {"type": "array", "items": {"type": ["string", "object"]}}

_CONDITION: JsonDict = {
    "type": "object",
    "properties": {
        "kind": {"type": "string"},
        "key": {"type": "string"},
        "pattern": {"type": "string"},
        "is": {"type": "string"},
        "value": {"type": ["string", "integer", "boolean", "null"]},
    },
    "required": ["kind"],
}

# The body of ``PUT /pushrules/global/{kind}/{ruleId}``.
RULE_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "actions": _ACTIONS,
        "conditions": {"type": "array", "items": _CONDITION},
        "pattern": {"type": "string"},
    },
    "required": ["actions"],
}

ENABLED_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"enabled": {"type": "boolean"}},
    "required": ["enabled"],
}

ACTIONS_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {"actions": _ACTIONS},
    "required": ["actions"],
}

_RULE_PATH = "/pushrules/global/(?P<kind>[^/]+)/(?P<rule_id>[^/]+)"


class PushRulesServlet(RestServlet):
    """``GET /pushrules/``: every ruleset (only ``global``)."""

    PATTERNS = client_patterns("/pushrules/?$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_push_rules_handler()

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        ruleset = await self.handler.get_ruleset(requester.user.to_string())
        return 200, {"global": ruleset.to_client()}


class GlobalPushRulesServlet(RestServlet):
    """``GET /pushrules/global/``: the global ruleset."""

    PATTERNS = client_patterns("/pushrules/global/?$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_push_rules_handler()

    async def on_GET(self, request: Request) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        ruleset = await self.handler.get_ruleset(requester.user.to_string())
        return 200, ruleset.to_client()


class PushRuleServlet(RestServlet):
    """``GET``/``PUT``/``DELETE /pushrules/global/{kind}/{ruleId}``."""

    PATTERNS = client_patterns(_RULE_PATH + "$")

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_push_rules_handler()

    async def on_GET(self, request: Request, kind: str, rule_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        rule = await self.handler.get_rule(requester.user.to_string(), kind, rule_id)
        return 200, rule

    async def on_PUT(self, request: Request, kind: str, rule_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, RULE_SCHEMA)
        before = parse_string(request, "before")
        after = parse_string(request, "after")
        await self.handler.set_rule(
            requester.user.to_string(), kind, rule_id, body, before=before, after=after
        )
        return 200, {}

    async def on_DELETE(self, request: Request, kind: str, rule_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        await self.handler.delete_rule(requester.user.to_string(), kind, rule_id)
        return 200, {}


class _PushRuleAttributeServlet(RestServlet):
    """``GET``/``PUT`` of one attribute of a rule, the body being ``{ATTRIBUTE: value}``."""

    ATTRIBUTE: str
    SCHEMA: JsonDict

    def __init__(self, hs: HomeServer) -> None:
        self.auth = hs.get_auth()
        self.handler = hs.get_push_rules_handler()

    async def on_GET(self, request: Request, kind: str, rule_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        rule = await self.handler.get_rule(requester.user.to_string(), kind, rule_id)
        return 200, {self.ATTRIBUTE: rule[self.ATTRIBUTE]}

    async def on_PUT(self, request: Request, kind: str, rule_id: str) -> tuple[int, JsonDict]:
        requester = await self.auth.get_user_by_req(request)
        body = parse_and_validate_json_object_from_request(request, self.SCHEMA)
        await self._set(requester.user.to_string(), kind, rule_id, body[self.ATTRIBUTE])
        return 200, {}

    async def _set(self, user_id: str, kind: str, rule_id: str, value: Any) -> None:
        raise NotImplementedError


class PushRuleEnabledServlet(_PushRuleAttributeServlet):
    """``GET``/``PUT /pushrules/global/{kind}/{ruleId}/enabled``."""

    PATTERNS = client_patterns(_RULE_PATH + "/enabled$")
    ATTRIBUTE = "enabled"
    SCHEMA = ENABLED_SCHEMA

    async def _set(self, user_id: str, kind: str, rule_id: str, value: Any) -> None:
        await self.handler.set_enabled(user_id, kind, rule_id, value)


class PushRuleActionsServlet(_PushRuleAttributeServlet):
    """``GET``/``PUT /pushrules/global/{kind}/{ruleId}/actions``."""

    PATTERNS = client_patterns(_RULE_PATH + "/actions$")
    ATTRIBUTE = "actions"
    SCHEMA = ACTIONS_SCHEMA

    async def _set(self, user_id: str, kind: str, rule_id: str, value: Any) -> None:
        await self.handler.set_actions(user_id, kind, rule_id, value)


def register_servlets(hs: HomeServer, http_server: JsonResource) -> None:
    PushRulesServlet(hs).register(http_server)
    GlobalPushRulesServlet(hs).register(http_server)
    PushRuleServlet(hs).register(http_server)
    PushRuleEnabledServlet(hs).register(http_server)
    PushRuleActionsServlet(hs).register(http_server)
