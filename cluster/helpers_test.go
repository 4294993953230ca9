package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// memStore is the test's store: it assigns dense per-room Seq numbers at
// "commit", as the PostgreSQL store will, and answers GapSource reads.
// Nothing here fakes NATS; it stands in for the database only.
type memStore struct {
	mu     sync.Mutex
	events map[string][]Event // room → events, Seq i+1 at index i
	fail   bool
	afters int
}

func newMemStore() *memStore { return &memStore{events: make(map[string][]Event)} }

var errStoreDown = errors.New("memstore: down")

// commit stores data as room's next event and returns it, stamped.
func (m *memStore) commit(room, origin string, data []byte) Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	ev := Event{Room: room, Seq: int64(len(m.events[room]) + 1), Origin: origin, Data: data}
	m.events[room] = append(m.events[room], ev)
	return ev
}

func (m *memStore) setFail(f bool) {
	m.mu.Lock()
	m.fail = f
	m.mu.Unlock()
}

func (m *memStore) afterCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.afters
}

func (m *memStore) LastSeq(_ context.Context, room string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return 0, errStoreDown
	}
	return int64(len(m.events[room])), nil
}

func (m *memStore) After(_ context.Context, room string, after int64, limit int) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.afters++
	if m.fail {
		return nil, errStoreDown
	}
	evs := m.events[room]
	if after >= int64(len(evs)) {
		return nil, nil
	}
	out := make([]Event, 0, limit)
	for _, ev := range evs[after:] {
		if len(out) == limit {
			break
		}
		ev.Origin = "" // the store does not keep the origin
		out = append(out, ev)
	}
	return out, nil
}

// recorder is a Handler that keeps everything it is given.
type recorder struct {
	mu      sync.Mutex
	events  map[string][]Event
	typing  []string       // room/user/data
	notes   map[string]int // Online notices per room
	revoked []string
	resyncs int
	changed chan struct{}
}

func newRecorder() *recorder {
	return &recorder{events: make(map[string][]Event), notes: make(map[string]int), changed: make(chan struct{}, 1)}
}

func (r *recorder) poke() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) Deliver(ev Event) {
	r.mu.Lock()
	ev.Data = append([]byte(nil), ev.Data...)
	r.events[ev.Room] = append(r.events[ev.Room], ev)
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) Typing(room, user string, data []byte) {
	r.mu.Lock()
	r.typing = append(r.typing, room+"/"+user+"/"+string(data))
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) Online(room string) {
	r.mu.Lock()
	r.notes[room]++
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) Revoke(key string) {
	r.mu.Lock()
	r.revoked = append(r.revoked, key)
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) Resync() {
	r.mu.Lock()
	r.resyncs++
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) seqs(room string) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int64, len(r.events[room]))
	for i, ev := range r.events[room] {
		out[i] = ev.Seq
	}
	return out
}

// noticed is how many Online notices room has had.
func (r *recorder) noticed(room string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.notes[room]
}

// checkInOrder fails unless room's deliveries are exactly from..to, each
// once and in order, with the payload the store holds.
func checkInOrder(t *testing.T, name string, r *recorder, st *memStore, room string, from, to int64) {
	t.Helper()
	r.mu.Lock()
	evs := append([]Event(nil), r.events[room]...)
	r.mu.Unlock()
	if int64(len(evs)) != to-from+1 {
		t.Fatalf("%s: %d events delivered in %s, want %d (seq %d..%d): %v", name, len(evs), room, to-from+1, from, to, seqList(evs))
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, ev := range evs {
		want := from + int64(i)
		if ev.Seq != want {
			t.Fatalf("%s: delivery %d in %s has seq %d, want %d: %v", name, i, room, ev.Seq, want, seqList(evs))
		}
		if stored := st.events[room][want-1]; string(stored.Data) != string(ev.Data) {
			t.Fatalf("%s: seq %d data %q, stored %q", name, want, ev.Data, stored.Data)
		}
	}
}

func seqList(evs []Event) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

// waitFor polls cond until it holds or the timeout ends.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testConfig is DefaultConfig with timings short enough for tests.
func testConfig(url, node string) Config {
	c := DefaultConfig()
	c.URLs = url
	c.NodeID = node
	c.Heartbeat = 200 * time.Millisecond
	c.PeerTTL = time.Second
	c.Hold = 50 * time.Millisecond
	c.FillRetry = 50 * time.Millisecond
	c.GiveUp = time.Second
	c.DegradedPoll = 0
	c.ReconnectWait = 100 * time.Millisecond
	c.Timeout = 2 * time.Second
	c.Log = quietLog()
	return c
}

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// node is one Broker under test with its handler.
type node struct {
	*Broker
	rec *recorder
}

func openNode(t *testing.T, cfg Config, st *memStore) node {
	t.Helper()
	rec := newRecorder()
	b, err := Open(cfg, st, rec)
	if err != nil {
		t.Fatalf("open %s: %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return node{b, rec}
}

// commitPublish commits data in room on n and publishes it, as the hub
// will after the store's commit.
func (n node) commitPublish(t *testing.T, st *memStore, room string, data string) Event {
	t.Helper()
	ev := st.commit(room, n.NodeID(), []byte(data))
	if err := n.Publish(ev); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return ev
}

// ready waits until n's sequencer for room has its baseline.
func (n node) ready(t *testing.T, room string) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%s ready in %s", n.NodeID(), room), func() bool {
		n.mu.Lock()
		rs := n.rooms[room]
		n.mu.Unlock()
		if rs == nil {
			return false
		}
		rs.seq.mu.Lock()
		defer rs.seq.mu.Unlock()
		return rs.seq.ready
	})
}

// seqState describes n's sequencer of room, for failure messages.
func (n node) seqState(room string) string {
	n.mu.Lock()
	rs := n.rooms[room]
	n.mu.Unlock()
	if rs == nil {
		return "not subscribed"
	}
	s := rs.seq
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("ready %v base %d next %d want %d held %d filling %v probe %v timer %v gapAt %v",
		s.ready, s.base, s.next, s.want, len(s.held), s.filling, s.probe, s.timer != nil, s.gapAt)
}
