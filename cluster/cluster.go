// Package cluster joins wasmchannel nodes through NATS core pub/sub, so
// that any node serves any room (docs/CLUSTER.md).
//
// A Broker carries four kinds of traffic between nodes: stored room events
// (a committed Message, Reaction or Delete, already encoded, stamped with
// the room's sequence number from the store), typing packets (never
// stored), presence (each node's distinct users per room) and session
// revocations. It is the only importer of nats.go; the hub sees only the
// Handler and GapSource interfaces below and the Broker's methods, which
// carry plain strings and bytes.
//
// Room events reach the Handler strictly in sequence order, each once: a
// per-room sequencer holds early arrivals briefly and fills any gap from
// the GapSource (the store), so a node that lost NATS, or a message NATS
// dropped, never leaves a hole. NATS is a fast path; the store is the
// truth.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Errors the package returns, wrapped once with the step that failed.
var (
	// ErrConfig means a Config field is out of range.
	ErrConfig = errors.New("cluster: invalid config")
	// ErrClosed means the Broker was closed.
	ErrClosed = errors.New("cluster: closed")
	// ErrRoom means a room name cannot be carried (empty or too long).
	ErrRoom = errors.New("cluster: invalid room name")
	// ErrInvalid means an argument was refused: an event without a
	// sequence number, or an empty session key.
	ErrInvalid = errors.New("cluster: invalid argument")
	// ErrWire means a message from NATS could not be decoded; it is
	// counted and dropped, never delivered.
	ErrWire = errors.New("cluster: malformed message")
)

// Event is one stored, stamped room change as it travels between nodes.
type Event struct {
	// Room is the room's name.
	Room string
	// Seq is the room's sequence number, assigned by the store in the
	// committing transaction: 1, 2, 3… per room, with no holes.
	Seq int64
	// Origin is the node id that committed it ("" for events read back
	// from the store by a gap fill).
	Origin string
	// Data is what the node's sockets receive: the encoded packet.
	Data []byte
}

// GapSource reads committed room events back from the store. It is what
// makes delivery gap-free: NATS may drop or reorder, the store may not.
//
// The store's contract: per room, Seq is dense (1, 2, 3…) and assigned
// under a per-room lock inside the committing transaction, so a reader
// that sees event n also sees every event below n.
type GapSource interface {
	// LastSeq returns the newest Seq of room, 0 for a room without events.
	LastSeq(ctx context.Context, room string) (int64, error)
	// After returns up to limit events of room with Seq > after, in
	// ascending Seq order. Origin may be empty.
	After(ctx context.Context, room string, after int64, limit int) ([]Event, error)
}

// Handler receives what other nodes send. The Broker calls it from its own
// goroutines; every method must return quickly (queue work for the room
// actor) and must not call back into the Broker.
type Handler interface {
	// Deliver hands over a room event, for a room this node subscribed to,
	// in Seq order and at most once per subscription. Events this node
	// published come back through Deliver too, in their place in the
	// order: the hub broadcasts only what Deliver gives it.
	Deliver(ev Event)
	// Typing is a typing packet for room from user on another node; the
	// hub broadcasts data to its sockets in room except user's.
	Typing(room, user string, data []byte)
	// Online says that room's distinct-user count over all nodes changed
	// because of another node (joins, leaves, expiry). The hub reads the
	// count with Broker.Online when it handles this, in the room actor,
	// so the newest count wins over notices that crossed a local join.
	Online(room string)
	// Revoke asks to close every local socket of the session with this
	// key (the token hash) now: it was signed out on another node.
	Revoke(sessionKey string)
	// Resync follows a reconnection to NATS: revocations sent meanwhile
	// were lost, so the hub re-checks its sessions against the store.
	Resync()
}

// Config tunes a Broker. Start from DefaultConfig; flags and tests change
// single fields.
type Config struct {
	// URLs is the NATS server list, comma-separated nats://host:port.
	URLs string
	// NodeID names this process in events, presence and /health; unique
	// per process (DefaultNodeID).
	NodeID string
	// Prefix starts every subject, so several installations can share
	// one NATS.
	Prefix string
	// Heartbeat is how often the node republishes its presence.
	Heartbeat time.Duration
	// PeerTTL is how long a silent peer's users still count. A SIGKILLed
	// node's users drop out at most PeerTTL+Heartbeat/2 after its last
	// heartbeat (the sweep runs every Heartbeat/2).
	PeerTTL time.Duration
	// Hold is how long an event that arrived ahead of a missing one waits
	// for it over NATS before the gap is read from the store.
	Hold time.Duration
	// FillBatch bounds one GapSource.After read.
	FillBatch int
	// FillRetry is the pause before retrying a failed gap read.
	FillRetry time.Duration
	// GiveUp is how long a gap the store cannot explain may block a room
	// before the held events are delivered anyway (counted as skipped).
	GiveUp time.Duration
	// MaxHeld bounds the early events held per room; past it the gap is
	// read at once.
	MaxHeld int
	// DegradedPoll is how often, while NATS is unreachable, every
	// subscribed room is read from the store, so sockets keep seeing
	// other nodes' messages; 0 waits for the reconnect.
	DegradedPoll time.Duration
	// ReconnectWait is the pause between NATS reconnect attempts.
	ReconnectWait time.Duration
	// Timeout bounds NATS connects, flushes and store reads.
	Timeout time.Duration
	// Log receives connection changes and anomalies; nil is slog.Default.
	Log *slog.Logger

	// partBytes overrides the heartbeat part size (tests); 0 is half of
	// the server's max_payload.
	partBytes int
}

// DefaultConfig is the one source of the cluster's defaults.
func DefaultConfig() Config {
	return Config{
		NodeID:        DefaultNodeID(),
		Prefix:        "wc",
		Heartbeat:     3 * time.Second,
		PeerTTL:       10 * time.Second,
		Hold:          150 * time.Millisecond,
		FillBatch:     500,
		FillRetry:     500 * time.Millisecond,
		GiveUp:        5 * time.Second,
		MaxHeld:       10000,
		DegradedPoll:  2 * time.Second,
		ReconnectWait: 500 * time.Millisecond,
		Timeout:       5 * time.Second,
	}
}

func (c Config) validate() error {
	switch {
	case c.URLs == "":
		return fmt.Errorf("%w: no NATS URL", ErrConfig)
	case c.NodeID == "" || len(c.NodeID) > 128:
		return fmt.Errorf("%w: node id must be 1 to 128 bytes", ErrConfig)
	case !validToken(c.Prefix):
		return fmt.Errorf("%w: prefix %q is not one subject token", ErrConfig, c.Prefix)
	case c.Heartbeat <= 0 || c.PeerTTL <= c.Heartbeat:
		return fmt.Errorf("%w: need 0 < heartbeat < peer TTL", ErrConfig)
	case c.Hold <= 0 || c.FillBatch <= 0 || c.FillRetry <= 0 || c.GiveUp <= 0 || c.MaxHeld <= 0:
		return fmt.Errorf("%w: hold, fill batch, fill retry, give-up and max held must be positive", ErrConfig)
	case c.DegradedPoll < 0 || c.ReconnectWait <= 0 || c.Timeout <= 0:
		return fmt.Errorf("%w: negative poll, or non-positive reconnect wait or timeout", ErrConfig)
	}
	return nil
}

// DefaultNodeID is hostname-pid-random: unique per process, and still
// readable in logs.
func DefaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var b [3]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}
