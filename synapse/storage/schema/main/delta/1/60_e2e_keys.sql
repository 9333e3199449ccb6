-- End-to-end encryption keys of local devices and users, and the device list stream.

-- The identity keys a device uploaded (POST /keys/upload), as signed JSON.
CREATE TABLE IF NOT EXISTS e2e_device_keys_json (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    ts_added_ms BIGINT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- Unclaimed one-time keys; a claim deletes the row it hands out.
CREATE TABLE IF NOT EXISTS e2e_one_time_keys_json (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    ts_added_ms BIGINT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm, key_id)
);
CREATE INDEX IF NOT EXISTS e2e_one_time_keys_claim
    ON e2e_one_time_keys_json (user_id, device_id, algorithm, ts_added_ms);

-- At most one fallback key per device and algorithm; ``used`` once it was claimed.
CREATE TABLE IF NOT EXISTS e2e_fallback_keys_json (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, device_id, algorithm)
);

-- A user's current cross-signing keys: keytype is master, self_signing or user_signing.
CREATE TABLE IF NOT EXISTS e2e_cross_signing_keys (
    user_id TEXT NOT NULL,
    keytype TEXT NOT NULL,
    -- The public key (the ``<id>`` of ``ed25519:<id>``).
    public_key TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, keytype)
);

-- Signatures uploaded with POST /keys/signatures/upload: ``user_id``'s key ``key_id``
-- signed ``target_user_id``'s device or master key ``target_key`` (a device ID or a
-- master public key).
CREATE TABLE IF NOT EXISTS e2e_cross_signing_signatures (
    user_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    target_user_id TEXT NOT NULL,
    target_key TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (target_user_id, target_key, user_id, key_id)
);

-- The device list stream: a row each time a user's devices, device keys or
-- cross-signing keys changed (device_id NULL for a cross-signing change).
CREATE TABLE IF NOT EXISTS device_lists_stream (
    stream_id BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT
);
CREATE INDEX IF NOT EXISTS device_lists_stream_id ON device_lists_stream (stream_id);
CREATE INDEX IF NOT EXISTS device_lists_stream_user ON device_lists_stream (user_id, stream_id);
