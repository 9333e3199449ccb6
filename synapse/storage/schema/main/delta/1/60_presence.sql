-- Presence: the latest presence state of each user (local, and remote ones learnt over
-- federation), and the position of its last change in the presence stream (what /sync
-- reads from). One row per user: a change moves the row to a new stream position.
CREATE TABLE IF NOT EXISTS presence_stream (
    user_id TEXT NOT NULL PRIMARY KEY,
    stream_id BIGINT NOT NULL,
    -- 'online', 'unavailable' or 'offline'.
    state TEXT NOT NULL,
    -- Milliseconds since the epoch; 0 when never.
    last_active_ts BIGINT NOT NULL,
    last_federation_update_ts BIGINT NOT NULL,
    last_user_sync_ts BIGINT NOT NULL,
    status_msg TEXT,
    currently_active SMALLINT NOT NULL
);
CREATE INDEX IF NOT EXISTS presence_stream_id ON presence_stream (stream_id);
-- Users not offline are loaded at start-up, to time them out.
CREATE INDEX IF NOT EXISTS presence_stream_state ON presence_stream (state);
