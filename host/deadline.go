package host

import (
	"context"
	"sync"
	"time"
)

// callDeadline is a reusable per-instance context.Context for the deadline of
// one call at a time. context.WithTimeout would cost a context, a timer and a
// closure per call; this costs a timer Reset and Stop. When the timer fires
// during a call, Done closes and wazero (WithCloseOnContextDone) stops the
// module with a deadline exit code.
//
// It carries no values and is never canceled by anything but its own timer.
type callDeadline struct {
	timeout time.Duration
	timer   *time.Timer

	mu       sync.Mutex
	done     chan struct{}
	armed    bool
	expired  bool
	deadline time.Time
}

func newCallDeadline(timeout time.Duration) *callDeadline {
	d := &callDeadline{timeout: timeout, done: make(chan struct{})}
	d.timer = time.AfterFunc(time.Hour, d.fire)
	d.timer.Stop()
	return d
}

// arm starts the deadline of one call and returns the context to call with.
func (d *callDeadline) arm() context.Context {
	d.mu.Lock()
	d.deadline = time.Now().Add(d.timeout)
	d.armed = true
	d.mu.Unlock()
	d.timer.Reset(d.timeout)
	return d
}

// disarm ends the call's deadline and readies the context for the next call.
// It reports whether the deadline passed during the call.
func (d *callDeadline) disarm() bool {
	d.timer.Stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed = false
	expired := d.expired
	if expired {
		d.done = make(chan struct{})
		d.expired = false
	}
	return expired
}

// fire runs on the timer's goroutine. The time check drops a stale firing
// from an earlier call that reaches the lock after the next call was armed.
func (d *callDeadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.armed && !d.expired && !time.Now().Before(d.deadline) {
		d.expired = true
		close(d.done)
	}
}

// stop releases the timer when the instance is closed.
func (d *callDeadline) stop() { d.timer.Stop() }

func (d *callDeadline) Deadline() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deadline, d.armed
}

func (d *callDeadline) Done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done
}

func (d *callDeadline) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.expired {
		return context.DeadlineExceeded
	}
	return nil
}

func (d *callDeadline) Value(any) any { return nil }
