-- Account data of local users, global (room_id '') and per room (tags are the m.tag
-- room account data), and the position of each entry's last change in the account
-- data stream (what /sync reads from).
CREATE TABLE IF NOT EXISTS account_data (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    account_data_type TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    -- The content as JSON.
    content TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS account_data_user_room_type
    ON account_data (user_id, room_id, account_data_type);
CREATE INDEX IF NOT EXISTS account_data_user_stream ON account_data (user_id, stream_id);
CREATE INDEX IF NOT EXISTS account_data_stream ON account_data (stream_id);
