package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// insertMessageSQL skips a row whose (room_id, ref_id) or id is taken; the
// caller tells the two apart.
const insertMessageSQL = `INSERT INTO messages
	(id, room_id, ref_id, user_id, kind, reaction_kind, content, payload, reactions, created_at, updated_at, deleted_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO NOTHING`

// InsertMessages stores msgs in ONE transaction: all of them or, on error,
// none. A message whose (Room, RefID) is already stored (a client resending
// after a reconnect, or a repeat within msgs) is not an error: fresh[i] is
// false and the stored row is left untouched. Missing IDs and times are
// filled into msgs in place (see chat.Message fields). A server ID already used
// by another message is an error wrapping chat.ErrConflict.
func (d *DB) InsertMessages(ctx context.Context, msgs []chat.Message) (fresh []bool, err error) {
	now := d.nowMS()
	for i := range msgs {
		if err := msgs[i].Normalize(now); err != nil {
			return nil, fmt.Errorf("insert messages: message %d: %w", i, err)
		}
	}
	fresh = make([]bool, len(msgs))
	if len(msgs) == 0 {
		return fresh, nil
	}
	err = d.writeTx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, insertMessageSQL)
		if err != nil {
			return err
		}
		defer ins.Close()
		for i := range msgs {
			m := &msgs[i]
			reactions, err := encodeReactions(m.Reactions)
			if err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
			res, err := ins.ExecContext(ctx, m.ID, m.Room, m.RefID, m.UserID, m.Kind, m.ReactionKind,
				strings.ToValidUTF8(string(m.Payload), "\uFFFD"), m.Payload, reactions,
				ms(m.CreatedAt), ms(m.UpdatedAt), msPtr(m.DeletedAt))
			if isConstraint(err) {
				// A CHECK or trigger refused this row: its fault, not the
				// database's, so the writer can retry the others alone.
				return fmt.Errorf("message %d: %w: %v", i, chat.ErrConflict, err)
			}
			if err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
			if n == 1 {
				fresh[i] = true
				continue
			}
			// Skipped: a duplicate (room, ref) is expected; anything else
			// is an id collision, which must not pass as a duplicate.
			var one int
			err = tx.QueryRowContext(ctx, `SELECT 1 FROM messages WHERE room_id = ? AND ref_id = ?`,
				m.Room, m.RefID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("message %d: id %q: %w", i, m.ID, chat.ErrConflict)
			}
			if err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("insert messages: %w", err)
	}
	return fresh, nil
}

// messageCols are the columns scanMessage reads, in order.
const messageCols = `id, room_id, ref_id, user_id, kind, reaction_kind, payload, content, reactions,
	created_at, updated_at, deleted_at`

// scanMessage reads messageCols.
func scanMessage(sc interface{ Scan(...any) error }) (chat.Message, error) {
	var m chat.Message
	var reactionKind, deleted sql.NullInt64
	var content, reactions string
	var created, updated int64
	if err := sc.Scan(&m.ID, &m.Room, &m.RefID, &m.UserID, &m.Kind, &reactionKind, &m.Payload, &content,
		&reactions, &created, &updated, &deleted); err != nil {
		return chat.Message{}, err
	}
	if reactionKind.Valid {
		k := int(reactionKind.Int64)
		m.ReactionKind = &k
	}
	// Rows written without the payload column (the seed's schema) still
	// have their text.
	if len(m.Payload) == 0 {
		m.Payload = []byte(content)
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
// including a soft-deleted one (DeletedAt set), or chat.ErrNotFound.
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
// soft-deleted one (DeletedAt set), or chat.ErrNotFound.
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
// no users is dropped (protocol.md § Room semantics). New kinds and users
// are appended, so the list keeps first-reaction order. The read, change and
// write share one IMMEDIATE transaction, so concurrent toggles never lose
// each other. It returns the updated message, or chat.ErrNotFound for an unknown
// or deleted message.
func (d *DB) ToggleReaction(ctx context.Context, room, ref, userID string, kind int) (chat.Message, error) {
	if userID == "" || kind < 0 {
		return chat.Message{}, fmt.Errorf("toggle reaction: %w: user %q, kind %d", chat.ErrInvalid, userID, kind)
	}
	var m chat.Message
	err := d.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		m, err = liveMessage(ctx, tx, room, ref)
		if err != nil {
			return err
		}
		m.Reactions = chat.ToggleReaction(m.Reactions, userID, kind)
		m.UpdatedAt = d.nowMS()
		b, err := encodeReactions(m.Reactions)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE messages SET reactions = ?, updated_at = ? WHERE room_id = ? AND ref_id = ?`,
			b, ms(m.UpdatedAt), room, ref)
		return err
	})
	if err != nil {
		return chat.Message{}, fmt.Errorf("toggle reaction on %q in room %q: %w", ref, room, err)
	}
	return m, nil
}

// DeleteMessage soft-deletes a live message by setting deleted_at; only its
// author may. It returns the deleted message, chat.ErrNotFound for an unknown or
// already deleted one, and chat.ErrForbidden when userID is not the author.
func (d *DB) DeleteMessage(ctx context.Context, room, ref, userID string) (chat.Message, error) {
	var m chat.Message
	err := d.writeTx(ctx, func(tx *sql.Tx) error {
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
		_, err = tx.ExecContext(ctx, `UPDATE messages SET deleted_at = ?, updated_at = ? WHERE room_id = ? AND ref_id = ?`,
			ms(now), ms(now), room, ref)
		return err
	})
	if err != nil {
		return chat.Message{}, fmt.Errorf("delete message %q in room %q: %w", ref, room, err)
	}
	return m, nil
}

// liveMessage reads a message that is not soft-deleted inside tx.
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
