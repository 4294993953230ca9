package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wasmchannel/wasmchannel/codec"
)

// Protocol is what differs between the servers the generator measures: how
// users get credentials, how a socket joins a room, and how chat messages
// look on the wire. Everything else (generator, pacing, window, barrier,
// loss accounting) is the same for every server, so their figures compare.
type Protocol interface {
	// Credentials returns one credential per user, n users named after run.
	Credentials(ctx context.Context, base, run string, n int) ([]string, error)
	// Join opens a socket into room as the user of cred. When it returns,
	// the socket may send; the server may add it to the room a moment
	// later (the run's barrier waits for that).
	Join(ctx context.Context, d *Dialer, wsBase, room, cred string) (*Socket, error)
	// NewWire returns the encoder and decoder of one client's goroutine.
	NewWire(room string) Wire
	// FrameType is the WebSocket opcode of what the client sends.
	FrameType() byte
}

// Wire encodes outgoing chat messages and decodes incoming frames. One
// goroutine uses it.
type Wire interface {
	// Encode makes the frame that sends a chat message with this id.
	Encode(id string, payload []byte) ([]byte, error)
	// Decode appends the events of one received frame to evs and returns
	// it; on an error, with the events before the defect. The events'
	// bytes alias frame and the wire's buffers: they hold until the next
	// Decode, so that a receipt allocates nothing.
	Decode(frame []byte, evs []Event) ([]Event, error)
}

// EventKind says what a received frame meant.
type EventKind int

// Event kinds.
const (
	// EventMessage is a chat message: ID and Payload are set.
	EventMessage EventKind = iota
	// EventNotice is the server refusing something this client sent
	// (rate limit, rule, a publish error); Payload holds its text.
	EventNotice
	// EventPresence is a presence announcement (OnlineUsers).
	EventPresence
	// EventOther is anything else: replies, acknowledgements.
	EventOther
)

// Event is one thing a client received. Reply, when set, is a frame the
// client must send back (a Centrifugo pong).
type Event struct {
	Kind    EventKind
	ID      []byte
	Payload []byte
	Reply   []byte
}

// Wasmchannel is the protocol of the project's own server: users sign up
// through the HTTP API, a socket joins a room by its path with a Bearer
// token, and packets are encoded with the project's Go codec.
type Wasmchannel struct{}

// Credentials signs up n users and returns their session tokens.
func (Wasmchannel) Credentials(ctx context.Context, base, run string, n int) ([]string, error) {
	return signUp(ctx, base, run, n, 8)
}

// Join dials /ws/<room> with the token as a Bearer header.
func (Wasmchannel) Join(ctx context.Context, d *Dialer, wsBase, room, cred string) (*Socket, error) {
	return dial(ctx, d, wsBase+"/ws/"+room, cred)
}

// FrameType is binary: packets are the codec's bytes.
func (Wasmchannel) FrameType() byte { return opBinary }

// NewWire returns a Go-codec wire.
func (Wasmchannel) NewWire(string) Wire { return &codecWire{c: codec.NewGo()} }

// codecWire decodes with DecodeView: every packet is checked as strictly
// as Decode checks it (envelope, crc, whole LZ4 frame), without allocating.
type codecWire struct {
	c *codec.Go
	v codec.View
}

func (w *codecWire) Encode(id string, payload []byte) ([]byte, error) {
	data, err := w.c.Encode(codec.Packet{Kind: codec.KindMessage, MessageID: &id, Payload: payload})
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return data, nil
}

func (w *codecWire) Decode(frame []byte, evs []Event) ([]Event, error) {
	if err := w.c.DecodeView(frame, maxFrame, &w.v); err != nil {
		return evs, err
	}
	v := &w.v
	switch {
	case v.Kind == codec.KindMessage && !v.HasMessageID:
		return append(evs, Event{Kind: EventNotice, Payload: v.Payload}), nil
	case v.Kind == codec.KindMessage:
		return append(evs, Event{Kind: EventMessage, ID: v.MessageID, Payload: v.Payload}), nil
	case v.Kind == codec.KindOnlineUsers:
		return append(evs, Event{Kind: EventPresence}), nil
	default:
		return append(evs, Event{Kind: EventOther}), nil
	}
}

// errClosedEarly is a socket that ended while a join waited for a reply.
var errClosedEarly = errors.New("socket closed during the join")

// readReply reads frames until one satisfies done or the deadline passes;
// it is for joins, before the client's reader goroutine starts.
func readReply(ws *Socket, deadline time.Time, done func([]byte) (bool, error)) error {
	if err := ws.SetReadDeadline(deadline); err != nil {
		return err
	}
	defer ws.SetReadDeadline(time.Time{})
	for {
		_, data, err := ws.ReadMessage(nil)
		if err != nil {
			return fmt.Errorf("%w: %w", errClosedEarly, err)
		}
		ok, err := done(data)
		if err != nil || ok {
			return err
		}
	}
}
