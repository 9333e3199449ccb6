-- Filters users upload with POST /user/{userId}/filter. filter_id counts up per user;
-- filter_json is the filter as canonical JSON, so that an identical filter is found again.
CREATE TABLE IF NOT EXISTS user_filters (
    user_id TEXT NOT NULL,
    filter_id BIGINT NOT NULL,
    filter_json TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS user_filters_user_filter ON user_filters (user_id, filter_id);
