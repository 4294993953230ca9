package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrBusy means the password hasher's memory budget is taken and its
// queue is full (or the wait ran out): answer 503 with Retry-After and try
// again later. Check it with errors.Is; the error is a *BusyError.
var ErrBusy = errors.New("auth: password hashing busy")

// BusyError carries how long a client should wait after ErrBusy.
type BusyError struct {
	RetryAfter time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("auth: password hashing busy, retry after %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// hashBudget is a weighted semaphore in bytes with a bounded FIFO queue.
// scrypt's memory is what a flood of hashes exhausts, so the bound is on
// bytes, not on a count tied to the core count.
type hashBudget struct {
	mu         sync.Mutex
	capacity   int64
	used       int64
	peak       int64 // highest used, for tests
	maxQueue   int
	wait       time.Duration
	retryAfter time.Duration
	queue      []*hashWaiter
}

type hashWaiter struct {
	n       int64
	ready   chan struct{}
	granted bool // set under mu when ready is closed
}

func newHashBudget(capacity int64, maxQueue int, wait, retryAfter time.Duration) *hashBudget {
	return &hashBudget{capacity: capacity, maxQueue: maxQueue, wait: wait, retryAfter: retryAfter}
}

// acquire takes n bytes of the budget, waiting in FIFO order behind
// earlier callers. It returns how much it took, to pass to release. A hash
// larger than the whole budget (a stored hash of a higher cost) takes all
// of it and so runs alone.
func (b *hashBudget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(n, 1), b.capacity)
	b.mu.Lock()
	if len(b.queue) == 0 && b.used+n <= b.capacity {
		b.take(n)
		b.mu.Unlock()
		return n, nil
	}
	if len(b.queue) >= b.maxQueue {
		b.mu.Unlock()
		return 0, &BusyError{RetryAfter: b.retryAfter}
	}
	w := &hashWaiter{n: n, ready: make(chan struct{})}
	b.queue = append(b.queue, w)
	b.mu.Unlock()

	timer := time.NewTimer(b.wait)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
		return n, nil
	case <-ctx.Done():
		err = fmt.Errorf("wait for password hasher: %w", ctx.Err())
	case <-timer.C:
		err = &BusyError{RetryAfter: b.retryAfter}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.granted { // granted as we gave up: keep it rather than leak it
		return n, nil
	}
	for i, q := range b.queue {
		if q == w {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			break
		}
	}
	b.grant() // w may have been the head that blocked smaller ones
	return 0, err
}

// release returns n bytes and wakes the waiters that now fit.
func (b *hashBudget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	b.grant()
}

func (b *hashBudget) take(n int64) {
	b.used += n
	b.peak = max(b.peak, b.used)
}

// grant hands the budget to queued waiters in order while the head fits.
func (b *hashBudget) grant() {
	for len(b.queue) > 0 && b.used+b.queue[0].n <= b.capacity {
		w := b.queue[0]
		b.queue = b.queue[1:]
		b.take(w.n)
		w.granted = true
		close(w.ready)
	}
}

// stats reports the bytes in use, the peak so far and the queue length.
func (b *hashBudget) stats() (used, peak int64, queued int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak, len(b.queue)
}
