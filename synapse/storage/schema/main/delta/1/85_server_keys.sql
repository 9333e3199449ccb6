-- Signing keys of other servers, as the signed key responses they came in.
--
-- One row per key ID of a response: ``from_server`` is the server we got it from
-- (the server itself, or a notary), ``ts_valid_until_ms`` how long the key may be used
-- (the response's valid_until_ts, capped at a week after we fetched it; for a key of
-- old_verify_keys its expired_ts), and ``key_json`` the whole response as canonical
-- JSON, with the signatures it carried.
CREATE TABLE server_keys_json (
    server_name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    from_server TEXT NOT NULL,
    ts_added_ms BIGINT NOT NULL,
    ts_valid_until_ms BIGINT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (server_name, key_id, from_server)
);
