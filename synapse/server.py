"""``HomeServer``: builds every handler, store and service once, lazily, and hands them out.

Nothing else constructs these pieces; tests swap them in through the ``get_*`` methods
(or by setting the cached attribute before first use).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet.interfaces import IReactorCore

if TYPE_CHECKING:
    from synapse.api.auth import Auth
    from synapse.api.filtering import Filtering
    from synapse.config.homeserver import HomeServerConfig
    from synapse.crypto.keyring import Keyring
    from synapse.events.client_serializer import EventClientSerializer
    from synapse.handlers.account_data import AccountDataHandler
    from synapse.handlers.admin import AdminHandler
    from synapse.handlers.auth import AuthHandler
    from synapse.handlers.deactivate_account import DeactivateAccountHandler
    from synapse.handlers.device import DeviceHandler
    from synapse.handlers.device_lists import DeviceListHandler
    from synapse.handlers.devicemessage import DeviceMessageHandler
    from synapse.handlers.directory import DirectoryHandler
    from synapse.handlers.e2e_keys import E2eKeysHandler
    from synapse.handlers.e2e_room_keys import E2eRoomKeysHandler
    from synapse.handlers.key_server import KeyServerHandler
    from synapse.handlers.message import EventCreationHandler, MessageHandler
    from synapse.handlers.pagination import PaginationHandler
    from synapse.handlers.presence import PresenceHandler
    from synapse.handlers.profile import ProfileHandler
    from synapse.handlers.push_rules import PushRulesHandler
    from synapse.handlers.read_marker import ReadMarkerHandler
    from synapse.handlers.receipts import ReceiptsHandler
    from synapse.handlers.register import RegistrationHandler
    from synapse.handlers.relations import RelationsHandler
    from synapse.handlers.reports import ReportsHandler
    from synapse.handlers.room import RoomCreationHandler
    from synapse.handlers.room_context import RoomContextHandler
    from synapse.handlers.room_list import RoomListHandler
    from synapse.handlers.room_member import RoomMemberHandler
    from synapse.handlers.room_upgrade import RoomUpgradeHandler
    from synapse.handlers.server_notices import ServerNoticesHandler
    from synapse.handlers.set_password import SetPasswordHandler
    from synapse.handlers.sync import SyncHandler
    from synapse.handlers.typing import TypingHandler
    from synapse.handlers.user_directory import UserDirectoryHandler
    from synapse.http.matrixfederationclient import MatrixFederationHttpClient
    from synapse.media.media_repository import MediaRepository
    from synapse.notifier import Notifier
    from synapse.persistence.context import StateHandler
    from synapse.persistence.queue import EventsPersistenceQueue
    from synapse.push.bulk_push_rule_evaluator import BulkPushRuleEvaluator
    from synapse.storage.database import DatabasePool
    from synapse.storage.databases import Databases

F = TypeVar("F", bound=Callable[..., Any])


def cache_in_self(builder: F) -> F:
    """Make a ``get_x`` method build its object once and return it on every later call."""
    name = builder.__name__
    assert name.startswith("get_"), name
    attr_name = "_" + name[4:]

    @functools.wraps(builder)
    def _get(self: HomeServer) -> Any:
        try:
            return getattr(self, attr_name)
        except AttributeError:
            pass
        if attr_name in self._building:
            raise ValueError(f"Cyclic dependency while building {name}")
        self._building.add(attr_name)
        try:
            dep = builder(self)
            setattr(self, attr_name, dep)
        finally:
            self._building.discard(attr_name)
        return dep

    return _get  # type: ignore[return-value]


class HomeServer:
    """The homeserver: its config, its reactor and clock, and every piece built from them."""

    def __init__(
        self,
        hostname: str,
        config: HomeServerConfig,
        reactor: IReactorCore | None = None,
        version_string: str = "Synapse",
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor  # type: ignore[assignment]
        self.hostname = hostname
        self.config = config
        self._reactor = reactor
        self.version_string = version_string
        self._building: set[str] = set()
        self.start_time: int | None = None

    def get_reactor(self) -> Any:
        return self._reactor

    def is_mine(self, domain_specific_string: Any) -> bool:
        return domain_specific_string.domain == self.hostname

    def is_mine_id(self, string: str) -> bool:
        """Whether a user/room/alias ID (``@a:domain``) belongs to this server."""
        return string.split(":", 1)[-1] == self.hostname

    def is_mine_server_name(self, server_name: str) -> bool:
        return server_name == self.hostname

    @cache_in_self
    def get_clock(self) -> Any:
        from synapse.util.clock import Clock

        return Clock(self._reactor)

    def setup(self) -> None:
        """Prepare the databases (schema) before anything uses them."""
        self.get_datastores()

    @cache_in_self
    def get_datastores(self) -> Databases:
        from synapse.storage.databases import Databases

        return Databases(self)

    def get_database_pools(self) -> list[DatabasePool]:
        """Every database pool (the main one first)."""
        return self.get_datastores().databases

    @cache_in_self
    def get_auth(self) -> Auth:
        from synapse.api.auth import Auth

        return Auth(self)

    @cache_in_self
    def get_auth_handler(self) -> AuthHandler:
        from synapse.handlers.auth import AuthHandler

        return AuthHandler(self)

    @cache_in_self
    def get_registration_handler(self) -> RegistrationHandler:
        from synapse.handlers.register import RegistrationHandler

        return RegistrationHandler(self)

    @cache_in_self
    def get_device_handler(self) -> DeviceHandler:
        from synapse.handlers.device import DeviceHandler

        return DeviceHandler(self)

    @cache_in_self
    def get_profile_handler(self) -> ProfileHandler:
        from synapse.handlers.profile import ProfileHandler

        return ProfileHandler(self)

    @cache_in_self
    def get_deactivate_account_handler(self) -> DeactivateAccountHandler:
        from synapse.handlers.deactivate_account import DeactivateAccountHandler

        return DeactivateAccountHandler(self)

    @cache_in_self
    def get_set_password_handler(self) -> SetPasswordHandler:
        from synapse.handlers.set_password import SetPasswordHandler

        return SetPasswordHandler(self)

    @cache_in_self
    def get_notifier(self) -> Notifier:
        from synapse.notifier import Notifier

        return Notifier(self)

    @cache_in_self
    def get_state_handler(self) -> StateHandler:
        from synapse.persistence.context import StateHandler

        return StateHandler(self)

    @cache_in_self
    def get_persistence_queue(self) -> EventsPersistenceQueue:
        from synapse.persistence.queue import EventsPersistenceQueue

        queue = EventsPersistenceQueue(self)
        # Push actions are written in the transaction of the events that cause them.
        queue.add_pre_persist_hook(self.get_bulk_push_rule_evaluator().push_actions_for_batch)
        # The user directory marks what a batch makes stale in the batch's transaction.
        user_directory = self.get_user_directory_handler()
        queue.add_pre_persist_hook(user_directory.stale_writes_for_batch)
        queue.add_post_persist_callback(user_directory.on_events_persisted)
        return queue

    @cache_in_self
    def get_bulk_push_rule_evaluator(self) -> BulkPushRuleEvaluator:
        from synapse.push.bulk_push_rule_evaluator import BulkPushRuleEvaluator

        return BulkPushRuleEvaluator(self)

    @cache_in_self
    def get_push_rules_handler(self) -> PushRulesHandler:
        from synapse.handlers.push_rules import PushRulesHandler

        return PushRulesHandler(self)

    @cache_in_self
    def get_event_creation_handler(self) -> EventCreationHandler:
        from synapse.handlers.message import EventCreationHandler

        return EventCreationHandler(self)

    @cache_in_self
    def get_message_handler(self) -> MessageHandler:
        from synapse.handlers.message import MessageHandler

        return MessageHandler(self)

    @cache_in_self
    def get_room_creation_handler(self) -> RoomCreationHandler:
        from synapse.handlers.room import RoomCreationHandler

        return RoomCreationHandler(self)

    @cache_in_self
    def get_room_member_handler(self) -> RoomMemberHandler:
        from synapse.handlers.room_member import RoomMemberHandler

        return RoomMemberHandler(self)

    @cache_in_self
    def get_directory_handler(self) -> DirectoryHandler:
        from synapse.handlers.directory import DirectoryHandler

        return DirectoryHandler(self)

    @cache_in_self
    def get_room_list_handler(self) -> RoomListHandler:
        from synapse.handlers.room_list import RoomListHandler

        return RoomListHandler(self)

    @cache_in_self
    def get_room_upgrade_handler(self) -> RoomUpgradeHandler:
        from synapse.handlers.room_upgrade import RoomUpgradeHandler

        return RoomUpgradeHandler(self)

    @cache_in_self
    def get_filtering(self) -> Filtering:
        from synapse.api.filtering import Filtering

        return Filtering(self)

    @cache_in_self
    def get_event_client_serializer(self) -> EventClientSerializer:
        from synapse.events.client_serializer import EventClientSerializer

        return EventClientSerializer()

    @cache_in_self
    def get_relations_handler(self) -> RelationsHandler:
        from synapse.handlers.relations import RelationsHandler

        return RelationsHandler(self)

    @cache_in_self
    def get_pagination_handler(self) -> PaginationHandler:
        from synapse.handlers.pagination import PaginationHandler

        return PaginationHandler(self)

    @cache_in_self
    def get_room_context_handler(self) -> RoomContextHandler:
        from synapse.handlers.room_context import RoomContextHandler

        return RoomContextHandler(self)

    @cache_in_self
    def get_typing_handler(self) -> TypingHandler:
        from synapse.handlers.typing import TypingHandler

        return TypingHandler(self)

    @cache_in_self
    def get_receipts_handler(self) -> ReceiptsHandler:
        from synapse.handlers.receipts import ReceiptsHandler

        return ReceiptsHandler(self)

    @cache_in_self
    def get_read_marker_handler(self) -> ReadMarkerHandler:
        from synapse.handlers.read_marker import ReadMarkerHandler

        return ReadMarkerHandler(self)

    @cache_in_self
    def get_account_data_handler(self) -> AccountDataHandler:
        from synapse.handlers.account_data import AccountDataHandler

        return AccountDataHandler(self)

    @cache_in_self
    def get_device_list_handler(self) -> DeviceListHandler:
        from synapse.handlers.device_lists import DeviceListHandler

        return DeviceListHandler(self)

    @cache_in_self
    def get_device_message_handler(self) -> DeviceMessageHandler:
        from synapse.handlers.devicemessage import DeviceMessageHandler

        return DeviceMessageHandler(self)

    @cache_in_self
    def get_e2e_keys_handler(self) -> E2eKeysHandler:
        from synapse.handlers.e2e_keys import E2eKeysHandler

        return E2eKeysHandler(self)

    @cache_in_self
    def get_e2e_room_keys_handler(self) -> E2eRoomKeysHandler:
        from synapse.handlers.e2e_room_keys import E2eRoomKeysHandler

        return E2eRoomKeysHandler(self)

    @cache_in_self
    def get_presence_handler(self) -> PresenceHandler:
        from synapse.handlers.presence import PresenceHandler

        return PresenceHandler(self)

    @cache_in_self
    def get_user_directory_handler(self) -> UserDirectoryHandler:
        from synapse.handlers.user_directory import UserDirectoryHandler

        return UserDirectoryHandler(self)

    @cache_in_self
    def get_reports_handler(self) -> ReportsHandler:
        from synapse.handlers.reports import ReportsHandler

        return ReportsHandler(self)

    @cache_in_self
    def get_sync_handler(self) -> SyncHandler:
        from synapse.handlers.sync import SyncHandler

        handler = SyncHandler(self)
        # The m.push_rules account data (this also registers the push rules stream).
        handler.register_global_account_data_source(
            self.get_push_rules_handler().get_account_data_for_sync
        )
        return handler

    @cache_in_self
    def get_media_repository(self) -> MediaRepository:
        from synapse.media.media_repository import MediaRepository

        return MediaRepository(self)

    @cache_in_self
    def get_keyring(self) -> Keyring:
        from synapse.crypto.keyring import Keyring

        return Keyring(self)

    @cache_in_self
    def get_federation_http_client(self) -> MatrixFederationHttpClient:
        from synapse.http.matrixfederationclient import MatrixFederationHttpClient

        return MatrixFederationHttpClient(self)

    @cache_in_self
    def get_key_server_handler(self) -> KeyServerHandler:
        from synapse.handlers.key_server import KeyServerHandler

        return KeyServerHandler(self)

    @cache_in_self
    def get_admin_handler(self) -> AdminHandler:
        from synapse.handlers.admin import AdminHandler

        return AdminHandler(self)

    @cache_in_self
    def get_server_notices_handler(self) -> ServerNoticesHandler:
        from synapse.handlers.server_notices import ServerNoticesHandler

        return ServerNoticesHandler(self)
