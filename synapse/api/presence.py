"""A user's presence state, as the presence handler, its store and federation share it."""

from __future__ import annotations

from typing import Any

import attr

from synapse.api.constants import PresenceState
from synapse.types import JsonDict


@attr.s(slots=True, frozen=True, auto_attribs=True)
class UserPresenceState:
    """Where a user is (``state``), since when they were last active, and their message.

    Timestamps are milliseconds since the epoch, 0 when never. ``currently_active`` is
    only meaningful while ``online``: it says that ``last_active_ts`` keeps moving and
    that clients are not told each time it does.
    """

    user_id: str
    state: str = PresenceState.OFFLINE
    last_active_ts: int = 0
    last_federation_update_ts: int = 0
    last_user_sync_ts: int = 0
    status_msg: str | None = None
    currently_active: bool = False

    @classmethod
    def default(cls, user_id: str) -> UserPresenceState:
        """The state of a user the server knows nothing about: offline."""
        return cls(user_id=user_id)

    def copy_and_replace(self, **kwargs: Any) -> UserPresenceState:
        return attr.evolve(self, **kwargs)


def format_presence_content(state: UserPresenceState, now_ms: int) -> JsonDict:
    """The ``content`` of an ``m.presence`` event (also the body of ``GET /presence``)."""
    content: JsonDict = {"presence": state.state}
    if state.last_active_ts:
        content["last_active_ago"] = max(0, now_ms - state.last_active_ts)
    if state.status_msg:
        content["status_msg"] = state.status_msg
    if state.state == PresenceState.ONLINE:
        content["currently_active"] = state.currently_active
    return content


def format_presence_event(state: UserPresenceState, now_ms: int) -> JsonDict:
    """An ``m.presence`` event for ``/sync``."""
    return {
        "type": "m.presence",
        "sender": state.user_id,
        "content": format_presence_content(state, now_ms),
    }
