package hub

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/codec"
)

// countingSource leases real Go codecs and counts leases and returns, so a
// test sees what a room holds while it is awake and asleep.
type countingSource struct {
	inner              codec.Source
	acquired, released atomic.Int64
}

func (s *countingSource) Name() string { return "counting" }

func (s *countingSource) Acquire(ctx context.Context) (codec.Instance, error) {
	inst, err := s.inner.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	s.acquired.Add(1)
	return &countedInstance{Instance: inst, src: s}, nil
}

func (s *countingSource) held() int64 { return s.acquired.Load() - s.released.Load() }

type countedInstance struct {
	codec.Instance
	src  *countingSource
	done atomic.Bool
}

func (i *countedInstance) Release() {
	if i.done.CompareAndSwap(false, true) {
		i.src.released.Add(1)
	}
	i.Instance.Release()
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHibernationReleasesAndReacquires is the hibernation contract: an awake
// room holds one codec instance, a room idle for IdleGrace gives it back to
// the pool, and a room woken again leases a fresh one.
func TestHibernationReleasesAndReacquires(t *testing.T) {
	src := &countingSource{inner: codec.NewGoSource()}
	cfg := Config{IdleGrace: 30 * time.Millisecond}
	e := newEnvSource(t, cfg, src)

	c, _ := e.join("r1", "alice")
	if got := src.acquired.Load(); got != 1 || src.held() != 1 {
		t.Fatalf("awake room: %d leases, %d held; want 1 and 1", got, src.held())
	}
	e.hub.Leave(c)
	waitFor(t, "the idle room sleeps", func() bool { return e.hub.ActiveRooms() == 0 })
	if src.released.Load() != 1 || src.held() != 0 {
		t.Fatalf("asleep room: %d returned, %d held; want 1 and 0", src.released.Load(), src.held())
	}

	// Waking it (an HTTP post) leases a new instance.
	if _, err := e.hub.Post(context.Background(), "r1", "bob", "m-1", "wake up"); err != nil {
		t.Fatal(err)
	}
	if src.acquired.Load() != 2 {
		t.Fatalf("woken room: %d leases in all, want 2", src.acquired.Load())
	}
	waitFor(t, "the room sleeps again", func() bool { return e.hub.ActiveRooms() == 0 })
	if src.held() != 0 {
		t.Fatalf("after the second sleep %d instances are still held", src.held())
	}
}
