-- 0002_room_seq: per-room sequence numbers, deletes that erase, and the
-- text stored once, as SQLite's 0002_room_seq (issue 11 § No gaps; issue 15
-- findings 3 and 7).

-- content was the payload again as text. Rows this store wrote always
-- have the payload; a row with only content (written by hand, without
-- escapes) keeps its text.
UPDATE messages SET payload = convert_to(content, 'UTF8')
    WHERE octet_length(payload) = 0 AND content <> '' AND strpos(content, U&'\E000') = 0;
-- Dropped first, so the rewrite below stores no copy of it.
ALTER TABLE messages DROP COLUMN content;

-- A deleted message loses its text and reactions.
UPDATE messages SET payload = '\x', reactions = '[]' WHERE deleted_at IS NOT NULL;

-- room_seq numbers each room's messages; existing rows get it in their
-- seq order, History's tie-break order.
ALTER TABLE messages ADD COLUMN room_seq bigint;
UPDATE messages m SET room_seq = s.n
    FROM (SELECT seq, row_number() OVER (PARTITION BY room_id ORDER BY seq) AS n FROM messages) s
    WHERE m.seq = s.seq;
ALTER TABLE messages ALTER COLUMN room_seq SET NOT NULL;
ALTER TABLE messages ADD CONSTRAINT messages_room_seq_positive CHECK (room_seq > 0);
CREATE UNIQUE INDEX messages_room_seq ON messages (room_id, room_seq);

-- room_heads is each room's newest sequence number. Every write that
-- numbers an event locks its room's row first (rooms in sorted order) and
-- advances it in the same transaction, so numbers are dense, follow
-- commit order, and roll back with their transaction.
-- Each head row gets a new version at every commit of its room; with the
-- page mostly empty (fillfactor 10), PostgreSQL prunes the dead versions
-- on nearly every visit, so a busy room's row never sits behind a long
-- chain of them.
CREATE TABLE room_heads (
    room_id text   PRIMARY KEY,
    seq     bigint NOT NULL CHECK (seq >= 0)
) WITH (fillfactor = 10);
INSERT INTO room_heads (room_id, seq) SELECT room_id, max(room_seq) FROM messages GROUP BY room_id;

-- room_events numbers what is not a message row: reaction toggles (kind 3)
-- and deletes (kind 2), on the same number line as messages.room_seq.
CREATE TABLE room_events (
    room_id       text     NOT NULL,
    seq           bigint   NOT NULL,
    kind          smallint NOT NULL CHECK (kind IN (2, 3)),
    ref_id        text     NOT NULL,
    user_id       text     NOT NULL,
    reaction_kind integer  NOT NULL DEFAULT 0,
    created_at    bigint   NOT NULL,
    PRIMARY KEY (room_id, seq)
);
