package chat

import (
	"context"
	"time"
)

// MessageStore reads and changes stored messages. New messages are written
// in batches through a Batcher (usually behind a Persister), so that many
// share one commit.
type MessageStore interface {
	// History returns up to limit (1..MaxHistoryLimit) live messages of
	// room, newest first: by CreatedAt, then by insertion order for equal
	// times. Deleted messages are left out but still work as a BeforeRef
	// cursor; an unknown BeforeRef is ErrNotFound. The result is never nil.
	History(ctx context.Context, room string, c Cursor, limit int) ([]Message, error)
	// MessageByRef returns the message with this reference id in room,
	// including a deleted one (erased: no text, no reactions), or
	// ErrNotFound.
	MessageByRef(ctx context.Context, room, ref string) (Message, error)
	// MessageByID returns the message with this server id, including a
	// deleted one (erased), or ErrNotFound.
	MessageByID(ctx context.Context, id string) (Message, error)
	// ToggleReaction applies ToggleReaction to a live message atomically
	// (concurrent toggles never lose each other), commits a reaction Event,
	// and returns the updated message with that event's EventSeq, or
	// ErrNotFound for an unknown or deleted one.
	ToggleReaction(ctx context.Context, room, ref, userID string, kind int) (Message, error)
	// DeleteMessage deletes a live message; only its author may. The text
	// and reactions are erased; ids, author, times and DeletedAt are kept,
	// and a delete Event is committed. It returns the deleted message with
	// that event's EventSeq, ErrNotFound for an unknown or already deleted
	// one, and ErrForbidden when userID is not the author.
	DeleteMessage(ctx context.Context, room, ref, userID string) (Message, error)
}

// Batcher commits new messages, and reaction toggles, in one transaction.
type Batcher interface {
	// InsertMessages stores msgs in ONE transaction: all of them or, on
	// error, none. A message whose (Room, RefID) is already stored (a
	// resend, or a repeat within msgs) is not an error: fresh[i] is false,
	// the stored row is left untouched and msgs[i].Seq is the original's.
	// Fresh messages get the room's next sequence numbers, in batch order
	// (Seq and EventSeq). Whether a row is stored is decided under the
	// room's sequence lock, with the unique key as the backstop, so two
	// nodes racing on one resend never both store it. Missing IDs and times
	// are filled into msgs in place (Message.Normalize). A server ID already
	// used by another message wraps ErrConflict.
	InsertMessages(ctx context.Context, msgs []Message) (fresh []bool, err error)
	// WriteOps applies ops in ONE transaction, in order, so a toggle sees a
	// message inserted before it in the same batch; each op's event gets
	// the room's next Seq in that order. A toggle's own refusal (unknown
	// message) is its OpResult.Err and fails nothing else; any other error
	// fails the whole batch and stores nothing. Messages are normalized in
	// place as by InsertMessages.
	WriteOps(ctx context.Context, ops []Op) ([]OpResult, error)
}

// Persister queues writes for their group commit; each done runs once,
// after the commit or its failure. An echo sent from done is an
// acknowledgement that the write is durable.
type Persister interface {
	// Submit queues a new message; done gets fresh false for an already
	// stored (Room, RefID).
	Submit(m Message, done func(fresh bool, err error)) error
	// SubmitMessage is Submit that also hands done what is stored: m with
	// its Seq and EventSeq when fresh, else the stored original (EventSeq
	// 0), which is erased if it was deleted.
	SubmitMessage(m Message, done func(stored Message, fresh bool, err error)) error
	// SubmitToggle queues a reaction toggle into the same commits, in
	// submission order; done gets the toggled message (EventSeq is the
	// reaction's number) or an error wrapping ErrNotFound for an unknown
	// or deleted message.
	SubmitToggle(room, ref, userID string, kind int, done func(Message, error)) error
}

// UserStore holds users and their credential accounts.
type UserStore interface {
	// CreateUser inserts u and its credential account holding passwordHash
	// in one transaction. Zero times are stamped with the store's clock.
	// A taken email (compared without case) or id wraps ErrConflict.
	CreateUser(ctx context.Context, u User, passwordHash string) error
	// UserByEmail returns the user with this email (compared without ASCII
	// case) and its credential password hash ("" if it has none).
	UserByEmail(ctx context.Context, email string) (User, string, error)
	// UserByID returns the user with this id, or ErrNotFound.
	UserByID(ctx context.Context, id string) (User, error)
	// UpdateUser applies ch to the user with this id in one statement, sets
	// its UpdatedAt, and returns the user as stored; an unknown id is
	// ErrNotFound.
	UpdateUser(ctx context.Context, id string, ch UserChange, updatedAt time.Time) (User, error)
	// SetPassword replaces the hash in the user's credential account; a user
	// without one is ErrNotFound.
	SetPassword(ctx context.Context, userID, passwordHash string, updatedAt time.Time) error
}

// SessionStore holds logins by token hash (HashToken).
type SessionStore interface {
	// CreateSession stores s; zero times are stamped with the store's
	// clock. A taken id or token hash wraps ErrConflict; an unknown user is
	// ErrNotFound.
	CreateSession(ctx context.Context, s Session) error
	// SessionByTokenHash returns the session and its user. A session
	// expired by the store's clock is ErrNotFound.
	SessionByTokenHash(ctx context.Context, tokenHash string) (Session, User, error)
	// ExtendSession moves a session's expiry (sliding renewal); an unknown
	// id is ErrNotFound.
	ExtendSession(ctx context.Context, id string, expiresAt, updatedAt time.Time) error
	// DeleteSession removes the session with this token hash; a missing one
	// is not an error, so signing out twice succeeds.
	DeleteSession(ctx context.Context, tokenHash string) error
	// SessionsByUser returns the user's sessions not yet expired by the
	// store's clock, oldest first; never nil.
	SessionsByUser(ctx context.Context, userID string) ([]Session, error)
	// DeleteUserSessions removes every session of a user.
	DeleteUserSessions(ctx context.Context, userID string) error
	// DeleteOtherSessions removes every session of a user except the one
	// with keepTokenHash, in one statement, so a session created meanwhile
	// cannot slip between a read and the deletes.
	DeleteOtherSessions(ctx context.Context, userID, keepTokenHash string) error
	// DeleteExpiredSessions removes sessions expired at or before now and
	// returns how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
}

// SettingStore keeps server state that must survive restarts, such as the
// generated auth secret.
type SettingStore interface {
	// Setting returns the value under key, or ErrNotFound.
	Setting(ctx context.Context, key string) (string, error)
	// PutSetting stores value under key, replacing any previous value.
	PutSetting(ctx context.Context, key, value string) error
	// SettingOrInit returns the value under key, first storing gen's result
	// if there is none; concurrent callers (and processes) all get the same
	// value. gen runs inside the store's transaction: keep it quick.
	SettingOrInit(ctx context.Context, key string, gen func() (string, error)) (string, error)
}

// Store is everything one wasmchannel installation keeps. db.Open returns
// one; the SQLite and PostgreSQL stores implement it and pass one
// conformance suite.
type Store interface {
	MessageStore
	Batcher
	EventLog
	UserStore
	SessionStore
	SettingStore
	BulkStore

	// Kind names the implementation ("sqlite", "postgres") for /health and
	// logs.
	Kind() string
	// Ping checks that the store answers, for health checks.
	Ping(ctx context.Context) error
	// AppliedMigrations returns the schema versions recorded, in order.
	AppliedMigrations(ctx context.Context) ([]string, error)
	// AppliedAtOpen returns the migrations opening the store applied (none
	// when it was already up to date).
	AppliedAtOpen() []string
	// Close releases the store. Close the Persister first so it can flush.
	Close() error
}
