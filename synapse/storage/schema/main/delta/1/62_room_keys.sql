-- Server-side key backups (/room_keys).

-- Backup versions of each user; a deleted version keeps its row (deleted = 1) so that
-- its number is never handed out again.
CREATE TABLE IF NOT EXISTS e2e_room_keys_versions (
    user_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    -- Bumped on every change of the version's keys.
    etag BIGINT NOT NULL DEFAULT 0,
    deleted SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, version)
);

-- The backed-up session keys of a version.
CREATE TABLE IF NOT EXISTS e2e_room_keys (
    user_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    first_message_index BIGINT NOT NULL,
    forwarded_count BIGINT NOT NULL,
    is_verified BOOLEAN NOT NULL,
    session_data TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);
