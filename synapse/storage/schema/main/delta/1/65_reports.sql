-- Reports of content by users (POST /rooms/{roomId}/report/{eventId}, /rooms/{roomId}/report,
-- /users/{userId}/report), with Synapse's columns: the admin API lists them.

-- ``content`` is the request body as JSON (reason, and score from older clients).
CREATE TABLE IF NOT EXISTS event_reports (
    id BIGINT NOT NULL PRIMARY KEY,
    received_ts BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    reason TEXT,
    content TEXT
);

CREATE TABLE IF NOT EXISTS room_reports (
    id BIGINT NOT NULL PRIMARY KEY,
    received_ts BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    reason TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS user_reports (
    id BIGINT NOT NULL PRIMARY KEY,
    received_ts BIGINT NOT NULL,
    target_user_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS user_reports_target_user_id ON user_reports (target_user_id);
CREATE INDEX IF NOT EXISTS user_reports_user_id ON user_reports (user_id);
