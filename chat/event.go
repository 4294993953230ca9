package chat

import (
	"context"
	"time"
)

// EventKind names what an Event did. The values are the protocol's packet
// kinds (protocol.md § Framing), so an event maps to the packet the live
// path broadcast without a table.
type EventKind int

// The kinds of room event a store numbers. Typing and presence are never
// stored, so they have no sequence number.
const (
	EventMessage  EventKind = 0
	EventDelete   EventKind = 2
	EventReaction EventKind = 3
)

// Event is one committed change of a room, in the order every node must
// show it. Per room, Seq is dense (1, 2, 3…): the store assigns it under a
// per-room lock inside the committing transaction, so a reader that sees
// event n sees every event below n, and a number is never reused.
//
// A message is its own event (Message.Seq); a reaction toggle and a delete
// each add one. A node that missed a broadcast reads the events after the
// last Seq it delivered and replays them as packets.
type Event struct {
	Room string
	Seq  int64
	Kind EventKind
	// RefID is the message the event is about.
	RefID string
	// UserID is the author for a message or delete, the reacting user for
	// a reaction.
	UserID string
	// Reaction is the toggled reaction kind of an EventReaction, else 0.
	Reaction int
	// Payload is a message event's text; empty once the message was
	// deleted (Deleted is then true, and a later delete event follows).
	Payload []byte
	Deleted bool
	// At is when the event was committed (a message's CreatedAt).
	At time.Time
}

// MaxEventsLimit bounds one EventsAfter or MessagesAfter page.
const MaxEventsLimit = 1000

// EventLog reads a room's numbered events back, for a cluster node filling
// a gap it missed on the bus (issue 11 § No gaps).
type EventLog interface {
	// LastSeq returns the newest Seq of room, 0 for a room without events.
	LastSeq(ctx context.Context, room string) (int64, error)
	// EventsAfter returns up to limit (1..MaxEventsLimit) events of room
	// with Seq > after, ascending, never nil.
	EventsAfter(ctx context.Context, room string, after int64, limit int) ([]Event, error)
	// MessagesAfter returns up to limit (1..MaxEventsLimit) messages of room
	// with Seq > after, ascending, deleted ones included (erased), never
	// nil.
	MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]Message, error)
}

// Toggle is one reaction toggle: UserID's reaction of Kind on the message
// RefID in Room (see ToggleReaction).
type Toggle struct {
	Room   string
	RefID  string
	UserID string
	Kind   int
}

// Op is one write of a group-commit batch: a new message, or a reaction
// toggle. Exactly one field is set.
type Op struct {
	Message *Message
	Toggle  *Toggle
}

// OpResult is what one Op of a committed batch did.
type OpResult struct {
	// Message is the stored message: the one inserted (with Seq and
	// EventSeq), the original a resend matched (EventSeq 0; erased if it
	// was deleted), or the toggled message with its new reactions.
	Message Message
	// Fresh is true for a message that went in, false for a resend.
	Fresh bool
	// Err is this op's own refusal, which does not fail the batch: a toggle
	// of an unknown or deleted message wraps ErrNotFound, a bad toggle
	// ErrInvalid.
	Err error
}
