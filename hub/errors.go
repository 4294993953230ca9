package hub

import (
	"errors"
	"fmt"
)

// Kinds of refusal the hub returns to HTTP callers. Each is the Kind of an
// *Error, so callers test them with errors.Is and map each to one status.
var (
	ErrClosed      = errors.New("hub: shutting down")
	ErrRoomName    = errors.New("hub: invalid room name")
	ErrRateLimited = errors.New("hub: rate limit exceeded")
	ErrInvalid     = errors.New("hub: invalid request")
	// ErrTooLarge is also an ErrInvalid for errors.Is: look Kind up exactly
	// (or test ErrTooLarge first) to tell 413 from 400.
	ErrTooLarge  = fmt.Errorf("hub: payload too large: %w", ErrInvalid)
	ErrNotFound  = errors.New("hub: message not found")
	ErrForbidden = errors.New("hub: not the author")
	ErrIDTaken   = errors.New("hub: message id used by another user")
	ErrNotStored = errors.New("hub: message not stored")
	// ErrTooManyRooms: waking the room would take the user past
	// Config.MaxRoomsPerUser (429 with Retry-After over HTTP, 1013 on a
	// socket).
	ErrTooManyRooms = errors.New("hub: too many rooms awake for one user")
)

// Error is a refusal with the text a client should read. Message is shown
// as is (no "hub:" prefix, no wrapping), so a caller prints it once; Kind
// is one of the sentinels above and decides the status.
type Error struct {
	Kind    error
	Message string
}

// Error returns the client-facing text.
func (e *Error) Error() string { return e.Message }

// Unwrap lets errors.Is match the Kind.
func (e *Error) Unwrap() error { return e.Kind }

// Refusals with fixed texts, shared because an *Error is never changed.
var (
	errClosed    = refuse(ErrClosed, "the server is shutting down; retry later")
	errRoomName  = refuse(ErrRoomName, "room names are 1-64 characters from [A-Za-z0-9_.-]")
	errNotFound  = refuse(ErrNotFound, "no such message")
	errForbidden = refuse(ErrForbidden, "only the author may do that")
	errIDTaken   = refuse(ErrIDTaken, "Message rejected: message_id already used by another user")
)

// refuse builds an *Error of kind with a client-facing message.
func refuse(kind error, message string) *Error { return &Error{Kind: kind, Message: message} }
