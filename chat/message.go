package chat

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"slices"
	"time"
)

// Reaction is one entry of a message's reactions list (protocol.md § Room
// semantics): the users who reacted with Kind, and how many they are.
type Reaction struct {
	Kind  int
	Count int
	Users []string
}

// Message is a stored chat message.
type Message struct {
	ID    string // server-made, globally unique (NewMessageID)
	Room  string
	RefID string // the client's message_id ("refrenceId"), unique per room
	// Seq is the message's place in its room's event order (see Event),
	// assigned by the store in the committing transaction; 0 before that.
	Seq int64
	// EventSeq is set only on the value a write returns: the Seq of the
	// event that write committed (the message's own Seq for a fresh insert,
	// the reaction's or the delete's for those), 0 when it committed none
	// (a resend). Reads leave it 0.
	EventSeq     int64
	UserID       string
	Kind         int
	ReactionKind *int
	// Payload is the exact payload bytes, even when not UTF-8. A deleted
	// message's is erased: empty, like its Reactions.
	Payload   []byte
	Reactions []Reaction
	CreatedAt time.Time
	UpdatedAt time.Time
	DeletedAt *time.Time
}

// Deleted reports whether m was deleted (its text and reactions erased).
func (m Message) Deleted() bool { return m.DeletedAt != nil }

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

// MaxHistoryLimit bounds one History page, so a request cannot pull a whole
// room into memory. The HTTP API allows at most 100 (http-api.md § Messages).
const MaxHistoryLimit = 1000

// Millis truncates t to the millisecond precision stores keep, in UTC, so a
// value read back equals the one written.
func Millis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// idEncoding is base32 with Crockford's alphabet, whose characters are in
// ASCII order, so ids compare as strings the way their bytes do.
var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// NewMessageID returns a URL-safe message id of 26 characters: a 48-bit
// millisecond timestamp then 80 random bits (the ULID layout). Random ids
// would scatter each batch's inserts over the whole unique id index and
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

// Normalize validates m and fills its defaults in place, as every store does
// before an insert: a fresh ID, now for a zero CreatedAt, CreatedAt for a
// zero UpdatedAt, an empty payload for nil, a non-nil reactions list; a
// message given with DeletedAt is erased.
// Times are truncated to the stored milliseconds. The error wraps
// ErrInvalid.
func (m *Message) Normalize(now time.Time) error {
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
	m.CreatedAt = Millis(m.CreatedAt)
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	m.UpdatedAt = Millis(m.UpdatedAt)
	if m.DeletedAt != nil {
		t := Millis(*m.DeletedAt)
		m.DeletedAt = &t
		m.Erase()
	}
	if m.Payload == nil {
		m.Payload = []byte{} // nil would bind as NULL
	}
	m.Reactions = NormReactions(m.Reactions)
	return nil
}

// Erase drops what a delete must not keep: the text and the reactions
// (who reacted). Ids, author, kind and times stay, so a resend of a
// deleted id still finds it and is answered as deleted, never revived.
func (m *Message) Erase() {
	m.Payload = []byte{}
	m.Reactions = []Reaction{}
}

// NormReactions returns a copy of rs with every Users list non-nil, and an
// empty, non-nil list for none, so encoders write [] rather than null.
func NormReactions(rs []Reaction) []Reaction {
	out := make([]Reaction, len(rs))
	for i, r := range rs {
		if r.Users == nil {
			r.Users = []string{}
		}
		out[i] = r
	}
	return out
}

// ToggleReaction applies one toggle of userID's reaction of kind to rs and
// returns the new list (rs is not modified): the user is added, or removed
// if already there, and a kind left with no users is dropped (protocol.md §
// Room semantics). New kinds and users are appended, so the list keeps
// first-reaction order. Stores call it inside the transaction that read rs.
func ToggleReaction(rs []Reaction, userID string, kind int) []Reaction {
	out := NormReactions(rs)
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
