-- Room aliases, the public room directory's extra data, and forgotten rooms.

-- Each alias of this server's namespace and the room it points to; creator is who may
-- delete it besides admins and room moderators.
CREATE TABLE IF NOT EXISTS room_aliases (
    room_alias TEXT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL,
    creator TEXT
);
CREATE INDEX IF NOT EXISTS room_aliases_room ON room_aliases (room_id);

-- The servers that can help join the room through each alias.
CREATE TABLE IF NOT EXISTS room_alias_servers (
    room_alias TEXT NOT NULL,
    server TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS room_alias_servers_alias ON room_alias_servers (room_alias);

-- Membership events a user has forgotten: the room is forgotten while the user's
-- current membership is that event (a new membership un-forgets it).
CREATE TABLE IF NOT EXISTS room_forgotten (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS room_forgotten_user_room_event ON room_forgotten (user_id, room_id, event_id);
