-- Accounts: users, access tokens (hashed), devices, profiles, client IPs,
-- user-interactive auth sessions and registration tokens.

CREATE TABLE IF NOT EXISTS users (
    name TEXT NOT NULL PRIMARY KEY,
    password_hash TEXT,
    creation_ts BIGINT NOT NULL,
    admin SMALLINT NOT NULL DEFAULT 0,
    is_guest SMALLINT NOT NULL DEFAULT 0,
    upgrade_ts BIGINT,
    appservice_id TEXT,
    user_type TEXT,
    deactivated SMALLINT NOT NULL DEFAULT 0,
    shadow_banned SMALLINT NOT NULL DEFAULT 0,
    locked SMALLINT NOT NULL DEFAULT 0,
    suspended SMALLINT NOT NULL DEFAULT 0
);

-- Only the SHA-256 of each token is stored, so the database hands out no usable token.
CREATE TABLE IF NOT EXISTS access_tokens (
    id BIGINT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    device_id TEXT,
    token_hash TEXT NOT NULL,
    valid_until_ms BIGINT,
    puppets_user_id TEXT,
    last_validated BIGINT,
    used SMALLINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS access_tokens_token_hash ON access_tokens (token_hash);
CREATE INDEX IF NOT EXISTS access_tokens_user_device ON access_tokens (user_id, device_id);

CREATE TABLE IF NOT EXISTS devices (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    display_name TEXT,
    last_seen_ts BIGINT,
    last_seen_ip TEXT,
    last_seen_user_agent TEXT,
    hidden SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE IF NOT EXISTS profiles (
    user_id TEXT NOT NULL PRIMARY KEY,
    displayname TEXT,
    avatar_url TEXT
);

CREATE TABLE IF NOT EXISTS user_ips (
    user_id TEXT NOT NULL,
    device_id TEXT,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    last_seen BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS user_ips_user_ip_ua ON user_ips (user_id, ip, user_agent);
CREATE INDEX IF NOT EXISTS user_ips_last_seen ON user_ips (user_id, last_seen);

CREATE TABLE IF NOT EXISTS ui_auth_sessions (
    session_id TEXT NOT NULL PRIMARY KEY,
    creation_time BIGINT NOT NULL,
    serverdict TEXT NOT NULL,
    clientdict TEXT NOT NULL,
    uri TEXT NOT NULL,
    method TEXT NOT NULL,
    description TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS ui_auth_sessions_credentials (
    session_id TEXT NOT NULL,
    stage_type TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (session_id, stage_type)
);

CREATE TABLE IF NOT EXISTS registration_tokens (
    token TEXT NOT NULL PRIMARY KEY,
    uses_allowed INTEGER,
    pending INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    expiry_time BIGINT
);
