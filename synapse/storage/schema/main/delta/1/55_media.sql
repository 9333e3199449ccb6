-- Media uploaded to this server. A row whose media_length is NULL was created by
-- POST /_matrix/media/v1/create and is still waiting for its content.
CREATE TABLE IF NOT EXISTS local_media_repository (
    media_id TEXT NOT NULL PRIMARY KEY,
    media_type TEXT,
    media_length BIGINT,
    upload_name TEXT,
    -- Milliseconds since the epoch.
    created_ts BIGINT NOT NULL,
    -- The uploader (NULL for media the server made itself).
    user_id TEXT,
    -- The admin who quarantined the media: it is no longer served.
    quarantined_by TEXT,
    -- Protected media cannot be quarantined.
    safe_from_quarantine BOOLEAN NOT NULL DEFAULT FALSE,
    last_access_ts BIGINT,
    -- Hex SHA-256 of the content.
    sha256 TEXT
);
CREATE INDEX IF NOT EXISTS local_media_repository_user_created
    ON local_media_repository (user_id, created_ts);
CREATE INDEX IF NOT EXISTS local_media_repository_created ON local_media_repository (created_ts);
CREATE INDEX IF NOT EXISTS local_media_repository_sha256 ON local_media_repository (sha256);

-- Thumbnails of local media, kept next to the content in the media store.
CREATE TABLE IF NOT EXISTS local_media_repository_thumbnails (
    media_id TEXT NOT NULL,
    thumbnail_width INTEGER NOT NULL,
    thumbnail_height INTEGER NOT NULL,
    thumbnail_type TEXT NOT NULL,
    thumbnail_method TEXT NOT NULL,
    thumbnail_length BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS local_media_repository_thumbnails_key
    ON local_media_repository_thumbnails
    (media_id, thumbnail_width, thumbnail_height, thumbnail_type, thumbnail_method);
