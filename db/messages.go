package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Reaction is one entry of a message's reactions list (protocol.md § Room
// semantics): the users who reacted with Kind, and how many they are.
type Reaction struct {
	Kind  int      `json:"kind"`
	Count int      `json:"count"`
	Users []string `json:"users"`
}

// Message is a stored chat message.
type Message struct {
	ID           string // server-made, globally unique (NewMessageID)
	Room         string
	RefID        string // the client's message_id ("refrenceId"), unique per room
	UserID       string
	Kind         int
	ReactionKind *int
	Payload      []byte // the exact payload bytes, even when not UTF-8
	Reactions    []Reaction
	CreatedAt    time.Time
	UpdatedAt    time.Time
	DeletedAt    *time.Time
}

// MaxHistoryLimit bounds one History page, so a request cannot pull a whole
// room into memory. The HTTP API allows at most 100 (http-api.md § Messages).
const MaxHistoryLimit = 1000

// jsonTimeLayout is ISO-8601 in UTC with milliseconds, as JavaScript's
// Date.prototype.toISOString writes it, which upstream's clients parse.
const jsonTimeLayout = "2006-01-02T15:04:05.000Z"

// messageJSON is upstream's message shape (protocol.md § History), spelling
// of "refrenceId" included.
type messageJSON struct {
	ID           string     `json:"id"`
	RefID        string     `json:"refrenceId"`
	Kind         int        `json:"kind"`
	ReactionKind *int       `json:"reactionKind"`
	Message      string     `json:"message"`
	Reactions    []Reaction `json:"reactions"`
	SentBy       string     `json:"sentBy"`
	CreatedAt    string     `json:"createdAt"`
	UpdatedAt    string     `json:"updatedAt"`
	DeletedAt    *string    `json:"deletedAt"`
}

// MarshalJSON writes upstream's shape: the payload as text (invalid UTF-8
// becomes U+FFFD), reactions as a list that is never null, times as
// ISO-8601 UTC with milliseconds, and null for absent optional fields. The
// room is not part of the shape.
func (m Message) MarshalJSON() ([]byte, error) {
	j := messageJSON{
		ID:           m.ID,
		RefID:        m.RefID,
		Kind:         m.Kind,
		ReactionKind: m.ReactionKind,
		Message:      string(m.Payload),
		Reactions:    normReactions(m.Reactions),
		SentBy:       m.UserID,
		CreatedAt:    FormatTime(m.CreatedAt),
		UpdatedAt:    FormatTime(m.UpdatedAt),
	}
	if m.DeletedAt != nil {
		s := FormatTime(*m.DeletedAt)
		j.DeletedAt = &s
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the shape MarshalJSON writes, for clients and tests.
// Room is left empty and Payload holds the text's UTF-8 bytes.
func (m *Message) UnmarshalJSON(b []byte) error {
	var j messageJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Message{
		ID: j.ID, RefID: j.RefID, UserID: j.SentBy, Kind: j.Kind, ReactionKind: j.ReactionKind,
		Payload: []byte(j.Message), Reactions: normReactions(j.Reactions),
	}
	var err error
	if out.CreatedAt, err = ParseTime(j.CreatedAt); err != nil {
		return fmt.Errorf("createdAt: %w", err)
	}
	if out.UpdatedAt, err = ParseTime(j.UpdatedAt); err != nil {
		return fmt.Errorf("updatedAt: %w", err)
	}
	if j.DeletedAt != nil {
		t, err := ParseTime(*j.DeletedAt)
		if err != nil {
			return fmt.Errorf("deletedAt: %w", err)
		}
		out.DeletedAt = &t
	}
	*m = out
	return nil
}

// FormatTime writes t as ISO-8601 UTC with milliseconds, the form of every
// time in the JSON API.
func FormatTime(t time.Time) string { return t.UTC().Format(jsonTimeLayout) }

// ParseTime reads an ISO-8601 / RFC 3339 time, with or without fractional
// seconds, such as a history cursor.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// normReactions returns rs with every Users list non-nil, and an empty,
// non-nil list for none, so the JSON says [] rather than null.
func normReactions(rs []Reaction) []Reaction {
	out := make([]Reaction, len(rs))
	for i, r := range rs {
		if r.Users == nil {
			r.Users = []string{}
		}
		out[i] = r
	}
	return out
}

// idEncoding is base32 with Crockford's alphabet, whose characters are in
// ASCII order, so ids compare as strings the way their bytes do.
var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// NewMessageID returns a URL-safe message id of 26 characters: a 48-bit
// millisecond timestamp then 80 random bits (the ULID layout). Random ids
// would scatter each batch's inserts over the whole UNIQUE(id) index and
// rewrite a page per message; time-first ids append to its end.
func NewMessageID() string {
	var b [16]byte
	t := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(t)
		t >>= 8
	}
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand documents it)
	return idEncoding.EncodeToString(b[:])
}

// prepare validates m and fills its defaults in place: a fresh ID, the
// clock's time for a zero CreatedAt, CreatedAt for a zero UpdatedAt, an
// empty payload for nil. Times are truncated to the stored milliseconds.
func (m *Message) prepare(now time.Time) error {
	switch {
	case m.Room == "":
		return fmt.Errorf("%w: message without room", ErrInvalid)
	case m.RefID == "":
		return fmt.Errorf("%w: message without reference id", ErrInvalid)
	case m.UserID == "":
		return fmt.Errorf("%w: message without user id", ErrInvalid)
	case m.Kind < 0:
		return fmt.Errorf("%w: negative kind %d", ErrInvalid, m.Kind)
	}
	if m.ID == "" {
		m.ID = NewMessageID()
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	m.CreatedAt = fromMS(ms(m.CreatedAt))
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	m.UpdatedAt = fromMS(ms(m.UpdatedAt))
	if m.DeletedAt != nil {
		t := fromMS(ms(*m.DeletedAt))
		m.DeletedAt = &t
	}
	if m.Payload == nil {
		m.Payload = []byte{} // nil would bind as NULL
	}
	return nil
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
// filled into msgs in place (see Message fields). A server ID already used
// by another message is an error wrapping ErrExists.
func (d *DB) InsertMessages(ctx context.Context, msgs []Message) (fresh []bool, err error) {
	now := d.nowMS()
	for i := range msgs {
		if err := msgs[i].prepare(now); err != nil {
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
			reactions, err := json.Marshal(normReactions(m.Reactions))
			if err != nil {
				return fmt.Errorf("message %d: encode reactions: %w", i, err)
			}
			res, err := ins.ExecContext(ctx, m.ID, m.Room, m.RefID, m.UserID, m.Kind, m.ReactionKind,
				strings.ToValidUTF8(string(m.Payload), "\uFFFD"), m.Payload, string(reactions),
				ms(m.CreatedAt), ms(m.UpdatedAt), msPtr(m.DeletedAt))
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
				return fmt.Errorf("message %d: id %q: %w", i, m.ID, ErrExists)
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
func scanMessage(sc interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var reactionKind, deleted sql.NullInt64
	var content, reactions string
	var created, updated int64
	if err := sc.Scan(&m.ID, &m.Room, &m.RefID, &m.UserID, &m.Kind, &reactionKind, &m.Payload, &content,
		&reactions, &created, &updated, &deleted); err != nil {
		return Message{}, err
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
	if err := json.Unmarshal([]byte(reactions), &m.Reactions); err != nil {
		return Message{}, fmt.Errorf("message %s: decode reactions: %w", m.ID, err)
	}
	m.Reactions = normReactions(m.Reactions)
	m.CreatedAt, m.UpdatedAt = fromMS(created), fromMS(updated)
	if deleted.Valid {
		t := fromMS(deleted.Int64)
		m.DeletedAt = &t
	}
	return m, nil
}

// MessageByRef returns the message with this reference id in room,
// including a soft-deleted one (DeletedAt set), or ErrNotFound.
func (d *DB) MessageByRef(ctx context.Context, room, ref string) (Message, error) {
	m, err := scanMessage(d.rd.QueryRowContext(ctx,
		`SELECT `+messageCols+` FROM messages WHERE room_id = ? AND ref_id = ?`, room, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("message %q in room %q: %w", ref, room, ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("message %q in room %q: %w", ref, room, err)
	}
	return m, nil
}

// MessageByID returns the message with this server id, including a
// soft-deleted one (DeletedAt set), or ErrNotFound.
func (d *DB) MessageByID(ctx context.Context, id string) (Message, error) {
	m, err := scanMessage(d.rd.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("message id %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("message id %q: %w", id, err)
	}
	return m, nil
}

// Cursor selects where a History page starts; the zero Cursor means the
// newest messages. With both fields set, a message must be before both.
type Cursor struct {
	// Before keeps messages created strictly before this time, compared at
	// the stored millisecond precision (a time inside a millisecond keeps
	// that millisecond's messages).
	Before time.Time
	// BeforeRef keeps messages that come before the message with this
	// reference id in the page order.
	BeforeRef string
}

// History returns up to limit (1..MaxHistoryLimit) live messages of room,
// newest first: by created_at, then by insertion order for equal times.
// Soft-deleted messages are left out but still work as a BeforeRef cursor;
// an unknown BeforeRef is ErrNotFound. The result is never nil.
//
// When the clock only moves forward this order is insertion order, so a
// BeforeRef page holds exactly the messages inserted before that message.
func (d *DB) History(ctx context.Context, room string, c Cursor, limit int) ([]Message, error) {
	if limit < 1 || limit > MaxHistoryLimit {
		return nil, fmt.Errorf("history: %w: limit %d outside 1..%d", ErrInvalid, limit, MaxHistoryLimit)
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
			return nil, fmt.Errorf("history: cursor %q in room %q: %w", c.BeforeRef, room, ErrNotFound)
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
	out := make([]Message, 0, min(limit, 64))
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
// each other. It returns the updated message, or ErrNotFound for an unknown
// or deleted message.
func (d *DB) ToggleReaction(ctx context.Context, room, ref, userID string, kind int) (Message, error) {
	if userID == "" || kind < 0 {
		return Message{}, fmt.Errorf("toggle reaction: %w: user %q, kind %d", ErrInvalid, userID, kind)
	}
	var m Message
	err := d.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		m, err = liveMessage(ctx, tx, room, ref)
		if err != nil {
			return err
		}
		m.Reactions = toggle(m.Reactions, userID, kind)
		m.UpdatedAt = d.nowMS()
		b, err := json.Marshal(m.Reactions)
		if err != nil {
			return fmt.Errorf("encode reactions: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE messages SET reactions = ?, updated_at = ? WHERE room_id = ? AND ref_id = ?`,
			string(b), ms(m.UpdatedAt), room, ref)
		return err
	})
	if err != nil {
		return Message{}, fmt.Errorf("toggle reaction on %q in room %q: %w", ref, room, err)
	}
	return m, nil
}

// toggle applies one reaction toggle to rs and returns the new list.
func toggle(rs []Reaction, userID string, kind int) []Reaction {
	out := normReactions(rs)
	for i := range out {
		if out[i].Kind != kind {
			continue
		}
		if j := slices.Index(out[i].Users, userID); j >= 0 {
			out[i].Users = slices.Delete(slices.Clone(out[i].Users), j, j+1)
		} else {
			out[i].Users = append(slices.Clone(out[i].Users), userID)
		}
		out[i].Count = len(out[i].Users)
		if out[i].Count == 0 {
			out = slices.Delete(out, i, i+1)
		}
		return out
	}
	return append(out, Reaction{Kind: kind, Count: 1, Users: []string{userID}})
}

// DeleteMessage soft-deletes a live message by setting deleted_at; only its
// author may. It returns the deleted message, ErrNotFound for an unknown or
// already deleted one, and ErrForbidden when userID is not the author.
func (d *DB) DeleteMessage(ctx context.Context, room, ref, userID string) (Message, error) {
	var m Message
	err := d.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		m, err = liveMessage(ctx, tx, room, ref)
		if err != nil {
			return err
		}
		if m.UserID != userID {
			return ErrForbidden
		}
		now := d.nowMS()
		m.DeletedAt, m.UpdatedAt = &now, now
		_, err = tx.ExecContext(ctx, `UPDATE messages SET deleted_at = ?, updated_at = ? WHERE room_id = ? AND ref_id = ?`,
			ms(now), ms(now), room, ref)
		return err
	})
	if err != nil {
		return Message{}, fmt.Errorf("delete message %q in room %q: %w", ref, room, err)
	}
	return m, nil
}

// liveMessage reads a message that is not soft-deleted inside tx.
func liveMessage(ctx context.Context, tx *sql.Tx, room, ref string) (Message, error) {
	m, err := scanMessage(tx.QueryRowContext(ctx,
		`SELECT `+messageCols+` FROM messages WHERE room_id = ? AND ref_id = ? AND deleted_at IS NULL`, room, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, ErrNotFound
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
