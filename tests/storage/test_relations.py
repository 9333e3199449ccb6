"""The relations store: thread upkeep, the ``threads`` schema delta and relation reads."""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path
from typing import Any

from synapse.events import EventInternalMetadata, make_event_from_dict
from synapse.storage.databases.main.events import PersistEventsStore
from synapse.storage.databases.main.relations import RelationsStore
from synapse.types import RoomStreamToken
from tests.rest.client.history_test_base import HistoryTestCase

DELTA = Path(__file__).resolve().parents[2] / "synapse/storage/schema/main/delta/1/41_relations.sql"


def delta_statements() -> list[str]:
    """The statements of the delta, split as the schema runner splits them."""
    statements: list[str] = []
    current = ""
    for line in DELTA.read_text().splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


class RelationsStoreTestCase(HistoryTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.store: RelationsStore = self.stores.relations
        self.room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room, tok=self.other_tok)

    def send(self, body: str, tok: str | None = None) -> str:
        return self.helper.send(self.room, body, tok=tok or self.tok)["event_id"]

    def relate(self, parent: str, rel_type: str, tok: str | None = None, **extra: Any) -> str:
        return self.send_relation(self.room, parent, rel_type, tok or self.tok, **extra)["event_id"]

    def threads_rows(self) -> list[tuple[Any, ...]]:
        return sorted(
            self.get_success(
                self.stores.db_pool.execute(
                    "threads",
                    "SELECT room_id, thread_id, latest_event_id, topological_ordering,"
                    " stream_ordering FROM threads",
                )
            )
        )

    def test_threads_follow_the_latest_reply(self) -> None:
        root = self.send("root")
        self.relate(root, "m.thread")
        latest = self.relate(root, "m.thread", tok=self.other_tok)
        rows = self.threads_rows()
        self.assertEqual([(r[0], r[1], r[2]) for r in rows], [(self.room, root, latest)])
        page = self.get_success(self.store.get_threads(self.room))
        self.assertEqual(page.thread_ids, [root])
        self.assertIsNone(page.next_token)

    def test_older_replies_do_not_move_a_thread_back(self) -> None:
        root = self.send("root")
        latest = self.relate(root, "m.thread")
        (room_id, thread_id, _, topo, stream) = self.threads_rows()[0]
        older = self.get_success(self.stores.events.get_event(latest))
        assert older is not None

        # The same reply as if it had come in earlier (a copy: the cached one stays).
        clone = copy.copy(older)
        clone.internal_metadata = EventInternalMetadata(older.internal_metadata.get_dict())
        clone.internal_metadata.stream_ordering = stream - 1000

        def write(txn: Any) -> None:
            RelationsStore.update_threads_txn(txn, [clone])

        self.get_success(self.stores.db_pool.runInteraction("older_reply", write))
        self.assertEqual(self.threads_rows()[0][3:], (topo, stream))

    def test_delta_rebuilds_threads_from_relations(self) -> None:
        roots = [self.send(f"root {i}") for i in range(3)]
        for root in roots:
            self.relate(root, "m.thread")
        self.relate(roots[1], "m.thread", tok=self.other_tok)
        self.relate(roots[2], "m.reference")
        expected = self.threads_rows()
        self.assertEqual(len(expected), 3)

        (insert,) = [s for s in delta_statements() if s.startswith("INSERT INTO threads")]

        def rebuild(txn: Any) -> None:
            txn.execute("DELETE FROM threads")
            txn.execute(insert)

        self.get_success(self.stores.db_pool.runInteraction("rebuild_threads", rebuild))
        self.assertEqual(self.threads_rows(), expected)
        # Running it again changes nothing.
        self.get_success(
            self.stores.db_pool.runInteraction("again", lambda txn: txn.execute(insert))
        )
        self.assertEqual(self.threads_rows(), expected)

    def test_relations_pages_and_tokens(self) -> None:
        root = self.send("root")
        children = [self.relate(root, "m.reference") for _ in range(4)]
        page = self.get_success(self.store.get_relations_for_event(self.room, root, limit=3))
        self.assertEqual(page.event_ids, list(reversed(children))[:3])
        assert page.next_token is not None
        rest = self.get_success(
            self.store.get_relations_for_event(self.room, root, from_token=page.next_token)
        )
        self.assertEqual(rest.event_ids, [children[0]])
        self.assertIsNone(rest.next_token)
        # A relation looked up in the wrong room finds nothing.
        other = self.get_success(self.store.get_relations_for_event("!other:test", root))
        self.assertEqual(other.event_ids, [])
        forward = self.get_success(
            self.store.get_relations_for_event(
                self.room,
                root,
                direction="f",
                from_token=RoomStreamToken(stream=0, topological=0),
                limit=10,
            )
        )
        self.assertEqual(forward.event_ids, children)

    def test_checks(self) -> None:
        root = self.send("root")
        self.assertFalse(self.get_success(self.store.event_is_target_of_relation(root)))
        reaction = self.relate(root, "m.annotation", event_type="m.reaction", key="k")
        self.assertTrue(self.get_success(self.store.event_is_target_of_relation(root)))
        self.assertTrue(
            self.get_success(
                self.store.has_user_annotated_event(root, "m.reaction", "k", self.user)
            )
        )
        self.assertFalse(
            self.get_success(
                self.store.has_user_annotated_event(root, "m.reaction", "k", self.other)
            )
        )
        self.assertFalse(
            self.get_success(
                self.store.has_user_annotated_event(root, "m.reaction", "j", self.user)
            )
        )
        self.assertEqual(
            self.get_success(self.store.events_have_relations([root], None, None)), {root}
        )
        self.assertEqual(
            self.get_success(self.store.events_have_relations([root], [], None)), set()
        )
        self.assertEqual(
            self.get_success(self.store.events_have_relations([root], None, ["m.thread"])), set()
        )
        self.helper.redact(self.room, reaction, tok=self.tok)
        self.assertFalse(
            self.get_success(
                self.store.has_user_annotated_event(root, "m.reaction", "k", self.user)
            )
        )
        self.assertEqual(
            self.get_success(self.store.events_have_relations([root], None, None)), set()
        )

    def test_relations_naming_nul_are_not_stored(self) -> None:
        """Remote events may carry anything; such relations are skipped, not an error."""
        root = self.send("root")
        good = self.get_success(self.stores.events.get_event(self.relate(root, "m.thread")))
        assert good is not None
        d = good.get_dict()
        d["content"] = {"m.relates_to": {"rel_type": "m.thread", "event_id": "$x\x00"}}
        d["origin_server_ts"] += 1
        bad = make_event_from_dict(d, good.room_version, good.internal_metadata.get_dict())
        bad.internal_metadata.stream_ordering = 10**9

        def write(txn: Any) -> None:
            PersistEventsStore._store_relations_txn(txn, [bad])
            RelationsStore.update_threads_txn(txn, [bad])

        before = self.threads_rows()
        self.get_success(self.stores.db_pool.runInteraction("nul_relations", write))
        self.assertEqual(self.threads_rows(), before)
        rows = self.get_success(
            self.stores.db_pool.execute(
                "relations", "SELECT 1 FROM event_relations WHERE event_id = ?", bad.event_id
            )
        )
        self.assertEqual(rows, [])
