package cluster

import (
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/internal/natstest"
)

// countHandler counts deliveries and signals when a target is reached.
type countHandler struct {
	n, target int64
	done      chan struct{}
}

func (h *countHandler) Deliver(Event) {
	h.n++ // the sequencer calls Deliver under its room lock: one at a time
	if h.n == h.target {
		close(h.done)
	}
}
func (*countHandler) Typing(string, string, []byte) {}
func (*countHandler) Online(string)                 {}
func (*countHandler) Revoke(string)                 {}
func (*countHandler) Resync()                       {}

// BenchmarkSequencerInOrder is the sequencer's cost per event when nothing
// is missing, the common case.
func BenchmarkSequencerInOrder(b *testing.B) {
	h := &countHandler{target: -1}
	br := &Broker{cfg: DefaultConfig(), gaps: newMemStore(), h: h, log: quietLog()}
	s := newSequencer(br, "r")
	s.setBase(0)
	data := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.offer(Event{Room: "r", Seq: int64(i + 1), Data: data})
	}
	b.StopTimer()
	if h.n != int64(b.N) {
		b.Fatalf("delivered %d of %d", h.n, b.N)
	}
}

// BenchmarkCrossNode is publish on one node to delivery on another,
// through a real nats-server: events/s one room can carry between two
// nodes on this machine, 100-byte packets.
func BenchmarkCrossNode(b *testing.B) {
	srv := natstest.Start(b)
	st := newMemStore()
	pub, err := Open(testConfig(srv.URL(), "pub"), st, newRecorder())
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	h := &countHandler{target: int64(b.N), done: make(chan struct{})}
	cfg := testConfig(srv.URL(), "sub")
	cfg.Hold = time.Second // measure the NATS path, not gap fills
	sub, err := Open(cfg, st, h)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	if _, err := sub.SetLocal(room, []string{"u"}); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); pub.Online(room) != 1; {
		if time.Now().After(deadline) {
			b.Fatal("subscriber never seen")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // baseline read
	data := make([]byte, 100)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := pub.Publish(Event{Room: room, Seq: int64(i + 1), Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-h.done:
	case <-time.After(time.Minute):
		b.Fatalf("delivered %d of %d", h.n, b.N)
	}
	b.StopTimer()
	if s := sub.Stats(); s.Duplicates != 0 || s.GapFills != 0 {
		b.Fatalf("sub stats %+v", s)
	}
}
