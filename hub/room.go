package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
)

// room is one active room. Everything but the cache and the queues is
// owned by its goroutine (run); other goroutines talk to it through send
// (bounded, pushes back on socket readers) and post (unbounded, for
// completions that must never block, like commit callbacks).
type room struct {
	h    *Hub
	name string
	refs int // guarded by h.mu

	in      chan func()
	qmu     sync.Mutex
	queue   []func()
	wake    chan struct{}
	stopped chan struct{}

	conns   map[*Conn]struct{}
	users   map[string]int
	inst    codec.Instance
	cache   atomic.Pointer[cache]
	limits  map[string]*bucket
	pending map[string]*pending
	jobs    int
	db      serial
	idle    *time.Timer
}

// pending is a Message waiting for its commit. Everyone who sent it (the
// first sender and any retries) is acknowledged once it is durable.
type pending struct {
	msg     chat.Message
	frame   *Frame
	senders []sender
}

// sender is where a reply goes: a socket (notices as packets) or an HTTP
// caller (a Go reply). Exactly one is set.
type sender struct {
	c     *Conn
	reply func(chat.Message, error)
}

func newRoom(h *Hub, name string) *room {
	return &room{
		h: h, name: name,
		in:      make(chan func(), 64),
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
		conns:   make(map[*Conn]struct{}),
		users:   make(map[string]int),
		limits:  make(map[string]*bucket),
		pending: make(map[string]*pending),
	}
}

// send queues fn for the room goroutine, blocking while the room is busy.
func (r *room) send(ctx context.Context, fn func()) error {
	select {
	case r.in <- fn:
		return nil
	case <-r.stopped:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post queues fn without ever blocking. After the room stops, fn is dropped.
func (r *room) post(fn func()) {
	r.qmu.Lock()
	r.queue = append(r.queue, fn)
	r.qmu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *room) warmCache() *cache { return r.cache.Load() }

func (r *room) run() {
	defer r.h.roomsWG.Done()
	defer close(r.stopped)
	ctx := context.Background()
	inst, err := r.h.src.Acquire(ctx)
	if err != nil {
		r.h.log.Error("room: acquire codec", "room", r.name, "err", err)
	} else {
		r.inst = inst
	}
	if r.h.cfg.HistoryCache > 0 {
		msgs, err := r.h.store.History(ctx, r.name, chat.Cursor{}, r.h.cfg.HistoryCache)
		if err != nil {
			r.h.log.Error("room: warm cache", "room", r.name, "err", err)
		} else {
			r.cache.Store(newCache(r.h.cfg.HistoryCache, msgs))
		}
	}
	r.h.log.Debug("room awake", "room", r.name)
	idleC := func() <-chan time.Time {
		if r.idle == nil {
			return nil
		}
		return r.idle.C
	}
	for {
		select {
		case fn := <-r.in:
			fn()
		case <-r.wake:
			r.qmu.Lock()
			q := r.queue
			r.queue = nil
			r.qmu.Unlock()
			for _, fn := range q {
				fn()
			}
		case <-idleC():
			r.idle = nil
			if r.quiet() && r.h.tryStop(r) {
				r.stop()
				return
			}
		}
		if r.stopNow() {
			r.stop()
			return
		}
	}
}

// quiet reports that nothing is connected, queued or in flight.
func (r *room) quiet() bool {
	return len(r.conns) == 0 && len(r.pending) == 0 && r.jobs == 0
}

// stopNow is true during shutdown once the room has drained.
func (r *room) stopNow() bool {
	return r.h.closingFlag.Load() && r.quiet() && r.h.tryStop(r)
}

// maybeIdle starts the grace period once the room empties, like a Durable
// Object hibernating: when it ends the codec goes back to the pool.
func (r *room) maybeIdle() {
	if !r.quiet() || r.idle != nil {
		return
	}
	r.idle = time.NewTimer(r.h.cfg.IdleGrace)
}

func (r *room) stop() {
	if r.inst != nil {
		r.inst.Release()
		r.inst = nil
	}
	r.h.log.Debug("room asleep", "room", r.name)
}

func (r *room) shutdown() {
	for c := range r.conns {
		c.Close(CloseGoingAway, "server shutting down")
	}
}

func (r *room) join(c *Conn) {
	if c.Closed() {
		return
	}
	r.conns[c] = struct{}{}
	r.users[c.UserID]++
	if r.idle != nil {
		r.idle.Stop()
		r.idle = nil
	}
	r.h.obs.ConnectionsDelta(1)
	r.broadcastOnline()
}

func (r *room) leave(c *Conn) {
	if _, ok := r.conns[c]; !ok {
		return
	}
	delete(r.conns, c)
	if r.users[c.UserID]--; r.users[c.UserID] <= 0 {
		delete(r.users, c.UserID)
	}
	r.h.obs.ConnectionsDelta(-1)
	r.pruneLimits()
	r.broadcastOnline()
	r.maybeIdle()
}

// broadcastOnline sends the number of distinct users online to everyone.
func (r *room) broadcastOnline() {
	if len(r.conns) == 0 {
		return
	}
	f, err := r.encode(codec.Packet{Kind: codec.KindOnlineUsers, Payload: []byte(strconv.Itoa(len(r.users)))})
	if err != nil {
		return
	}
	r.broadcast(codec.KindOnlineUsers, f, "")
}

// broadcast queues f to every connection except those of skipUser.
func (r *room) broadcast(kind codec.Kind, f *Frame, skipUser string) {
	n := 0
	for c := range r.conns {
		if skipUser != "" && c.UserID == skipUser {
			continue
		}
		ok, overflow := c.enqueue(f)
		if ok {
			n++
		} else if overflow {
			r.h.obs.SlowClientDropped()
		}
	}
	r.h.obs.PacketOut(kind, n)
}

func (r *room) encode(p codec.Packet) (*Frame, error) {
	if r.inst == nil {
		return nil, fmt.Errorf("encode: %w: no codec instance", codec.ErrCodecFault)
	}
	data, err := r.inst.Encode(p)
	if err != nil {
		r.h.log.Error("room: encode", "room", r.name, "kind", p.Kind.String(), "err", err)
		return nil, fmt.Errorf("encode %s: %w", p.Kind, err)
	}
	return NewFrame(data), nil
}

// notice sends a text-only Message (no ids), upstream's way of telling a
// client something; the connection stays open.
func (r *room) notice(c *Conn, text string) {
	// A notice that quotes client input must still fit the payload limit
	// every client decodes with.
	if len(text) > r.h.cfg.MaxPayload {
		text = strings.ToValidUTF8(text[:r.h.cfg.MaxPayload], "")
	}
	f, err := r.encode(codec.Packet{Kind: codec.KindMessage, Payload: []byte(text)})
	if err != nil {
		return
	}
	if ok, _ := c.enqueue(f); ok {
		r.h.obs.PacketOut(codec.KindMessage, 1)
	}
}

func (s sender) fail(r *room, err error, text string) {
	if s.c != nil {
		r.notice(s.c, text)
	}
	if s.reply != nil {
		s.reply(chat.Message{}, fmt.Errorf("%w: %s", err, text))
	}
}

func (r *room) allow(userID string) bool {
	rate := r.h.cfg.RateLimit
	if rate <= 0 {
		return true
	}
	b := r.limits[userID]
	if b == nil {
		b = &bucket{}
		r.limits[userID] = b
	}
	if b.allow(r.h.cfg.Now(), rate) {
		return true
	}
	r.h.obs.RateLimited()
	return false
}

// pruneLimits forgets refilled buckets of users no longer in the room.
func (r *room) pruneLimits() {
	now := r.h.cfg.Now()
	for u, b := range r.limits {
		if r.users[u] == 0 && b.full(now, r.h.cfg.RateLimit) {
			delete(r.limits, u)
		}
	}
}

func (r *room) rateText() string {
	return fmt.Sprintf("Rate limit exceeded: %d messages per second", r.h.cfg.RateLimit)
}

// packet handles one frame from a socket: rate limit, decode, client rules.
func (r *room) packet(c *Conn, data []byte) {
	if _, ok := r.conns[c]; !ok || c.Closed() {
		return
	}
	if !r.allow(c.UserID) {
		r.notice(c, r.rateText())
		return
	}
	if r.inst == nil {
		r.h.obs.Rejected("codec_fault")
		r.notice(c, "Server error: no codec available; packet dropped")
		return
	}
	p, err := r.inst.Decode(data, r.h.cfg.MaxPayload)
	if err != nil {
		class := codec.Class(err)
		if class == "" {
			class = "codec_fault"
		}
		r.h.obs.Rejected(class)
		r.notice(c, rejectText(class, r.h.cfg.MaxPayload))
		return
	}
	r.h.obs.PacketIn(p.Kind)
	s := sender{c: c}
	switch p.Kind {
	case codec.KindMessage:
		r.message(s, c.UserID, p)
	case codec.KindReaction:
		ref := ""
		if p.MessageID != nil {
			ref = *p.MessageID
		} else {
			ref = string(p.Payload) // older clients put the id in the payload
		}
		if p.Reaction == nil || *p.Reaction == codec.ReactionNone || ref == "" || len(ref) > r.h.cfg.MaxMessageID {
			r.h.obs.Rejected("rule")
			r.notice(c, fmt.Sprintf("Invalid packet (rule): a Reaction needs a message_id of 1 to %d bytes and a reaction_kind from 1 to 4", r.h.cfg.MaxMessageID))
			return
		}
		r.react(c, c.UserID, ref, int(*p.Reaction), nil)
	case codec.KindTyping:
		if p.MessageID != nil || !json.Valid(p.Payload) {
			r.h.obs.Rejected("rule")
			r.notice(c, "Invalid packet (rule): a Typing packet has no message_id and a JSON payload")
			return
		}
		uid := c.UserID
		p.UserID = &uid
		f, err := r.encode(p)
		if err != nil {
			return
		}
		r.broadcast(codec.KindTyping, f, uid)
	default:
		r.h.obs.Rejected("rule")
		r.notice(c, fmt.Sprintf("Invalid packet (rule): clients may send only Message, Reaction and Typing, not %s", p.Kind))
	}
}

// rejectText explains a decoding failure to the client that sent it.
func rejectText(class string, maxPayload int) string {
	why := map[string]string{
		"truncated":      "the packet ends inside a field",
		"invalid_enum":   "a kind, reaction, option tag or bool is out of range",
		"invalid_utf8":   "an id is not valid UTF-8",
		"checksum":       "the crc does not match the payload",
		"compression":    "the payload is not a valid LZ4 frame",
		"too_large":      fmt.Sprintf("payload too large (max %d bytes)", maxPayload),
		"trailing_bytes": "bytes follow the packet",
	}[class]
	if why == "" {
		why = "the codec failed on it; it was dropped"
	}
	return fmt.Sprintf("Invalid packet (%s): %s", class, why)
}

// httpMessage is Hub.Post inside the room: the same path as a socket Message.
func (r *room) httpMessage(userID, ref string, text []byte, reply func(chat.Message, error)) {
	s := sender{reply: reply}
	if !r.allow(userID) {
		reply(chat.Message{}, fmt.Errorf("%w: %s", ErrRateLimited, r.rateText()))
		return
	}
	if len(text) > r.h.cfg.MaxPayload {
		s.fail(r, ErrInvalid, fmt.Sprintf("payload too large (max %d bytes)", r.h.cfg.MaxPayload))
		return
	}
	r.message(s, userID, codec.Packet{Kind: codec.KindMessage, MessageID: &ref, Payload: text})
}

// message validates, stamps and submits a Message; it is broadcast to all,
// sender included, only once committed.
func (r *room) message(s sender, userID string, p codec.Packet) {
	if p.MessageID == nil || *p.MessageID == "" || len(*p.MessageID) > r.h.cfg.MaxMessageID {
		r.h.obs.Rejected("rule")
		s.fail(r, ErrInvalid, fmt.Sprintf("Invalid packet (rule): a Message needs a message_id of 1 to %d bytes", r.h.cfg.MaxMessageID))
		return
	}
	if len(p.Payload) == 0 {
		r.h.obs.Rejected("rule")
		s.fail(r, ErrInvalid, "Invalid packet (rule): a Message needs a non-empty payload")
		return
	}
	ref := *p.MessageID
	if c := r.cache.Load(); c != nil {
		if m, ok := c.byRef(ref); ok {
			r.reack(s, userID, m)
			return
		}
	}
	if pm := r.pending[ref]; pm != nil {
		if pm.msg.UserID != userID {
			s.fail(r, ErrIDTaken, "Message rejected: message_id already used by another user")
			return
		}
		pm.senders = append(pm.senders, s)
		return
	}
	p.UserID = &userID
	p.Reaction = nil
	f, err := r.encode(p)
	if err != nil {
		s.fail(r, ErrNotStored, "Server error: the message could not be encoded")
		return
	}
	// Milliseconds, as stored, so cache and database agree on time cursors.
	now := r.h.cfg.Now().UTC().Truncate(time.Millisecond)
	pm := &pending{
		msg: chat.Message{
			ID: chat.NewMessageID(), Room: r.name, RefID: ref, UserID: userID,
			Kind: int(codec.KindMessage), Payload: p.Payload, Reactions: []chat.Reaction{},
			CreatedAt: now, UpdatedAt: now,
		},
		frame:   f,
		senders: []sender{s},
	}
	r.pending[ref] = pm
	err = r.h.writer.Submit(pm.msg, func(fresh bool, err error) {
		r.post(func() { r.committed(pm, fresh, err) })
	})
	if err != nil {
		delete(r.pending, ref)
		s.fail(r, ErrNotStored, "Message not stored: the server is shutting down; retry later")
	}
}

func (r *room) committed(pm *pending, fresh bool, err error) {
	delete(r.pending, pm.msg.RefID)
	defer r.maybeIdle()
	if err != nil {
		r.h.log.Error("room: store message", "room", r.name, "err", err)
		for _, s := range pm.senders {
			s.fail(r, ErrNotStored, "Message not stored: the server could not save it; retry later")
		}
		return
	}
	if !fresh {
		// Stored before (a retry after a restart): acknowledge what is stored.
		ref, userID, senders := pm.msg.RefID, pm.msg.UserID, pm.senders
		r.dbJob(func() (chat.Message, error) {
			return r.h.store.MessageByRef(context.Background(), r.name, ref)
		}, func(m chat.Message, err error) {
			if err != nil {
				for _, s := range senders {
					s.fail(r, ErrNotStored, "Message not stored: lookup failed; retry later")
				}
				return
			}
			for _, s := range senders {
				r.reack(s, userID, m)
			}
		})
		return
	}
	if c := r.cache.Load(); c != nil {
		c.add(pm.msg)
	}
	r.broadcast(codec.KindMessage, pm.frame, "")
	for _, s := range pm.senders {
		if s.reply != nil {
			s.reply(pm.msg, nil)
		}
	}
}

// reack acknowledges a Message that is already stored, to its sender only.
func (r *room) reack(s sender, userID string, m chat.Message) {
	if m.UserID != userID {
		s.fail(r, ErrIDTaken, "Message rejected: message_id already used by another user")
		return
	}
	if s.reply != nil {
		s.reply(m, nil)
		return
	}
	f, err := r.encode(storedPacket(m))
	if err != nil {
		return
	}
	if ok, _ := s.c.enqueue(f); ok {
		r.h.obs.PacketOut(codec.KindMessage, 1)
	}
}

func storedPacket(m chat.Message) codec.Packet {
	ref, uid := m.RefID, m.UserID
	return codec.Packet{Kind: codec.KindMessage, MessageID: &ref, UserID: &uid, Payload: m.Payload}
}

// dbJob runs fn on the room's serial database worker and then done in the
// room goroutine, so reactions and deletes apply in the order received.
func (r *room) dbJob(fn func() (chat.Message, error), done func(chat.Message, error)) {
	r.jobs++
	r.db.do(func() {
		m, err := fn()
		r.post(func() {
			r.jobs--
			done(m, err)
			r.maybeIdle()
		})
	})
}

// react toggles a reaction in storage, then broadcasts it to everyone.
func (r *room) react(c *Conn, userID, ref string, kind int, reply func(chat.Message, error)) {
	s := sender{c: c, reply: reply}
	if kind < int(codec.ReactionLike) || kind > int(codec.MaxReaction) {
		s.fail(r, ErrInvalid, "Invalid reaction: kind must be 1 to 4")
		return
	}
	r.dbJob(func() (chat.Message, error) {
		return r.h.store.ToggleReaction(context.Background(), r.name, ref, userID, kind)
	}, func(m chat.Message, err error) {
		if err != nil {
			if errors.Is(err, chat.ErrNotFound) {
				s.fail(r, ErrNotFound, "Reaction rejected: unknown message "+strconv.Quote(ref))
				return
			}
			r.h.log.Error("room: toggle reaction", "room", r.name, "err", err)
			s.fail(r, ErrNotStored, "Reaction not stored: the server could not save it; retry later")
			return
		}
		if c := r.cache.Load(); c != nil {
			c.replace(m)
		}
		rk := codec.Reaction(kind)
		f, err := r.encode(codec.Packet{Kind: codec.KindReaction, MessageID: &ref, UserID: &userID, Reaction: &rk})
		if err == nil {
			r.broadcast(codec.KindReaction, f, "")
		}
		if reply != nil {
			reply(m, nil)
		}
	})
}

// remove soft-deletes the author's message and broadcasts a Delete.
func (r *room) remove(userID, ref string, reply func(chat.Message, error)) {
	r.dbJob(func() (chat.Message, error) {
		return r.h.store.DeleteMessage(context.Background(), r.name, ref, userID)
	}, func(m chat.Message, err error) {
		switch {
		case errors.Is(err, chat.ErrNotFound):
			reply(chat.Message{}, ErrNotFound)
			return
		case errors.Is(err, chat.ErrForbidden):
			reply(chat.Message{}, ErrForbidden)
			return
		case err != nil:
			reply(chat.Message{}, fmt.Errorf("%w: %v", ErrNotStored, err))
			return
		}
		if c := r.cache.Load(); c != nil {
			c.remove(ref)
		}
		uid := m.UserID
		f, err := r.encode(codec.Packet{Kind: codec.KindDelete, MessageID: &ref, UserID: &uid})
		if err == nil {
			r.broadcast(codec.KindDelete, f, "")
		}
		reply(m, nil)
	})
}

// serial runs functions one at a time, in order, on a goroutine that exists
// only while there is work.
type serial struct {
	mu      sync.Mutex
	q       []func()
	running bool
}

func (s *serial) do(fn func()) {
	s.mu.Lock()
	s.q = append(s.q, fn)
	if !s.running {
		s.running = true
		go s.loop()
	}
	s.mu.Unlock()
}

func (s *serial) loop() {
	for {
		s.mu.Lock()
		if len(s.q) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		fn := s.q[0]
		s.q = s.q[1:]
		s.mu.Unlock()
		fn()
	}
}
