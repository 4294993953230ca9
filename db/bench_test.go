package db

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/batch"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

// benchStores opens both stores with durable commits: the SQLite file with
// synchronous=FULL as always, the test cluster with fsync turned back on
// (pgtest starts it without, for speed), so the two pay for the same
// guarantee.
func benchStores(b *testing.B) map[string]chat.Store {
	b.Helper()
	ctx := context.Background()
	srv := pgtest.Shared(b)
	if srv.CanRestart() {
		for _, q := range []string{`ALTER SYSTEM SET fsync = on`, `SELECT pg_reload_conf()`} {
			if err := srv.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
	}
	out := map[string]chat.Store{}
	for kind, target := range map[string]string{
		"sqlite":   filepath.Join(b.TempDir(), "bench.db"),
		"postgres": srv.Database(b),
	} {
		s, err := Open(ctx, target)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		out[kind] = s
	}
	return out
}

// BenchmarkInsertMessages commits batches of n messages, one transaction
// each; ns/op is per message.
func BenchmarkInsertMessages(b *testing.B) {
	stores := benchStores(b)
	payload := make([]byte, 200)
	for _, kind := range []string{"sqlite", "postgres"} {
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", kind, n), func(b *testing.B) {
				s := stores[kind]
				ctx := context.Background()
				msgs := make([]chat.Message, n)
				b.ReportAllocs()
				b.SetBytes(int64(len(payload)))
				b.ResetTimer()
				for i := 0; i < b.N; i += n {
					for j := range msgs {
						msgs[j] = chat.Message{Room: "bench", RefID: fmt.Sprintf("%s-%d-%d", kind, n, i+j), UserID: "u", Payload: payload}
					}
					if _, err := s.InsertMessages(ctx, msgs); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkWriter is the server's path: 32 senders submit to the group-
// commit writer and wait for their acknowledgement; ns/op is per message.
func BenchmarkWriter(b *testing.B) {
	stores := benchStores(b)
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			var batches, msgs int64
			var mu sync.Mutex
			w := batch.NewWriter(stores[kind], batch.Config{OnBatch: func(n int, _ time.Duration, _ error) {
				mu.Lock()
				batches++
				msgs += int64(n)
				mu.Unlock()
			}})
			defer w.Close(context.Background())
			const senders = 32
			var wg sync.WaitGroup
			b.ResetTimer()
			for g := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					done := make(chan error, 1)
					for i := g; i < b.N; i += senders {
						m := chat.Message{Room: "w", RefID: fmt.Sprintf("%s-%d-%d", kind, b.N, i), UserID: "u", Payload: []byte("hello")}
						if err := w.Submit(m, func(_ bool, err error) { done <- err }); err != nil {
							b.Error(err)
							return
						}
						if err := <-done; err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if batches > 0 {
				b.ReportMetric(float64(msgs)/float64(batches), "msgs/batch")
			}
		})
	}
}

// BenchmarkHistory reads a 50-message page from a 5,000-message room.
func BenchmarkHistory(b *testing.B) {
	stores := benchStores(b)
	ctx := context.Background()
	for _, kind := range []string{"sqlite", "postgres"} {
		s := stores[kind]
		for i := 0; i < 5000; i += 500 {
			msgs := make([]chat.Message, 500)
			for j := range msgs {
				msgs[j] = chat.Message{Room: "h", RefID: fmt.Sprint(i + j), UserID: "u", Payload: []byte("some text")}
			}
			if _, err := s.InsertMessages(ctx, msgs); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				page, err := s.History(ctx, "h", chat.Cursor{BeforeRef: fmt.Sprint(1000 + i%3000)}, 50)
				if err != nil || len(page) != 50 {
					b.Fatal(len(page), err)
				}
			}
		})
	}
}

// BenchmarkToggles is issue 15's finding 9: 32 users toggle reactions on
// messages in 16 rooms at once, each waiting for its result, either each
// toggle in its own synced transaction ("own-tx", the old path) or through
// the group-commit writer ("writer"). ns/op is per toggle.
func BenchmarkToggles(b *testing.B) {
	stores := benchStores(b)
	ctx := context.Background()
	const rooms, users = 16, 32
	for _, kind := range []string{"sqlite", "postgres"} {
		s := stores[kind]
		for r := range rooms {
			if _, err := s.InsertMessages(ctx, []chat.Message{{Room: fmt.Sprint("t", r), RefID: "m", UserID: "u", Payload: []byte("x")}}); err != nil {
				b.Fatal(err)
			}
		}
		for _, way := range []string{"own-tx", "writer"} {
			b.Run(kind+"/"+way, func(b *testing.B) {
				var batches, ops int64
				var mu sync.Mutex
				w := batch.NewWriter(s, batch.Config{OnBatch: func(n int, _ time.Duration, _ error) {
					mu.Lock()
					batches++
					ops += int64(n)
					mu.Unlock()
				}})
				defer w.Close(ctx)
				var wg sync.WaitGroup
				b.ResetTimer()
				for g := range users {
					wg.Add(1)
					go func() {
						defer wg.Done()
						done := make(chan error, 1)
						for i := g; i < b.N; i += users {
							room := fmt.Sprint("t", i%rooms)
							user := fmt.Sprint("u", g)
							if way == "own-tx" {
								if _, err := s.ToggleReaction(ctx, room, "m", user, 1); err != nil {
									b.Error(err)
									return
								}
								continue
							}
							if err := w.SubmitToggle(room, "m", user, 1, func(_ chat.Message, err error) { done <- err }); err != nil {
								b.Error(err)
								return
							}
							if err := <-done; err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				if batches > 0 {
					b.ReportMetric(float64(ops)/float64(batches), "ops/batch")
				}
			})
		}
	}
}
