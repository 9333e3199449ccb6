"""A chain cover index over the auth DAG, to answer auth chain queries without walking it.

Every indexed event gets a position ``(chain_id, sequence_number)``. A chain is a path in
the auth DAG: the event at sequence number ``n`` has every event of its chain with a
smaller sequence number in its auth chain. Events are appended to the chain of an auth
event with the same ``(type, state_key)`` when that auth event is the tip of its chain
(a run of power levels, or of one user's memberships); otherwise they start a chain.

Where an event cites an auth event in another chain, a *link*
``(origin_chain, origin_seq) -> (target_chain, target_seq)`` records that every event at
or after ``origin_seq`` in the origin chain reaches every event at or before
``target_seq`` in the target chain. A link to an auth event that the event's other auth
events (or its predecessor in the chain) already reach is implied, and not stored.

The auth chain of a set of events is then found by following links chain by chain, each
link at most once, to the highest sequence number reached in every chain: the work is
bounded by the number of chains and links reached, not by the number of events.

Storage can persist the index in three tables (only the integers are needed to answer a
query; the event IDs are only needed to turn the answer into events):

- ``event_auth_chains(event_id TEXT PRIMARY KEY, chain_id BIGINT, sequence_number BIGINT)``
  with a unique index on ``(chain_id, sequence_number)``;
- ``event_auth_chain_links(origin_chain_id BIGINT, origin_sequence_number BIGINT,
  target_chain_id BIGINT, target_sequence_number BIGINT)`` indexed on
  ``origin_chain_id``;
- ``event_auth_chain_tips(room_id, type, state_key, chain_id)``: the chain that an event
  of that key would extend (the tip is the chain's highest sequence number), plus a
  sequence for new chain ids.

Events must be added after their auth events (``add_events`` sorts a batch itself).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from synapse.events import EventBase

StateKeyTuple = tuple[str, str]

# How many links an insertion may follow to find which of its links are implied.
_PRUNING_BUDGET = 2000


class AuthChainIndex:
    """An in-memory chain cover index; see the module docstring."""

    def __init__(self) -> None:
        # event_id -> (chain_id, sequence_number); sequence numbers start at 1.
        self._position: dict[str, tuple[int, int]] = {}
        # chain_id -> event IDs, the one at sequence number n at index n - 1.
        self._chains: list[list[str]] = []
        # chain_id -> links [(origin_seq, target_chain, target_seq)], by origin_seq.
        self._links: list[list[tuple[int, int, int]]] = []
        # (room_id, type, state_key) -> the chain that the latest event of that key is in.
        self._chain_for_key: dict[tuple[str, str, str], int] = {}

    # --- building ----------------------------------------------------------------------
    def __contains__(self, event_id: object) -> bool:
        return event_id in self._position

    def __len__(self) -> int:
        return len(self._position)

    @property
    def chain_count(self) -> int:
        return len(self._chains)

    @property
    def link_count(self) -> int:
        return sum(len(links) for links in self._links)

    def add_events(self, events: Iterable[EventBase]) -> None:
        """Index a batch of events in any order; their auth events must be indexed or in it."""
        pending = {e.event_id: e for e in events if e.event_id not in self._position}
        waiting_on: dict[str, list[str]] = {}
        missing: dict[str, int] = {}
        ready: list[str] = []
        for event_id, event in pending.items():
            unmet = {a for a in event.auth_event_ids() if a not in self._position}
            for auth_id in unmet:
                if auth_id not in pending:
                    raise ValueError(f"{event_id} cites auth event {auth_id} that is not indexed")
                waiting_on.setdefault(auth_id, []).append(event_id)
            missing[event_id] = len(unmet)
            if not unmet:
                ready.append(event_id)
        # Sorted so that the chains an unordered batch produces do not depend on its order.
        ready.sort(reverse=True)
        added = 0
        while ready:
            event_id = ready.pop()
            self.add_event(pending[event_id])
            added += 1
            for child in waiting_on.get(event_id, ()):
                missing[child] -= 1
                if missing[child] == 0:
                    ready.append(child)
        if added != len(pending):
            raise ValueError("the auth events of the batch form a cycle")

    def add_event(self, event: EventBase) -> None:
        """Index one event whose auth events are all indexed already."""
        key = (event.type, event.state_key) if event.is_state() else None
        self.add(event.event_id, event.room_id, key, event.auth_event_ids())

    def add(
        self,
        event_id: str,
        room_id: str,
        key: StateKeyTuple | None,
        auth_event_ids: Sequence[str],
    ) -> None:
        """Index an event given its room, ``(type, state_key)`` (None if not state) and auth events."""
        if event_id in self._position:
            return
        auth_positions: list[tuple[int, int]] = []
        for auth_id in dict.fromkeys(auth_event_ids):
            pos = self._position.get(auth_id)
            if pos is None:
                raise ValueError(f"{event_id} cites auth event {auth_id} that is not indexed")
            auth_positions.append(pos)

        # What the auth events reach: a link to an auth event among it would be implied.
        # The walk is cut short in a large DAG; a link it then keeps is merely redundant.
        reached = self._bounds(auth_positions, budget=_PRUNING_BUDGET)

        chain_id = -1
        if key is not None:
            candidate = self._chain_for_key.get((room_id, key[0], key[1]))
            if candidate is not None:
                tip = (candidate, len(self._chains[candidate]))
                if tip in auth_positions:
                    chain_id = candidate
        if chain_id < 0:
            chain_id = len(self._chains)
            self._chains.append([])
            self._links.append([])
        chain = self._chains[chain_id]
        chain.append(event_id)
        seq = len(chain)
        self._position[event_id] = (chain_id, seq)
        if key is not None:
            self._chain_for_key[(room_id, key[0], key[1])] = chain_id

        # Link to the auth events in other chains, unless another auth event reaches them.
        targets: dict[int, int] = {}
        for tc, ts in auth_positions:
            if tc != chain_id and ts > targets.get(tc, 0):
                targets[tc] = ts
        links = self._links[chain_id]
        for tc, ts in targets.items():
            if reached.get(tc, 0) < ts:
                links.append((seq, tc, ts))

    # --- queries -----------------------------------------------------------------------
    def _chain_bounds(self, event_ids: Iterable[str]) -> dict[int, int]:
        """For each chain, the highest sequence number in the auth chain of ``event_ids``."""
        position = self._position
        return self._bounds(position[e] for e in event_ids)

    def _bounds(
        self, positions: Iterable[tuple[int, int]], budget: int | None = None
    ) -> dict[int, int]:
        """``_chain_bounds`` of the events at these positions; with a ``budget``, a lower
        bound found by following at most about that many links."""
        members: dict[int, int] = {}
        # The highest sequence number whose links apply: the events themselves count here.
        link_bound: dict[int, int] = {}
        for chain_id, seq in positions:
            if seq - 1 > members.get(chain_id, 0):
                members[chain_id] = seq - 1
            if seq > link_bound.get(chain_id, 0):
                link_bound[chain_id] = seq

        all_links = self._links
        members_get = members.get
        bound_get = link_bound.get
        done: dict[int, int] = {}
        todo = list(link_bound)
        while todo:
            chain_id = todo.pop()
            links = all_links[chain_id]
            i = done.get(chain_id, 0)
            n = len(links)
            if i == n:
                continue
            if budget is not None:
                budget -= n - i
                if budget < 0:
                    break
            bound = link_bound[chain_id]
            while i < n:
                origin, tc, ts = links[i]
                if origin > bound:
                    break
                if ts > members_get(tc, 0):
                    members[tc] = ts
                if ts > bound_get(tc, 0):
                    link_bound[tc] = ts
                    todo.append(tc)
                i += 1
            done[chain_id] = i
        return members

    def get_auth_chain(self, event_ids: Collection[str]) -> set[str]:
        """The union of the auth chains of ``event_ids`` (the events themselves only if reached)."""
        chains = self._chains
        result: set[str] = set()
        for chain_id, bound in self._chain_bounds(event_ids).items():
            result.update(chains[chain_id][:bound])
        return result

    def auth_chain_difference(self, state_sets: Sequence[Collection[str]]) -> set[str]:
        """The events in some but not all of the full auth chains of ``state_sets``.

        The full auth chain of a set is the union of its events' auth chains, as the state
        resolution v2 "auth difference" defines it. Every event must be indexed.
        """
        if not state_sets:
            return set()
        # Auth chains distribute over union, and so do the bounds (as a per-chain max):
        # the events common to every set are walked once, and only the rest per set.
        common = set(state_sets[0]).intersection(*state_sets[1:])
        shared = self._chain_bounds(common)
        own = [self._chain_bounds(set(s) - common) for s in state_sets]
        chains = self._chains
        result: set[str] = set()
        for chain_id in set().union(*own):
            base = shared.get(chain_id, 0)
            values = [max(base, b.get(chain_id, 0)) for b in own]
            lo, hi = min(values), max(values)
            if lo != hi:
                result.update(chains[chain_id][lo:hi])
        return result

    def position(self, event_id: str) -> tuple[int, int]:
        """The ``(chain_id, sequence_number)`` of an indexed event."""
        return self._position[event_id]
