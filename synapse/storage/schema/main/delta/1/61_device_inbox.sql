-- Send-to-device messages: the to-device stream.

-- Messages waiting for a local device, deleted once the device's /sync acknowledges
-- them (a later request whose since token is past them).
CREATE TABLE IF NOT EXISTS device_inbox (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    message_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS device_inbox_user_device_stream
    ON device_inbox (user_id, device_id, stream_id);
CREATE INDEX IF NOT EXISTS device_inbox_stream ON device_inbox (stream_id);

-- Messages for other servers, waiting for the federation sender: one row per
-- destination and send, holding {user: {device: message}}.
CREATE TABLE IF NOT EXISTS device_federation_outbox (
    destination TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    queued_ts BIGINT NOT NULL,
    messages_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS device_federation_outbox_destination
    ON device_federation_outbox (destination, stream_id);

-- The transaction IDs of PUT /sendToDevice, per sending device, so that a retried
-- request sends nothing twice.
CREATE TABLE IF NOT EXISTS device_inbox_txns (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    inserted_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);
CREATE INDEX IF NOT EXISTS device_inbox_txns_ts ON device_inbox_txns (inserted_ts);
