-- The notifications each event gave each local user (rows only for events whose push
-- actions notify): what unread notification counts are counted from.
CREATE TABLE IF NOT EXISTS event_push_actions (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    -- 'main' or the event ID of the thread root.
    thread_id TEXT NOT NULL,
    -- The actions of the matching push rule (JSON), for pushers and /notifications.
    actions TEXT NOT NULL,
    notif SMALLINT NOT NULL,
    highlight SMALLINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS event_push_actions_event_user
    ON event_push_actions (event_id, user_id);
CREATE INDEX IF NOT EXISTS event_push_actions_user_room_stream
    ON event_push_actions (user_id, room_id, stream_ordering);

-- The latest event each local user sent in each room and thread: sending an event marks
-- the notifications before it in that thread as read, like a receipt.
CREATE TABLE IF NOT EXISTS event_push_last_sent (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS event_push_last_sent_user_room_thread
    ON event_push_last_sent (user_id, room_id, thread_id);
