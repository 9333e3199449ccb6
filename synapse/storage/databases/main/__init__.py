"""The stores of the main database, one plain class per domain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.storage.databases.main.account_data import AccountDataStore
from synapse.storage.databases.main.admin import AdminStore
from synapse.storage.databases.main.device_lists import DeviceListStore
from synapse.storage.databases.main.deviceinbox import DeviceInboxStore
from synapse.storage.databases.main.devices import DeviceStore
from synapse.storage.databases.main.directory import RoomAliasStore
from synapse.storage.databases.main.e2e_room_keys import EndToEndRoomKeyStore
from synapse.storage.databases.main.end_to_end_keys import EndToEndKeyStore
from synapse.storage.databases.main.event_federation import EventFederationStore
from synapse.storage.databases.main.event_push_actions import EventPushActionsStore
from synapse.storage.databases.main.event_timestamps import EventTimestampStore
from synapse.storage.databases.main.events import PersistEventsStore
from synapse.storage.databases.main.events_worker import EventsWorkerStore
from synapse.storage.databases.main.filtering import FilteringStore
from synapse.storage.databases.main.keys import KeyStore
from synapse.storage.databases.main.media_repository import MediaStore
from synapse.storage.databases.main.presence import PresenceStore
from synapse.storage.databases.main.profile import ProfileStore
from synapse.storage.databases.main.push_rule import PushRulesStore
from synapse.storage.databases.main.receipts import ReceiptsStore
from synapse.storage.databases.main.registration import RegistrationStore
from synapse.storage.databases.main.relations import RelationsStore
from synapse.storage.databases.main.reports import ReportStore
from synapse.storage.databases.main.room import RoomStore
from synapse.storage.databases.main.roommember import RoomMemberStore
from synapse.storage.databases.main.state import StateStore
from synapse.storage.databases.main.stream import StreamStore
from synapse.storage.databases.main.ui_auth import UIAuthStore
from synapse.storage.databases.main.user_directory import UserDirectoryStore

if TYPE_CHECKING:
    from synapse.server import HomeServer
    from synapse.storage.database import DatabasePool


class MainStores:
    """One attribute per domain store: ``hs.get_datastores().main.registration``, ...

    To add a store, write ``class FooStore`` in ``synapse/storage/databases/main/foo.py``
    with ``__init__(self, database: DatabasePool, hs: HomeServer)``, import it at the top
    of this module, and add one line below:

        self.foo = FooStore(database, hs)

    A store touches only its own tables; work across domains belongs in a handler or in
    a named transaction function.
    """

    def __init__(self, database: DatabasePool, hs: HomeServer) -> None:
        self.db_pool = database
        self.registration = RegistrationStore(database, hs)
        self.devices = DeviceStore(database, hs)
        self.profile = ProfileStore(database, hs)
        self.ui_auth = UIAuthStore(database, hs)
        # End-to-end encryption (see docs/development/e2e.md).
        self.e2e_keys = EndToEndKeyStore(database, hs)
        self.device_lists = DeviceListStore(database, hs)
        self.device_inbox = DeviceInboxStore(database, hs)
        self.e2e_room_keys = EndToEndRoomKeyStore(database, hs)
        # Rooms and events (see docs/development/persistence.md).
        self.rooms = RoomStore(database, hs)
        self.events = EventsWorkerStore(database, hs)
        self.state = StateStore(database, hs)
        self.roommember = RoomMemberStore(database, hs)
        self.event_federation = EventFederationStore(database, hs)
        self.stream = StreamStore(database, hs, self.events)
        self.directory = RoomAliasStore(database, hs)
        self.filtering = FilteringStore(database, hs)
        self.relations = RelationsStore(database, hs)
        self.media = MediaStore(database, hs)
        self.event_timestamps = EventTimestampStore(database, hs)
        # Receipts, account data and unread counts (see docs/development/sync.md).
        self.receipts = ReceiptsStore(database, hs)
        self.account_data = AccountDataStore(database, hs)
        self.event_push_actions = EventPushActionsStore(database, hs)
        self.push_rules = PushRulesStore(database, hs)
        # Presence (see docs/development/presence.md).
        self.presence = PresenceStore(database, hs)
        # The user directory (see docs/development/user_directory.md).
        self.user_directory = UserDirectoryStore(database, hs)
        # Reports of events, rooms and users (see docs/development/reports.md).
        self.reports = ReportStore(database, hs)
        # Other servers' signing keys (see docs/development/federation.md).
        self.keys = KeyStore(database, hs)
        # Admin API queries (see docs/admin_api.md).
        self.admin = AdminStore(database, hs)
        self.persist_events = PersistEventsStore(
            database,
            hs,
            self.events,
            self.state,
            self.roommember,
            self.event_federation,
            self.stream,
        )
