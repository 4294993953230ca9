package hub

import (
	"sync"
	"sync/atomic"
	"time"
)

// Frame is one encoded packet, built once per broadcast and shared by every
// receiving connection. Transports may cache a prepared form of it.
type Frame struct {
	Data []byte

	once     sync.Once
	prepared any
}

// NewFrame wraps encoded packet bytes.
func NewFrame(data []byte) *Frame { return &Frame{Data: data} }

// Prepared returns prep(f.Data), computed once for all connections, so a
// broadcast pays for framing (and compression, if any) a single time.
func (f *Frame) Prepared(prep func([]byte) any) any {
	f.once.Do(func() { f.prepared = prep(f.Data) })
	return f.prepared
}

// Transport is the socket under a Conn. WriteFrame is called only from the
// connection's writer goroutine (one at a time, though not always the same
// goroutine); Close may be called from anywhere, more
// than once, and must make a blocked WriteFrame and the reader return.
type Transport interface {
	WriteFrame(f *Frame) error
	Close(code int, reason string)
}

// BatchTransport is a Transport that writes several frames at once (one
// syscall and one write deadline for the lot, each packet still its own
// WebSocket frame). When the transport has it, the connection's writer
// hands it every queued frame in one call instead of WriteFrame per frame.
type BatchTransport interface {
	Transport
	WriteFrames(fs []*Frame) error
}

// Conn is one client connection in a room. Its send queue is bounded in
// bytes: a client that cannot keep up is disconnected, never waited on.
type Conn struct {
	UserID string
	// SessionKey identifies the session the socket was opened with (its
	// token hash), so the socket closes when that session ends.
	SessionKey string

	t        Transport
	maxBytes int

	mu     sync.Mutex
	queue  []*Frame
	bytes  int
	closed bool
	// writing is set while a writer goroutine runs. There is one only
	// while frames are queued: an idle socket holds no writer stack.
	writing bool
	// spare is the writer's second queue array, kept between writers so
	// that a busy socket's queue does not regrow from nothing each burst.
	spare []*Frame
	// linger is the hub's clock for busy sockets' writers (linger.go);
	// nil: the writer always exits when the queue empties. starts counts
	// writer starts in linger's period startEpoch. lingering is set while
	// the writer parks on empty queues, active when it wrote since the
	// last tick, parked while it waits on wake for more frames.
	linger     *lingerClock
	starts     int
	startEpoch uint32
	lingering  bool
	active     bool
	parked     bool
	wake       chan struct{}

	room   *room
	joined atomic.Bool
	// online is the count of users the room last queued to this socket
	// (0: none yet). Owned by the room goroutine.
	online int
	// violations counts refused frames since violStart (room goroutine).
	violations int
	violStart  time.Time
}

// NewConn wraps a transport for userID; the hub sets its queue bound when
// it joins a room. The display name and address are not kept: nothing
// reads them (the parameters stay until handlers/ws.go stops passing them).
func NewConn(t Transport, userID, _, _ string) *Conn {
	return &Conn{UserID: userID, t: t}
}

// enqueue adds f to the send queue and starts the writer if none runs. It
// reports false when the connection is closed, or when the queue would
// exceed its bound, in which case it closes the connection with
// DisconnectSlow and sets overflow.
func (c *Conn) enqueue(f *Frame) (ok, overflow bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false, false
	}
	if c.bytes+len(f.Data) > c.maxBytes && len(c.queue) > 0 {
		c.mu.Unlock()
		c.Disconnect(DisconnectSlow)
		return false, true
	}
	c.queue = append(c.queue, f)
	c.bytes += len(f.Data)
	start := !c.writing
	c.writing = true
	if start && c.linger != nil {
		if e := c.linger.epoch.Load(); c.startEpoch != e {
			c.startEpoch, c.starts = e, 0
		}
		c.starts++
	}
	wake := c.parked
	c.parked = false
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	} else if wake {
		c.wake <- struct{}{} // never blocks: one send per park, buffer of one
	}
	return true, false
}

// lingers reports whether the writer should park on an empty queue rather
// than exit (linger.go): it starts to once the socket is busy, and stops
// after a whole period without a write. ticked says the clock woke the
// writer. c.mu is held.
func (c *Conn) lingers(ticked bool) bool {
	if c.linger == nil {
		return false
	}
	if ticked {
		if !c.active {
			c.lingering = false
			return false
		}
		c.active = false
	}
	if !c.lingering {
		c.lingering = c.starts >= c.linger.after && c.startEpoch == c.linger.epoch.Load()
	}
	return c.lingering
}

// writeLoop drains the queue into the transport, then exits: the next
// enqueue starts another, so an idle socket keeps no stack for it (issue
// 17, bench load --idle). A busy socket's writer parks instead, until more
// frames come or the linger clock ticks (linger.go). Everything queued
// since the last write goes out in one call when the transport is a
// BatchTransport (one syscall for the lot), else frame by frame.
func (c *Conn) writeLoop() {
	bt, _ := c.t.(BatchTransport)
	c.mu.Lock()
	batch := c.spare
	c.spare = nil
	ticked := false // woken by the clock
	for {
		if !c.closed && len(c.queue) == 0 && c.lingers(ticked) {
			ticked = false
			if c.wake == nil {
				c.wake = make(chan struct{}, 1)
			}
			tick := c.linger.park()
			c.parked = true
			c.mu.Unlock()
			select {
			case <-c.wake:
			case <-tick:
				ticked = true
			}
			c.mu.Lock()
			if c.parked {
				c.parked = false
			} else if ticked {
				// Whoever cleared parked sends once; take it unlocked.
				c.mu.Unlock()
				<-c.wake
				c.mu.Lock()
			}
			continue
		}
		if c.closed || len(c.queue) == 0 {
			c.writing, c.lingering = false, false
			// A burst's worth is not kept by an idle socket.
			if cap(c.queue) > keepQueueCap {
				c.queue = nil
			}
			if cap(batch) <= keepQueueCap {
				c.spare = batch[:0]
			}
			c.mu.Unlock()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.bytes = 0
		ticked, c.active = false, true
		c.mu.Unlock()
		err := c.write(bt, batch)
		// Let go of the frames before waiting for more.
		clear(batch)
		if err != nil {
			c.Disconnect(disconnectWriteFailed) // the next turn exits
		}
		c.mu.Lock()
	}
}

// keepQueueCap is the largest queue backing array a connection keeps
// between bursts.
const keepQueueCap = 64

func (c *Conn) write(bt BatchTransport, batch []*Frame) error {
	if bt != nil {
		return bt.WriteFrames(batch)
	}
	for _, f := range batch {
		if err := c.t.WriteFrame(f); err != nil {
			return err
		}
	}
	return nil
}

// Close is Disconnect with a code and reason of the caller's. Prefer
// Disconnect with a value of the close vocabulary; Close stays only until
// handlers/ws.go has switched.
func (c *Conn) Close(code int, reason string) { c.Disconnect(Disconnect{Code: code, Reason: reason}) }

// Disconnect closes the connection once with d; later calls do nothing.
func (c *Conn) Disconnect(d Disconnect) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.queue = nil
	c.bytes = 0
	wake := c.parked
	c.parked = false
	c.mu.Unlock()
	if wake {
		c.wake <- struct{}{}
	}
	c.t.Close(d.Code, d.Reason)
}

// Closed reports whether the connection has been closed.
func (c *Conn) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
