package wsframe

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Defaults, the one source for every caller (handlers, tests, benchmarks).
const (
	// DefaultWriteWait bounds one batch or one control write; a client
	// slower than that loses its connection (handlers used the same).
	DefaultWriteWait = 10 * time.Second
	// DefaultMaxBatchFrames and DefaultMaxBatchBytes bound one writev.
	// 64 frames of the 200 B load are 13 KB, a fraction of a loopback or
	// LAN socket buffer, so a batch rarely blocks half-way; the benchmark
	// in bench_test.go shows syscalls per frame flat beyond 32.
	DefaultMaxBatchFrames = 64
	DefaultMaxBatchBytes  = 64 << 10
	// DefaultCloseWait is how long Close waits for a write in progress
	// before it drops the TCP connection without a close frame.
	DefaultCloseWait = time.Second
	// DefaultReadBuffer is gorilla's read buffer per socket. It only has
	// to hold a frame header or a control payload (125 bytes): larger
	// payloads stream through it, and a read into a buffer at least this
	// big bypasses it. 512 holds two of the load's 200 B messages per
	// read; net/http's 4 KB reader, which gorilla would otherwise keep
	// after the hijack, was a fifth of an idle socket's memory (issue 17).
	DefaultReadBuffer = 512
	// DefaultLinger is how long the socket stays open after the close
	// frame, unless the peer answers it first, so the peer reads the frame
	// instead of a reset.
	DefaultLinger = 100 * time.Millisecond
)

// Errors, checked with errors.Is.
var (
	// ErrClosed: a close frame was sent or is waiting, so no data frame
	// may follow it (RFC 6455 § 5.5.1).
	ErrClosed = errors.New("wsframe: connection closing")
	// ErrForeignWrite: something tried to write a data frame through
	// gorilla after the upgrade; only Conn writes to the socket.
	ErrForeignWrite = errors.New("wsframe: write outside the frame writer")
)

// Config tunes a Conn; start from DefaultConfig. Zero fields take the
// defaults.
type Config struct {
	WriteWait      time.Duration
	MaxBatchFrames int
	MaxBatchBytes  int
	CloseWait      time.Duration
	Linger         time.Duration
	ReadBuffer     int
}

// DefaultConfig returns the defaults above.
func DefaultConfig() Config {
	return Config{
		WriteWait:      DefaultWriteWait,
		MaxBatchFrames: DefaultMaxBatchFrames,
		MaxBatchBytes:  DefaultMaxBatchBytes,
		CloseWait:      DefaultCloseWait,
		Linger:         DefaultLinger,
		ReadBuffer:     DefaultReadBuffer,
	}
}

func (c Config) normalize() Config {
	d := DefaultConfig()
	if c.WriteWait <= 0 {
		c.WriteWait = d.WriteWait
	}
	if c.MaxBatchFrames <= 0 {
		c.MaxBatchFrames = d.MaxBatchFrames
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = d.MaxBatchBytes
	}
	if c.CloseWait <= 0 {
		c.CloseWait = d.CloseWait
	}
	if c.Linger <= 0 {
		c.Linger = d.Linger
	}
	if c.ReadBuffer <= 0 {
		c.ReadBuffer = d.ReadBuffer
	}
	return c
}

// pingFrame is the server's keep-alive ping; shared, never written to.
var pingFrame = []byte{finBit | opPing, 0}

// Conn owns every write to one server-side WebSocket. Data frames come
// from a single writer goroutine through WriteFrames; pings, pongs and the
// close frame may be asked for from any goroutine and are written between
// batches, never inside one, by whichever goroutine holds the socket.
// Reads stay with gorilla: use WS() for ReadMessage, SetReadLimit,
// SetReadDeadline and SetPongHandler, but never its write methods,
// SetPingHandler or SetCloseHandler.
type Conn struct {
	ws     *websocket.Conn
	raw    net.Conn // the hijacked socket, under the guard
	writev bool     // raw does writev for net.Buffers
	cfg    Config

	// lk is the socket: whoever holds it is the only writer. A channel
	// rather than a mutex so Close can wait for it with a timeout.
	lk chan struct{}
	// deadline is the write deadline last set on raw (under lk).
	deadline time.Time

	mu        sync.Mutex
	pong      []byte // framed pong for the newest unanswered ping, nil for none
	ping      bool   // a keep-alive ping is due
	close     []byte // the close frame, set once
	closeSent bool
	err       error // first write failure; the socket is closed

	peerClosed chan struct{} // closed when the peer's close frame arrives
	peerOnce   sync.Once

	batches  atomic.Uint64
	frames   atomic.Uint64
	controls atomic.Uint64
}

// writeBuffers is the Upgrader's write buffer pool when the caller's has
// none. gorilla never draws from it (Conn writes every frame), but without
// a pool gorilla keeps the hijacked 4 KB write buffer for every socket.
var writeBuffers = &sync.Pool{}

// Upgrade performs gorilla's handshake with u and hands the socket to a
// Conn. It is the only way to make one: the socket is wrapped at hijack
// time so that gorilla's own writes after the handshake (the close frame
// it sends on a read-limit or protocol error) come to Conn too. A zero
// ReadBufferSize in u takes cfg.ReadBuffer (gorilla would keep net/http's
// 4 KB reader), and a nil WriteBufferPool a shared empty one.
func Upgrade(u *websocket.Upgrader, w http.ResponseWriter, r *http.Request, h http.Header, cfg Config) (*Conn, error) {
	cfg = cfg.normalize()
	up := *u
	if up.ReadBufferSize == 0 {
		up.ReadBufferSize = cfg.ReadBuffer
	}
	if up.WriteBufferPool == nil {
		up.WriteBufferPool = writeBuffers
	}
	hw := &hijacker{ResponseWriter: w}
	ws, err := up.Upgrade(hw, r, h)
	if err != nil {
		return nil, err
	}
	c := &Conn{
		ws:         ws,
		raw:        hw.g.Conn,
		cfg:        cfg,
		lk:         make(chan struct{}, 1),
		peerClosed: make(chan struct{}),
	}
	switch c.raw.(type) {
	case *net.TCPConn, *net.UnixConn:
		c.writev = true
	}
	c.lk <- struct{}{}
	hw.g.owner = c
	ws.SetPingHandler(func(data string) error {
		c.mu.Lock()
		c.pong = appendFrame(c.pong[:0], opPong, []byte(data))
		c.mu.Unlock()
		c.kick()
		return nil
	})
	ws.SetCloseHandler(func(code int, _ string) error {
		c.peerOnce.Do(func() { close(c.peerClosed) })
		// Echo the code (§ 5.5.1); if our close went first, this is the
		// answer and closeWith does nothing but the socket closes now.
		c.closeWith(closeFrame(code, ""))
		return nil
	})
	return c, nil
}

// WS is the gorilla connection, for reads only.
func (c *Conn) WS() *websocket.Conn { return c.ws }

// Stats counts what the writer did: writev calls (batches), data frames
// and control frames written.
type Stats struct {
	Batches, Frames, Controls uint64
}

// Stats returns the counters so far.
func (c *Conn) Stats() Stats {
	return Stats{Batches: c.batches.Load(), Frames: c.frames.Load(), Controls: c.controls.Load()}
}

// WriteFrames writes pre-framed data frames (see Binary) in order, in
// batches bounded by MaxBatchFrames and MaxBatchBytes, one writev and one
// write deadline per batch. Call it from one goroutine only: the socket's
// writer. It blocks while another goroutine writes a control frame. After
// an error the connection is closed and every later call fails.
func (c *Conn) WriteFrames(frames [][]byte) error {
	for len(frames) > 0 {
		n := c.batchLen(frames)
		<-c.lk
		err := c.writeLocked(frames[:n])
		c.unlock()
		if err != nil {
			return err
		}
		frames = frames[n:]
	}
	return nil
}

// batchLen is how many of frames go in the next batch: at least one.
func (c *Conn) batchLen(frames [][]byte) int {
	size := len(frames[0])
	n := 1
	for n < len(frames) && n < c.cfg.MaxBatchFrames && size+len(frames[n]) <= c.cfg.MaxBatchBytes {
		size += len(frames[n])
		n++
	}
	return n
}

// Ping asks for a keep-alive ping. It never waits for a batch in progress:
// the batch's writer sends the ping after it.
func (c *Conn) Ping() {
	c.mu.Lock()
	c.ping = true
	c.mu.Unlock()
	c.kick()
}

// StartPinger pings every period until the connection closes, from a
// timer rather than a goroutine so an idle socket holds no extra stack.
func (c *Conn) StartPinger(period time.Duration) {
	var tick func()
	tick = func() {
		c.mu.Lock()
		stop := c.close != nil || c.err != nil
		c.mu.Unlock()
		if stop {
			return
		}
		c.Ping()
		time.AfterFunc(period, tick)
	}
	time.AfterFunc(period, tick)
}

// Close sends a close frame with code and reason (cut to fit 123 bytes)
// once the batch in progress ends, then closes the TCP connection after
// the peer answers or Linger passes. It returns at once; later calls do
// nothing. If the batch does not end within CloseWait the socket is
// closed without the frame.
func (c *Conn) Close(code int, reason string) {
	c.closeWith(closeFrame(code, reason))
}

func (c *Conn) closeWith(frame []byte) {
	c.mu.Lock()
	if c.close != nil {
		c.mu.Unlock()
		return
	}
	c.close = frame
	c.mu.Unlock()
	go c.finish()
}

// finish writes the close frame and closes the socket.
func (c *Conn) finish() {
	t := time.NewTimer(c.cfg.CloseWait)
	select {
	case <-c.lk:
		t.Stop()
		_ = c.writeLocked(nil)
		c.unlock()
	case <-t.C:
	}
	c.mu.Lock()
	sent := c.closeSent && c.err == nil
	c.mu.Unlock()
	if sent {
		// FIN after the close frame: the peer reads the frame, then EOF.
		if hc, ok := c.raw.(interface{ CloseWrite() error }); ok {
			_ = hc.CloseWrite()
		}
		t.Reset(c.cfg.Linger)
		select {
		case <-c.peerClosed:
		case <-t.C:
		}
		t.Stop()
	}
	_ = c.raw.Close()
}

// kick writes waiting control frames now if nobody holds the socket;
// otherwise the holder writes them before it lets go.
func (c *Conn) kick() {
	select {
	case <-c.lk:
	default:
		return
	}
	_ = c.writeLocked(nil)
	c.unlock()
}

// unlock releases the socket, then takes it back while control frames are
// waiting: one may have arrived after the holder's last look, from a
// goroutine that found the socket held.
func (c *Conn) unlock() {
	c.lk <- struct{}{}
	for c.pending() {
		select {
		case <-c.lk:
		default:
			return // the new holder will see them
		}
		_ = c.writeLocked(nil)
		c.lk <- struct{}{}
	}
}

func (c *Conn) pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil && !c.closeSent && (c.pong != nil || c.ping || c.close != nil)
}

// bufsPool lends batch iovecs, so an idle socket holds none. It holds
// *net.Buffers so that WriteTo, which consumes its receiver, allocates
// nothing.
var bufsPool = sync.Pool{New: func() any { return new(net.Buffers) }}

// joinPool lends the buffer a batch is copied into when the socket cannot
// writev (TLS): one record and one syscall per batch still.
var joinPool = sync.Pool{New: func() any { return new([]byte) }}

// writeLocked writes waiting control frames, then frames, in one syscall.
// The caller holds lk. Once a close frame is waiting, data is dropped and
// the close frame is the last thing written.
func (c *Conn) writeLocked(frames [][]byte) error {
	bp := bufsPool.Get().(*net.Buffers)
	bufs := (*bp)[:0]
	defer func() {
		clear(bufs[:cap(bufs)]) // drop references to shared frames
		*bp = bufs[:0]
		bufsPool.Put(bp)
	}()

	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	if c.closeSent {
		c.mu.Unlock()
		if len(frames) > 0 {
			return ErrClosed
		}
		return nil
	}
	ctl := 0
	if c.pong != nil {
		bufs = append(bufs, c.pong)
		c.pong = nil
		ctl++
	}
	if c.ping {
		bufs = append(bufs, pingFrame)
		c.ping = false
		ctl++
	}
	dropped := false
	if c.close != nil {
		bufs = append(bufs, c.close)
		c.closeSent = true
		ctl++
		dropped = len(frames) > 0
		frames = nil
	}
	c.mu.Unlock()

	bufs = append(bufs, frames...)
	if len(bufs) == 0 {
		return nil
	}
	err := c.extendDeadline()
	if err == nil {
		*bp = bufs
		err = c.send(bp)
	}
	if err != nil {
		err = fmt.Errorf("wsframe: write batch: %w", err)
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		_ = c.raw.Close()
		return err
	}
	c.batches.Add(1)
	c.frames.Add(uint64(len(frames)))
	c.controls.Add(uint64(ctl))
	if dropped {
		return ErrClosed
	}
	return nil
}

// extendDeadline gives the write about to start at least nine tenths of
// WriteWait. The socket's deadline moves only when less than that is left:
// setting it takes the runtime's timer lock, and per batch it was 12% of
// the server's CPU with 1,000 sockets each written every 5 ms (issue 17,
// row 4). The caller holds lk.
func (c *Conn) extendDeadline() error {
	now := time.Now()
	if c.deadline.Sub(now) >= c.cfg.WriteWait-c.cfg.WriteWait/10 {
		return nil
	}
	d := now.Add(c.cfg.WriteWait)
	if err := c.raw.SetWriteDeadline(d); err != nil {
		return err
	}
	c.deadline = d
	return nil
}

// send writes bufs with one writev, or one Write of their concatenation;
// it consumes *bufs.
func (c *Conn) send(bufs *net.Buffers) error {
	if c.writev {
		_, err := bufs.WriteTo(c.raw)
		return err
	}
	jp := joinPool.Get().(*[]byte)
	b := (*jp)[:0]
	for _, p := range *bufs {
		b = append(b, p...)
	}
	_, err := c.raw.Write(b)
	if cap(b) <= 1<<20 {
		*jp = b[:0]
		joinPool.Put(jp)
	}
	return err
}

// foreign takes a write gorilla makes on its own after the handshake: the
// close frame it sends on a read-limit or protocol error goes through the
// close path, after the batch in progress. Anything else is refused.
func (c *Conn) foreign(p []byte) (int, error) {
	if len(p) >= 2 && p[0] == finBit|opClose {
		c.closeWith(append([]byte(nil), p...))
		return len(p), nil
	}
	return 0, ErrForeignWrite
}

// hijacker hands gorilla a guarded socket when it hijacks the request.
type hijacker struct {
	http.ResponseWriter
	g *guard
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.g = &guard{Conn: nc}
	return h.g, brw, nil
}

// guard is the net.Conn gorilla sees. Until Upgrade returns it passes
// everything through (the handshake response); after that, writes go to
// the owner and write deadlines are the owner's to set.
type guard struct {
	net.Conn
	owner *Conn
}

func (g *guard) Write(p []byte) (int, error) {
	if g.owner == nil {
		return g.Conn.Write(p)
	}
	return g.owner.foreign(p)
}

func (g *guard) SetWriteDeadline(t time.Time) error {
	if g.owner == nil {
		return g.Conn.SetWriteDeadline(t)
	}
	return nil
}

func (g *guard) SetDeadline(t time.Time) error {
	if g.owner == nil {
		return g.Conn.SetDeadline(t)
	}
	return g.Conn.SetReadDeadline(t)
}
