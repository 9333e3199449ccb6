"""End to end: rooms, messages and /sync against the real daemon, driven by matrix-nio.

Two users on one homeserver go through what a chat client does: create a private room,
invite, join, talk, edit, react, redact, reply in a thread, type, send read receipts,
scroll back through the history and leave. Every step is checked in what the other
user's client receives, through nio's own parsing of the responses.

The daemon uses SQLite, or a fresh PostgreSQL database with ``SYNAPSE_POSTGRES=1``.
"""

from __future__ import annotations

import asyncio
import os
import time
import unittest
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tests.app.daemon import RunningDaemon, start_daemon
from tests.utils import USE_POSTGRES

try:
    import nio
    from nio.api import RelationshipType
except ImportError:  # pragma: no cover - the test extra installs it
    nio = None

T = TypeVar("T")

#: Each request (long-polls included) must be answered within this many seconds.
STEP_TIMEOUT = 15.0
#: The whole conversation, once the daemon is up.
FLOW_TIMEOUT = 60.0
#: The server's own timeout for the long-polling /sync requests, in milliseconds.
LONG_POLL_MS = 5000

SERVER_NAME = "localhost"
ALICE = f"@alice:{SERVER_NAME}"
BOB = f"@bob:{SERVER_NAME}"


@dataclass
class Seen:
    """What one /sync response brought a client for one room."""

    timeline: list[dict[str, Any]] = field(default_factory=list)
    state: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: list[Any] = field(default_factory=list)
    account_data: list[Any] = field(default_factory=list)
    invite_state: list[Any] = field(default_factory=list)
    section: str | None = None
    prev_batch: str | None = None

    def event_ids(self) -> list[str]:
        return [e["event_id"] for e in self.timeline]

    def by_id(self, event_id: str) -> dict[str, Any]:
        for event in self.timeline:
            if event["event_id"] == event_id:
                return event
        raise AssertionError(f"{event_id} not in the timeline: {self.event_ids()}")

    def typing_users(self) -> list[list[str]]:
        assert nio is not None
        return [e.users for e in self.ephemeral if isinstance(e, nio.TypingNoticeEvent)]

    def receipts(self) -> list[Any]:
        assert nio is not None
        return [r for e in self.ephemeral if isinstance(e, nio.ReceiptEvent) for r in e.receipts]


def _message(body: str) -> dict[str, Any]:
    return {"msgtype": "m.text", "body": body}


def _relations(event: dict[str, Any]) -> dict[str, Any]:
    return dict(event.get("unsigned", {}).get("m.relations", {}))


@unittest.skipIf(nio is None, "matrix-nio is not installed")
class NioRoomsEndToEndTestCase(unittest.TestCase):
    """The "Rooms, messages and /sync" capability through a real client library."""

    daemon: RunningDaemon

    def setUp(self) -> None:
        self.daemon = start_daemon(
            self,
            server_name=SERVER_NAME,
            postgres=USE_POSTGRES,
            # The conversation sends more messages than the default burst allows.
            overrides={"rc_message": {"per_second": 1000, "burst_count": 1000}},
        )

    def test_conversation(self) -> None:
        started = time.monotonic()
        asyncio.run(self._with_clients())
        self.assertLess(time.monotonic() - started, FLOW_TIMEOUT)
        # The database asked for is the one used.
        self.assertEqual(os.path.exists(self.daemon.sqlite_path), not USE_POSTGRES)

    # Helpers

    async def step(self, awaitable: Awaitable[T], timeout: float = STEP_TIMEOUT) -> T:
        """Await one request, failing the test (with the daemon's log) if it hangs."""
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except asyncio.TimeoutError:
            self.fail(f"no answer within {timeout}s; daemon log:\n{self.daemon.output()}")

    async def ok(self, awaitable: Awaitable[Any], expected: type) -> Any:
        """Await a nio call that must succeed with a response of type ``expected``."""
        response = await self.step(awaitable)
        self.assertIsInstance(response, expected, f"{response!r}\n{self.daemon.output()}")
        return response

    def new_client(self, user: str) -> Any:
        assert nio is not None
        # No silent retries: a 429 or a timeout is a failure here.
        config = nio.AsyncClientConfig(
            max_limit_exceeded=0, max_timeouts=0, request_timeout=STEP_TIMEOUT
        )
        return nio.AsyncClient(self.daemon.url, user, config=config)

    async def sync_sees(
        self,
        client: Any,
        since: str,
        room_id: str,
        done: Callable[[Seen], bool],
        what: str,
    ) -> tuple[Seen, str]:
        """One incremental /sync from ``since``: what it brings for ``room_id`` must
        satisfy ``done`` (everything done before the request is in its answer). Returns
        what it brought and its ``next_batch``."""
        assert nio is not None
        response = await self.ok(client.sync(timeout=LONG_POLL_MS, since=since), nio.SyncResponse)
        self.assertTrue(response.next_batch)
        self.assertNotEqual(response.next_batch, since)
        seen = Seen()
        self._collect(seen, response, room_id)
        self.assertTrue(done(seen), f"{client.user_id} did not see {what}: {seen}")
        return seen, response.next_batch

    @staticmethod
    def _collect(seen: Seen, response: Any, room_id: str) -> None:
        rooms = response.rooms
        if room_id in rooms.invite:
            seen.section = "invite"
            seen.invite_state += rooms.invite[room_id].invite_state
        for section, infos in (("join", rooms.join), ("leave", rooms.leave)):
            info = infos.get(room_id)
            if info is None:
                continue
            seen.section = section
            seen.timeline += [e.source for e in info.timeline.events]
            seen.state += [e.source for e in info.state]
            seen.ephemeral += info.ephemeral
            seen.account_data += info.account_data
            seen.prev_batch = info.timeline.prev_batch

    async def send(
        self,
        client: Any,
        room_id: str,
        content: dict[str, Any],
        type: str = "m.room.message",
        txn_id: str | None = None,
    ) -> str:
        assert nio is not None
        response = await self.ok(
            client.room_send(room_id, type, content, tx_id=txn_id), nio.RoomSendResponse
        )
        self.assertTrue(response.event_id.startswith("$"), response.event_id)
        return str(response.event_id)

    async def raw_get(self, client: Any, path: str) -> dict[str, Any]:
        """GET through nio's transport, without its parsing: the JSON as the server sent it."""
        headers = {"Authorization": f"Bearer {client.access_token}"}
        response = await self.step(client.send("GET", path, headers=headers))
        self.assertEqual(response.status, 200, await response.text())
        return dict(await self.step(response.json()))

    async def get_event(self, client: Any, room_id: str, event_id: str) -> dict[str, Any]:
        assert nio is not None
        response = await self.ok(client.room_get_event(room_id, event_id), nio.RoomGetEventResponse)
        event = response.event.source
        self.assertEqual(event["event_id"], event_id)
        return dict(event)

    async def relations(
        self, client: Any, room_id: str, event_id: str, rel_type: Any
    ) -> list[dict[str, Any]]:
        async def collect() -> list[dict[str, Any]]:
            return [
                e.source async for e in client.room_get_event_relations(room_id, event_id, rel_type)
            ]

        return await self.step(collect())

    # The conversation

    async def _with_clients(self) -> None:
        alice = self.new_client("alice")
        bob = self.new_client("bob")
        try:
            await self.step(self._conversation(alice, bob), FLOW_TIMEOUT)
        finally:
            await alice.close()
            await bob.close()

    async def _conversation(self, alice: Any, bob: Any) -> None:
        assert nio is not None
        for client, user_id, password in ((alice, ALICE, "alice pw"), (bob, BOB, "bob pw")):
            registered = await self.ok(
                client.register(user_id.split(":")[0][1:], password), nio.RegisterResponse
            )
            self.assertEqual(registered.user_id, user_id)

        first = await self.ok(alice.sync(timeout=0), nio.SyncResponse)
        self.assertEqual(first.rooms.join, {})
        alice_token = first.next_batch
        first = await self.ok(bob.sync(timeout=0), nio.SyncResponse)
        self.assertEqual((first.rooms.join, first.rooms.invite), ({}, {}))
        bob_token = first.next_batch

        # Alice creates a private room with a name and a topic.
        created = await self.ok(
            alice.room_create(
                name="Tea party",
                topic="Cakes and scones",
                preset=nio.RoomPreset.private_chat,
            ),
            nio.RoomCreateResponse,
        )
        room_id = created.room_id
        self.assertRegex(room_id, rf"^!.+:{SERVER_NAME}$")
        seen, alice_token = await self.sync_sees(
            alice, alice_token, room_id, lambda s: s.section == "join", "the new room"
        )
        state = {(e["type"], e.get("state_key")): e for e in seen.state + seen.timeline}
        self.assertEqual(state[("m.room.create", "")]["sender"], ALICE)
        self.assertEqual(state[("m.room.member", ALICE)]["content"]["membership"], "join")
        self.assertEqual(state[("m.room.name", "")]["content"], {"name": "Tea party"})
        self.assertEqual(state[("m.room.topic", "")]["content"]["topic"], "Cakes and scones")
        self.assertEqual(state[("m.room.join_rules", "")]["content"], {"join_rule": "invite"})
        self.assertEqual(
            state[("m.room.history_visibility", "")]["content"], {"history_visibility": "shared"}
        )
        self.assertEqual(alice.rooms[room_id].name, "Tea party")
        self.assertEqual(alice.rooms[room_id].topic, "Cakes and scones")

        # Bob cannot join before he is invited.
        refused = await self.step(bob.join(room_id))
        self.assertIsInstance(refused, nio.JoinError)
        self.assertEqual(refused.status_code, "M_FORBIDDEN")

        # The invite reaches Bob's /sync with the room's stripped state.
        await self.ok(alice.room_invite(room_id, BOB), nio.RoomInviteResponse)
        before_invite = bob_token
        seen, bob_token = await self.sync_sees(
            bob, bob_token, room_id, lambda s: s.section == "invite", "the invite"
        )
        # (nio keeps the stripped member, name and alias events, as its own classes.)
        names = [e.name for e in seen.invite_state if isinstance(e, nio.InviteNameEvent)]
        self.assertEqual(names, ["Tea party"])
        invites = [
            (e.sender, e.membership)
            for e in seen.invite_state
            if isinstance(e, nio.InviteMemberEvent) and e.state_key == BOB
        ]
        self.assertEqual(invites, [(ALICE, "invite")])
        self.assertIn(room_id, bob.invited_rooms)
        # The same sync, read raw: the stripped state as the spec shapes it.
        raw = await self.raw_get(bob, f"/_matrix/client/v3/sync?since={before_invite}")
        stripped = raw["rooms"]["invite"][room_id]["invite_state"]["events"]
        self.assertEqual(
            {e["type"] for e in stripped},
            {"m.room.create", "m.room.join_rules", "m.room.name", "m.room.topic", "m.room.member"},
        )
        for stripped_event in stripped:
            self.assertEqual(
                set(stripped_event) - {"event_id", "origin_server_ts", "unsigned"},
                {"type", "state_key", "sender", "content"},
            )

        # Bob joins; both see the join, and Bob gets the room's state.
        joined = await self.ok(bob.join(room_id), nio.JoinResponse)
        self.assertEqual(joined.room_id, room_id)
        seen, alice_token = await self.sync_sees(
            alice,
            alice_token,
            room_id,
            lambda s: any(
                e.get("state_key") == BOB and e["content"].get("membership") == "join"
                for e in s.timeline
            ),
            "Bob's join",
        )
        joined_event = [e["event_id"] for e in seen.timeline if e.get("state_key") == BOB][-1]
        seen, bob_token = await self.sync_sees(
            bob, bob_token, room_id, lambda s: s.section == "join", "the room after joining"
        )
        state = {(e["type"], e.get("state_key")): e for e in seen.state + seen.timeline}
        self.assertEqual(state[("m.room.topic", "")]["content"]["topic"], "Cakes and scones")
        self.assertEqual(state[("m.room.member", BOB)]["content"]["membership"], "join")
        self.assertEqual(state[("m.room.member", ALICE)]["content"]["membership"], "join")
        self.assertEqual(bob.rooms[room_id].name, "Tea party")

        # They talk. Bob is already long-polling when Alice speaks.
        bob_poll = asyncio.ensure_future(bob.sync(timeout=10_000, since=bob_token))
        await asyncio.sleep(0.3)
        polled_at = time.monotonic()
        hello = await self.send(alice, room_id, _message("Hello Bob"), txn_id="hello-1")
        response = await self.ok(bob_poll, nio.SyncResponse)
        self.assertLess(time.monotonic() - polled_at, 5, "the long-poll was not woken up")
        timeline = [e.source for e in response.rooms.join[room_id].timeline.events]
        self.assertEqual(
            [(e["event_id"], e["sender"], e["content"]) for e in timeline],
            [(hello, ALICE, _message("Hello Bob"))],
        )
        # The transaction ID is only for the device that sent the event.
        self.assertNotIn("transaction_id", timeline[0].get("unsigned", {}))
        bob_token = response.next_batch
        # A retry of the same transaction is the same event, not a second message.
        again = await self.send(alice, room_id, _message("Hello Bob"), txn_id="hello-1")
        self.assertEqual(again, hello)

        hi = await self.send(bob, room_id, _message("Hi Alice"))
        seen, alice_token = await self.sync_sees(
            alice, alice_token, room_id, lambda s: hi in s.event_ids(), "Bob's message"
        )
        self.assertEqual(seen.by_id(hi)["content"], _message("Hi Alice"))
        self.assertEqual(seen.by_id(hi)["sender"], BOB)
        self.assertEqual(seen.by_id(hello)["sender"], ALICE)
        self.assertEqual(seen.by_id(hello)["unsigned"]["transaction_id"], "hello-1")
        self.assertEqual(seen.event_ids(), [hello, hi])
        # The timeline's prev_batch continues into /messages: just before it, Bob's join.
        before = await self.ok(
            alice.room_messages(room_id, start=seen.prev_batch, limit=1), nio.RoomMessagesResponse
        )
        self.assertEqual([e.source["event_id"] for e in before.chunk], [joined_event])
        # The limit counts the events on both sides; those before come newest first.
        context = await self.ok(bob.room_context(room_id, hi, limit=4), nio.RoomContextResponse)
        self.assertEqual(context.event.source["event_id"], hi)
        self.assertEqual(
            [e.source["event_id"] for e in context.events_before][:2], [hello, joined_event]
        )
        self.assertEqual(context.events_after, [])

        # Alice edits her message: Bob sees the edit, and the original with the edit bundled.
        edit = await self.send(
            alice,
            room_id,
            {
                "msgtype": "m.text",
                "body": "* Hello Bob!",
                "m.new_content": _message("Hello Bob!"),
                "m.relates_to": {"rel_type": "m.replace", "event_id": hello},
            },
        )
        seen, bob_token = await self.sync_sees(
            bob, bob_token, room_id, lambda s: edit in s.event_ids(), "the edit"
        )
        self.assertEqual(seen.by_id(edit)["content"]["m.new_content"], _message("Hello Bob!"))
        self.assertEqual(
            seen.by_id(edit)["content"]["m.relates_to"],
            {"rel_type": "m.replace", "event_id": hello},
        )
        original = await self.get_event(bob, room_id, hello)
        # The content stays as it was sent; the latest edit comes bundled.
        self.assertEqual(original["content"], _message("Hello Bob"))
        bundled_edit = _relations(original)["m.replace"]
        self.assertEqual(bundled_edit["event_id"], edit)
        self.assertEqual(bundled_edit["sender"], ALICE)
        messages = await self.ok(bob.room_messages(room_id, limit=10), nio.RoomMessagesResponse)
        in_history = {e.source["event_id"]: e.source for e in messages.chunk}
        self.assertEqual(_relations(in_history[hello])["m.replace"]["event_id"], edit)
        replacements = await self.relations(bob, room_id, hello, RelationshipType.replacement)
        self.assertEqual([e["event_id"] for e in replacements], [edit])

        # Bob cannot edit Alice's message: refused, or at least never applied.
        forged = await self.step(
            bob.room_send(
                room_id,
                "m.room.message",
                {
                    "msgtype": "m.text",
                    "body": "* Bob was here",
                    "m.new_content": _message("Bob was here"),
                    "m.relates_to": {"rel_type": "m.replace", "event_id": hello},
                },
            )
        )
        forged_id = getattr(forged, "event_id", None)
        self.assertEqual(
            _relations(await self.get_event(alice, room_id, hello))["m.replace"]["event_id"], edit
        )

        # Bob reacts to Alice's message.
        reaction = await self.send(
            bob,
            room_id,
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": hello, "key": "👍"}},
            type="m.reaction",
        )
        seen, alice_token = await self.sync_sees(
            alice, alice_token, room_id, lambda s: reaction in s.event_ids(), "the reaction"
        )
        self.assertEqual(seen.by_id(reaction)["type"], "m.reaction")
        self.assertEqual(seen.by_id(reaction)["sender"], BOB)
        self.assertEqual(seen.by_id(reaction)["content"]["m.relates_to"]["key"], "👍")
        annotations = await self.relations(alice, room_id, hello, RelationshipType.annotation)
        self.assertEqual([(e["event_id"], e["sender"]) for e in annotations], [(reaction, BOB)])

        # Alice edits a message twice: the latest edit is bundled; once it is redacted,
        # the one before.
        oops = await self.send(alice, room_id, _message("Wrong room, sorry"))
        oops_edits = []
        for body in ("Wrong room!", "Wrong room!!"):
            oops_edits.append(
                await self.send(
                    alice,
                    room_id,
                    {
                        "msgtype": "m.text",
                        "body": f"* {body}",
                        "m.new_content": _message(body),
                        "m.relates_to": {"rel_type": "m.replace", "event_id": oops},
                    },
                )
            )
        bundled_edit = _relations(await self.get_event(bob, room_id, oops))["m.replace"]
        self.assertEqual(bundled_edit["event_id"], oops_edits[1])
        self.assertEqual(bundled_edit["content"]["m.new_content"], _message("Wrong room!!"))
        unedit = await self.ok(alice.room_redact(room_id, oops_edits[1]), nio.RoomRedactResponse)
        bundled_edit = _relations(await self.get_event(bob, room_id, oops))["m.replace"]
        self.assertEqual(bundled_edit["event_id"], oops_edits[0])

        # Then she redacts the message itself: it comes back empty, without any edit.
        redacted = await self.ok(
            alice.room_redact(room_id, oops, reason="mistake"), nio.RoomRedactResponse
        )
        redaction = redacted.event_id
        seen, bob_token = await self.sync_sees(
            bob, bob_token, room_id, lambda s: redaction in s.event_ids(), "the redaction"
        )
        # Served after the redaction, the redacted events of the same batch are empty.
        self.assertEqual(seen.by_id(oops)["content"], {})
        self.assertEqual(seen.by_id(oops_edits[1])["content"], {})
        self.assertEqual(seen.by_id(oops_edits[0])["content"]["body"], "* Wrong room!")
        redaction_event = seen.by_id(redaction)
        self.assertEqual(redaction_event["type"], "m.room.redaction")
        self.assertEqual(redaction_event["sender"], ALICE)
        self.assertEqual(redaction_event["content"].get("reason"), "mistake")
        self.assertEqual(
            redaction_event.get("redacts", redaction_event["content"].get("redacts")), oops
        )
        gone = await self.get_event(bob, room_id, oops)
        self.assertEqual(gone["content"], {})
        self.assertEqual(gone["sender"], ALICE)
        self.assertEqual(gone["unsigned"]["redacted_because"]["event_id"], redaction)
        self.assertNotIn("m.replace", _relations(gone))

        # Bob replies in a thread on a new message of Alice's.
        root = await self.send(alice, room_id, _message("Who brings the scones?"))
        reply = await self.send(
            bob,
            room_id,
            {
                "msgtype": "m.text",
                "body": "I will",
                "m.relates_to": {"rel_type": "m.thread", "event_id": root},
            },
        )
        in_thread = await self.relations(alice, room_id, root, RelationshipType.thread)
        self.assertEqual(
            [(e["event_id"], e["content"]["body"]) for e in in_thread], [(reply, "I will")]
        )

        async def threads() -> list[dict[str, Any]]:
            return [e.source async for e in alice.room_get_threads(room_id)]

        roots = await self.step(threads())
        self.assertEqual([e["event_id"] for e in roots], [root])
        summary = _relations(roots[0])["m.thread"]
        self.assertEqual(summary["count"], 1)
        self.assertEqual(summary["latest_event"]["event_id"], reply)
        # Alice sent the root: she took part too.
        self.assertTrue(summary["current_user_participated"])
        summary = _relations(await self.get_event(bob, room_id, root))["m.thread"]
        self.assertEqual((summary["count"], summary["latest_event"]["event_id"]), (1, reply))
        self.assertTrue(summary["current_user_participated"])
        seen, alice_token = await self.sync_sees(
            alice, alice_token, room_id, lambda s: reply in s.event_ids(), "the thread reply"
        )
        self.assertEqual(seen.by_id(reply)["content"]["m.relates_to"]["event_id"], root)

        # Alice types; Bob sees it in the room's ephemeral events, then sees her stop.
        await self.ok(alice.room_typing(room_id, True, timeout=30_000), nio.RoomTypingResponse)
        seen, bob_token = await self.sync_sees(
            bob, bob_token, room_id, lambda s: bool(s.typing_users()), "Alice typing"
        )
        self.assertEqual(seen.typing_users()[-1], [ALICE])
        await self.ok(alice.room_typing(room_id, False), nio.RoomTypingResponse)
        seen, bob_token = await self.sync_sees(
            bob, bob_token, room_id, lambda s: bool(s.typing_users()), "Alice stop typing"
        )
        self.assertEqual(seen.typing_users()[-1], [])
        # Typing for two seconds: Bob's long-poll wakes up when that times out, before
        # its own timeout.
        await self.ok(alice.room_typing(room_id, True, timeout=2000), nio.RoomTypingResponse)
        seen, bob_token = await self.sync_sees(
            bob, bob_token, room_id, lambda s: s.typing_users() == [[ALICE]], "Alice typing again"
        )
        typing_since = time.monotonic()
        seen, bob_token = await self.sync_sees(
            bob, bob_token, room_id, lambda s: s.typing_users() == [[]], "Alice's typing time out"
        )
        self.assertLess(time.monotonic() - typing_since, LONG_POLL_MS / 1000 - 0.5)

        # Bob reads up to the thread root (and marks it fully read); Alice sees his receipt.
        await self.ok(
            bob.room_read_markers(room_id, fully_read_event=root, read_event=root),
            nio.RoomReadMarkersResponse,
        )
        seen, alice_token = await self.sync_sees(
            alice, alice_token, room_id, lambda s: bool(s.receipts()), "Bob's receipt"
        )
        self.assertEqual(
            [(r.event_id, r.receipt_type, r.user_id) for r in seen.receipts()],
            [(root, "m.read", BOB)],
        )
        seen, bob_token = await self.sync_sees(
            bob,
            bob_token,
            room_id,
            lambda s: any(isinstance(e, nio.FullyReadEvent) for e in s.account_data),
            "his fully read marker",
        )
        fully_read = [e for e in seen.account_data if isinstance(e, nio.FullyReadEvent)]
        self.assertEqual(fully_read[-1].event_id, root)
        # A receipt in the thread, sent the way nio sends one by default for the main timeline.
        await self.ok(
            bob.update_receipt_marker(room_id, reply, thread_id=root),
            nio.UpdateReceiptMarkerResponse,
        )
        seen, alice_token = await self.sync_sees(
            alice, alice_token, room_id, lambda s: bool(s.receipts()), "Bob's threaded receipt"
        )
        self.assertEqual(
            [(r.event_id, r.receipt_type, r.user_id, r.thread_id) for r in seen.receipts()],
            [(reply, "m.read", BOB, root)],
        )

        # The history, scrolled back page by page, holds everything once and in order.
        last = await self.send(alice, room_id, _message("That was the last message"))
        sent_in_order = [hello, hi, edit, forged_id, reaction, oops, *oops_edits, unedit.event_id]
        sent_in_order = [e for e in sent_in_order if e is not None] + [redaction, root, reply, last]
        await self._scroll_back(room_id, sent_in_order, [oops, oops_edits[1]])

        # Bob leaves: Alice sees his leave, Bob gets the room under "leave".
        await self.ok(bob.room_leave(room_id), nio.RoomLeaveResponse)
        seen, alice_token = await self.sync_sees(
            alice,
            alice_token,
            room_id,
            lambda s: any(e.get("state_key") == BOB for e in s.timeline),
            "Bob's leave",
        )
        leave = [e for e in seen.timeline if e.get("state_key") == BOB]
        self.assertEqual(len(leave), 1, leave)
        self.assertEqual((leave[0]["type"], leave[0]["sender"]), ("m.room.member", BOB))
        self.assertEqual(leave[0]["content"]["membership"], "leave")
        self.assertEqual(leave[0]["unsigned"]["prev_content"]["membership"], "join")
        self.assertNotIn(BOB, alice.rooms[room_id].users)
        seen, bob_token = await self.sync_sees(
            bob, bob_token, room_id, lambda s: s.section == "leave", "his leave"
        )
        self.assertEqual(seen.timeline[-1]["event_id"], leave[0]["event_id"])

        # After leaving, Bob cannot send any more, nor read what is said after he left.
        refused = await self.step(bob.room_send(room_id, "m.room.message", _message("Still here?")))
        self.assertIsInstance(refused, nio.RoomSendError)
        self.assertEqual(refused.status_code, "M_FORBIDDEN")
        after = await self.send(alice, room_id, _message("Bob has gone"))
        hidden = await self.step(bob.room_get_event(room_id, after))
        self.assertIsInstance(hidden, nio.RoomGetEventError)
        self.assertEqual(hidden.status_code, "M_NOT_FOUND")
        history = await self.ok(bob.room_messages(room_id, limit=3), nio.RoomMessagesResponse)
        self.assertEqual(
            [e.source["event_id"] for e in history.chunk],
            [leave[0]["event_id"], sent_in_order[-1], sent_in_order[-2]],
        )
        quiet = await self.ok(bob.sync(timeout=0, since=bob_token), nio.SyncResponse)
        self.assertNotIn(room_id, quiet.rooms.join)
        self.assertNotIn(room_id, quiet.rooms.leave)

    async def _scroll_back(
        self, room_id: str, sent_in_order: list[str], redacted: list[str]
    ) -> None:
        """On a new device of Alice's, page back from an initial sync's ``prev_batch`` to
        the start of the room."""
        assert nio is not None
        client = self.new_client(ALICE)
        try:
            await self.ok(client.login("alice pw", device_name="second"), nio.LoginResponse)
            sync_filter = {"room": {"timeline": {"limit": 3}}}
            initial = await self.ok(
                client.sync(timeout=0, sync_filter=sync_filter), nio.SyncResponse
            )
            timeline = initial.rooms.join[room_id].timeline
            newest = [e.source for e in timeline.events]
            self.assertEqual([e["event_id"] for e in newest], sent_in_order[-3:])
            self.assertTrue(timeline.limited)
            # The thread root comes with its thread summary.
            thread = _relations(newest[0])["m.thread"]
            self.assertEqual(
                (thread["count"], thread["latest_event"]["event_id"]), (1, newest[1]["event_id"])
            )

            pages: list[list[dict[str, Any]]] = []
            token = timeline.prev_batch
            for _ in range(20):
                page = await self.ok(
                    client.room_messages(
                        room_id, start=token, direction=nio.MessageDirection.back, limit=4
                    ),
                    nio.RoomMessagesResponse,
                )
                self.assertEqual(page.start, token)
                chunk = [e.source for e in page.chunk]
                self.assertLessEqual(len(chunk), 4)
                if chunk:
                    pages.append(chunk)
                if page.end is None:
                    break
                self.assertTrue(chunk, "an empty page must not carry an end token")
                token = page.end
            else:
                self.fail(f"history never ended: {pages}")
            forwards = await self._page_forwards(client, room_id)
        finally:
            await client.close()

        # Pages come newest first, and so does each page.
        history = [e for page in pages for e in page][::-1] + newest
        ids = [e["event_id"] for e in history]
        self.assertEqual(len(ids), len(set(ids)), f"events repeated: {ids}")
        self.assertEqual([i for i in ids if i in sent_in_order], sent_in_order)
        self.assertGreater(len(pages), 2)
        bodies = [
            e["content"].get("body")
            for e in history
            if e["type"] == "m.room.message"
            and "m.relates_to" not in e["content"]
            and e["event_id"] not in redacted
        ]
        self.assertEqual(
            bodies,
            ["Hello Bob", "Hi Alice", "Who brings the scones?", "That was the last message"],
        )
        for event_id in redacted:
            self.assertEqual(history[ids.index(event_id)]["content"], {})
        # Read from the start of the room forwards, the history is the same.
        self.assertEqual([e["event_id"] for e in forwards], ids)
        # Before the first message: the room's creation, Bob's invite and his join.
        before = history[: ids.index(sent_in_order[0])]
        self.assertEqual(before[0]["type"], "m.room.create")
        self.assertTrue(all("state_key" in e for e in before), before)
        self.assertEqual(
            [
                (e["type"], e["state_key"], e["sender"], e["content"]["membership"])
                for e in before[-2:]
            ],
            [("m.room.member", BOB, ALICE, "invite"), ("m.room.member", BOB, BOB, "join")],
        )

    async def _page_forwards(self, client: Any, room_id: str) -> list[dict[str, Any]]:
        """Every event of the room, paging forwards from its start (no ``from``)."""
        assert nio is not None
        events: list[dict[str, Any]] = []
        token = None
        for _ in range(20):
            page = await self.ok(
                client.room_messages(
                    room_id, start=token, direction=nio.MessageDirection.front, limit=7
                ),
                nio.RoomMessagesResponse,
            )
            events += [e.source for e in page.chunk]
            if page.end is None:
                return events
            self.assertTrue(page.chunk, "an empty page must not carry an end token")
            token = page.end
        self.fail(f"history never ended: {events}")
