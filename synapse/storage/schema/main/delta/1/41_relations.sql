-- Threads and timestamp lookups.

-- One row per thread root that has m.thread children: the position of its latest
-- child, which orders GET /rooms/{roomId}/threads. Kept by the persist transaction.
CREATE TABLE IF NOT EXISTS threads (
    room_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    latest_event_id TEXT NOT NULL,
    topological_ordering BIGINT NOT NULL,
    stream_ordering BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS threads_room_thread ON threads (room_id, thread_id);
CREATE INDEX IF NOT EXISTS threads_room_order
    ON threads (room_id, topological_ordering, stream_ordering);

-- Threads of events stored before this table existed.
INSERT INTO threads (room_id, thread_id, latest_event_id, topological_ordering, stream_ordering)
SELECT room_id, relates_to_id, event_id, topological_ordering, stream_ordering FROM (
    SELECT e.room_id, r.relates_to_id, e.event_id, e.topological_ordering, e.stream_ordering,
        ROW_NUMBER() OVER (
            PARTITION BY e.room_id, r.relates_to_id
            ORDER BY e.topological_ordering DESC, e.stream_ordering DESC
        ) AS rn
    FROM event_relations AS r INNER JOIN events AS e ON e.event_id = r.event_id
    WHERE r.relation_type = 'm.thread' AND e.outlier = 0 AND e.soft_failed = 0
        AND e.rejected_reason IS NULL
) AS latest
WHERE rn = 1
ON CONFLICT (room_id, thread_id) DO NOTHING;

-- GET /rooms/{roomId}/timestamp_to_event.
CREATE INDEX IF NOT EXISTS events_room_origin_ts ON events (room_id, origin_server_ts);
