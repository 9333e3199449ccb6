"""Helpers shared by the admin API servlets: path patterns and the admin-only guard."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from synapse.api.errors import AuthError, Codes
from synapse.types import Requester

if TYPE_CHECKING:
    from twisted.web.server import Request

    from synapse.api.auth import Auth

ADMIN_API_PREFIX = "/_synapse/admin"


def admin_patterns(path_regex: str, version: str = "v1") -> list[re.Pattern[str]]:
    """The compiled pattern of ``path_regex`` under ``/_synapse/admin/<version>``."""
    return [re.compile("^" + re.escape(f"{ADMIN_API_PREFIX}/{version}") + path_regex)]


async def assert_requester_is_admin(auth: Auth, request: Request) -> Requester:
    """The caller, if a server admin; else 401 (no/unknown token) or 403 M_FORBIDDEN."""
    requester = await auth.get_user_by_req(request)
    await assert_user_is_admin(auth, requester)
    return requester


async def assert_user_is_admin(auth: Auth, requester: Requester) -> None:
    """403 M_FORBIDDEN unless ``requester`` is a server admin."""
    if not await auth.is_server_admin(requester):
        raise AuthError(403, "You are not a server admin", errcode=Codes.FORBIDDEN)
