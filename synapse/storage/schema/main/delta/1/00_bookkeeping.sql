-- Bookkeeping shared by every domain store.

-- Named background jobs that rewrite existing rows after a schema change, with where
-- they have got to (JSON), so that start-up is never blocked by a long migration.
CREATE TABLE background_updates (
    update_name TEXT NOT NULL PRIMARY KEY,
    progress_json TEXT NOT NULL,
    depends_on TEXT,
    ordering INTEGER NOT NULL DEFAULT 0
);

-- The position each writer (process) has persisted up to in each stream, so that a
-- stream with several writers can find where it stands at start-up.
CREATE TABLE stream_positions (
    stream_name TEXT NOT NULL,
    instance_name TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    PRIMARY KEY (stream_name, instance_name)
);
