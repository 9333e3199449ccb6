-- The admin API's own tables: blocked rooms and per-user rate-limit overrides.
-- event_reports has Synapse's columns; the reporting API writes it, the admin API reads it.

-- Rooms nobody on this server may join (PUT /_synapse/admin/v1/rooms/{roomId}/block, or
-- a room deletion with block: true). Kept when the room itself is purged.
CREATE TABLE IF NOT EXISTS blocked_rooms (
    room_id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL
);

-- Message rate limits that replace rc_message for one user; 0/0 means no limit.
CREATE TABLE IF NOT EXISTS ratelimit_override (
    user_id TEXT NOT NULL PRIMARY KEY,
    messages_per_second BIGINT,
    burst_count BIGINT
);

CREATE TABLE IF NOT EXISTS event_reports (
    id BIGINT NOT NULL PRIMARY KEY,
    received_ts BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    reason TEXT,
    content TEXT
);
