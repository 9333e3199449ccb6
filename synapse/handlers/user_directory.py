"""The user directory: ``POST /user_directory/search`` and keeping its tables up to date.

A change that may alter the directory marks an entry stale, in the same transaction as
the change where it is an event (``stale_writes_for_batch``, a pre-persist hook of the
persistence queue): a membership, a room's join rule or history visibility. Profile
changes, registrations and deactivations mark theirs through ``local_user_changed``.
One processor at a time then brings each stale entry in line with the current state
(so the order entries are processed in does not matter, and nothing is lost across a
restart: unprocessed entries stay in the table) and removes it.

What a searcher finds (see the store's ``search``): users sharing a room with them,
users in a public room (public join rule or world-readable history), and with
``user_directory.search_all_users`` every local user. Deactivated and support users
are left out; so are locked users unless ``show_locked_users``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from twisted.internet import defer

from synapse.api.constants import (
    EventTypes,
    HistoryVisibility,
    JoinRules,
    Membership,
    UserTypes,
)
from synapse.api.ratelimiting import Ratelimiter
from synapse.events import EventBase
from synapse.persistence.context import EventContext
from synapse.storage.databases.main.user_directory import WHOLE_ROOM, search_words
from synapse.storage.state_filter import StateFilter
from synapse.types import JsonDict, Requester, RoomStreamToken
from synapse.util.linearizer import Linearizer

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import LoggingTransaction

logger = logging.getLogger(__name__)

# Stale entries processed per round.
_BATCH_SIZE = 100
# The most words of a search term that are matched (the rest are ignored).
MAX_SEARCH_WORDS = 10
DEFAULT_LIMIT = 10
MAX_LIMIT = 1000

_VISIBILITY_KEYS = ((EventTypes.JoinRules, ""), (EventTypes.RoomHistoryVisibility, ""))


def _clean(value: object) -> str | None:
    """A display name or avatar URL from a remote member event, fit to store."""
    if not isinstance(value, str) or not value:
        return None
    return value.replace("\x00", "")


class UserDirectoryHandler:
    """``hs.get_user_directory_handler()``."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.clock = hs.get_clock()
        self._stores = hs.get_datastores().main
        self._store = self._stores.user_directory
        # Built on the first search: the persistence queue builds this handler, also in
        # storage tests whose config has no other section than the database.
        self._limiter: Ratelimiter | None = None
        self._linearizer = Linearizer("user_directory")
        self._processing = False
        self._pending = False
        # Entries left from before a restart.
        self.clock.call_later(0, self.kick)

    # --- search ----------------------------------------------------------------------
    async def search_users(self, requester: Requester, search_term: str, limit: int) -> JsonDict:
        """The body of ``POST /user_directory/search``; ``rc_user_directory``."""
        if self._limiter is None:
            self._limiter = Ratelimiter(
                self._stores, self.clock, self.hs.config.ratelimiting.rc_user_directory
            )
        await self._limiter.ratelimit(requester)
        config = self.hs.config.user_directory
        limit = min(limit, MAX_LIMIT)
        words = search_words(search_term)[:MAX_SEARCH_WORDS]
        if not config.user_directory_search_enabled or not words:
            return {"limited": False, "results": []}
        found = await self._store.search(
            requester.user.to_string(),
            words,
            limit + 1,
            config.user_directory_search_all_users,
            config.user_directory_search_prefer_local_users,
            config.user_directory_exclude_remote_users,
        )
        results: list[JsonDict] = []
        for user in found[:limit]:
            result: JsonDict = {"user_id": user.user_id}
            if user.display_name is not None:
                result["display_name"] = user.display_name
            if user.avatar_url is not None:
                result["avatar_url"] = user.avatar_url
            results.append(result)
        return {"limited": len(found) > limit, "results": results}

    # --- what makes entries stale -----------------------------------------------------
    async def stale_writes_for_batch(
        self, room_id: str, events_and_contexts: list[tuple[EventBase, EventContext]]
    ) -> Callable[[LoggingTransaction], None] | None:
        """Pre-persist hook: mark the batch's memberships and room visibility changes
        stale in the batch's own transaction."""
        entries: set[tuple[str, str]] = set()
        for event, context in events_and_contexts:
            if context.rejected or event.internal_metadata.is_outlier():
                continue
            key = (event.type, event.get_state_key())
            if event.type == EventTypes.Member and key[1] is not None:
                entries.add((room_id, key[1]))
            elif key in _VISIBILITY_KEYS:
                entries.add((room_id, ""))
        if not entries:
            return None
        return functools.partial(self._store.add_stale_entries_txn, entries=entries)

    def on_events_persisted(self, events: list[EventBase], max_token: RoomStreamToken) -> None:
        """Post-persist callback: process what the batch made stale."""
        if any(e.type in (EventTypes.Member, *(k[0] for k in _VISIBILITY_KEYS)) for e in events):
            self.kick()

    async def local_user_changed(self, user_id: str) -> None:
        """A local user registered, changed their profile, or was (de)activated.

        The entry is marked stale first, so that a failure here leaves it for the
        processor; it is then brought up to date at once, without waiting for others.
        Never fails the request that made the change.
        """
        try:
            version = await self._store.mark_stale("", user_id)
            await self._refresh("", user_id)
            await self._store.remove_stale_entries([("", user_id, version)])
        except Exception:
            logger.exception("Failed to update the user directory entry of %s", user_id)

    # --- bringing stale entries up to date ---------------------------------------------
    def kick(self) -> None:
        """Process stale entries in the background."""
        defer.ensureDeferred(self.process()).addErrback(
            lambda f: logger.error("Failed to update the user directory: %s", f.value)
        )

    async def process(self) -> None:
        """Process every stale entry (or, if a processor runs, have it go on)."""
        if self._processing:
            self._pending = True
            return
        self._processing = True
        try:
            while True:
                self._pending = False
                entries = await self._store.get_stale_entries(_BATCH_SIZE)
                if not entries:
                    if self._pending:
                        continue
                    return
                for room_id, user_id, _version in entries:
                    try:
                        await self._refresh(room_id, user_id)
                    except Exception:
                        logger.exception(
                            "Failed to update the user directory for %r in %r", user_id, room_id
                        )
                await self._store.remove_stale_entries(entries)
        finally:
            self._processing = False

    async def _refresh(self, room_id: str, user_id: str) -> None:
        # One refresh of an entry at a time: whichever runs last reads the latest state.
        async with self._linearizer.queue((room_id, user_id)):
            await self._refresh_locked(room_id, user_id)

    async def _refresh_locked(self, room_id: str, user_id: str) -> None:
        if not room_id:
            await self._refresh_local_user(user_id)
        elif not user_id:
            await self._store.set_room_public(room_id, await self._is_room_public(room_id))
        elif user_id == WHOLE_ROOM:
            await self._refresh_room(room_id)
        else:
            await self._refresh_membership(room_id, user_id)

    async def _refresh_local_user(self, user_id: str) -> None:
        info = await self._stores.registration.get_user_by_id(user_id)
        if (
            info is None
            or info.is_deactivated
            or info.user_type == UserTypes.SUPPORT
            or (info.is_locked and not self.hs.config.user_directory.show_locked_users)
        ):
            await self._store.remove_user(user_id)
            return
        profile = await self._stores.profile.get_profileinfo(user_id)
        await self._store.update_profile(
            user_id,
            profile.display_name if profile else None,
            profile.avatar_url if profile else None,
        )

    async def _refresh_membership(self, room_id: str, user_id: str) -> None:
        event_id = await self._stores.state.get_current_state_event_id(
            room_id, EventTypes.Member, user_id
        )
        event = await self._stores.events.get_event(event_id, allow_none=True) if event_id else None
        if event is None or event.content.get("membership") != Membership.JOIN:
            await self._store.remove_user_from_room(user_id, room_id)
            return
        await self._store.add_user_to_room(user_id, room_id)
        if not self.hs.is_mine_id(user_id):
            await self._store.update_profile(
                user_id,
                _clean(event.content.get("displayname")),
                _clean(event.content.get("avatar_url")),
            )
        elif await self._store.get_user(user_id) is None:
            # A local user who has no entry yet (created before or around the hooks).
            await self._refresh_local_user(user_id)

    async def _refresh_room(self, room_id: str) -> None:
        await self._store.set_room_public(room_id, await self._is_room_public(room_id))
        members = await self._stores.roommember.get_users_in_room_with_profiles(room_id)
        await self._store.replace_room_members(room_id, list(members))
        for user_id, profile in members.items():
            if not self.hs.is_mine_id(user_id):
                await self._store.update_profile(
                    user_id, _clean(profile.display_name), _clean(profile.avatar_url)
                )

    async def _is_room_public(self, room_id: str) -> bool:
        """Whether anyone may find the room's members: public join rule or world-readable
        history."""
        ids = await self._stores.state.get_current_state_ids(
            room_id, StateFilter.from_types(_VISIBILITY_KEYS)
        )
        events = await self._stores.events.get_events(list(ids.values()))
        join_rules = events.get(ids.get((EventTypes.JoinRules, ""), ""))
        visibility = events.get(ids.get((EventTypes.RoomHistoryVisibility, ""), ""))
        return (
            join_rules is not None and join_rules.content.get("join_rule") == JoinRules.PUBLIC
        ) or (
            visibility is not None
            and visibility.content.get("history_visibility") == HistoryVisibility.WORLD_READABLE
        )
