package hub

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/codec"
)

// decoded caches the decoding of shared frames: a broadcast frame is built
// once per room, so this decodes each once however many sockets get it.
var decoded sync.Map // *Frame -> codec.Packet

func decodeShared(f *Frame) (codec.Packet, error) {
	if p, ok := decoded.Load(f); ok {
		return p.(codec.Packet), nil
	}
	p, err := codec.NewGo().Decode(f.Data, 1<<20)
	if err == nil {
		decoded.Store(f, p)
	}
	return p, err
}

// countingTransport counts OnlineUsers packets and keeps the last count
// seen, decoding every frame as a client would.
type countingTransport struct {
	mu     sync.Mutex
	online int // OnlineUsers packets received
	last   string
	// leave plays the socket's read loop ending when the hub closes it.
	leave func()
	once  sync.Once
}

func (t *countingTransport) WriteFrame(f *Frame) error {
	p, err := decodeShared(f)
	if err != nil {
		return err
	}
	if p.Kind == codec.KindOnlineUsers {
		t.mu.Lock()
		t.online++
		t.last = string(p.Payload)
		t.mu.Unlock()
	}
	return nil
}

func (t *countingTransport) Close(int, string) {
	t.once.Do(func() {
		if t.leave != nil {
			go t.leave()
		}
	})
}

// joinCounting joins a counting socket of user to room.
func (e *testEnv) joinCounting(room, user string) (*Conn, *countingTransport) {
	e.t.Helper()
	ct := &countingTransport{}
	c := NewConn(ct, user, "", "")
	ct.leave = func() { e.hub.Leave(c) }
	if err := e.hub.Join(context.Background(), room, c); err != nil {
		e.t.Fatal(err)
	}
	return c, ct
}

func (t *countingTransport) seen() (int, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.online, t.last
}

// TestJoinBurstIsLinear joins n sockets of n users to one room as fast as
// the hub takes them, then n/2 leave. Every socket must end up with the
// right count, and the OnlineUsers packets must stay O(n): each socket's
// own greeting plus at most one per socket for every onlineFold that passed
// (the quadratic behaviour sent n(n+1)/2 for the joins alone).
func TestJoinBurstIsLinear(t *testing.T) {
	const n = 1000
	e := newEnv(t, Config{})
	conns := make([]*Conn, n)
	fakes := make([]*countingTransport, n)
	start := time.Now()
	for i := range conns {
		conns[i], fakes[i] = e.joinCounting("crowd", fmt.Sprintf("u%04d", i))
	}
	for _, c := range conns[n/2:] {
		e.hub.Leave(c)
	}
	elapsed := time.Since(start)
	want := strconv.Itoa(n / 2)
	waitFor(t, "every socket left sees "+want, func() bool {
		for _, f := range fakes[:n/2] {
			if _, last := f.seen(); last != want {
				return false
			}
		}
		return true
	})
	total := 0
	for _, f := range fakes {
		k, _ := f.seen()
		total += k
	}
	// +2 folds: the leading broadcast and the trailing one after elapsed.
	folds := int(elapsed/onlineFold) + 2
	bound := n + folds*n
	t.Logf("%d joins and %d leaves in %v: %d OnlineUsers packets (bound %d; quadratic would be over %d)", n, n/2, elapsed, total, bound, n*(n+1)/2)
	if total > bound {
		t.Fatalf("%d OnlineUsers packets for %d joins, bound %d", total, n, bound)
	}
}

// TestOnlineCountUnchangedSendsNothing: sockets of a user already present
// come and go without a packet to anyone else.
func TestOnlineCountUnchangedSendsNothing(t *testing.T) {
	e := newEnv(t, Config{})
	_, watcher := e.joinCounting("r1", "alice")
	_, bt := e.join("r1", "bob")
	next(t, bt, ofKind(codec.KindOnlineUsers))
	waitFor(t, "the watcher sees bob", func() bool { _, last := watcher.seen(); return last == "2" })
	before, _ := watcher.seen()
	for i := 0; i < 20; i++ {
		c, ft := e.join("r1", "bob") // more tabs of bob, opened and closed
		if p := next(t, ft, ofKind(codec.KindOnlineUsers)); string(p.Payload) != "2" {
			t.Fatalf("tab %d: online %q, want 2", i, p.Payload)
		}
		e.hub.Leave(c)
	}
	// A change of count after them: the watcher's next packet is that one.
	_, ct := e.join("r1", "carol")
	next(t, ct, ofKind(codec.KindOnlineUsers))
	waitFor(t, "the watcher sees carol", func() bool { _, last := watcher.seen(); return last == "3" })
	if after, _ := watcher.seen(); after != before+1 {
		t.Fatalf("the watcher got %d OnlineUsers for tabs that changed nothing and one join", after-before)
	}
}
