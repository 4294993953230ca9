package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

// validVectors returns n golden vectors with small payloads, for exercising
// leases without spending the test's time in the codec.
func validVectors(t *testing.T, n int) []corpus.Vector {
	t.Helper()
	var out []corpus.Vector
	for _, v := range golden(t) {
		if v.Valid() && len(v.Payload) <= 2048 && len(out) < n {
			out = append(out, v)
		}
	}
	return out
}

// waitFor polls cond until it holds or five seconds pass. It waits for
// background work (trimming); it measures nothing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestPoolRoomsNeverShareAnInstance(t *testing.T) {
	const (
		maxInstances = 6
		goroutines   = 24
		rooms        = 64
		rounds       = 25
	)
	p := newPool(t, Config{MinWarm: 2, MaxInstances: maxInstances, IdleTrim: -1})
	vectors := validVectors(t, 40)

	var mu sync.Mutex
	owner := map[uint64]int{} // instance id -> room holding it
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				room := (g*rounds + r) % rooms
				l, err := p.Lease(context.Background())
				if err != nil {
					errs <- err
					return
				}
				id := l.InstanceID()
				mu.Lock()
				if other, taken := owner[id]; taken {
					mu.Unlock()
					errs <- fmt.Errorf("room %d got instance %d while room %d holds it", room, id, other)
					return
				}
				owner[id] = room
				mu.Unlock()

				v := vectors[(g+r)%len(vectors)]
				if err := corpus.Check(l, v, corpus.DefaultMaxPayload); err != nil {
					errs <- fmt.Errorf("room %d, %s: %v", room, v.Name, err)
					return
				}
				if l.InstanceID() != id {
					errs <- fmt.Errorf("room %d: instance changed without a fault", room)
					return
				}
				mu.Lock()
				delete(owner, id)
				mu.Unlock()
				l.Release()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := p.Stats()
	if s.Leases != goroutines*rounds {
		t.Errorf("Leases %d, want %d", s.Leases, goroutines*rounds)
	}
	if s.Total > maxInstances || s.Instantiations > maxInstances {
		t.Errorf("%d instances alive, %d instantiated, max %d", s.Total, s.Instantiations, maxInstances)
	}
	if s.InUse != 0 || s.Idle != s.Total || s.Faults != 0 {
		t.Errorf("after all releases: %+v", s)
	}
}

func TestWarmLeaseDoesNotInstantiate(t *testing.T) {
	p := newPool(t, Config{MinWarm: 4, MaxInstances: 8, IdleTrim: -1})
	s := p.Stats()
	if s.Instantiations != 4 || s.Idle != 4 {
		t.Fatalf("new pool: %+v, want 4 warm instances", s)
	}
	for range 50 {
		var ls []*Lease
		for range 4 {
			l, err := p.Lease(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.ABIVersion(); err != nil {
				t.Fatal(err)
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Release()
		}
	}
	if got := p.Stats().Instantiations; got != 4 {
		t.Errorf("Instantiations %d after 200 warm leases, want 4", got)
	}
	// A fifth concurrent lease has no warm instance left and instantiates.
	for range 5 {
		lease(t, p)
	}
	if got := p.Stats().Instantiations; got != 5 {
		t.Errorf("Instantiations %d with 5 leases, want 5", got)
	}
}

func TestMaxInstancesBlocksUntilRelease(t *testing.T) {
	p := newPool(t, Config{MinWarm: 1, MaxInstances: 2, IdleTrim: -1})
	a, b := lease(t, p), lease(t, p)
	got := make(chan *Lease, 1)
	go func() {
		l, err := p.Lease(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	waitFor(t, "the third Acquire to block", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.waiters) == 1
	})
	select {
	case <-got:
		t.Fatal("a third lease was granted with MaxInstances 2")
	default:
	}
	want := b.InstanceID()
	b.Release()
	c := <-got
	defer c.Release()
	if c.InstanceID() != want {
		t.Errorf("waiter got instance %d, want the released %d", c.InstanceID(), want)
	}
	if s := p.Stats(); s.Instantiations != 2 || s.Total != 2 {
		t.Errorf("%+v, want the released instance handed over, none created", s)
	}
	_ = a
}

func TestAcquireContextEnds(t *testing.T) {
	p := newPool(t, Config{MinWarm: 1, MaxInstances: 1, IdleTrim: -1})
	held := lease(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire with a deadline: %v, want context.DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Acquire(ctx)
		done <- err
	}()
	waitFor(t, "Acquire to block", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.waiters) == 1
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled Acquire: %v, want context.Canceled", err)
	}
	held.Release()
	l, err := p.Lease(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if s := p.Stats(); s.Total != 1 || s.InUse != 1 || len(p.waiters) != 0 {
		t.Errorf("%+v after canceled waiters", s)
	}
}

func TestIdleTrim(t *testing.T) {
	p := newPool(t, Config{MinWarm: 1, MaxInstances: 5, IdleTrim: 20 * time.Millisecond})
	var ls []*Lease
	for range 5 {
		ls = append(ls, lease(t, p))
	}
	for _, l := range ls {
		l.Release()
	}
	waitFor(t, "trimming to MinWarm", func() bool { s := p.Stats(); return s.Idle == 1 && s.Total == 1 })
	if s := p.Stats(); s.Trimmed != 4 {
		t.Errorf("Trimmed %d, want 4", s.Trimmed)
	}
	// In-use instances are never trimmed.
	l := lease(t, p)
	time.Sleep(60 * time.Millisecond)
	if _, err := l.ABIVersion(); err != nil {
		t.Errorf("leased instance after trim period: %v", err)
	}
}

func TestIdleMemoryRecycle(t *testing.T) {
	p := newPool(t, Config{MinWarm: 1, MaxInstances: 2, IdleTrim: -1, IdleMemoryPages: 8})
	l, err := p.Lease(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20) // grows the instance past 8 pages
	for i := range big {
		big[i] = byte(i * 7)
	}
	pkt, err := codec.NewGo().Encode(codec.Packet{Payload: big})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Decode(pkt, 1<<20); err != nil {
		t.Fatal(err)
	}
	if l.MemoryBytes() <= 8*pageSize {
		t.Fatalf("memory %d did not grow past the threshold", l.MemoryBytes())
	}
	l.Release()
	if s := p.Stats(); s.Recycled != 1 {
		t.Errorf("Recycled %d, want 1", s.Recycled)
	}
	waitFor(t, "MinWarm to be restored", func() bool { s := p.Stats(); return s.Total == 1 && s.Idle == 1 })
}

func TestPoolClose(t *testing.T) {
	p, err := NewPool(context.Background(), embedded(t), Config{MinWarm: 1, MaxInstances: 1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := p.Lease(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := p.Acquire(context.Background())
		blocked <- err
	}()
	waitFor(t, "Acquire to block", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.waiters) == 1
	})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; !errors.Is(err, ErrPoolClosed) {
		t.Errorf("blocked Acquire: %v", err)
	}
	if _, err := p.Acquire(context.Background()); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("Acquire after Close: %v", err)
	}
	if _, err := l.Decode([]byte{0}, 10); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("Decode after Close: %v", err)
	}
	l.Release()
	if err := p.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestLeaseAfterRelease(t *testing.T) {
	p := newPool(t, Config{MinWarm: 1})
	l := lease(t, p)
	l.Release()
	l.Release() // no effect
	if _, err := l.Encode(codec.Packet{}); !errors.Is(err, ErrReleased) {
		t.Errorf("Encode after Release: %v", err)
	}
	if s := p.Stats(); s.Idle != 1 || s.Total != 1 {
		t.Errorf("double Release: %+v", s)
	}
}
