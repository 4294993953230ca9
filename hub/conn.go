package hub

import (
	"sync"
	"sync/atomic"
)

// WebSocket close codes the hub uses (RFC 6455 § 7.4.1).
const (
	CloseGoingAway     = 1001 // server shutdown or room stopping
	ClosePolicy        = 1008 // session revoked or expired
	CloseTooBig        = 1009 // frame above the size limit
	CloseTryAgainLater = 1013 // the client's send queue overflowed: it reads too slowly
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
// connection's writer goroutine; Close may be called from anywhere, more
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
	// Name is the user's display name, for logs.
	Name string
	IP   string
	// SessionKey identifies the session the socket was opened with (its
	// token hash), so the socket closes when that session ends.
	SessionKey string

	t        Transport
	maxBytes int

	mu      sync.Mutex
	queue   []*Frame
	bytes   int
	closed  bool
	signal  chan struct{}
	stopped chan struct{}

	room   *room
	joined atomic.Bool
}

// NewConn wraps a transport for userID; the hub sets its queue bound when
// it joins a room.
func NewConn(t Transport, userID, name, ip string) *Conn {
	return &Conn{
		UserID:  userID,
		Name:    name,
		IP:      ip,
		t:       t,
		signal:  make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
}

// enqueue adds f to the send queue. It reports false when the connection
// is closed, or when the queue would exceed its bound, in which case it
// closes the connection with CloseTryAgainLater and sets overflow.
func (c *Conn) enqueue(f *Frame) (ok, overflow bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false, false
	}
	if c.bytes+len(f.Data) > c.maxBytes && len(c.queue) > 0 {
		c.mu.Unlock()
		c.Close(CloseTryAgainLater, "send queue overflow: client reads too slowly")
		return false, true
	}
	c.queue = append(c.queue, f)
	c.bytes += len(f.Data)
	// Signal under the lock: Close closes the channel under the same lock.
	select {
	case c.signal <- struct{}{}:
	default:
	}
	c.mu.Unlock()
	return true, false
}

// writeLoop drains the queue into the transport until the connection closes.
func (c *Conn) writeLoop() {
	defer close(c.stopped)
	var batch []*Frame
	for range c.signal {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.bytes = 0
		c.mu.Unlock()
		for i, f := range batch {
			if err := c.t.WriteFrame(f); err != nil {
				c.Close(CloseGoingAway, "write failed")
				return
			}
			batch[i] = nil
		}
	}
}

// Disconnect closes the connection once with d; later calls do nothing.
func (c *Conn) Disconnect(d Disconnect) { c.Close(d.Code, d.Reason) }

// Close closes the connection once with code; later calls do nothing.
// Prefer Disconnect with a value of the close vocabulary.
func (c *Conn) Close(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.queue = nil
	c.bytes = 0
	close(c.signal)
	c.mu.Unlock()
	c.t.Close(code, reason)
}

// Closed reports whether the connection has been closed.
func (c *Conn) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Done is closed when the writer goroutine has finished.
func (c *Conn) Done() <-chan struct{} { return c.stopped }
