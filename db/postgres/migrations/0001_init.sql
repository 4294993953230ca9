-- 0001_init: the first PostgreSQL schema, the same tables and columns as
-- SQLite's 0001_init. Times are unix milliseconds (bigint) in both stores,
-- so cursors and comparisons agree to the millisecond. Text columns never
-- hold U+0000, which PostgreSQL's text cannot store: the store escapes it
-- (see text.go).

-- users: the email is unique without regard to case, as SQLite's NOCASE.
CREATE TABLE users (
    id             text    PRIMARY KEY,
    email          text    NOT NULL,
    name           text    NOT NULL,
    avatar_url     text,
    email_verified boolean NOT NULL DEFAULT false,
    created_at     bigint  NOT NULL,
    updated_at     bigint  NOT NULL
);
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

-- accounts holds credentials, one row per (user, provider); the password is
-- only ever a slow salted hash made by the auth package.
CREATE TABLE accounts (
    id            text   PRIMARY KEY,
    user_id       text   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id   text   NOT NULL,
    password_hash text,
    created_at    bigint NOT NULL,
    updated_at    bigint NOT NULL,
    UNIQUE (user_id, provider_id)
);

-- sessions stores a hash of the bearer token, never the token itself.
CREATE TABLE sessions (
    id         text   PRIMARY KEY,
    token_hash text   NOT NULL UNIQUE,
    user_id    text   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at bigint NOT NULL,
    ip_address text   NOT NULL DEFAULT '',
    user_agent text   NOT NULL DEFAULT '',
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- messages: seq is the insertion order that breaks ties between equal
-- created_at values; UNIQUE (room_id, ref_id) is what makes a resend a
-- no-op (INSERT … ON CONFLICT DO NOTHING). payload keeps the exact bytes,
-- content the text. reactions is json, kept as written, in the same shape
-- as SQLite's column.
CREATE TABLE messages (
    seq           bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            text    NOT NULL UNIQUE,
    room_id       text    NOT NULL,
    ref_id        text    NOT NULL,
    user_id       text    NOT NULL,
    kind          integer NOT NULL DEFAULT 0,
    reaction_kind integer,
    content       text    NOT NULL DEFAULT '',
    payload       bytea   NOT NULL DEFAULT '\x',
    reactions     json    NOT NULL DEFAULT '[]',
    created_at    bigint  NOT NULL,
    updated_at    bigint  NOT NULL,
    deleted_at    bigint,
    UNIQUE (room_id, ref_id)
);

-- History pages: newest first within a room, live messages only.
CREATE INDEX messages_room_history ON messages (room_id, created_at, seq)
    WHERE deleted_at IS NULL;

-- settings keeps server state that must survive restarts, such as the
-- generated auth secret.
CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
