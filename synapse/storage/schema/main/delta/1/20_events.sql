-- Rooms and their events: the event graph, state groups, current state, memberships,
-- relations, redactions and transaction IDs. See docs/development/persistence.md.
-- Booleans are SMALLINT 0/1 so that the same SQL runs on SQLite and PostgreSQL.

CREATE TABLE IF NOT EXISTS rooms (
    room_id TEXT NOT NULL PRIMARY KEY,
    room_version TEXT NOT NULL,
    creator TEXT,
    is_public SMALLINT NOT NULL DEFAULT 0
);

-- One row per event this server holds. stream_ordering is the event's position in the
-- room event stream (negative for backfilled history); topological_ordering is its depth.
CREATE TABLE IF NOT EXISTS events (
    stream_ordering BIGINT NOT NULL PRIMARY KEY,
    topological_ordering BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT,
    sender TEXT NOT NULL,
    contains_url SMALLINT NOT NULL DEFAULT 0,
    outlier SMALLINT NOT NULL DEFAULT 0,
    soft_failed SMALLINT NOT NULL DEFAULT 0,
    rejected_reason TEXT,
    origin_server_ts BIGINT,
    received_ts BIGINT,
    instance_name TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS events_event_id ON events (event_id);
CREATE INDEX IF NOT EXISTS events_room_topo ON events (room_id, topological_ordering, stream_ordering);
CREATE INDEX IF NOT EXISTS events_room_stream ON events (room_id, stream_ordering);

-- The event as received; internal_metadata is what only this server knows.
CREATE TABLE IF NOT EXISTS event_json (
    event_id TEXT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL,
    room_version TEXT NOT NULL,
    internal_metadata TEXT NOT NULL,
    json TEXT NOT NULL,
    format_version INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS event_edges (
    event_id TEXT NOT NULL,
    prev_event_id TEXT NOT NULL,
    room_id TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS event_edges_event_prev ON event_edges (event_id, prev_event_id);
CREATE INDEX IF NOT EXISTS event_edges_prev ON event_edges (prev_event_id);

CREATE TABLE IF NOT EXISTS event_auth (
    event_id TEXT NOT NULL,
    auth_id TEXT NOT NULL,
    room_id TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS event_auth_event_auth ON event_auth (event_id, auth_id);
CREATE INDEX IF NOT EXISTS event_auth_room ON event_auth (room_id);

CREATE TABLE IF NOT EXISTS event_forward_extremities (
    event_id TEXT NOT NULL,
    room_id TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS event_forward_extremities_room_event
    ON event_forward_extremities (room_id, event_id);

-- Events we have heard of (as prev events) but do not hold: where backfill starts.
CREATE TABLE IF NOT EXISTS event_backward_extremities (
    event_id TEXT NOT NULL,
    room_id TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS event_backward_extremities_room_event
    ON event_backward_extremities (room_id, event_id);

-- State groups. A group is either a full snapshot (no edge) or a delta against its
-- prev_state_group (one edge); the rows in state_groups_state are the snapshot or delta.
CREATE TABLE IF NOT EXISTS state_groups (
    id BIGINT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS state_groups_state (
    state_group BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    event_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS state_groups_state_group ON state_groups_state (state_group, type, state_key);

CREATE TABLE IF NOT EXISTS state_group_edges (
    state_group BIGINT NOT NULL PRIMARY KEY,
    prev_state_group BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS state_group_edges_prev ON state_group_edges (prev_state_group);

-- The state group of the state after each (non-outlier) event.
CREATE TABLE IF NOT EXISTS event_to_state_groups (
    event_id TEXT NOT NULL PRIMARY KEY,
    state_group BIGINT NOT NULL
);

-- The room's current state: the resolved state of its forward extremities.
CREATE TABLE IF NOT EXISTS current_state_events (
    event_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    membership TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS current_state_events_room_type_key
    ON current_state_events (room_id, type, state_key);
CREATE INDEX IF NOT EXISTS current_state_events_member
    ON current_state_events (state_key, membership) WHERE type = 'm.room.member';

-- Every membership event, current or not.
CREATE TABLE IF NOT EXISTS room_memberships (
    event_id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    room_id TEXT NOT NULL,
    membership TEXT NOT NULL,
    display_name TEXT,
    avatar_url TEXT,
    event_stream_ordering BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS room_memberships_room_user ON room_memberships (room_id, user_id);
CREATE INDEX IF NOT EXISTS room_memberships_user ON room_memberships (user_id, event_stream_ordering);

-- The current membership of local users, including out-of-band invites and their
-- rejections for rooms the server is not in: "which rooms is this user in" in one lookup.
CREATE TABLE IF NOT EXISTS local_current_membership (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    membership TEXT NOT NULL,
    event_stream_ordering BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS local_current_membership_user_room
    ON local_current_membership (user_id, room_id);
CREATE INDEX IF NOT EXISTS local_current_membership_room ON local_current_membership (room_id);

CREATE TABLE IF NOT EXISTS redactions (
    event_id TEXT NOT NULL PRIMARY KEY,
    redacts TEXT NOT NULL,
    received_ts BIGINT
);
CREATE INDEX IF NOT EXISTS redactions_redacts ON redactions (redacts);

CREATE TABLE IF NOT EXISTS event_relations (
    event_id TEXT NOT NULL PRIMARY KEY,
    relates_to_id TEXT NOT NULL,
    relation_type TEXT NOT NULL,
    aggregation_key TEXT
);
CREATE INDEX IF NOT EXISTS event_relations_relates ON event_relations (relates_to_id, relation_type, aggregation_key);

-- Client transaction IDs, so that a retried PUT .../send/{type}/{txnId} is idempotent.
CREATE TABLE IF NOT EXISTS event_txn_id (
    event_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    inserted_ts BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS event_txn_id_event ON event_txn_id (event_id);
CREATE UNIQUE INDEX IF NOT EXISTS event_txn_id_txn ON event_txn_id (room_id, user_id, device_id, txn_id);

-- Events persisted while the room's state was only partly known (faster joins).
CREATE TABLE IF NOT EXISTS partial_state_events (
    event_id TEXT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL
);
