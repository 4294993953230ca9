// Package batch is the group-commit Writer: it persists chat messages and
// reaction toggles in batches through any chat.Batcher, so many writes
// share one commit.
//
// It is its own package, under db because batching is persistence policy,
// but free of any driver: it needs only chat.Batcher, so both stores share
// it and the one conformance suite tests it against each. The hub sees it
// only as a chat.Persister.
package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("batch: writer closed")

// Config tunes a Writer. The zero value is usable.
type Config struct {
	// MaxBatch caps the writes (messages and toggles) committed in one
	// transaction (default 256).
	MaxBatch int
	// MaxDelay is how long to wait for more messages after the first one,
	// to grow a batch (default 0: commit at once). Batches grow anyway while
	// the previous commit is being synced, which is usually enough.
	MaxDelay time.Duration
	// OnBatch, if set, is called from the writer goroutine after every
	// transaction attempt with its size, duration and error, for metrics.
	OnBatch func(n int, took time.Duration, err error)
	// Now stamps a message submitted without times (default time.Now);
	// tests pass the store's clock.
	Now func() time.Time
}

// DefaultMaxBatch is Config.MaxBatch's default.
const DefaultMaxBatch = 256

// Writer persists messages and reaction toggles by group commit: one
// goroutine takes everything queued (up to MaxBatch) and commits it in one
// transaction, so many writes share one fsync (issue 15, finding 9: a
// toggle is no longer a synced transaction of its own on this writer). A message's done callback runs only after its
// transaction committed, so a caller that acknowledges in done never
// acknowledges a message that a crash could lose (issue 4, item 4).
//
// The queue is unbounded in memory: Submit never blocks on the disk.
// Callers that need back-pressure watch Depth.
type Writer struct {
	d   chat.Batcher
	cfg Config

	mu       sync.Mutex
	queue    []pending
	inflight int  // taken by the loop, not yet committed
	closed   bool // Submit refuses; the loop exits once the queue is empty
	lastErr  error

	wake    chan struct{} // capacity 1: "the queue changed"
	stopped chan struct{} // closed when the loop has exited
}

// pending is one submitted write and its callback.
type pending struct {
	op   chat.Op
	done func(r chat.OpResult, err error) // nil: nobody waits
}

// NewWriter starts a Writer on d. Stop it with Close before closing d.
func NewWriter(d chat.Batcher, cfg Config) *Writer {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxDelay < 0 {
		cfg.MaxDelay = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Writer{
		d:       d,
		cfg:     cfg,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	go w.loop()
	return w
}

// Submit queues m for the next batch and returns at once. done (which may be
// nil) is called exactly once, from the writer goroutine, after the batch
// holding m committed (err nil; fresh false if (Room, RefID) was already
// stored) or failed (err non-nil: m is not stored). done must not block: it
// delays every later batch. When Submit returns an error (ErrClosed, or
// chat.ErrInvalid for a message InsertMessages would refuse) done is never
// called.
//
// Missing ID and times are filled in at Submit time with Config.Now, so
// set them yourself if you need them before done runs.
func (w *Writer) Submit(m chat.Message, done func(fresh bool, err error)) error {
	var d func(chat.OpResult, error)
	if done != nil {
		d = func(r chat.OpResult, err error) { done(r.Fresh, err) }
	}
	return w.submitMessage(m, d)
}

// SubmitMessage is Submit reporting what was stored: for a fresh message,
// m with its Seq and EventSeq (the number to publish); for a resend, the
// stored original (EventSeq 0), which may be deleted and then has no
// text, so a resend is never answered with live text it no longer has.
func (w *Writer) SubmitMessage(m chat.Message, done func(stored chat.Message, fresh bool, err error)) error {
	var d func(chat.OpResult, error)
	if done != nil {
		d = func(r chat.OpResult, err error) { done(r.Message, r.Fresh, err) }
	}
	return w.submitMessage(m, d)
}

func (w *Writer) submitMessage(m chat.Message, done func(chat.OpResult, error)) error {
	if err := m.Normalize(chat.Millis(w.cfg.Now())); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	return w.enqueue(pending{op: chat.Op{Message: &m}, done: done})
}

// SubmitToggle queues a toggle of userID's reaction of kind on the message
// ref in room for the next batch, where it commits in the same transaction
// as the messages beside it, in submission order: a toggle submitted after
// a message sees it. done (which may be nil) runs once, from the writer
// goroutine, after the commit, with the toggled message (its EventSeq is
// the reaction's number), chat.ErrNotFound for an unknown or deleted
// message, or the batch's error. It must not block. When SubmitToggle
// returns an error (ErrClosed, or chat.ErrInvalid) done is never called.
func (w *Writer) SubmitToggle(room, ref, userID string, kind int, done func(chat.Message, error)) error {
	if room == "" || ref == "" || userID == "" || kind < 0 {
		return fmt.Errorf("submit toggle: %w: room %q, message %q, user %q, kind %d", chat.ErrInvalid, room, ref, userID, kind)
	}
	var d func(chat.OpResult, error)
	if done != nil {
		d = func(r chat.OpResult, err error) {
			if err == nil {
				err = r.Err
			}
			done(r.Message, err)
		}
	}
	t := chat.Toggle{Room: room, RefID: ref, UserID: userID, Kind: kind}
	return w.enqueue(pending{op: chat.Op{Toggle: &t}, done: d})
}

// enqueue adds p to the queue unless the writer is closed.
func (w *Writer) enqueue(p pending) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.queue = append(w.queue, p)
	w.mu.Unlock()
	w.signal()
	return nil
}

// Depth returns how many submitted writes are not yet committed (or
// failed), including the batch being written.
func (w *Writer) Depth() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue) + w.inflight
}

// Err returns the error of the last batch, or nil if it committed. Health
// checks use it to report a writer that cannot write.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// Closing reports whether Close has begun: Submit refuses from then on.
func (w *Writer) Closing() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// Close stops accepting messages, writes everything already submitted, and
// returns when the writer goroutine has exited. If ctx ends first, Close
// returns ctx's error and the goroutine goes on flushing in the background.
// Close may be called more than once.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.signal()
	select {
	case <-w.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close writer: %w", ctx.Err())
	}
}

// signal wakes the loop without blocking; one pending wake-up is enough.
func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// loop is the writer goroutine.
func (w *Writer) loop() {
	defer close(w.stopped)
	for {
		batch, ok := w.next()
		if !ok {
			return
		}
		w.write(batch)
	}
}

// next waits for work and takes the next batch; ok is false when the
// writer is closed and drained.
func (w *Writer) next() (batch []pending, ok bool) {
	for {
		w.mu.Lock()
		n, closed := len(w.queue), w.closed
		w.mu.Unlock()
		if n > 0 {
			break
		}
		if closed {
			return nil, false
		}
		<-w.wake
	}
	if w.cfg.MaxDelay > 0 {
		w.grow()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.queue), w.cfg.MaxBatch)
	batch = make([]pending, n)
	copy(batch, w.queue)
	// Drop the taken items so the backing array does not pin them.
	clear(w.queue[:n])
	w.queue = w.queue[n:]
	if len(w.queue) == 0 {
		w.queue = nil
	}
	w.inflight = n
	return batch, true
}

// grow waits up to MaxDelay for the queue to fill a batch, cutting the wait
// short when it does or when the writer is closing.
func (w *Writer) grow() {
	t := time.NewTimer(w.cfg.MaxDelay)
	defer t.Stop()
	for {
		w.mu.Lock()
		full, closed := len(w.queue) >= w.cfg.MaxBatch, w.closed
		w.mu.Unlock()
		if full || closed {
			return
		}
		select {
		case <-t.C:
			return
		case <-w.wake:
		}
	}
}

// write commits batch and reports to every done. If the batch fails on a
// row fault (a constraint, one message's doing rather than the disk's), each
// op is retried alone so that the others are not refused with it.
func (w *Writer) write(batch []pending) {
	if err := w.commit(batch); rowFault(err) && len(batch) > 1 {
		for i := range batch {
			w.commit(batch[i : i+1])
		}
	}
}

// rowFault reports whether err is one message's fault, such as a constraint
// a trigger or a reused id violated, rather than the database's. Stores
// wrap those as chat.ErrConflict.
func rowFault(err error) bool {
	return errors.Is(err, chat.ErrConflict)
}

// commit writes batch in one transaction and calls its dones, except when a
// multi-op batch fails on a row fault: write then retries it op by op, and
// those attempts report.
func (w *Writer) commit(batch []pending) error {
	ops := make([]chat.Op, len(batch))
	for i := range batch {
		ops[i] = batch[i].op
		if m := ops[i].Message; m != nil {
			c := *m // the store fills Seq in place; a retry starts clean
			ops[i].Message = &c
		}
	}
	start := time.Now()
	// Not cancellable: a batch that has been taken must be written out.
	res, err := w.d.WriteOps(context.Background(), ops)
	took := time.Since(start)
	if w.cfg.OnBatch != nil {
		w.cfg.OnBatch(len(batch), took, err)
	}
	if rowFault(err) && len(batch) > 1 {
		return err // write retries op by op
	}
	// Update the state before any done runs, so a done sees Depth and Err
	// that include its own batch.
	w.mu.Lock()
	w.inflight -= len(batch)
	if !rowFault(err) {
		w.lastErr = err // a row fault says nothing about the writer's health
	}
	w.mu.Unlock()
	for i := range batch {
		if batch[i].done == nil {
			continue
		}
		if err != nil {
			batch[i].done(chat.OpResult{}, err)
		} else {
			batch[i].done(res[i], nil)
		}
	}
	return err
}

var _ chat.Persister = (*Writer)(nil)
