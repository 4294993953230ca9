package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/batch"
	"github.com/wasmchannel/wasmchannel/db/storetest"
)

// holdWriter takes the DB's only write connection inside a transaction, so
// the Writer queues up behind it, and returns the function that lets go.
func holdWriter(tb testing.TB, d *DB) (release func()) {
	tb.Helper()
	tx, err := d.wr.BeginTx(context.Background(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return func() { tx.Rollback() }
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func countMessages(tb testing.TB, d *DB) int {
	tb.Helper()
	var n int
	if err := d.rd.QueryRow(`SELECT count(*) FROM messages`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestWriter_ConcurrentSubmitters(t *testing.T) {
	d := MustOpenDB(t)
	var log storetest.BatchLog
	w := batch.NewWriter(d, batch.Config{OnBatch: log.On})

	const submitters, each = 8, 150
	var calls [submitters][each]atomic.Int32
	var notVisible atomic.Int32
	var wg sync.WaitGroup
	for s := range submitters {
		wg.Go(func() {
			for i := range each {
				room := fmt.Sprintf("room%d", s%3)
				ref := fmt.Sprintf("s%d-m%d", s, i)
				err := w.Submit(storetest.Msg(room, ref, "u", ref), func(fresh bool, err error) {
					calls[s][i].Add(1)
					if err != nil || !fresh {
						t.Errorf("%s: fresh=%v err=%v", ref, fresh, err)
					}
					// Committed before done: another connection sees it.
					if i%10 == 0 {
						if _, err := d.MessageByRef(context.Background(), room, ref); err != nil {
							notVisible.Add(1)
						}
					}
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for s := range submitters {
		for i := range each {
			if n := calls[s][i].Load(); n != 1 {
				t.Fatalf("done of s%d-m%d called %d times", s, i, n)
			}
		}
	}
	if n := notVisible.Load(); n != 0 {
		t.Fatalf("%d messages not readable when their done ran", n)
	}
	if n := countMessages(t, d); n != submitters*each {
		t.Fatalf("%d rows, want %d", n, submitters*each)
	}
	if log.Total() != submitters*each {
		t.Fatalf("OnBatch saw %d messages, want %d", log.Total(), submitters*each)
	}
	if w.Depth() != 0 || w.Err() != nil {
		t.Fatalf("after Close: depth %d err %v", w.Depth(), w.Err())
	}
	t.Logf("%d messages in %d transactions, largest %d", submitters*each, len(log.Sizes), log.Max())
	if log.Max() < 2 {
		t.Fatalf("no batch held more than one message (sizes %v)", log.Sizes)
	}
}

func TestWriter_BatchesWhileCommitting(t *testing.T) {
	d := MustOpenDB(t)
	var log storetest.BatchLog
	w := batch.NewWriter(d, batch.Config{MaxBatch: 40, OnBatch: log.On})
	defer w.Close(context.Background())

	release := holdWriter(t, d)
	var done atomic.Int32
	for i := range 100 {
		if err := w.Submit(storetest.Msg("r", fmt.Sprint(i), "u", "x"), func(bool, error) { done.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	// The first batch is blocked on the held connection; the rest wait.
	waitFor(t, "the first batch to start", func() bool { return w.Depth() == 100 })
	if done.Load() != 0 {
		t.Fatal("done ran before any commit")
	}
	release()
	waitFor(t, "every done", func() bool { return done.Load() == 100 })
	if w.Depth() != 0 {
		t.Fatalf("depth %d after all done", w.Depth())
	}
	// The first batch took what was queued when it started (at least one);
	// everything after it came in batches of MaxBatch.
	if log.Total() != 100 || log.Max() > 40 {
		t.Fatalf("batch sizes %v: want 100 messages, none over 40", log.Sizes)
	}
	for _, n := range log.Sizes[1 : len(log.Sizes)-1] {
		if n != 40 {
			t.Fatalf("batch sizes %v: middle batches should be full", log.Sizes)
		}
	}
}

func TestWriter_MaxDelayGrowsBatches(t *testing.T) {
	d := MustOpenDB(t)
	var log storetest.BatchLog
	w := batch.NewWriter(d, batch.Config{MaxBatch: 10, MaxDelay: time.Minute, OnBatch: log.On})
	var done atomic.Int32
	for i := range 10 {
		w.Submit(storetest.Msg("r", fmt.Sprint(i), "u", "x"), func(bool, error) { done.Add(1) })
	}
	// A full batch does not wait for MaxDelay.
	waitFor(t, "a full batch", func() bool { return done.Load() == 10 })
	w.Submit(storetest.Msg("r", "late", "u", "x"), func(bool, error) { done.Add(1) })
	// Close cuts the delay short and flushes.
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if done.Load() != 11 || log.Max() != 10 {
		t.Fatalf("done %d, batch sizes %v", done.Load(), log.Sizes)
	}
}

func TestWriter_CloseFlushesPending(t *testing.T) {
	d := MustOpenDB(t)
	w := batch.NewWriter(d, batch.Config{})
	release := holdWriter(t, d)

	const n = 200
	var fresh atomic.Int32
	for i := range n {
		if err := w.Submit(storetest.Msg("r", fmt.Sprint(i), "u", "x"), func(f bool, err error) {
			if err == nil && f {
				fresh.Add(1)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close(context.Background()) }()
	waitFor(t, "Close to begin", w.Closing)
	if err := w.Submit(storetest.Msg("r", "late", "u", "x"), nil); !errors.Is(err, batch.ErrClosed) {
		t.Fatalf("Submit while closing: err = %v, want batch.ErrClosed", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before pending messages were written", err)
	case <-time.After(20 * time.Millisecond):
	}

	t.Run("a Close that times out leaves the flush running", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
	})

	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if fresh.Load() != n || countMessages(t, d) != n || w.Depth() != 0 {
		t.Fatalf("after Close: %d fresh, %d rows, depth %d; want %d, %d, 0",
			fresh.Load(), countMessages(t, d), w.Depth(), n, n)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestWriter_Dedupe(t *testing.T) {
	d := MustOpenDB(t)
	w := batch.NewWriter(d, batch.Config{})
	results := make(chan bool, 3)
	for _, text := range []string{"first", "resent", "resent again"} {
		if err := w.Submit(storetest.Msg("r", "same", "u", text), func(fresh bool, err error) {
			if err != nil {
				t.Error(err)
			}
			results <- fresh
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(results)
	var got []bool
	for f := range results {
		got = append(got, f)
	}
	if len(got) != 3 || !got[0] || got[1] || got[2] {
		t.Fatalf("fresh flags %v, want [true false false]", got)
	}
	m, _ := d.MessageByRef(context.Background(), "r", "same")
	if string(m.Payload) != "first" {
		t.Fatalf("stored %q, want the first", m.Payload)
	}
}

func TestWriter_SubmitRejectsInvalid(t *testing.T) {
	d := MustOpenDB(t)
	w := batch.NewWriter(d, batch.Config{})
	defer w.Close(context.Background())
	called := false
	if err := w.Submit(chat.Message{Room: "r", UserID: "u"}, func(bool, error) { called = true }); !errors.Is(err, chat.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if called || w.Depth() != 0 {
		t.Fatal("an invalid message was queued")
	}
}

// TestWriter_DiskFullThenRecovers makes the database file unable to grow
// (PRAGMA max_page_count on the writer connection gives SQLITE_FULL, as a
// full disk would), checks that every message of the failing batches gets
// the error and is not stored, then lets it grow again and checks the
// writer carries on.
func TestWriter_DiskFullThenRecovers(t *testing.T) {
	d := MustOpenDB(t)
	ctx := context.Background()
	var log storetest.BatchLog
	w := batch.NewWriter(d, batch.Config{OnBatch: log.On})
	defer w.Close(ctx)

	var pages int64
	if err := d.wr.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := d.wr.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}

	big := bytes.Repeat([]byte("x"), 64<<10) // needs new pages
	submitAll := func(prefix string, n int) []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		wg.Add(n)
		for i := range n {
			m := chat.Message{Room: "r", RefID: fmt.Sprintf("%s%d", prefix, i), UserID: "u", Payload: big}
			if err := w.Submit(m, func(_ bool, err error) { errs[i] = err; wg.Done() }); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		return errs
	}

	for i, err := range submitAll("full", 20) {
		if err == nil {
			t.Fatalf("message %d committed on a full disk", i)
		}
	}
	if w.Err() == nil {
		t.Fatal("Err() is nil after failing batches")
	}
	if n := countMessages(t, d); n != 0 {
		t.Fatalf("%d rows stored on a full disk", n)
	}

	if _, err := d.wr.ExecContext(ctx, `PRAGMA max_page_count = 4294967294`); err != nil {
		t.Fatal(err)
	}
	for i, err := range submitAll("ok", 20) {
		if err != nil {
			t.Fatalf("message %d after recovery: %v", i, err)
		}
	}
	if w.Err() != nil {
		t.Fatalf("Err() = %v after a good batch", w.Err())
	}
	if n := countMessages(t, d); n != 20 {
		t.Fatalf("%d rows after recovery, want 20", n)
	}
	// The refused messages can be resent (a client retrying) and stored.
	for i, err := range submitAll("full", 20) {
		if err != nil {
			t.Fatalf("resent message %d: %v", i, err)
		}
	}
	if n := countMessages(t, d); n != 40 {
		t.Fatalf("%d rows after resending, want 40", n)
	}
}

// TestWriter_PoisonMessageIsolated injects a constraint failure for one
// message (a trigger that RAISEs on a marker) and checks that only that
// message fails while its batch-mates are stored.
func TestWriter_PoisonMessageIsolated(t *testing.T) {
	d := MustOpenDB(t)
	ctx := context.Background()
	if _, err := d.wr.ExecContext(ctx, `CREATE TRIGGER test_poison BEFORE INSERT ON messages
		WHEN NEW.ref_id LIKE 'poison%' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`); err != nil {
		t.Fatal(err)
	}
	var log storetest.BatchLog
	w := batch.NewWriter(d, batch.Config{OnBatch: log.On})
	release := holdWriter(t, d) // so the messages below share a batch

	type result struct {
		fresh bool
		err   error
	}
	refsIn := []string{"a", "b", "poison-1", "c", "d"}
	res := make(map[string]result)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ref := range append([]string{"first"}, refsIn...) {
		wg.Add(1)
		w.Submit(storetest.Msg("r", ref, "u", ref), func(f bool, err error) {
			mu.Lock()
			res[ref] = result{f, err}
			mu.Unlock()
			wg.Done()
		})
	}
	waitFor(t, "the batch to queue", func() bool { return w.Depth() == 6 })
	release()
	wg.Wait()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for ref, r := range res {
		if ref == "poison-1" {
			if r.err == nil {
				t.Errorf("poison message committed")
			}
			continue
		}
		if r.err != nil || !r.fresh {
			t.Errorf("%s: fresh=%v err=%v", ref, r.fresh, r.err)
		}
	}
	if n := countMessages(t, d); n != 5 {
		t.Fatalf("%d rows, want 5", n)
	}
	if w.Err() != nil {
		t.Fatalf("a row fault marked the writer unwell: %v", w.Err())
	}
	if log.Max() < 2 {
		t.Fatalf("batch sizes %v: the test needs a shared batch", log.Sizes)
	}
}

// BenchmarkWriter measures group-commit throughput: submitters queue
// messages with random reference ids without waiting (as room goroutines
// do) and the benchmark waits for every done. Compare MaxBatch=1 (one transaction per message) with the
// default in the same run.
func BenchmarkWriter(b *testing.B) {
	payload := bytes.Repeat([]byte("hello wasmchannel "), 6) // ~100 bytes
	for _, maxBatch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("MaxBatch=%d", maxBatch), func(b *testing.B) {
			d := MustOpenDB(b)
			var batches, msgs, busy atomic.Int64
			w := batch.NewWriter(d, batch.Config{MaxBatch: maxBatch, OnBatch: func(n int, took time.Duration, err error) {
				if err != nil {
					b.Error(err)
				}
				batches.Add(1)
				msgs.Add(int64(n))
				busy.Add(int64(took))
			}})
			var wg sync.WaitGroup
			var seq atomic.Int64
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.SetParallelism(4) // 4×GOMAXPROCS submitters
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					wg.Add(1)
					// Random reference ids, as the web client makes them.
					m := chat.Message{Room: fmt.Sprintf("room%d", i%8), RefID: rand.Text(), UserID: "u", Payload: payload}
					if err := w.Submit(m, func(_ bool, err error) {
						if err != nil {
							b.Error(err)
						}
						wg.Done()
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			if n := batches.Load(); n > 0 {
				b.ReportMetric(float64(msgs.Load())/float64(n), "msgs/batch")
				b.ReportMetric(float64(busy.Load())/float64(n)/1e6, "ms/batch")
			}
			w.Close(context.Background())
		})
	}
}

// BenchmarkInsertMessages measures one InsertMessages call per batch
// without the Writer's goroutines, to split per-message cost from the
// per-commit cost (the fsync of synchronous=FULL). Client reference ids are
// either sequential or random (UUID-like), which scatters inserts over the
// UNIQUE(room_id, ref_id) index.
func BenchmarkInsertMessages(b *testing.B) {
	payload := bytes.Repeat([]byte("hello wasmchannel "), 6)
	for _, refs := range []string{"seq", "random"} {
		for _, size := range []int{1, 256} {
			b.Run(fmt.Sprintf("refs=%s/batch=%d", refs, size), func(b *testing.B) {
				d := MustOpenDB(b)
				batch := make([]chat.Message, size)
				b.SetBytes(int64(len(payload) * size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					for j := range batch {
						ref := fmt.Sprintf("%016d", i*size+j)
						if refs == "random" {
							ref = rand.Text()
						}
						batch[j] = chat.Message{Room: "room", RefID: ref, UserID: "u", Payload: payload}
					}
					if _, err := d.InsertMessages(context.Background(), batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}
