package cluster

import (
	"fmt"
	"testing"
	"time"
)

// seqHarness is a sequencer wired to a memStore and a recorder, without
// NATS: the ordering logic on its own.
func seqHarness(t *testing.T) (*sequencer, *memStore, *recorder) {
	t.Helper()
	cfg := testConfig("nats://unused", "self")
	cfg.GiveUp = 300 * time.Millisecond
	st, rec := newMemStore(), newRecorder()
	b := &Broker{cfg: cfg, gaps: st, h: rec, log: quietLog()}
	s := newSequencer(b, "r")
	t.Cleanup(func() { s.close(); b.wg.Wait() })
	return s, st, rec
}

func commitN(st *memStore, n int, origin string) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = st.commit("r", origin, []byte(fmt.Sprintf("m%d", i)))
	}
	return evs
}

func TestSequencerReordersWithoutStore(t *testing.T) {
	s, st, rec := seqHarness(t)
	s.setBase(0)
	evs := commitN(st, 5, "peer")
	for _, i := range []int{1, 0, 4, 2, 2, 3, 0} {
		s.offer(evs[i])
	}
	checkInOrder(t, "reordered", rec, st, "r", 1, 5)
	if got := s.b.stats.duplicates.Load(); got != 2 {
		t.Fatalf("duplicates = %d, want 2", got)
	}
	// Everything arrived within Hold: the store was never read.
	time.Sleep(2 * s.b.cfg.Hold)
	if n := st.afterCalls(); n != 0 {
		t.Fatalf("store read %d times for a gap NATS closed itself", n)
	}
}

func TestSequencerFillsGapFromStore(t *testing.T) {
	s, st, rec := seqHarness(t)
	s.setBase(0)
	evs := commitN(st, 6, "peer")
	s.offer(evs[0])
	s.offer(evs[4]) // 2, 3, 4 never come over NATS
	s.offer(evs[5])
	waitFor(t, 2*time.Second, "gap fill", func() bool { return len(rec.seqs("r")) == 6 })
	checkInOrder(t, "filled", rec, st, "r", 1, 6)
	if s.b.stats.gapFills.Load() == 0 {
		t.Fatal("no gap fill counted")
	}
	// A late NATS copy of a filled event is a duplicate, not a delivery.
	s.offer(evs[2])
	checkInOrder(t, "after late copy", rec, st, "r", 1, 6)
}

func TestSequencerBaseline(t *testing.T) {
	s, st, rec := seqHarness(t)
	hist := commitN(st, 3, "peer") // history before the subscription
	mine := st.commit("r", "self", []byte("echo"))
	// This node's own commit (seq 4) raced the baseline read, which saw 4.
	s.offer(hist[2])
	s.offer(mine)
	s.setBase(4)
	if got := rec.seqs("r"); len(got) != 1 || got[0] != 4 {
		t.Fatalf("before baseline: delivered %v, want only this node's own echo [4]", got)
	}
	next := st.commit("r", "peer", []byte("after"))
	s.offer(next)
	if got := rec.seqs("r"); len(got) != 2 || got[1] != 5 {
		t.Fatalf("delivered %v, want [4 5]", got)
	}
}

func TestSequencerRetriesFailingStore(t *testing.T) {
	s, st, rec := seqHarness(t)
	s.setBase(0)
	evs := commitN(st, 3, "peer")
	st.setFail(true)
	s.offer(evs[2])
	waitFor(t, 2*time.Second, "failed reads", func() bool { return s.b.stats.fillErrors.Load() >= 2 })
	if got := rec.seqs("r"); len(got) != 0 {
		t.Fatalf("delivered %v while the gap could not be read", got)
	}
	st.setFail(false)
	waitFor(t, 2*time.Second, "fill after recovery", func() bool { return len(rec.seqs("r")) == 3 })
	checkInOrder(t, "recovered", rec, st, "r", 1, 3)
	if s.b.stats.skipped.Load() != 0 {
		t.Fatal("skipped while the store was only down")
	}
}

func TestSequencerGivesUpOnUnexplainedGap(t *testing.T) {
	s, st, rec := seqHarness(t)
	s.setBase(0)
	first := st.commit("r", "peer", []byte("a"))
	s.offer(first)
	// seq 3 arrives but the store never shows 2 or 3 (a broken store).
	s.offer(Event{Room: "r", Seq: 3, Data: []byte("ghost")})
	waitFor(t, 3*time.Second, "give up", func() bool { return len(rec.seqs("r")) == 2 })
	if got := rec.seqs("r"); got[1] != 3 {
		t.Fatalf("delivered %v, want [1 3]", got)
	}
	if got := s.b.stats.skipped.Load(); got != 1 {
		t.Fatalf("skipped = %d, want 1", got)
	}
}

func TestSequencerHintReadsLostTail(t *testing.T) {
	s, st, rec := seqHarness(t)
	s.setBase(0)
	commitN(st, 2, "peer") // published, but NATS lost both
	s.hint(2)
	waitFor(t, 2*time.Second, "tail fill", func() bool { return len(rec.seqs("r")) == 2 })
	checkInOrder(t, "tail", rec, st, "r", 1, 2)
	s.hint(1) // old news
	time.Sleep(2 * s.b.cfg.Hold)
	checkInOrder(t, "old hint", rec, st, "r", 1, 2)
}

func TestSequencerFillPagesThroughBatches(t *testing.T) {
	s, st, rec := seqHarness(t)
	s.b.cfg.FillBatch = 7
	s.setBase(0)
	commitN(st, 50, "peer")
	s.resync()
	waitFor(t, 2*time.Second, "paged fill", func() bool { return len(rec.seqs("r")) == 50 })
	checkInOrder(t, "paged", rec, st, "r", 1, 50)
}

// Gaps that keep opening for longer than GiveUp, each one readable from
// the store, are filled, never skipped: GiveUp is for a store that returns
// nothing, not for a busy room.
func TestSequencerNoSkipUnderContinuousGaps(t *testing.T) {
	s, st, rec := seqHarness(t) // GiveUp 300ms
	s.setBase(0)
	end := time.Now().Add(4 * s.b.cfg.GiveUp)
	n := 0
	for time.Now().Before(end) {
		ev := st.commit("r", "peer", []byte(fmt.Sprint(n)))
		if n%3 == 2 { // two of three never come over NATS
			s.offer(ev)
		}
		n++
		time.Sleep(time.Millisecond)
	}
	last := st.commit("r", "peer", []byte("last"))
	s.offer(last)
	waitFor(t, 5*time.Second, "all filled", func() bool { return int64(len(rec.seqs("r"))) == last.Seq })
	checkInOrder(t, "continuous", rec, st, "r", 1, last.Seq)
	if k := s.b.stats.skipped.Load(); k != 0 {
		t.Fatalf("skipped %d events the store had", k)
	}
}
