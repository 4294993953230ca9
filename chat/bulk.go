package chat

import "context"

// BulkUser is a user as it moves between installations: with its own id,
// times and credential password hash ("" when it has none), so old
// passwords keep working after the move.
type BulkUser struct {
	User
	PasswordHash string
}

// Counts are the row counts of an installation, compared after a move to
// prove nothing was lost.
type Counts struct {
	Users    int64
	Sessions int64
	Messages int64 // including deleted (erased) ones
	Deleted  int64 // deleted messages
	// Reactions counts (message, kind, user) triples: one per user's
	// reaction on a message. A deleted message has none.
	Reactions int64
	Settings  int64
}

// Empty reports whether the installation holds no data at all.
func (c Counts) Empty() bool { return c == Counts{} }

// BulkLoader writes whole installations: `wasmchannel db copy` (SQLite to
// PostgreSQL) and `wasmchannel import d1` (upstream's Cloudflare D1 export).
//
// Rows keep exactly what they are given: ids, reference ids, authors,
// payloads, reactions and created/updated/deleted times (truncated to
// milliseconds); nothing is stamped with the clock. The one exception: a
// deleted message is stored erased (Message.Erase), as a delete leaves it.
// Each loaded message takes its room's next sequence number. Each call is one
// transaction. A row whose key is already stored (user id or email, session
// id or token hash, message id or (room, reference id), setting key) is
// skipped and not counted, so rerunning a load interrupted part-way
// finishes it without duplicates; the returned count says how many rows
// were new. Messages must be given oldest first: their order is the
// insertion order that breaks History ties between equal times. Sessions
// need their users loaded first.
type BulkLoader interface {
	LoadUsers(ctx context.Context, users []BulkUser) (added int, err error)
	LoadSessions(ctx context.Context, sessions []Session) (added int, err error)
	LoadMessages(ctx context.Context, msgs []Message) (added int, err error)
	LoadSettings(ctx context.Context, settings map[string]string) (added int, err error)
	// Counts returns the installation's row counts.
	Counts(ctx context.Context) (Counts, error)
}

// BulkReader reads a whole installation in the order a BulkLoader wants
// it. Each walk calls fn with pages of at most batch rows (a store default
// when batch <= 0) and stops at fn's first error, which it returns.
type BulkReader interface {
	EachUser(ctx context.Context, batch int, fn func([]BulkUser) error) error
	EachSession(ctx context.Context, batch int, fn func([]Session) error) error
	// EachMessage walks messages oldest first, in insertion order, including
	// deleted (erased) ones.
	EachMessage(ctx context.Context, batch int, fn func([]Message) error) error
	Settings(ctx context.Context) (map[string]string, error)
}

// BulkStore is both directions, which every Store offers.
type BulkStore interface {
	BulkLoader
	BulkReader
}
