// Package chat is wasmchannel's domain: the values every layer shares
// (Message, Reaction, Cursor, User, Session), the errors stores return, id
// and token-hash rules, and the store interfaces that hub, auth and the HTTP
// handlers consume.
//
// It imports no database driver and no HTTP or JSON shape, so the SQLite
// and PostgreSQL stores (db/sqlite, db/postgres) implement it and everything
// above them depends only on it. The wire JSON of a Message lives with the
// HTTP handlers.
package chat

import "errors"

// Sentinel errors every store returns, wrapped once with the step that
// failed; check them with errors.Is.
var (
	// ErrNotFound means no row matched (or the row was deleted, where
	// the method says so).
	ErrNotFound = errors.New("chat: not found")
	// ErrConflict means the row conflicts with one already stored: a taken
	// unique key (email, user id, token hash, message id) or another
	// constraint of the store that one row broke. It is that row's fault,
	// not the store's, so a batch writer retries the other rows without it.
	ErrConflict = errors.New("chat: conflict with a stored row")
	// ErrForbidden means the caller is not the author of the message.
	ErrForbidden = errors.New("chat: not the author")
	// ErrInvalid means an argument was rejected before reaching the store,
	// such as a message without a room or a history limit out of range.
	ErrInvalid = errors.New("chat: invalid argument")
)
