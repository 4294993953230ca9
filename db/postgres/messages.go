package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmchannel/wasmchannel/chat"
)

// storedReaction is one element of the reactions column's JSON array, in
// the protocol's spelling, as SQLite stores it. User ids are escaped like
// text columns: PostgreSQL's JSON functions refuse \u0000.
type storedReaction struct {
	Kind  int      `json:"kind"`
	Count int      `json:"count"`
	Users []string `json:"users"`
}

// encodeReactions writes rs as the reactions column holds them; never null.
func encodeReactions(rs []chat.Reaction) (string, error) {
	out := make([]storedReaction, len(rs))
	for i, r := range chat.NormReactions(rs) {
		users := make([]string, len(r.Users))
		for j, u := range r.Users {
			users[j] = enc(u)
		}
		out[i] = storedReaction{Kind: r.Kind, Count: r.Count, Users: users}
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
		for j := range r.Users {
			r.Users[j] = dec(r.Users[j])
		}
		out[i] = chat.Reaction(r)
	}
	return chat.NormReactions(out), nil
}

// insertArgs are the column values of m, in insertMessagesSQL's order.
func insertArgs(m *chat.Message) ([]any, error) {
	reactions, err := encodeReactions(m.Reactions)
	if err != nil {
		return nil, err
	}
	return []any{enc(m.ID), enc(m.Room), enc(m.RefID), enc(m.UserID), m.Kind, m.ReactionKind,
		enc(strings.ToValidUTF8(string(m.Payload), "\uFFFD")), m.Payload, reactions,
		ms(m.CreatedAt), ms(m.UpdatedAt), msPtr(m.DeletedAt)}, nil
}

// insertMessagesSQL inserts a whole batch in one statement, one array per
// column, in the given order (so seq follows it). A row whose (room_id,
// ref_id) is taken, by a stored row or an earlier one of the batch, is
// skipped: that is a resend. A taken id is not skipped: it fails the
// statement, which InsertMessages reports as a conflict. RETURNING names
// the rows that went in.
const insertMessagesSQL = `INSERT INTO messages
	(id, room_id, ref_id, user_id, kind, reaction_kind, content, payload, reactions, created_at, updated_at, deleted_at)
	SELECT id, room_id, ref_id, user_id, kind, reaction_kind, content, payload, reactions::json, created_at, updated_at, deleted_at
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::integer[], $7::text[], $8::bytea[],
		$9::text[], $10::bigint[], $11::bigint[], $12::bigint[])
		WITH ORDINALITY AS t(id, room_id, ref_id, user_id, kind, reaction_kind, content, payload, reactions,
			created_at, updated_at, deleted_at, ord)
	ORDER BY ord
	ON CONFLICT (room_id, ref_id) DO NOTHING
	RETURNING id`

// batchArgs turns msgs into insertMessagesSQL's twelve column arrays.
func batchArgs(msgs []chat.Message) ([]any, error) {
	cols := make([][]any, 12)
	for i := range msgs {
		row, err := insertArgs(&msgs[i])
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		for c, v := range row {
			cols[c] = append(cols[c], v)
		}
	}
	args := make([]any, len(cols))
	for c := range cols {
		args[c] = cols[c]
	}
	return args, nil
}

// InsertMessages stores msgs in ONE transaction and one statement: all of
// them or, on error, none. A message whose (Room, RefID) is stored already
// (a resend, or a repeat within msgs) is skipped by the unique key: fresh[i]
// is false. A server ID already used by another message, or any other
// constraint a row breaks, wraps chat.ErrConflict.
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
	args, err := batchArgs(msgs)
	if err != nil {
		return nil, fmt.Errorf("insert messages: %w", err)
	}
	// One statement is its own transaction: all rows or none.
	rows, err := d.pool.Query(ctx, insertMessagesSQL, args...)
	if err != nil {
		return nil, fmt.Errorf("insert messages: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if isConstraint(err) {
		return nil, fmt.Errorf("insert messages: %w: %v", chat.ErrConflict, err)
	}
	if err != nil {
		return nil, fmt.Errorf("insert messages: %w", err)
	}
	added := make(map[string]bool, len(ids))
	for _, id := range ids {
		added[dec(id)] = true
	}
	for i := range msgs {
		// Only the first of several rows sharing an id can have gone in.
		if added[msgs[i].ID] {
			fresh[i] = true
			delete(added, msgs[i].ID)
		}
	}
	return fresh, nil
}

// messageCols are the columns scanMessage reads, in order.
const messageCols = `id, room_id, ref_id, user_id, kind, reaction_kind, payload, reactions::text,
	created_at, updated_at, deleted_at`

// scanMessage reads messageCols, after any leading extra columns.
func scanMessage(row pgx.Row, extra ...any) (chat.Message, error) {
	var m chat.Message
	var reactionKind *int32
	var deleted *int64
	var reactions string
	var created, updated int64
	dst := append(extra, &m.ID, &m.Room, &m.RefID, &m.UserID, &m.Kind, &reactionKind, &m.Payload,
		&reactions, &created, &updated, &deleted)
	if err := row.Scan(dst...); err != nil {
		return chat.Message{}, err
	}
	decAll(&m.ID, &m.Room, &m.RefID, &m.UserID)
	if reactionKind != nil {
		k := int(*reactionKind)
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
	if deleted != nil {
		t := fromMS(*deleted)
		m.DeletedAt = &t
	}
	return m, nil
}

// MessageByRef returns the message with this reference id in room,
// including a soft-deleted one, or chat.ErrNotFound.
func (d *DB) MessageByRef(ctx context.Context, room, ref string) (chat.Message, error) {
	m, err := scanMessage(d.pool.QueryRow(ctx,
		`SELECT `+messageCols+` FROM messages WHERE room_id = $1 AND ref_id = $2`, enc(room), enc(ref)))
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.Message{}, fmt.Errorf("message %q in room %q: %w", ref, room, chat.ErrNotFound)
	}
	if err != nil {
		return chat.Message{}, fmt.Errorf("message %q in room %q: %w", ref, room, err)
	}
	return m, nil
}

// MessageByID returns the message with this server id, including a
// soft-deleted one, or chat.ErrNotFound.
func (d *DB) MessageByID(ctx context.Context, id string) (chat.Message, error) {
	m, err := scanMessage(d.pool.QueryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE id = $1`, enc(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.Message{}, fmt.Errorf("message id %q: %w", id, chat.ErrNotFound)
	}
	if err != nil {
		return chat.Message{}, fmt.Errorf("message id %q: %w", id, err)
	}
	return m, nil
}

// History returns up to limit live messages of room, newest first, as
// chat.MessageStore documents.
func (d *DB) History(ctx context.Context, room string, c chat.Cursor, limit int) ([]chat.Message, error) {
	if limit < 1 || limit > chat.MaxHistoryLimit {
		return nil, fmt.Errorf("history: %w: limit %d outside 1..%d", chat.ErrInvalid, limit, chat.MaxHistoryLimit)
	}
	// Unused bounds are the widest values, so one fixed statement serves
	// every cursor.
	before := int64(1<<63 - 1)
	if !c.Before.IsZero() {
		// Round up so that "before 10.5 ms" keeps messages stamped 10 ms.
		before = ms(c.Before)
		if c.Before.After(time.UnixMilli(before)) {
			before++
		}
	}
	refCreated, refSeq := int64(1<<63-1), int64(1<<63-1)
	if c.BeforeRef != "" {
		err := d.pool.QueryRow(ctx, `SELECT created_at, seq FROM messages WHERE room_id = $1 AND ref_id = $2`,
			enc(room), enc(c.BeforeRef)).Scan(&refCreated, &refSeq)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("history: cursor %q in room %q: %w", c.BeforeRef, room, chat.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("history: cursor: %w", err)
		}
	}
	rows, err := d.pool.Query(ctx, `SELECT `+messageCols+` FROM messages
		WHERE room_id = $1 AND deleted_at IS NULL AND created_at < $2 AND (created_at, seq) < ($3, $4)
		ORDER BY created_at DESC, seq DESC LIMIT $5`, enc(room), before, refCreated, refSeq, limit)
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

// liveForUpdate reads a message that is not soft-deleted and locks its row
// until tx ends, so a concurrent toggle or delete waits for this one.
func liveForUpdate(ctx context.Context, tx pgx.Tx, room, ref string) (chat.Message, error) {
	m, err := scanMessage(tx.QueryRow(ctx, `SELECT `+messageCols+` FROM messages
		WHERE room_id = $1 AND ref_id = $2 AND deleted_at IS NULL FOR UPDATE`, enc(room), enc(ref)))
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.Message{}, chat.ErrNotFound
	}
	return m, err
}

// ToggleReaction applies chat.ToggleReaction to a live message under its
// row lock and returns the updated message, or chat.ErrNotFound.
func (d *DB) ToggleReaction(ctx context.Context, room, ref, userID string, kind int) (chat.Message, error) {
	if userID == "" || kind < 0 {
		return chat.Message{}, fmt.Errorf("toggle reaction: %w: user %q, kind %d", chat.ErrInvalid, userID, kind)
	}
	var m chat.Message
	err := d.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if m, err = liveForUpdate(ctx, tx, room, ref); err != nil {
			return err
		}
		m.Reactions = chat.ToggleReaction(m.Reactions, userID, kind)
		m.UpdatedAt = d.nowMS()
		b, err := encodeReactions(m.Reactions)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE messages SET reactions = $1::json, updated_at = $2 WHERE room_id = $3 AND ref_id = $4`,
			b, ms(m.UpdatedAt), enc(room), enc(ref))
		return err
	})
	if err != nil {
		return chat.Message{}, fmt.Errorf("toggle reaction on %q in room %q: %w", ref, room, err)
	}
	return m, nil
}

// DeleteMessage soft-deletes a live message; only its author may. It
// returns the deleted message, chat.ErrNotFound or chat.ErrForbidden.
func (d *DB) DeleteMessage(ctx context.Context, room, ref, userID string) (chat.Message, error) {
	var m chat.Message
	err := d.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if m, err = liveForUpdate(ctx, tx, room, ref); err != nil {
			return err
		}
		if m.UserID != userID {
			return chat.ErrForbidden
		}
		now := d.nowMS()
		m.DeletedAt, m.UpdatedAt = &now, now
		_, err = tx.Exec(ctx, `UPDATE messages SET deleted_at = $1, updated_at = $2 WHERE room_id = $3 AND ref_id = $4`,
			ms(now), ms(now), enc(room), enc(ref))
		return err
	})
	if err != nil {
		return chat.Message{}, fmt.Errorf("delete message %q in room %q: %w", ref, room, err)
	}
	return m, nil
}
