-- The user directory (POST /user_directory/search), kept up to date as memberships,
-- profiles and rooms' join rules change (see docs/development/user_directory.md).

-- Users who may be found: every local user (but deactivated and support users), and
-- remote users while they are joined to a room this server knows.
CREATE TABLE IF NOT EXISTS user_directory (
    user_id TEXT NOT NULL PRIMARY KEY,
    display_name TEXT,
    avatar_url TEXT,
    is_local SMALLINT NOT NULL,
    -- What results are sorted by: the case-folded display name, else the localpart.
    sort_name TEXT NOT NULL
);

-- The words of each user's display name and user ID, case-folded and without accents:
-- a search word matches a user when it is a prefix of one of their terms (a range
-- scan of the index, the same SQL on both engines).
CREATE TABLE IF NOT EXISTS user_directory_search_terms (
    term TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (term, user_id)
);
CREATE INDEX IF NOT EXISTS user_directory_search_terms_user
    ON user_directory_search_terms (user_id);

-- Who is joined to which room (local and remote users): "shares a room with".
CREATE TABLE IF NOT EXISTS user_directory_rooms (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
CREATE INDEX IF NOT EXISTS user_directory_rooms_room ON user_directory_rooms (room_id);

-- Rooms whose members anyone may find: public join rule or world-readable history.
CREATE TABLE IF NOT EXISTS user_directory_public_rooms (
    room_id TEXT NOT NULL PRIMARY KEY
);

-- What is still to be brought up to date, written in the transaction of the change
-- that makes it stale: (room, user) a membership, (room, '') a room's join rule or
-- history visibility, (room, '*') a whole room, ('', user) a local user's profile.
-- ``version`` grows on each new write, so that an entry changed again while it was
-- being processed is not dropped.
CREATE TABLE IF NOT EXISTS user_directory_stale (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- Users and rooms that existed before the directory are brought in like any change.
INSERT INTO user_directory_stale (room_id, user_id, version)
    SELECT '', name, 1 FROM users;
INSERT INTO user_directory_stale (room_id, user_id, version)
    SELECT room_id, '*', 1 FROM rooms;
