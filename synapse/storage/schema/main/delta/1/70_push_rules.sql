-- Push rules a user defined, per kind (override, content, room, sender, underride), in
-- order of priority (highest first) within the kind.
CREATE TABLE IF NOT EXISTS push_rules (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    -- JSON arrays.
    conditions TEXT NOT NULL,
    actions TEXT NOT NULL,
    -- The glob of a content rule.
    pattern TEXT,
    enabled SMALLINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS push_rules_user_kind_rule ON push_rules (user_id, kind, rule_id);

-- What a user changed of the server-default rules: enabled and actions (NULL: as defined).
CREATE TABLE IF NOT EXISTS push_rules_default_overrides (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    enabled SMALLINT,
    actions TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS push_rules_default_overrides_user_kind_rule
    ON push_rules_default_overrides (user_id, kind, rule_id);

-- The push rules stream: the position of each user's latest change of their rules.
CREATE TABLE IF NOT EXISTS push_rules_stream (
    user_id TEXT NOT NULL,
    stream_id BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS push_rules_stream_user ON push_rules_stream (user_id);
CREATE INDEX IF NOT EXISTS push_rules_stream_stream ON push_rules_stream (stream_id);
