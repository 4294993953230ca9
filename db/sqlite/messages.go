package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

// storedReaction is one element of the reactions column's JSON array. The
// column keeps the protocol's own spelling, so the rows read the same as
// upstream's.
type storedReaction struct {
	Kind  int      `json:"kind"`
	Count int      `json:"count"`
	Users []string `json:"users"`
}

// encodeReactions writes rs as the reactions column holds them; never null.
func encodeReactions(rs []chat.Reaction) (string, error) {
	if len(rs) == 0 {
		return "[]", nil // nearly every new message: skip the marshaller
	}
	out := make([]storedReaction, len(rs))
	for i, r := range chat.NormReactions(rs) {
		out[i] = storedReaction(r)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode reactions: %w", err)
	}
	return string(b), nil
}

// decodeReactions reads the reactions column.
func decodeReactions(s string) ([]chat.Reaction, error) {
	var in []storedReaction
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("decode reactions: %w", err)
	}
	out := make([]chat.Reaction, len(in))
	for i, r := range in {
		out[i] = chat.Reaction(r)
	}
	return chat.NormReactions(out), nil
}

// insertMessageSQL skips a row whose (room_id, ref_id) is taken: a resend.
// A taken id is a constraint error, which InsertMessages reports as a
// conflict.
const insertMessageSQL = `INSERT INTO messages
	(id, room_id, ref_id, room_seq, user_id, kind, reaction_kind, payload, reactions, created_at, updated_at, deleted_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (room_id, ref_id) DO NOTHING`

// InsertMessages stores msgs in ONE transaction: all of them or, on error,
// none, as chat.Batcher documents. Fresh messages get the room's next
// sequence numbers in batch order; a resend gets its original's.
func (d *DB) InsertMessages(ctx context.Context, msgs []chat.Message) (fresh []bool, err error) {
	ops := make([]chat.Op, len(msgs))
	for i := range msgs {
		ops[i].Message = &msgs[i]
	}
	res, err := d.writeOps(ctx, ops)
	if err != nil {
		return nil, fmt.Errorf("insert messages: %w", err)
	}
	fresh = make([]bool, len(msgs))
	for i := range res {
		fresh[i] = res[i].Fresh
	}
	return fresh, nil
}

// WriteOps applies a batch of new messages and reaction toggles in ONE
// transaction, in order, as chat.Batcher documents.
func (d *DB) WriteOps(ctx context.Context, ops []chat.Op) ([]chat.OpResult, error) {
	res, err := d.writeOps(ctx, ops)
	if err != nil {
		return nil, fmt.Errorf("write ops: %w", err)
	}
	return res, nil
}

// writeOps is WriteOps without the wrapping.
func (d *DB) writeOps(ctx context.Context, ops []chat.Op) ([]chat.OpResult, error) {
	now := d.nowMS()
	for i, op := range ops {
		switch {
		case op.Message != nil && op.Toggle == nil:
			if err := op.Message.Normalize(now); err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
		case op.Toggle != nil && op.Message == nil:
		default:
			return nil, fmt.Errorf("op %d: %w: need exactly one of message and toggle", i, chat.ErrInvalid)
		}
	}
	res := make([]chat.OpResult, len(ops))
	if len(ops) == 0 {
		return res, nil
	}
	err := d.numberedTx(ctx, func(tx *sql.Tx, h *heads) error {
		for i, op := range ops {
			if op.Toggle != nil {
				m, err := toggleIn(ctx, tx, h, *op.Toggle, now)
				if errors.Is(err, chat.ErrNotFound) || errors.Is(err, chat.ErrInvalid) {
					res[i].Err = fmt.Errorf("toggle reaction on %q in room %q: %w", op.Toggle.RefID, op.Toggle.Room, err)
					continue
				}
				if err != nil {
					return fmt.Errorf("op %d: %w", i, err)
				}
				res[i].Message = m
				continue
			}
			m := op.Message
			fresh, err := insertIn(ctx, tx, h, m, false)
			if err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
			res[i].Fresh = fresh
			if fresh {
				res[i].Message = *m
				continue
			}
			// A resend: answer with what is stored, deleted or not.
			stored, err := scanMessage(tx.QueryRowContext(ctx,
				`SELECT `+messageCols+` FROM messages WHERE room_id = ? AND ref_id = ?`, m.Room, m.RefID))
			if err != nil {
				return fmt.Errorf("message %d: read the stored original: %w", i, err)
			}
			m.Seq, m.EventSeq = stored.Seq, 0
			res[i].Message = stored
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// insertIn inserts one normalized message with the room's next sequence
// number inside tx; fresh is false for a resend, which takes no number.
// With load, a taken id is skipped too (loadMessageSQL). The driver's
// statement cache keeps both statements prepared.
func insertIn(ctx context.Context, tx *sql.Tx, h *heads, m *chat.Message, load bool) (fresh bool, err error) {
	reactions, err := encodeReactions(m.Reactions)
	if err != nil {
		return false, err
	}
	seq, err := h.next(ctx, m.Room)
	if err != nil {
		return false, err
	}
	args := []any{m.ID, m.Room, m.RefID, seq, m.UserID, m.Kind, m.ReactionKind,
		m.Payload, reactions, ms(m.CreatedAt), ms(m.UpdatedAt), msPtr(m.DeletedAt)}
	var r sql.Result
	if load {
		r, err = tx.ExecContext(ctx, loadMessageSQL, args...)
	} else {
		r, err = tx.ExecContext(ctx, insertMessageSQL, args...)
	}
	if isConstraint(err) {
		// A taken id, a CHECK or a trigger refused this row: its fault,
		// not the database's, so the writer can retry the others alone.
		return false, fmt.Errorf("id %q: %w: %v", m.ID, chat.ErrConflict, err)
	}
	if err != nil {
		return false, err
	}
	n, err := r.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	h.take(m.Room, seq)
	m.Seq, m.EventSeq = seq, seq
	return true, nil
}

// toggleIn applies one reaction toggle inside tx and numbers it.
func toggleIn(ctx context.Context, tx *sql.Tx, h *heads, t chat.Toggle, now time.Time) (chat.Message, error) {
	if t.UserID == "" || t.Kind < 0 {
		return chat.Message{}, fmt.Errorf("%w: user %q, kind %d", chat.ErrInvalid, t.UserID, t.Kind)
	}
	m, err := liveMessage(ctx, tx, t.Room, t.RefID)
	if err != nil {
		return chat.Message{}, err
	}
	m.Reactions = chat.ToggleReaction(m.Reactions, t.UserID, t.Kind)
	m.UpdatedAt = now
	b, err := encodeReactions(m.Reactions)
	if err != nil {
		return chat.Message{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE messages SET reactions = ?, updated_at = ? WHERE room_id = ? AND ref_id = ?`,
		b, ms(m.UpdatedAt), t.Room, t.RefID); err != nil {
		return chat.Message{}, err
	}
	if m.EventSeq, err = h.event(ctx, chat.EventReaction, t.Room, t.RefID, t.UserID, t.Kind, now); err != nil {
		return chat.Message{}, err
	}
	return m, nil
}

// headSQL is a room's newest event number: the larger of its newest
// message and its newest other event, two reads at the end of their
// (room, seq) keys. Inside a write transaction it is safe to add one to it:
// IMMEDIATE transactions hold the database's one write lock from BEGIN to
// COMMIT, on every connection and process, so nothing else can number the
// room meanwhile, and rows are never removed, so a number is never reused.
// (A head row updated on every commit, as PostgreSQL needs for its row
// lock, would add a page to each commit's WAL frames for nothing.)
const headSQL = `SELECT max(
	coalesce((SELECT max(room_seq) FROM messages WHERE room_id = ?1), 0),
	coalesce((SELECT max(seq) FROM room_events WHERE room_id = ?1), 0))`

// maxCachedHeads bounds headCache: past it the cache starts over, so a
// server that saw millions of rooms does not keep them all.
const maxCachedHeads = 100_000

// headCache keeps rooms' newest event numbers between write transactions,
// so that a message does not cost a headSQL query (issue 17: 13% of the
// server's CPU at one message per commit). The numbers stay right because
// only numberedTx changes them on this connection, under mu, and merges
// what it took only after COMMIT succeeded; anything else that writes the
// file (another process, another DB on the same file) commits on another
// connection, which moves this connection's PRAGMA data_version, and then
// the cache starts over. A different driver connection (database/sql drops
// one whose transaction's context ended) starts over too, since its
// data_version counts from its own start. So anything else that writes
// messages or room_events on the writer connection must call forget.
type headCache struct {
	mu   sync.Mutex       // held from BEGIN until the merge after COMMIT
	conn any              // the driver connection seq was last right on
	ver  int64            // that connection's data_version then
	seq  map[string]int64 // nil: nothing known
}

// forget drops every cached head.
func (c *headCache) forget() {
	c.mu.Lock()
	c.seq = nil
	c.mu.Unlock()
}

// numberedTx runs fn in one IMMEDIATE write transaction with h numbering
// rooms' events from the cache, and commits. On any error it rolls back
// and forgets the cache, so numbers taken by a rolled-back transaction are
// handed out again (no gaps).
func (d *DB) numberedTx(ctx context.Context, fn func(tx *sql.Tx, h *heads) error) error {
	c := &d.heads
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := d.numberedTxLocked(ctx, fn); err != nil {
		c.seq = nil
		return err
	}
	return nil
}

// numberedTxLocked is numberedTx with d.heads.mu held.
func (d *DB) numberedTxLocked(ctx context.Context, fn func(tx *sql.Tx, h *heads) error) error {
	c := &d.heads
	conn, err := d.wr.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Close()
	var dc any
	if err := conn.Raw(func(x any) error { dc = x; return nil }); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var ver int64
	if err := tx.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&ver); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("data version: %w", err)
	}
	if c.seq == nil || c.conn != dc || c.ver != ver || len(c.seq) > maxCachedHeads {
		c.seq, c.conn, c.ver = map[string]int64{}, dc, ver
	}
	h := &heads{tx: tx, known: c.seq, seq: map[string]int64{}}
	if err := fn(tx, h); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	maps.Copy(c.seq, h.seq)
	return nil
}

// heads hands out rooms' sequence numbers inside one write transaction.
// It reads a room's head from known (the committed cache), else once
// from the file, and keeps what it took apart until COMMIT.
type heads struct {
	tx    *sql.Tx
	known map[string]int64 // read-only here
	seq   map[string]int64 // this transaction's
}

// next returns the number room's next event would get, without taking it.
func (h *heads) next(ctx context.Context, room string) (int64, error) {
	if s, ok := h.seq[room]; ok {
		return s + 1, nil
	}
	if s, ok := h.known[room]; ok {
		return s + 1, nil
	}
	var s int64
	if err := h.tx.QueryRowContext(ctx, headSQL, room).Scan(&s); err != nil {
		return 0, fmt.Errorf("room head: %w", err)
	}
	h.seq[room] = s
	return s + 1, nil
}

// take records that seq (from next) was used.
func (h *heads) take(room string, seq int64) { h.seq[room] = seq }

// event numbers a delete or reaction event and stores it.
func (h *heads) event(ctx context.Context, kind chat.EventKind, room, ref, user string, reaction int, at time.Time) (int64, error) {
	seq, err := h.next(ctx, room)
	if err != nil {
		return 0, err
	}
	if _, err := h.tx.ExecContext(ctx, `INSERT INTO room_events (room_id, seq, kind, ref_id, user_id, reaction_kind, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, room, seq, int(kind), ref, user, reaction, ms(at)); err != nil {
		return 0, fmt.Errorf("room event: %w", err)
	}
	h.take(room, seq)
	return seq, nil
}

// messageCols are the columns scanMessage reads, in order.
const messageCols = `id, room_id, ref_id, room_seq, user_id, kind, reaction_kind, payload, reactions,
	created_at, updated_at, deleted_at`

// scanMessage reads messageCols.
func scanMessage(sc interface{ Scan(...any) error }) (chat.Message, error) {
	var m chat.Message
	var reactionKind, deleted sql.NullInt64
	var reactions string
	var created, updated int64
	if err := sc.Scan(&m.ID, &m.Room, &m.RefID, &m.Seq, &m.UserID, &m.Kind, &reactionKind, &m.Payload,
		&reactions, &created, &updated, &deleted); err != nil {
		return chat.Message{}, err
	}
	if reactionKind.Valid {
		k := int(reactionKind.Int64)
		m.ReactionKind = &k
	}
	if m.Payload == nil {
		m.Payload = []byte{}
	}
	var err error
	if m.Reactions, err = decodeReactions(reactions); err != nil {
		return chat.Message{}, fmt.Errorf("message %s: %w", m.ID, err)
	}
	m.CreatedAt, m.UpdatedAt = fromMS(created), fromMS(updated)
	if deleted.Valid {
		t := fromMS(deleted.Int64)
		m.DeletedAt = &t
	}
	return m, nil
}

// MessageByRef returns the message with this reference id in room,
// including a deleted one (erased, DeletedAt set), or chat.ErrNotFound.
func (d *DB) MessageByRef(ctx context.Context, room, ref string) (chat.Message, error) {
	m, err := scanMessage(d.rd.QueryRowContext(ctx,
		`SELECT `+messageCols+` FROM messages WHERE room_id = ? AND ref_id = ?`, room, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return chat.Message{}, fmt.Errorf("message %q in room %q: %w", ref, room, chat.ErrNotFound)
	}
	if err != nil {
		return chat.Message{}, fmt.Errorf("message %q in room %q: %w", ref, room, err)
	}
	return m, nil
}

// MessageByID returns the message with this server id, including a
// deleted one (erased, DeletedAt set), or chat.ErrNotFound.
func (d *DB) MessageByID(ctx context.Context, id string) (chat.Message, error) {
	m, err := scanMessage(d.rd.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return chat.Message{}, fmt.Errorf("message id %q: %w", id, chat.ErrNotFound)
	}
	if err != nil {
		return chat.Message{}, fmt.Errorf("message id %q: %w", id, err)
	}
	return m, nil
}

// History returns up to limit (1..MaxHistoryLimit) live messages of room,
// newest first: by created_at, then by insertion order for equal times.
// Soft-deleted messages are left out but still work as a BeforeRef cursor;
// an unknown BeforeRef is chat.ErrNotFound. The result is never nil.
//
// When the clock only moves forward this order is insertion order, so a
// BeforeRef page holds exactly the messages inserted before that message.
func (d *DB) History(ctx context.Context, room string, c chat.Cursor, limit int) ([]chat.Message, error) {
	if limit < 1 || limit > chat.MaxHistoryLimit {
		return nil, fmt.Errorf("history: %w: limit %d outside 1..%d", chat.ErrInvalid, limit, chat.MaxHistoryLimit)
	}
	q := `SELECT ` + messageCols + ` FROM messages WHERE room_id = ? AND deleted_at IS NULL`
	args := []any{room}
	if !c.Before.IsZero() {
		// Round up so that "before 10.5 ms" keeps messages stamped 10 ms.
		b := ms(c.Before)
		if c.Before.After(time.UnixMilli(b)) {
			b++
		}
		q += ` AND created_at < ?`
		args = append(args, b)
	}
	if c.BeforeRef != "" {
		var created, seq int64
		err := d.rd.QueryRowContext(ctx, `SELECT created_at, seq FROM messages WHERE room_id = ? AND ref_id = ?`,
			room, c.BeforeRef).Scan(&created, &seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("history: cursor %q in room %q: %w", c.BeforeRef, room, chat.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("history: cursor: %w", err)
		}
		q += ` AND (created_at, seq) < (?, ?)`
		args = append(args, created, seq)
	}
	q += ` ORDER BY created_at DESC, seq DESC LIMIT ?`
	args = append(args, limit)

	rows, err := d.rd.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	out := make([]chat.Message, 0, min(limit, 64))
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return out, nil
}

// ToggleReaction adds userID's reaction of kind to a live message, or
// removes it if the user already reacted with that kind; a kind left with
// no users is dropped (protocol.md § Room semantics). The read, change,
// write and the reaction event share one IMMEDIATE transaction, so
// concurrent toggles never lose each other. It returns the updated message
// with the event's EventSeq, or chat.ErrNotFound for an unknown or deleted
// message.
func (d *DB) ToggleReaction(ctx context.Context, room, ref, userID string, kind int) (chat.Message, error) {
	if userID == "" || kind < 0 {
		return chat.Message{}, fmt.Errorf("toggle reaction: %w: user %q, kind %d", chat.ErrInvalid, userID, kind)
	}
	res, err := d.writeOps(ctx, []chat.Op{{Toggle: &chat.Toggle{Room: room, RefID: ref, UserID: userID, Kind: kind}}})
	if err != nil {
		return chat.Message{}, fmt.Errorf("toggle reaction on %q in room %q: %w", ref, room, err)
	}
	if res[0].Err != nil {
		return chat.Message{}, res[0].Err
	}
	return res[0].Message, nil
}

// DeleteMessage deletes a live message; only its author may. Its text and
// reactions are erased in the same transaction that numbers the delete
// event. It returns the deleted message, chat.ErrNotFound for an unknown or
// already deleted one, and chat.ErrForbidden when userID is not the author.
func (d *DB) DeleteMessage(ctx context.Context, room, ref, userID string) (chat.Message, error) {
	var m chat.Message
	err := d.numberedTx(ctx, func(tx *sql.Tx, h *heads) error {
		var err error
		m, err = liveMessage(ctx, tx, room, ref)
		if err != nil {
			return err
		}
		if m.UserID != userID {
			return chat.ErrForbidden
		}
		now := d.nowMS()
		m.DeletedAt, m.UpdatedAt = &now, now
		m.Erase()
		if _, err = tx.ExecContext(ctx, `UPDATE messages SET deleted_at = ?, updated_at = ?, payload = x'', reactions = '[]'
			WHERE room_id = ? AND ref_id = ?`, ms(now), ms(now), room, ref); err != nil {
			return err
		}
		m.EventSeq, err = h.event(ctx, chat.EventDelete, room, ref, m.UserID, 0, now)
		return err
	})
	if err != nil {
		return chat.Message{}, fmt.Errorf("delete message %q in room %q: %w", ref, room, err)
	}
	return m, nil
}

// LastSeq returns room's newest event number, 0 for a room without events.
func (d *DB) LastSeq(ctx context.Context, room string) (int64, error) {
	var s int64
	if err := d.rd.QueryRowContext(ctx, headSQL, room).Scan(&s); err != nil {
		return 0, fmt.Errorf("last seq of room %q: %w", room, err)
	}
	return s, nil
}

// eventsAfterSQL merges the two halves of a room's number line, messages
// and the other events, each read on its own (room, seq) key and cut to
// the limit before the merge. One statement reads one snapshot, so a page
// never shows an event without those below it.
const eventsAfterSQL = `SELECT seq, kind, ref_id, user_id, reaction_kind, payload, deleted, created_at FROM (
	SELECT * FROM (SELECT room_seq AS seq, 0 AS kind, ref_id, user_id, 0 AS reaction_kind, payload,
			deleted_at IS NOT NULL AS deleted, created_at
		FROM messages WHERE room_id = ?1 AND room_seq > ?2 ORDER BY room_seq LIMIT ?3)
	UNION ALL
	SELECT * FROM (SELECT seq, kind, ref_id, user_id, reaction_kind, x'' AS payload, 0 AS deleted, created_at
		FROM room_events WHERE room_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3)
) ORDER BY seq LIMIT ?3`

// EventsAfter returns up to limit events of room after seq, ascending, as
// chat.EventLog documents.
func (d *DB) EventsAfter(ctx context.Context, room string, after int64, limit int) ([]chat.Event, error) {
	if limit < 1 || limit > chat.MaxEventsLimit {
		return nil, fmt.Errorf("events after: %w: limit %d outside 1..%d", chat.ErrInvalid, limit, chat.MaxEventsLimit)
	}
	rows, err := d.rd.QueryContext(ctx, eventsAfterSQL, room, after, limit)
	if err != nil {
		return nil, fmt.Errorf("events after %d in room %q: %w", after, room, err)
	}
	defer rows.Close()
	out := make([]chat.Event, 0, min(limit, 64))
	for rows.Next() {
		e := chat.Event{Room: room}
		var kind int
		var at int64
		if err := rows.Scan(&e.Seq, &kind, &e.RefID, &e.UserID, &e.Reaction, &e.Payload, &e.Deleted, &at); err != nil {
			return nil, fmt.Errorf("events after %d in room %q: %w", after, room, err)
		}
		e.Kind, e.At = chat.EventKind(kind), fromMS(at)
		if e.Payload == nil {
			e.Payload = []byte{}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events after %d in room %q: %w", after, room, err)
	}
	return out, nil
}

// MessagesAfter returns up to limit messages of room with Seq > after,
// ascending, deleted ones included, as chat.EventLog documents.
func (d *DB) MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]chat.Message, error) {
	if limit < 1 || limit > chat.MaxEventsLimit {
		return nil, fmt.Errorf("messages after: %w: limit %d outside 1..%d", chat.ErrInvalid, limit, chat.MaxEventsLimit)
	}
	rows, err := d.rd.QueryContext(ctx, `SELECT `+messageCols+` FROM messages
		WHERE room_id = ? AND room_seq > ? ORDER BY room_seq LIMIT ?`, room, after, limit)
	if err != nil {
		return nil, fmt.Errorf("messages after %d in room %q: %w", after, room, err)
	}
	defer rows.Close()
	out := make([]chat.Message, 0, min(limit, 64))
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("messages after %d in room %q: %w", after, room, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("messages after %d in room %q: %w", after, room, err)
	}
	return out, nil
}

// liveMessage reads a message that is not deleted inside tx.
func liveMessage(ctx context.Context, tx *sql.Tx, room, ref string) (chat.Message, error) {
	m, err := scanMessage(tx.QueryRowContext(ctx,
		`SELECT `+messageCols+` FROM messages WHERE room_id = ? AND ref_id = ? AND deleted_at IS NULL`, room, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return chat.Message{}, chat.ErrNotFound
	}
	return m, err
}

// msPtr maps a nil time to SQL NULL.
func msPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ms(*t)
}
