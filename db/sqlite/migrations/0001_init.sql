-- 0001_init: the first schema. Times are unix milliseconds (UTC).
-- Tables are STRICT so a wrongly typed bind fails instead of being coerced.

-- users holds the seed's columns plus Better Auth's emailVerified/updatedAt.
-- NOCASE makes the UNIQUE check catch case variants even if a caller forgot
-- to lower-case the address.
CREATE TABLE users (
    id             TEXT    PRIMARY KEY,
    email          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    name           TEXT    NOT NULL,
    avatar_url     TEXT,
    email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

-- accounts holds credentials, one row per (user, provider); the password is
-- only ever a slow salted hash made by the auth package.
CREATE TABLE accounts (
    id            TEXT    PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id   TEXT    NOT NULL,
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (user_id, provider_id)
) STRICT;

-- sessions stores a hash of the bearer token, never the token itself, so a
-- copy of the database cannot be replayed as logins.
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    token_hash TEXT    NOT NULL UNIQUE,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    ip_address TEXT    NOT NULL DEFAULT '',
    user_agent TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- messages: the seed's columns (id, room_id, user_id, content, created_at,
-- updated_at) plus the protocol's fields. seq is a total insertion order and
-- breaks ties between equal created_at values. content is the payload as
-- text (invalid UTF-8 replaced); payload keeps the exact bytes.
CREATE TABLE messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    room_id       TEXT    NOT NULL,
    ref_id        TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    kind          INTEGER NOT NULL DEFAULT 0,
    reaction_kind INTEGER,
    content       TEXT    NOT NULL DEFAULT '',
    payload       BLOB    NOT NULL DEFAULT x'',
    reactions     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(reactions)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER,
    UNIQUE (room_id, ref_id)
) STRICT;

-- History pages: newest first within a room, live messages only. The
-- partial index stays small as messages are deleted; queries repeat its
-- WHERE clause so the planner can use it.
CREATE INDEX messages_room_history ON messages (room_id, created_at, seq)
    WHERE deleted_at IS NULL;

-- settings keeps server state that must survive restarts, such as the
-- generated auth secret.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
