-- 0002_room_seq: per-room sequence numbers, deletes that erase, and the
-- text stored once (issue 11 § No gaps; issue 15 findings 3 and 7).
--
-- messages is rebuilt: content goes (it was the payload again as text;
-- the text is derived from payload when read), room_seq comes. Rows keep
-- their seq, so History's order does not change, and get room_seq in that
-- order, which on one SQLite writer is commit order.

CREATE TABLE messages_new (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    room_id       TEXT    NOT NULL,
    ref_id        TEXT    NOT NULL,
    room_seq      INTEGER NOT NULL CHECK (room_seq > 0),
    user_id       TEXT    NOT NULL,
    kind          INTEGER NOT NULL DEFAULT 0,
    reaction_kind INTEGER,
    payload       BLOB    NOT NULL DEFAULT x'',
    reactions     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(reactions)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER,
    UNIQUE (room_id, ref_id),
    UNIQUE (room_id, room_seq)
) STRICT;

-- Rows written by the seed's schema have their text only in content. A
-- deleted message loses its text and reactions.
INSERT INTO messages_new (seq, id, room_id, ref_id, room_seq, user_id, kind, reaction_kind, payload, reactions,
                          created_at, updated_at, deleted_at)
SELECT seq, id, room_id, ref_id, row_number() OVER (PARTITION BY room_id ORDER BY seq), user_id, kind, reaction_kind,
       CASE WHEN deleted_at IS NOT NULL THEN x''
            WHEN length(payload) = 0 THEN CAST(content AS BLOB)
            ELSE payload END,
       CASE WHEN deleted_at IS NOT NULL THEN '[]' ELSE reactions END,
       created_at, updated_at, deleted_at
FROM messages;

DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;

CREATE INDEX messages_room_history ON messages (room_id, created_at, seq)
    WHERE deleted_at IS NULL;

-- room_events numbers what is not a message row: reaction toggles (kind 3)
-- and deletes (kind 2). A message is its own event (messages.room_seq).
-- The two share one number line per room; its head is the larger of the
-- two maxima, read under the write lock (no head table: PostgreSQL needs
-- one for its row lock, SQLite's IMMEDIATE transactions lock the file).
CREATE TABLE room_events (
    room_id       TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    kind          INTEGER NOT NULL CHECK (kind IN (2, 3)),
    ref_id        TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    reaction_kind INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (room_id, seq)
) STRICT, WITHOUT ROWID;
