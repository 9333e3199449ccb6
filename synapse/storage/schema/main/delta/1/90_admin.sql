-- The admin API's own tables: blocked rooms and per-user rate-limit overrides.
-- (event_reports, which the admin API reads, is created with the reporting tables in 65_reports.sql.)

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
