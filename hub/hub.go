// Package hub owns the chat rooms: one goroutine per active room (an actor,
// as upstream's Durable Object), holding that room's connections, its
// leased codec instance, its rate limits and its newest-messages cache.
//
// Every packet in or out of a room goes through the room's codec instance.
// A Message is committed to the store before anyone sees it, so an echo is
// an acknowledgement that the message is durable.
//
// Layout: hub.go routes to rooms; room.go is the room actor (its loop,
// joins, broadcasts, hibernation); client.go takes a client's request in;
// rules.go holds the client rules as a pure function; commit.go is the
// commit pipeline; dbworker.go the serial database worker for reactions and
// deletes; conn.go a socket's bounded send queue and writer; errors.go and
// disconnect.go the refusals and close codes callers map; cluster.go the
// cluster mode (publish after commit, in-order delivery, presence union).
package hub

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
)

// DefaultRoom is the room a WebSocket at "/" joins, as upstream.
const DefaultRoom = "room"

// roomName is the room-name rule of http-api.md § WebSocket.
var roomName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ValidRoom reports whether name is an acceptable room name.
func ValidRoom(name string) bool { return roomName.MatchString(name) }

// Config tunes the hub. Zero fields take the defaults noted.
type Config struct {
	// RateLimit is packets per second per user per room; 0 turns it off.
	RateLimit int
	// MaxPayload is the largest decompressed payload accepted (999, as
	// upstream rejected 1000 and more).
	MaxPayload int
	// HistoryCache is how many newest messages each room keeps in memory
	// (100, as upstream's KV); negative turns the cache off.
	HistoryCache int
	// SendQueueBytes bounds each connection's unsent bytes (default 1 MiB).
	SendQueueBytes int
	// IdleGrace is how long an empty room stays awake (default 30s).
	IdleGrace time.Duration
	// MaxMessageID bounds a client-chosen message id in bytes (default 128).
	MaxMessageID int

	// CodecWait bounds how long a waking room waits for a codec instance
	// (default 1s, which also covers instantiating one on a busy machine). A room that gets none in time (the pool is exhausted)
	// runs on the pure-Go codec until it sleeps, so no room ever hangs.
	CodecWait time.Duration
	// MaxRoomsPerUser caps the rooms one user may hold awake, through
	// sockets or through HTTP requests within IdleGrace; a request that
	// would wake one more is refused (ErrTooManyRooms). 0 turns it off.
	MaxRoomsPerUser int
	// UserPacketRate and UserByteRate are one user's budget across all
	// rooms, in client packets (socket frames and HTTP posts and reactions)
	// and bytes per second, on top of RateLimit per room. 0 turns each off.
	UserPacketRate int
	UserByteRate   int
	// MaxViolations refused frames (rate-limited, undecodable or against
	// the client rules) within ViolationWindow close a socket with
	// DisconnectViolations. 0 turns it off; the window defaults to 10s.
	MaxViolations   int
	ViolationWindow time.Duration

	// Now is the clock; tests inject one.
	Now func() time.Time
}

func (c *Config) fill() {
	if c.MaxPayload <= 0 {
		c.MaxPayload = 999
	}
	switch {
	case c.HistoryCache == 0:
		c.HistoryCache = 100
	case c.HistoryCache < 0:
		c.HistoryCache = 0
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = 1 << 20
	}
	if c.IdleGrace <= 0 {
		c.IdleGrace = 30 * time.Second
	}
	if c.MaxMessageID <= 0 {
		c.MaxMessageID = 128
	}
	if c.CodecWait <= 0 {
		c.CodecWait = time.Second
	}
	if c.ViolationWindow <= 0 {
		c.ViolationWindow = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Hub routes connections and requests to room goroutines.
type Hub struct {
	cfg    Config
	src    codec.Source
	store  chat.MessageStore
	writer chat.Persister
	log    *slog.Logger
	obs    Observer

	mu      sync.Mutex
	rooms   map[string]*room
	closing bool
	// closingFlag mirrors closing for the rooms' hot loop, without h.mu.
	closingFlag atomic.Bool
	roomsWG     sync.WaitGroup
	sessions    map[string]map[*Conn]struct{}
	// held is, per user, the awake rooms that user holds (MaxRoomsPerUser).
	held map[string]map[*room]*hold
	// budgets are the per-user budgets across rooms, each with its own lock.
	budgets budgets

	// cluster is set once before serving (SetCluster); nil is one node.
	cluster Cluster

	// linger lets busy sockets' writers park between frames (linger.go).
	linger *lingerClock

	fallback     codec.Source
	fallbackOnce sync.Once
	stats        struct{ fallbacks, roomCap, violations atomic.Int64 }
}

// Stats counts the hub's defences at work, for metrics.
type Stats struct {
	// CodecFallbacks is rooms that woke on the Go codec because no
	// instance came within CodecWait.
	CodecFallbacks int64
	// RoomCapRefusals is requests refused by MaxRoomsPerUser.
	RoomCapRefusals int64
	// ViolationDisconnects is sockets closed with DisconnectViolations.
	ViolationDisconnects int64
}

// Stats returns the counters so far.
func (h *Hub) Stats() Stats {
	return Stats{
		CodecFallbacks:       h.stats.fallbacks.Load(),
		RoomCapRefusals:      h.stats.roomCap.Load(),
		ViolationDisconnects: h.stats.violations.Load(),
	}
}

// New builds a hub over any store: it reads and changes messages through
// store and commits new ones through writer, whose done is the
// acknowledgement. obs may be nil.
func New(cfg Config, src codec.Source, store chat.MessageStore, writer chat.Persister, log *slog.Logger, obs Observer) *Hub {
	cfg.fill()
	if obs == nil {
		obs = nopObserver{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Hub{
		cfg: cfg, src: src, store: store, writer: writer, log: log, obs: obs,
		rooms:    make(map[string]*room),
		sessions: make(map[string]map[*Conn]struct{}),
		held:     make(map[string]map[*room]*hold),
		budgets:  budgets{m: make(map[string]*budget)},
		linger:   newLingerClock(lingerPeriod, lingerAfter),
		fallback: codec.NewGoSource(),
	}
}

// acquire returns the named room, waking it if needed, with one reference
// held; the caller must release it. References keep a room from stopping.
// userID's claim on the room is recorded: a socket when sock, else an HTTP
// request; waking one more room than MaxRoomsPerUser allows is refused.
func (h *Hub) acquire(name, userID string, sock bool) (*room, error) {
	if !ValidRoom(name) {
		return nil, errRoomName
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, errClosed
	}
	r := h.rooms[name]
	if r == nil {
		if h.overRoomCapLocked(userID) {
			h.stats.roomCap.Add(1)
			return nil, h.roomCapError()
		}
		r = newRoom(h, name)
		h.rooms[name] = r
		h.roomsWG.Add(1)
		h.obs.RoomsActive(len(h.rooms))
		go r.run()
	}
	r.refs++
	h.holdLocked(userID, r, sock)
	return r, nil
}

func (h *Hub) release(r *room) {
	h.mu.Lock()
	r.refs--
	h.mu.Unlock()
	r.post(func() { r.maybeIdle() })
}

// tryStop removes r from the hub if nothing references it; the room
// goroutine calls it when its grace period ends.
func (h *Hub) tryStop(r *room) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.refs > 0 {
		return false
	}
	delete(h.rooms, r.name)
	for u := range r.holders {
		h.dropHoldLocked(u, r)
	}
	h.obs.RoomsActive(len(h.rooms))
	return true
}

// Join adds c to a room. It returns once the room
// has taken the connection; Leave must be called when the socket ends.
func (h *Hub) Join(ctx context.Context, roomName string, c *Conn) error {
	r, err := h.acquire(roomName, c.UserID, true)
	if err != nil {
		return err
	}
	c.maxBytes = h.cfg.SendQueueBytes
	c.linger = h.linger
	c.room = r
	h.mu.Lock()
	if h.sessions[c.SessionKey] == nil {
		h.sessions[c.SessionKey] = make(map[*Conn]struct{})
	}
	h.sessions[c.SessionKey][c] = struct{}{}
	h.mu.Unlock()
	joined := make(chan struct{})
	if err := r.send(ctx, func() { r.join(c); close(joined) }); err != nil {
		h.Leave(c)
		return err
	}
	select {
	case <-joined:
		return nil
	case <-ctx.Done():
		h.Leave(c)
		return ctx.Err()
	}
}

// Leave removes c from its room and closes it. It is safe to call twice.
func (h *Hub) Leave(c *Conn) {
	if !c.joined.CompareAndSwap(false, true) {
		return
	}
	c.Disconnect(disconnectLeaving)
	r := c.room
	if r == nil {
		return
	}
	h.mu.Lock()
	h.unholdSockLocked(c.UserID, r)
	if set := h.sessions[c.SessionKey]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.sessions, c.SessionKey)
		}
	}
	h.mu.Unlock()
	r.post(func() { r.leave(c) })
	h.release(r)
}

// Receive hands one frame read from c's socket to its room. It blocks while
// the room is busy, which pushes back on that socket's reader.
func (h *Hub) Receive(ctx context.Context, c *Conn, data []byte) error {
	r := c.room
	if r == nil {
		return errClosed
	}
	return r.send(ctx, func() { r.packet(c, data) })
}

// SweepSessions closes, with DisconnectSessionEnded, every socket whose session
// valid reports as ended (signed out, expired or deleted). The server calls
// it every few seconds, once per distinct session.
func (h *Hub) SweepSessions(ctx context.Context, valid func(ctx context.Context, key string) bool) {
	h.mu.Lock()
	keys := make([]string, 0, len(h.sessions))
	for k := range h.sessions {
		keys = append(keys, k)
	}
	h.mu.Unlock()
	for _, k := range keys {
		if ctx.Err() != nil || valid(ctx, k) {
			continue
		}
		h.mu.Lock()
		conns := make([]*Conn, 0, len(h.sessions[k]))
		for c := range h.sessions[k] {
			conns = append(conns, c)
		}
		h.mu.Unlock()
		for _, c := range conns {
			c.Disconnect(DisconnectSessionEnded)
		}
	}
}

// call runs fn in the room's goroutine and waits for it to reply.
func call[T any](ctx context.Context, h *Hub, roomName, userID string, fn func(r *room, reply func(T, error))) (T, error) {
	var zero T
	r, err := h.acquire(roomName, userID, false)
	if err != nil {
		return zero, err
	}
	defer h.release(r)
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	reply := func(v T, err error) { ch <- result{v, err} }
	if err := r.send(ctx, func() { fn(r, reply) }); err != nil {
		return zero, err
	}
	select {
	case res := <-ch:
		return res.v, res.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Post sends a text message into a room over HTTP. It takes the same path
// as a WebSocket Message and returns once the message is committed.
func (h *Hub) Post(ctx context.Context, roomName, userID, messageID, text string) (chat.Message, error) {
	generated := messageID == ""
	if generated {
		messageID = chat.NewMessageID()
	}
	return call(ctx, h, roomName, userID, func(r *room, reply func(chat.Message, error)) {
		r.httpMessage(userID, messageID, generated, []byte(text), reply)
	})
}

// React toggles userID's reaction on a message and broadcasts it.
func (h *Hub) React(ctx context.Context, roomName, userID, ref string, kind int) (chat.Message, error) {
	return call(ctx, h, roomName, userID, func(r *room, reply func(chat.Message, error)) {
		if refusal := r.admit(userID, len(ref)); refusal != "" {
			reply(chat.Message{}, refuse(ErrRateLimited, refusal))
			return
		}
		r.react(nil, userID, ref, kind, reply)
	})
}

// Delete soft-deletes the author's own message and broadcasts a Delete.
func (h *Hub) Delete(ctx context.Context, roomName, userID, ref string) (chat.Message, error) {
	return call(ctx, h, roomName, userID, func(r *room, reply func(chat.Message, error)) {
		r.remove(userID, ref, reply)
	})
}

// History returns a page of a room's messages, newest first, and where it
// came from: "cache", "database" or "cache+database", as upstream reported.
func (h *Hub) History(ctx context.Context, roomName string, cur chat.Cursor, limit int) ([]chat.Message, string, error) {
	if !ValidRoom(roomName) {
		return nil, "", errRoomName
	}
	h.mu.Lock()
	r := h.rooms[roomName]
	h.mu.Unlock()
	var c *cache
	if r != nil {
		c = r.warmCache()
	}
	if c == nil {
		msgs, err := h.store.History(ctx, roomName, cur, limit)
		if err != nil {
			return nil, "", fmt.Errorf("history: %w", err)
		}
		return msgs, "database", nil
	}
	out, done, ok := c.page(cur, limit)
	if ok && done {
		return out, "cache", nil
	}
	source := "database"
	if ok && len(out) > 0 {
		source = "cache+database"
		cur = chat.Cursor{BeforeRef: out[len(out)-1].RefID}
	}
	more, err := h.store.History(ctx, roomName, cur, limit-len(out))
	if err != nil {
		return nil, "", fmt.Errorf("history: %w", err)
	}
	return append(out, more...), source, nil
}

// Shutdown stops accepting, closes every socket with 1001 and waits for
// the rooms to stop. The caller then flushes the persister and closes the
// database, so every acknowledged message is on disk.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	h.closingFlag.Store(true)
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.Unlock()
	for _, r := range rooms {
		r.post(func() { r.shutdown() })
	}
	done := make(chan struct{})
	go func() { h.roomsWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hub shutdown: %w", ctx.Err())
	}
}

// ActiveRooms is the number of awake rooms.
func (h *Hub) ActiveRooms() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.rooms)
}
