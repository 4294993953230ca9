package hub

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/cluster"
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
	// holders are the users with a claim on the room (guarded by h.mu).
	holders map[string]struct{}

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
	online  presence
	// clusterOnline is the distinct users over all nodes, as the cluster
	// last said (cluster mode only).
	clusterOnline int
}

func newRoom(h *Hub, name string) *room {
	return &room{
		h: h, name: name,
		holders: make(map[string]struct{}),
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
		return errClosed
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
	r.leaseCodec()
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

// leaseCodec leases the room's codec instance: from the hub's source if one
// comes within CodecWait, else the pure-Go codec until the room sleeps, so
// an exhausted pool slows no room down by more than CodecWait (issue 15).
// Fallbacks are counted; the first is logged.
func (r *room) leaseCodec() {
	ctx, cancel := context.WithTimeout(context.Background(), r.h.cfg.CodecWait)
	inst, err := r.h.src.Acquire(ctx)
	cancel()
	if err == nil {
		r.inst = inst
		return
	}
	r.h.stats.fallbacks.Add(1)
	r.h.fallbackOnce.Do(func() {
		r.h.log.Warn("room: no codec instance in time; rooms waking without one run on the Go codec until they sleep (logged once, counted in Stats)",
			"room", r.name, "codec", r.h.src.Name(), "wait", r.h.cfg.CodecWait, "err", err)
	})
	if inst, err = r.h.fallback.Acquire(context.Background()); err != nil {
		r.h.log.Error("room: acquire Go codec", "room", r.name, "err", err)
		return
	}
	r.inst = inst
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
	r.stopOnline()
	if r.inst != nil {
		r.inst.Release()
		r.inst = nil
	}
	r.h.log.Debug("room asleep", "room", r.name)
}

func (r *room) shutdown() {
	for c := range r.conns {
		c.Disconnect(DisconnectShutdown)
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
	if r.users[c.UserID] == 1 {
		r.setLocalUsers()
	}
	r.greet(c)
	if r.users[c.UserID] == 1 {
		r.onlineChanged()
	}
}

func (r *room) leave(c *Conn) {
	if _, ok := r.conns[c]; !ok {
		return
	}
	delete(r.conns, c)
	r.h.obs.ConnectionsDelta(-1)
	if r.users[c.UserID]--; r.users[c.UserID] <= 0 {
		delete(r.users, c.UserID)
		r.setLocalUsers()
		r.onlineChanged()
	}
	r.pruneLimits()
	r.maybeIdle()
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

// publish sends a committed event (seq is its number in the room's order)
// to everyone in the room. In a cluster it goes out with its number, and
// this node's sockets get it from the cluster's in-order delivery like
// everyone else's; an event the cluster refuses is broadcast here.
func (r *room) publish(kind codec.Kind, seq int64, f *Frame) {
	if c := r.h.cluster; c != nil && seq > 0 {
		err := c.Publish(cluster.Event{Room: r.name, Seq: seq, Data: f.Data})
		if err == nil {
			return
		}
		r.h.log.Warn("cluster: publish", "room", r.name, "seq", seq, "err", err)
	}
	r.broadcast(kind, f, "")
}
