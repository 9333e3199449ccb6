"""Relations: edits, annotations, references, threads; ``/relations``, ``/threads`` and
the aggregations bundled with served events."""

from __future__ import annotations

from typing import Any

from synapse.api.errors import Codes
from synapse.types import JsonDict
from tests.matrix_spec import assert_response_matches_spec
from tests.rest.client.history_test_base import HistoryTestCase, q
from tests.server import FakeChannel

V1 = "/_matrix/client/v1"
RELATIONS_API = "client-server/relations.yaml"
THREADS_API = ("client-server/threads_list.yaml", "/rooms/{roomId}/threads", "get")
EVENT_API = ("client-server/rooms.yaml", "/rooms/{roomId}/event/{eventId}", "get")


def new_content(body: str) -> JsonDict:
    return {"m.new_content": {"msgtype": "m.text", "body": body}}


class RelationsTestCase(HistoryTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.room = self.helper.create_room_as(self.user, is_public=True, tok=self.tok)
        self.helper.join(self.room, tok=self.other_tok)
        self.parent = self.helper.send(self.room, "parent", tok=self.tok)["event_id"]

    # --- helpers ---------------------------------------------------------------------
    def relate(
        self, rel_type: str, tok: str | None = None, parent: str | None = None, **kwargs: Any
    ) -> str:
        self.reactor.advance(1)
        return self.send_relation(
            self.room, parent or self.parent, rel_type, tok or self.tok, **kwargs
        )["event_id"]

    def event(self, event_id: str, tok: str | None = None) -> JsonDict:
        body = self.ok(self.get(f"rooms/{q(self.room)}/event/{q(event_id)}", tok or self.tok))
        assert_response_matches_spec(body, *EVENT_API)
        return body

    def relations_of(
        self, event_id: str | None = None, path: str = "", tok: str | None = None, **params: Any
    ) -> FakeChannel:
        return self.get(
            f"{V1}/rooms/{q(self.room)}/relations/{q(event_id or self.parent)}{path}",
            tok or self.tok,
            **params,
        )

    def relations(
        self, event_id: str | None = None, path: str = "", tok: str | None = None, **params: Any
    ) -> JsonDict:
        body = self.ok(self.relations_of(event_id, path, tok, **params))
        spec_path = (
            "/rooms/{roomId}/relations/{eventId}"
            + {
                0: "",
                1: "/{relType}",
                2: "/{relType}/{eventType}",
            }[path.count("/")]
        )
        assert_response_matches_spec(body, RELATIONS_API, spec_path, "get")
        return body

    def threads(self, tok: str | None = None, **params: Any) -> JsonDict:
        body = self.ok(self.get(f"{V1}/rooms/{q(self.room)}/threads", tok or self.tok, **params))
        assert_response_matches_spec(body, *THREADS_API)
        return body

    def m_relations(self, event_id: str | None = None, tok: str | None = None) -> JsonDict:
        return self.event(event_id or self.parent, tok)["unsigned"].get("m.relations", {})


class EditsTestCase(RelationsTestCase):
    def test_latest_edit_is_bundled(self) -> None:
        self.relate("m.replace", content=new_content("first"))
        second = self.relate("m.replace", content=new_content("second"))
        replace = self.m_relations()["m.replace"]
        self.assertEqual(replace["event_id"], second)
        self.assertEqual(replace["content"]["m.new_content"]["body"], "second")
        self.assertEqual(replace["sender"], self.user)
        # The original's content is left alone.
        self.assertEqual(self.event(self.parent)["content"]["body"], "parent")

    def test_same_timestamp_largest_event_id_wins(self) -> None:
        a = self.send_relation(
            self.room, self.parent, "m.replace", self.tok, content=new_content("a")
        )
        b = self.send_relation(
            self.room, self.parent, "m.replace", self.tok, content=new_content("b")
        )
        expected = max(a["event_id"], b["event_id"])
        self.assertEqual(self.m_relations()["m.replace"]["event_id"], expected)

    def test_invalid_edits_are_ignored(self) -> None:
        good = self.relate("m.replace", content=new_content("good"))
        # By someone else.
        self.relate("m.replace", tok=self.other_tok, content=new_content("not yours"))
        # Of another type.
        self.relate(
            "m.replace", event_type="m.sticker", content={"body": "x", **new_content("sticker")}
        )
        # Without m.new_content.
        self.relate("m.replace", content={"body": "no new content"})
        self.assertEqual(self.m_relations()["m.replace"]["event_id"], good)

    def test_redacting_the_latest_edit_reverts_to_the_previous(self) -> None:
        first = self.relate("m.replace", content=new_content("first"))
        second = self.relate("m.replace", content=new_content("second"))
        self.helper.redact(self.room, second, tok=self.tok)
        self.assertEqual(self.m_relations()["m.replace"]["event_id"], first)
        self.helper.redact(self.room, first, tok=self.tok)
        self.assertNotIn("m.replace", self.m_relations())

    def test_redacted_original_has_no_edit(self) -> None:
        self.relate("m.replace", content=new_content("edited"))
        self.helper.redact(self.room, self.parent, tok=self.tok)
        event = self.event(self.parent)
        self.assertEqual(event["content"], {})
        self.assertNotIn("m.relations", event["unsigned"])

    def test_an_edit_is_not_edited(self) -> None:
        edit = self.relate("m.replace", content=new_content("edit"))
        self.relate("m.replace", parent=edit, content=new_content("edit of edit"))
        self.assertNotIn("m.replace", self.m_relations(edit))

    def test_state_events_get_no_bundle(self) -> None:
        topic = self.helper.send_state(self.room, "m.room.topic", {"topic": "t"}, tok=self.tok)
        self.relate("m.reference", parent=topic["event_id"])
        self.assertNotIn("m.relations", self.event(topic["event_id"])["unsigned"])
        self.assertEqual(len(self.relations(topic["event_id"])["chunk"]), 1)

    def test_bundled_in_messages_and_context(self) -> None:
        edit = self.relate("m.replace", content=new_content("edited"))
        body = self.ok(self.messages(self.room, self.tok, limit=10))
        parent = next(e for e in body["chunk"] if e["event_id"] == self.parent)
        self.assertEqual(parent["unsigned"]["m.relations"]["m.replace"]["event_id"], edit)
        body = self.ok(self.get(f"rooms/{q(self.room)}/context/{q(self.parent)}", self.tok))
        self.assertEqual(body["event"]["unsigned"]["m.relations"]["m.replace"]["event_id"], edit)


class AnnotationsTestCase(RelationsTestCase):
    def annotate(
        self, key: str, tok: str | None = None, expect_code: int = 200, **kwargs: Any
    ) -> JsonDict:
        self.reactor.advance(1)
        return self.send_relation(
            self.room,
            kwargs.pop("parent", self.parent),
            "m.annotation",
            tok or self.tok,
            event_type=kwargs.pop("event_type", "m.reaction"),
            key=key,
            expect_code=expect_code,
            **kwargs,
        )

    def test_duplicate_annotation(self) -> None:
        first = self.annotate("👍")["event_id"]
        body = self.annotate("👍", expect_code=400)
        self.assertEqual(body["errcode"], Codes.DUPLICATE_ANNOTATION)
        # Another key, another user or another event type are fine.
        self.annotate("👎")
        self.annotate("👍", tok=self.other_tok)
        self.annotate("👍", event_type="m.room.message", content={"body": "x"})
        # Once the first is redacted the user may react again.
        self.helper.redact(self.room, first, tok=self.tok)
        self.annotate("👍")

    def test_annotations_are_not_aggregated(self) -> None:
        self.annotate("👍")
        self.assertEqual(self.m_relations(), {})
        body = self.relations(path="/m.annotation")
        self.assertEqual(len(body["chunk"]), 1)

    def test_annotation_needs_a_key(self) -> None:
        body = self.send_relation(
            self.room,
            self.parent,
            "m.annotation",
            self.tok,
            event_type="m.reaction",
            expect_code=400,
        )
        self.assertEqual(body["errcode"], Codes.BAD_JSON)
        body = self.annotate("x" * 501, expect_code=400)
        self.assertEqual(body["errcode"], Codes.BAD_JSON)


class ReferencesTestCase(RelationsTestCase):
    def test_references_are_aggregated(self) -> None:
        one = self.relate("m.reference")
        two = self.relate("m.reference", tok=self.other_tok)
        chunk = self.m_relations()["m.reference"]["chunk"]
        self.assertEqual(chunk, [{"event_id": one}, {"event_id": two}])
        self.helper.redact(self.room, one, tok=self.tok)
        self.assertEqual(self.m_relations()["m.reference"]["chunk"], [{"event_id": two}])


class NewRelationChecksTestCase(RelationsTestCase):
    def test_parent_in_another_room(self) -> None:
        other_room = self.helper.create_room_as(self.user, tok=self.tok)
        body = self.send_relation(other_room, self.parent, "m.reference", self.tok, expect_code=400)
        self.assertEqual(body["errcode"], Codes.INVALID_PARAM)

    def test_unknown_parent(self) -> None:
        body = self.send_relation(self.room, "$unknown", "m.reference", self.tok, expect_code=400)
        self.assertEqual(body["errcode"], Codes.NOT_FOUND)

    def test_thread_off_a_relation(self) -> None:
        reply = self.relate("m.thread")
        body = self.send_relation(self.room, reply, "m.thread", self.tok, expect_code=400)
        self.assertEqual(body["errcode"], Codes.UNKNOWN)
        edit = self.relate("m.replace", content=new_content("x"))
        body = self.send_relation(self.room, edit, "m.thread", self.tok, expect_code=400)
        self.assertEqual(body["errcode"], Codes.UNKNOWN)

    def test_nul_characters(self) -> None:
        for relation in (
            {"rel_type": "m.annotation", "event_id": self.parent, "key": "a\x00"},
            {"rel_type": "m.x\x00", "event_id": self.parent},
            {"rel_type": "m.reference", "event_id": "$a\x00"},
        ):
            body = self.helper.send_event(
                self.room, "m.reaction", {"m.relates_to": relation}, tok=self.tok, expect_code=400
            )
            self.assertEqual(body["errcode"], Codes.BAD_JSON)

    def test_replies_are_not_relations(self) -> None:
        self.helper.send_event(
            self.room,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": "reply",
                "m.relates_to": {"m.in_reply_to": {"event_id": "$not-checked"}},
            },
            tok=self.tok,
        )
        self.assertEqual(self.relations()["chunk"], [])


class ThreadsTestCase(RelationsTestCase):
    def test_thread_summary(self) -> None:
        self.relate("m.thread", tok=self.other_tok)
        latest = self.relate("m.thread", tok=self.other_tok)
        thread = self.m_relations()["m.thread"]
        self.assertEqual(thread["count"], 2)
        self.assertEqual(thread["latest_event"]["event_id"], latest)
        # alice sent the root; bob replied.
        self.assertTrue(thread["current_user_participated"])
        self.assertTrue(
            self.m_relations(tok=self.other_tok)["m.thread"]["current_user_participated"]
        )

        carol = self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        self.helper.join(self.room, tok=carol_tok)
        self.assertFalse(self.m_relations(tok=carol_tok)["m.thread"]["current_user_participated"])
        self.assertTrue(carol)

    def test_redacted_thread_events_are_not_counted(self) -> None:
        first = self.relate("m.thread")
        second = self.relate("m.thread")
        self.helper.redact(self.room, second, tok=self.tok)
        thread = self.m_relations()["m.thread"]
        self.assertEqual(thread["count"], 1)
        self.assertEqual(thread["latest_event"]["event_id"], first)

    def test_latest_event_carries_its_edit(self) -> None:
        latest = self.relate("m.thread", tok=self.other_tok)
        edit = self.relate(
            "m.replace",
            tok=self.other_tok,
            parent=latest,
            content={
                **new_content("edited"),
                "m.relates_to": {"rel_type": "m.replace", "event_id": latest},
            },
        )
        thread = self.m_relations()["m.thread"]
        self.assertEqual(thread["latest_event"]["event_id"], latest)
        self.assertEqual(
            thread["latest_event"]["unsigned"]["m.relations"]["m.replace"]["event_id"], edit
        )

    def test_threads_list(self) -> None:
        roots = [self.parent] + [
            self.helper.send(self.room, f"root {i}", tok=self.tok)["event_id"] for i in range(3)
        ]
        # Activity order: root 1, then the parent, then root 2 (last); root 0 has no thread.
        self.relate("m.thread", parent=roots[2])
        self.relate("m.thread", parent=roots[0], tok=self.other_tok)
        self.relate("m.thread", parent=roots[3])
        body = self.threads()
        self.assertEqual([e["event_id"] for e in body["chunk"]], [roots[3], roots[0], roots[2]])
        self.assertNotIn("next_batch", body)
        for root in body["chunk"]:
            self.assertEqual(root["unsigned"]["m.relations"]["m.thread"]["count"], 1)

        # More activity moves a thread to the front.
        self.relate("m.thread", parent=roots[2])
        body = self.threads()
        self.assertEqual([e["event_id"] for e in body["chunk"]], [roots[2], roots[3], roots[0]])

        # Pages.
        page = self.threads(limit=2)
        self.assertEqual([e["event_id"] for e in page["chunk"]], [roots[2], roots[3]])
        rest = self.threads(limit=2, **{"from": page["next_batch"]})
        self.assertEqual([e["event_id"] for e in rest["chunk"]], [roots[0]])
        self.assertNotIn("next_batch", rest)

        # bob took part in the parent's thread only (alice sent every root).
        body = self.threads(tok=self.other_tok, include="participated")
        self.assertEqual([e["event_id"] for e in body["chunk"]], [roots[0]])
        body = self.threads(include="participated")
        self.assertEqual(len(body["chunk"]), 3)

    def test_threads_bad_requests(self) -> None:
        path = f"{V1}/rooms/{q(self.room)}/threads"
        for params, errcode in (
            ({"limit": "0"}, Codes.INVALID_PARAM),
            ({"limit": "x"}, Codes.INVALID_PARAM),
            ({"include": "some"}, Codes.INVALID_PARAM),
            ({"from": "nonsense"}, Codes.INVALID_PARAM),
            ({"from": "s12"}, Codes.INVALID_PARAM),
            ({"from": "t1-99999999999999999999"}, Codes.INVALID_PARAM),
        ):
            channel = self.get(path, self.tok, **params)
            self.assert_error(channel, 400, errcode, (*THREADS_API[:2], "get"))
        self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        self.assert_error(
            self.get(path, carol_tok), 403, Codes.FORBIDDEN, (*THREADS_API[:2], "get")
        )
        channel = self.get(f"{V1}/rooms/bad/threads", self.tok)
        self.assert_error(channel, 400, Codes.INVALID_PARAM)


class RelationsEndpointTestCase(RelationsTestCase):
    def test_all_relations_newest_first(self) -> None:
        thread = self.relate("m.thread")
        reference = self.relate("m.reference")
        reaction = self.send_relation(
            self.room, self.parent, "m.annotation", self.tok, event_type="m.reaction", key="x"
        )["event_id"]
        body = self.relations()
        self.assertEqual([e["event_id"] for e in body["chunk"]], [reaction, reference, thread])
        self.assertNotIn("next_batch", body)
        self.assertNotIn("prev_batch", body)
        self.assertNotIn("recursion_depth", body)

        body = self.relations(path="/m.thread")
        self.assertEqual([e["event_id"] for e in body["chunk"]], [thread])
        body = self.relations(path="/m.annotation/m.reaction")
        self.assertEqual([e["event_id"] for e in body["chunk"]], [reaction])
        body = self.relations(path="/m.annotation/m.room.message")
        self.assertEqual(body["chunk"], [])
        body = self.relations(dir="f")
        self.assertEqual([e["event_id"] for e in body["chunk"]], [thread, reference, reaction])

    def test_pagination(self) -> None:
        ids = [self.relate("m.thread") for _ in range(5)]
        seen: list[str] = []
        body = self.relations(limit=2)
        while True:
            seen.extend(e["event_id"] for e in body["chunk"])
            if "next_batch" not in body:
                break
            token = body["next_batch"]
            body = self.relations(limit=2, **{"from": token})
            self.assertEqual(body["prev_batch"], token)
        self.assertEqual(seen, list(reversed(ids)))

        forward: list[str] = []
        body = self.relations(limit=2, dir="f")
        while True:
            forward.extend(e["event_id"] for e in body["chunk"])
            if "next_batch" not in body:
                break
            body = self.relations(limit=2, dir="f", **{"from": body["next_batch"]})
        self.assertEqual(forward, ids)

        # from the first page's token to the second's: the second page only.
        first = self.relations(limit=2)
        second = self.relations(limit=2, **{"from": first["next_batch"]})
        body = self.relations(**{"from": first["next_batch"], "to": second["next_batch"]})
        self.assertEqual([e["event_id"] for e in body["chunk"]], [ids[2], ids[1]])
        # The other way round gives nothing.
        body = self.relations(**{"from": second["next_batch"], "to": first["next_batch"]})
        self.assertEqual(body["chunk"], [])

    def test_messages_tokens(self) -> None:
        first = self.relate("m.reference")
        # The start of a /messages page from the end of the room: just after ``first``.
        token = self.ok(self.messages(self.room, self.tok, limit=1))["start"]
        self.relate("m.reference")
        body = self.relations(**{"from": token})
        self.assertEqual([e["event_id"] for e in body["chunk"]], [first])

    def test_recurse(self) -> None:
        edit = self.relate("m.replace", content=new_content("e"))
        reaction_to_edit = self.send_relation(
            self.room, edit, "m.annotation", self.other_tok, event_type="m.reaction", key="!"
        )["event_id"]
        deeper = self.relate("m.reference", parent=reaction_to_edit)
        deepest = self.relate("m.reference", parent=deeper)
        body = self.relations()
        self.assertEqual([e["event_id"] for e in body["chunk"]], [edit])
        body = self.relations(recurse=True)
        self.assertEqual(body["recursion_depth"], 3)
        self.assertEqual([e["event_id"] for e in body["chunk"]], [deeper, reaction_to_edit, edit])
        self.assertNotIn(deepest, [e["event_id"] for e in body["chunk"]])
        body = self.relations(recurse=False)
        self.assertEqual(body["recursion_depth"], 1)
        # Filters apply at every level: the reaction is reached only through the edit.
        body = self.relations(path="/m.annotation", recurse=True)
        self.assertEqual(body["chunk"], [])

    def test_redacted_children_are_left_out(self) -> None:
        reference = self.relate("m.reference")
        self.helper.redact(self.room, reference, tok=self.tok)
        self.assertEqual(self.relations()["chunk"], [])

    def test_errors(self) -> None:
        self.assert_error(self.relations_of("$unknown"), 404, Codes.NOT_FOUND)
        other_room = self.helper.create_room_as(self.user, tok=self.tok)
        elsewhere = self.helper.send(other_room, "x", tok=self.tok)["event_id"]
        self.assert_error(self.relations_of(elsewhere), 404, Codes.NOT_FOUND)
        for params in (
            {"from": "garbage"},
            {"from": "t99999999999999999999-0"},
            {"to": "t1"},
            {"dir": "x"},
            {"limit": "0"},
            {"limit": "-3"},
            {"recurse": "maybe"},
        ):
            self.assert_error(self.relations_of(**params), 400, Codes.INVALID_PARAM)
        self.register_user("carol", "pass")
        carol_tok = self.login("carol", "pass")
        self.assert_error(self.relations_of(tok=carol_tok), 404, Codes.NOT_FOUND)

    def test_invisible_parent_and_children(self) -> None:
        self.helper.send_state(
            self.room, "m.room.history_visibility", {"history_visibility": "joined"}, tok=self.tok
        )
        self.helper.leave(self.room, tok=self.other_tok)
        hidden_root = self.helper.send(self.room, "hidden", tok=self.tok)["event_id"]
        self.relate("m.reference")
        self.helper.join(self.room, tok=self.other_tok)
        visible = self.relate("m.reference")
        self.assert_error(self.relations_of(hidden_root, tok=self.other_tok), 404, Codes.NOT_FOUND)
        body = self.relations(tok=self.other_tok)
        self.assertEqual([e["event_id"] for e in body["chunk"]], [visible])


class IgnoredUsersTestCase(RelationsTestCase):
    def ignore(self, user_id: str, ignored: list[str]) -> None:
        self.get_success(
            self.hs.get_account_data_handler().add_account_data_for_user(
                user_id, "m.ignored_user_list", {"ignored_users": {u: {} for u in ignored}}
            )
        )

    def test_aggregations_leave_out_ignored_users(self) -> None:
        mine = self.relate("m.thread")
        self.relate("m.thread", tok=self.other_tok)
        reference = self.relate("m.reference")
        self.relate("m.reference", tok=self.other_tok)
        self.ignore(self.user, [self.other])
        relations = self.m_relations()
        self.assertEqual(relations["m.thread"]["count"], 1)
        self.assertEqual(relations["m.thread"]["latest_event"]["event_id"], mine)
        self.assertEqual(relations["m.reference"]["chunk"], [{"event_id": reference}])
        # bob's view is unchanged.
        self.assertEqual(self.m_relations(tok=self.other_tok)["m.thread"]["count"], 2)

    def test_thread_roots_of_ignored_users_come_redacted(self) -> None:
        root = self.helper.send(self.room, "bob's root", tok=self.other_tok)["event_id"]
        self.relate("m.thread", parent=root)
        self.ignore(self.user, [self.other])
        chunk = self.threads()["chunk"]
        self.assertEqual([e["event_id"] for e in chunk], [root])
        self.assertEqual(chunk[0]["content"], {})
        self.assertEqual(chunk[0]["unsigned"]["m.relations"]["m.thread"]["count"], 1)


class RelationFiltersTestCase(RelationsTestCase):
    def test_related_by_filters(self) -> None:
        plain = self.helper.send(self.room, "plain", tok=self.tok)["event_id"]
        threaded = self.helper.send(self.room, "threaded", tok=self.tok)["event_id"]
        self.relate("m.thread", parent=threaded, tok=self.other_tok)
        self.relate("m.reference")

        def chunk_ids(filter_json: JsonDict) -> list[str]:
            body = self.ok(self.messages(self.room, self.tok, limit=50, filter=filter_json))
            return [e["event_id"] for e in body["chunk"]]

        self.assertEqual(chunk_ids({"related_by_rel_types": ["m.thread"]}), [threaded])
        self.assertEqual(chunk_ids({"related_by_rel_types": ["m.reference"]}), [self.parent])
        self.assertEqual(chunk_ids({"related_by_senders": [self.other]}), [threaded])
        self.assertEqual(
            chunk_ids({"related_by_senders": [self.user], "related_by_rel_types": ["m.thread"]}),
            [],
        )
        self.assertNotIn(plain, chunk_ids({"related_by_senders": [self.user, self.other]}))
        channel = self.messages(self.room, self.tok, filter={"related_by_senders": "x"})
        self.assert_error(channel, 400, Codes.BAD_JSON)


class BatchReadsTestCase(RelationsTestCase):
    """Bundled aggregations cost the same few transactions for one event or many."""

    def count_transactions(self, event_ids: list[str]) -> tuple[int, dict[str, Any]]:
        stores = self.hs.get_datastores().main
        events = self.get_success(stores.events.get_events_as_list(event_ids))
        pool = stores.db_pool
        seen: list[str] = []
        real = pool.runInteraction

        async def counting(desc: str, func: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(desc)
            return await real(desc, func, *args, **kwargs)

        pool.runInteraction = counting  # type: ignore[method-assign]
        try:
            stores.events.invalidate_events(
                [e for e in self.room_event_ids() if e not in event_ids]
            )
            bundles = self.get_success(
                self.hs.get_relations_handler().get_bundled_aggregations(events, self.user)
            )
        finally:
            pool.runInteraction = real  # type: ignore[method-assign]
        return len(seen), bundles

    def room_event_ids(self) -> list[str]:
        return [e.event_id for e in self.room_events(self.room)]

    def make_parents(self, n: int) -> list[str]:
        parents = []
        for i in range(n):
            parent = self.helper.send(self.room, f"p{i}", tok=self.tok)["event_id"]
            self.relate("m.replace", parent=parent, content=new_content(f"e{i}"))
            self.relate("m.thread", parent=parent, tok=self.other_tok)
            self.relate("m.reference", parent=parent)
            parents.append(parent)
        return parents

    def test_constant_number_of_transactions(self) -> None:
        parent_ids = self.make_parents(1)
        one, bundles = self.count_transactions(parent_ids)
        self.assertEqual(list(bundles), parent_ids)
        parents = self.make_parents(20)
        many, bundles = self.count_transactions(parents)
        self.assertEqual(one, many)
        self.assertLessEqual(many, 6)
        for parent in parents:
            self.assertIsNotNone(bundles[parent].replace)
            self.assertIsNotNone(bundles[parent].thread)
            self.assertEqual(len(bundles[parent].references or []), 1)
