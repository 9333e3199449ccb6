-- Users deactivated with erase=true: their messages are hidden from users who join later.
CREATE TABLE IF NOT EXISTS erased_users (
    user_id TEXT NOT NULL PRIMARY KEY
);
