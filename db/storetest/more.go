package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/batch"
)

// metachars are strings that break naive SQL string building, NUL and the
// PostgreSQL store's escape character included.
var metachars = []string{
	`'`, `''`, `"`, `\`, `%`, `_`, `?`, `?1`, `$1`, `:name`, `@p`, `;`, `--`, `/*`, "\x00", "a\x00b", "\n\r\t",
	"\uE000", "\uE0000", "\uE000\uE000",
	`'); DROP TABLE messages; --`,
	`" OR 1=1 --`,
	`Robert'); DELETE FROM users WHERE ('1'='1`,
	`%' OR ref_id LIKE '%`,
	"ünïcödé 🚀",
}

func testMetacharacters(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clk := h.open(t)
	for i, m := range metachars {
		id := fmt.Sprintf("id-%d-%s", i, m)
		img := "img" + m
		u := chat.User{ID: id, Name: "name" + m, Email: fmt.Sprintf("e%d%s@example.com", i, m), Image: &img}
		if err := s.CreateUser(ctx, u, "hash"+m); err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		gu, hash, err := s.UserByEmail(ctx, u.Email)
		if err != nil || gu.ID != u.ID || gu.Name != u.Name || gu.Email != u.Email || *gu.Image != img || hash != "hash"+m {
			t.Fatalf("%q: user %+v hash %q err %v", m, gu, hash, err)
		}
		sess := chat.Session{ID: id, TokenHash: "th" + m, UserID: id, ExpiresAt: clk.Now().Add(time.Hour),
			IPAddress: "ip" + m, UserAgent: "ua" + m}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		gs, su, err := s.SessionByTokenHash(ctx, sess.TokenHash)
		if err != nil || gs.ID != sess.ID || gs.IPAddress != sess.IPAddress || gs.UserAgent != sess.UserAgent || su.Name != u.Name {
			t.Fatalf("%q: session %+v err %v", m, gs, err)
		}
		if err := s.PutSetting(ctx, "key"+m, "val"+m); err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		if v, err := s.Setting(ctx, "key"+m); err != nil || v != "val"+m {
			t.Fatalf("%q: setting %q err %v", m, v, err)
		}
		msg := chat.Message{ID: id, Room: "room" + m, RefID: "ref" + m, UserID: "user" + m, Payload: []byte("text" + m)}
		MustInsert(t, s, msg)
		if _, err := s.ToggleReaction(ctx, msg.Room, msg.RefID, "reactor"+m, 1); err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		gm, err := s.MessageByRef(ctx, msg.Room, msg.RefID)
		if err != nil || gm.ID != msg.ID || gm.Room != msg.Room || gm.RefID != msg.RefID || gm.UserID != msg.UserID ||
			string(gm.Payload) != "text"+m || gm.Reactions[0].Users[0] != "reactor"+m {
			t.Fatalf("%q: message %+v, %v", m, gm, err)
		}
		if byID, err := s.MessageByID(ctx, id); err != nil || !sameMessage(byID, gm) {
			t.Fatalf("%q: by id %+v, %v", m, byID, err)
		}
		if h, err := s.History(ctx, msg.Room, chat.Cursor{}, 10); err != nil || len(h) != 1 || h[0].RefID != msg.RefID {
			t.Fatalf("%q: history %v, %v", m, Refs(h), err)
		}
		if h, err := s.History(ctx, msg.Room, chat.Cursor{BeforeRef: msg.RefID}, 10); err != nil || len(h) != 0 {
			t.Fatalf("%q: history before the only message: %v %v", m, Refs(h), err)
		}
	}
	// Each lookup matched only itself: one row per case everywhere.
	c, err := s.Counts(ctx)
	n := int64(len(metachars))
	if err != nil || c.Users != n || c.Sessions != n || c.Messages != n || c.Settings != n || c.Reactions != n {
		t.Fatalf("counts %+v, %v; want %d of each", c, err, n)
	}
	// Escapes must not collide: NUL and the escape character differ.
	if _, _, err := s.UserByEmail(ctx, "e14\uE0000@example.com"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("an escaped NUL matched its escape sequence: %v", err)
	}
}

// BatchLog records a batch writer's transactions; its On is a
// batch.Config.OnBatch. Read Sizes and Errs once the writer is closed.
type BatchLog struct {
	mu    sync.Mutex
	Sizes []int
	Errs  []error
}

// On records one transaction attempt.
func (l *BatchLog) On(n int, _ time.Duration, err error) {
	l.mu.Lock()
	l.Sizes = append(l.Sizes, n)
	l.Errs = append(l.Errs, err)
	l.mu.Unlock()
}

// Max is the largest batch so far (0 for none).
func (l *BatchLog) Max() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Max(append([]int{0}, l.Sizes...))
}

// Total is the number of writes in every batch so far.
func (l *BatchLog) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := 0
	for _, n := range l.Sizes {
		t += n
	}
	return t
}

// testGroupCommit drives the batch writer over the store from many
// goroutines: every message is acknowledged once, after its commit, and
// stored once; resends are acknowledged as not fresh; batches hold more
// than one message.
func testGroupCommit(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clk := h.open(t)
	log := &BatchLog{}
	w := batch.NewWriter(s, batch.Config{OnBatch: log.On, Now: clk.Now})
	const senders, each = 8, 100
	var fresh, stale, failed atomic.Int32
	var wg sync.WaitGroup
	var checkMu sync.Mutex
	var notStored []string
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var acks sync.WaitGroup
			for i := range each {
				ref := fmt.Sprintf("g%d-%d", g, i)
				acks.Add(1)
				err := w.Submit(Msg("r", ref, fmt.Sprint("u", g), "x"), func(f bool, err error) {
					defer acks.Done()
					switch {
					case err != nil:
						failed.Add(1)
					case f:
						fresh.Add(1)
					default:
						stale.Add(1)
					}
					// Committed before done: the row is readable now.
					if _, err := s.MessageByRef(ctx, "r", ref); err != nil {
						checkMu.Lock()
						notStored = append(notStored, ref)
						checkMu.Unlock()
					}
				})
				if err != nil {
					t.Error(err)
					acks.Done()
				}
			}
			acks.Wait()
		}()
	}
	wg.Wait()
	if fresh.Load() != senders*each || stale.Load() != 0 || failed.Load() != 0 || len(notStored) != 0 {
		t.Fatalf("fresh %d stale %d failed %d, not readable at ack %v", fresh.Load(), stale.Load(), failed.Load(), notStored)
	}
	if log.Max() < 2 {
		t.Fatalf("no batch held more than one message: %v", log.Sizes)
	}
	// Resends through the writer are acknowledged, not stored again.
	done := make(chan bool, 1)
	if err := w.Submit(Msg("r", "g0-0", "u0", "again"), func(f bool, err error) { done <- f && err == nil }); err != nil {
		t.Fatal(err)
	}
	if <-done {
		t.Fatal("resend acknowledged as fresh")
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Submit(Msg("r", "late", "u", "x"), nil); !errors.Is(err, batch.ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
	if c, err := s.Counts(ctx); err != nil || c.Messages != senders*each {
		t.Fatalf("counts %+v, %v; want %d messages", c, err, senders*each)
	}
}

// testRowFault puts a message whose id is taken into a batch of good ones:
// the writer retries the batch message by message, so only that one fails.
func testRowFault(t *testing.T, h Harness) {
	ctx := context.Background()
	s, _ := h.open(t)
	MustInsert(t, s, chat.Message{ID: "taken", Room: "r", RefID: "first", UserID: "u"})
	const n = 10
	w := batch.NewWriter(s, batch.Config{MaxBatch: n, MaxDelay: time.Minute})
	results := make(chan error, n)
	for i := range n {
		m := Msg("r", fmt.Sprint("m", i), "u", "x")
		if i == 4 {
			m.ID = "taken"
		}
		if err := w.Submit(m, func(_ bool, err error) { results <- err }); err != nil {
			t.Fatal(err)
		}
	}
	conflicts := 0
	for range n {
		err := <-results
		switch {
		case errors.Is(err, chat.ErrConflict):
			conflicts++
		case err != nil:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if conflicts != 1 || w.Err() != nil {
		t.Fatalf("%d conflicts, writer error %v; want 1 and none", conflicts, w.Err())
	}
	if c, err := s.Counts(ctx); err != nil || c.Messages != n {
		t.Fatalf("counts %+v, %v; want %d", c, err, n)
	}
}
