package hub

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/codec"
)

// writers counts the goroutines running the writer of any of conns, from
// every goroutine's stack (the receiver is printed with the function), so
// writers of other tests' connections do not count.
func writers(conns ...*Conn) int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	for n == len(buf) {
		buf = make([]byte, 2*len(buf))
		n = runtime.Stack(buf, true)
	}
	count := 0
	for _, c := range conns {
		count += bytes.Count(buf[:n], fmt.Appendf(nil, "hub.(*Conn).writeLoop(%p", c))
	}
	return count
}

// waitWriters waits until want writer goroutines of conns run. For none,
// it also waits for every writing flag to clear: a goroutine that has not
// started yet shows no receiver in its stack.
func waitWriters(t *testing.T, want int, conns ...*Conn) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d writer goroutines run", want), func() bool {
		if want == 0 {
			for _, c := range conns {
				c.mu.Lock()
				w := c.writing
				c.mu.Unlock()
				if w {
					return false
				}
			}
		}
		return writers(conns...) == want
	})
}

// recTransport records the frames written, in order. While held, writes
// wait for release (a socket that does not drain), and Close lets them
// fail, as a real socket's close does. It fails the test if two writers
// ever run at once.
type recTransport struct {
	t       *testing.T
	active  atomic.Int32
	hold    chan struct{} // closed by release; nil: writes go through
	closed  chan struct{}
	once    sync.Once
	entered chan struct{} // one value each time a write starts

	mu   sync.Mutex
	seqs []uint32
	code int
}

func newRec(t *testing.T, held bool) *recTransport {
	r := &recTransport{t: t, closed: make(chan struct{}), entered: make(chan struct{}, 1<<16)}
	if held {
		r.hold = make(chan struct{})
	}
	return r
}

func (r *recTransport) release() { close(r.hold) }

func (r *recTransport) WriteFrame(f *Frame) error { return r.WriteFrames([]*Frame{f}) }

func (r *recTransport) WriteFrames(fs []*Frame) error {
	if n := r.active.Add(1); n != 1 {
		r.t.Errorf("%d writers at once", n)
	}
	defer r.active.Add(-1)
	r.entered <- struct{}{}
	if r.hold != nil {
		select {
		case <-r.hold:
		case <-r.closed:
			return errors.New("closed")
		}
	}
	select {
	case <-r.closed:
		return errors.New("closed")
	default:
	}
	r.mu.Lock()
	for _, f := range fs {
		r.seqs = append(r.seqs, binary.BigEndian.Uint32(f.Data))
	}
	r.mu.Unlock()
	return nil
}

func (r *recTransport) Close(code int, _ string) {
	r.once.Do(func() {
		r.mu.Lock()
		r.code = code
		r.mu.Unlock()
		close(r.closed)
	})
}

func (r *recTransport) written() []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint32(nil), r.seqs...)
}

func seqFrame(i int) *Frame {
	return NewFrame(binary.BigEndian.AppendUint32(nil, uint32(i)))
}

func newTestConn(tr Transport, maxBytes int) *Conn {
	c := NewConn(tr, "alice", "", "")
	c.maxBytes = maxBytes
	return c
}

// inOrder fails unless got is 0, 1, ... n-1.
func inOrder(t *testing.T, got []uint32, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d frames written, want %d", len(got), n)
	}
	for i, s := range got {
		if int(s) != i {
			t.Fatalf("frame %d is %d: out of order", i, s)
		}
	}
}

// TestWriterRunsOnlyWhileQueued: a connection has no writer goroutine
// until a frame is queued, one while frames wait (never two), and none
// again once they are written; the next frame starts one again. Nothing is
// lost or reordered across the restarts.
func TestWriterRunsOnlyWhileQueued(t *testing.T) {
	tr := newRec(t, true)
	c := newTestConn(tr, 1<<20)
	if w := writers(c); w != 0 {
		t.Fatalf("%d writers before anything was queued, want 0", w)
	}
	const n = 200
	c.enqueue(seqFrame(0))
	<-tr.entered // the writer holds frame 0
	for i := 1; i < n; i++ {
		if ok, _ := c.enqueue(seqFrame(i)); !ok {
			t.Fatalf("frame %d refused", i)
		}
	}
	if w := writers(c); w != 1 {
		t.Fatalf("%d writers with frames queued, want 1", w)
	}
	tr.release()
	waitWriters(t, 0, c)
	inOrder(t, tr.written(), n)
	c.mu.Lock()
	writing, queued := c.writing, len(c.queue)
	c.mu.Unlock()
	if writing || queued != 0 {
		t.Fatalf("after the drain: writing %v, %d queued", writing, queued)
	}

	// Bursts with idle gaps between them: a writer per burst, in order.
	for i := n; i < 2*n; i++ {
		c.enqueue(seqFrame(i))
		if i%10 == 0 {
			waitWriters(t, 0, c)
		}
	}
	waitWriters(t, 0, c)
	inOrder(t, tr.written(), 2*n)
	c.Disconnect(DisconnectShutdown)
}

// TestCloseStopsWriter: closing a connection whose writer is stuck in a
// write ends that writer, drops the queue and refuses later frames without
// starting another writer.
func TestCloseStopsWriter(t *testing.T) {
	tr := newRec(t, true)
	c := newTestConn(tr, 1<<20)
	for i := 0; i < 10; i++ {
		c.enqueue(seqFrame(i))
	}
	<-tr.entered
	c.Disconnect(DisconnectShutdown)
	waitWriters(t, 0, c)
	if ok, overflow := c.enqueue(seqFrame(10)); ok || overflow {
		t.Fatalf("enqueue after close: ok %v overflow %v", ok, overflow)
	}
	time.Sleep(20 * time.Millisecond)
	if w := writers(c); w != 0 {
		t.Fatalf("%d writers after a refused enqueue, want 0", w)
	}
	if got := tr.written(); len(got) != 0 {
		t.Fatalf("a closed socket wrote %v", got)
	}
}

// TestSlowBoundWithLazyWriter: the byte bound still closes a client that
// does not drain, its writer ends, and frames queued before stay in order
// for a client that does.
func TestSlowBoundWithLazyWriter(t *testing.T) {
	tr := newRec(t, true)
	c := newTestConn(tr, 40) // ten 4-byte frames
	c.enqueue(seqFrame(0))
	<-tr.entered // frame 0 left the queue
	for i := 1; i <= 10; i++ {
		if ok, _ := c.enqueue(seqFrame(i)); !ok {
			t.Fatalf("frame %d refused within the bound", i)
		}
	}
	ok, overflow := c.enqueue(seqFrame(11))
	if ok || !overflow {
		t.Fatalf("frame past the bound: ok %v overflow %v, want a slow-client close", ok, overflow)
	}
	tr.mu.Lock()
	code := tr.code
	tr.mu.Unlock()
	if code != DisconnectSlow.Code {
		t.Fatalf("closed with %d, want %d", code, DisconnectSlow.Code)
	}
	waitWriters(t, 0, c)
}

// TestWriterRaceWithClose runs bursts against a close at a random moment:
// whatever was written is a prefix of what was queued, in order, at most
// one writer ever runs, and no writer outlives the connection. Run it with
// -race.
func TestWriterRaceWithClose(t *testing.T) {
	var all []*Conn
	for round := 0; round < 50; round++ {
		tr := newRec(t, false)
		c := newTestConn(tr, 1<<20)
		all = append(all, c)
		const n = 300
		stop := round * 5
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < n; i++ {
				if ok, _ := c.enqueue(seqFrame(i)); !ok {
					return
				}
				if i%7 == 0 {
					runtime.Gosched()
				}
			}
		}()
	wait:
		for len(tr.written()) < stop {
			select {
			case <-done:
				break wait
			default:
				runtime.Gosched()
			}
		}
		c.Disconnect(DisconnectShutdown)
		<-done
		got := tr.written()
		for i, s := range got {
			if int(s) != i {
				t.Fatalf("round %d: frame %d is %d", round, i, s)
			}
		}
	}
	waitWriters(t, 0, all...)
}

// TestIdleSocketsHoldNoWriter: sockets that joined a room and got their
// greeting hold no writer goroutine; a broadcast starts one per socket
// only until it is written, and none is left after they leave.
func TestIdleSocketsHoldNoWriter(t *testing.T) {
	e := newEnv(t, Config{})
	const n = 30
	conns := make([]*Conn, n)
	fts := make([]*fakeTransport, n)
	users := []string{"alice", "bob", "carol"}
	for i := range conns {
		conns[i], fts[i] = e.join("idle", users[i%len(users)])
	}
	waitWriters(t, 0, conns...)
	e.send(conns[0], msg("m-1", "hello"))
	for i, ft := range fts {
		p := next(t, ft, ofKind(codec.KindMessage))
		if string(p.Payload) != "hello" {
			t.Fatalf("socket %d got %q", i, p.Payload)
		}
	}
	waitWriters(t, 0, conns...)
	for _, c := range conns {
		e.hub.Leave(c)
	}
	waitWriters(t, 0, conns...)
}

// parked reports whether c's writer waits for frames.
func parked(c *Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parked
}

// TestBusyWriterLingers: a socket whose writer started the clock's after
// times in one period keeps it parked between frames; the same goroutine
// writes what comes next, in order; a tick ends it after a whole period
// without a write, and the next period starts counting again.
func TestBusyWriterLingers(t *testing.T) {
	k := newLingerClock(time.Hour, 3) // ticks only by hand
	tr := newRec(t, false)
	c := newTestConn(tr, 1<<20)
	c.linger = k
	for i := 0; i < 2; i++ { // two starts: not busy yet
		c.enqueue(seqFrame(i))
		waitWriters(t, 0, c)
	}
	c.enqueue(seqFrame(2)) // the third start: the writer parks
	waitFor(t, "the writer parks", func() bool { return parked(c) })
	for i := 3; i < 100; i++ {
		c.enqueue(seqFrame(i))
		if i%10 == 0 {
			waitFor(t, "the writer parks again", func() bool { return parked(c) && len(tr.written()) == i+1 })
			if w := writers(c); w != 1 {
				t.Fatalf("%d writers after frame %d, want the one parked", w, i)
			}
		}
	}
	waitFor(t, "100 frames written", func() bool { return len(tr.written()) == 100 })
	c.mu.Lock()
	starts := c.starts
	c.mu.Unlock()
	if starts != 3 {
		t.Fatalf("%d writer starts for 100 frames, want 3", starts)
	}
	inOrder(t, tr.written(), 100)

	k.tick() // frames came in the period that ended: it stays
	waitFor(t, "the writer takes the tick and parks", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.parked && !c.active
	})
	if w := writers(c); w != 1 {
		t.Fatalf("%d writers after a busy period, want the one parked", w)
	}
	k.tick() // nothing came in this one: the writer exits
	waitWriters(t, 0, c)
	c.enqueue(seqFrame(100)) // a new period: one start is not busy
	waitWriters(t, 0, c)
	inOrder(t, tr.written(), 101)
	c.Disconnect(DisconnectShutdown)
}

// TestParkedWriterEndsOnClose: closing a socket ends its parked writer at
// once, and a frame that races the close is written or refused, never
// lost in a writer that no longer runs.
func TestParkedWriterEndsOnClose(t *testing.T) {
	k := newLingerClock(time.Hour, 1)
	var all []*Conn
	for round := 0; round < 50; round++ {
		tr := newRec(t, false)
		c := newTestConn(tr, 1<<20)
		c.linger = k
		all = append(all, c)
		c.enqueue(seqFrame(0))
		waitFor(t, "the writer parks", func() bool { return parked(c) })
		done := make(chan int)
		go func() {
			n := 1
			for ; n < 200; n++ {
				if ok, _ := c.enqueue(seqFrame(n)); !ok {
					break
				}
				if n%7 == 0 {
					runtime.Gosched()
				}
				if n%50 == 0 {
					k.tick() // ticks race the frames too
				}
			}
			done <- n
		}()
		if round%2 == 0 {
			runtime.Gosched()
		}
		c.Disconnect(DisconnectShutdown)
		accepted := <-done
		waitWriters(t, 0, c)
		got := tr.written()
		if len(got) > accepted {
			t.Fatalf("round %d: %d frames written, only %d accepted", round, len(got), accepted)
		}
		for i, s := range got {
			if int(s) != i {
				t.Fatalf("round %d: frame %d is %d", round, i, s)
			}
		}
	}
	waitWriters(t, 0, all...)
}

// TestLingerClockStops: the clock's goroutine runs while writers park and
// stops after a period in which none did; a writer that parks later
// starts it again, and that writer's period still ends.
func TestLingerClockStops(t *testing.T) {
	k := newLingerClock(5*time.Millisecond, 1)
	tr := newRec(t, false)
	c := newTestConn(tr, 1<<20)
	c.linger = k
	for round := 0; round < 3; round++ {
		c.enqueue(seqFrame(round))
		waitWriters(t, 0, c) // parked, then ended by a tick
		waitFor(t, "the clock stops", func() bool { return !k.running.Load() })
	}
	inOrder(t, tr.written(), 3)
	c.Disconnect(DisconnectShutdown)
}
