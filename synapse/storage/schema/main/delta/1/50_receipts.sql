-- Read receipts: the latest receipt of each (room, receipt type, user, thread), and the
-- position of its last change in the receipts stream (what /sync reads from).
CREATE TABLE IF NOT EXISTS receipts (
    stream_id BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    -- '' for an unthreaded receipt, else 'main' or the event ID of a thread root.
    thread_id TEXT NOT NULL,
    -- The stream ordering of the event the receipt points at, when known here: a receipt
    -- never moves back to an older event.
    event_stream_ordering BIGINT,
    -- The receipt's data as JSON (ts).
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS receipts_room_type_user_thread
    ON receipts (room_id, receipt_type, user_id, thread_id);
CREATE INDEX IF NOT EXISTS receipts_room_stream ON receipts (room_id, stream_id);
CREATE INDEX IF NOT EXISTS receipts_stream ON receipts (stream_id);
CREATE INDEX IF NOT EXISTS receipts_user ON receipts (user_id);
