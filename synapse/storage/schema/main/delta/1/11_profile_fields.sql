-- Profile fields other than displayname and avatar_url (m.tz and custom keys), as JSON.
CREATE TABLE IF NOT EXISTS profile_fields (
    user_id TEXT NOT NULL,
    field_name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (user_id, field_name)
);
