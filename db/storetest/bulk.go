package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/batch"
)

// Fill gives s a little of everything a real installation holds: users
// with password hashes, live and expired sessions, messages in two rooms
// (equal times among them, so order rests on insertion), reactions, a
// deleted message, binary payloads and the auth secret. It returns the
// counts s must then report. dbcopy's tests use it too.
func Fill(tb testing.TB, s chat.Store, now time.Time, messages int) chat.Counts {
	tb.Helper()
	ctx := context.Background()
	img := "https://example.com/a.png"
	for i, u := range []chat.User{
		{ID: "u1", Name: "Ann", Email: "ann@example.com", Image: &img, EmailVerified: true, CreatedAt: now, UpdatedAt: now},
		{ID: "u2", Name: "Bob '; DROP TABLE users; --\x00", Email: "bob@example.com", CreatedAt: now, UpdatedAt: now},
	} {
		if err := s.CreateUser(ctx, u, fmt.Sprintf("$scrypt$hash-%d", i)); err != nil {
			tb.Fatal(err)
		}
	}
	for i, u := range []string{"u1", "u2", "u1"} {
		ss := chat.Session{ID: fmt.Sprint("s", i), TokenHash: chat.HashToken(fmt.Sprint("tok", i)), UserID: u,
			ExpiresAt: now.Add(time.Duration(i-1) * time.Hour), IPAddress: "127.0.0.1", UserAgent: "test",
			CreatedAt: now, UpdatedAt: now}
		if err := s.CreateSession(ctx, ss); err != nil {
			tb.Fatal(err)
		}
	}
	var batch []chat.Message
	for i := range messages {
		m := Msg("r", fmt.Sprint("m", i), []string{"u1", "u2"}[i%2], fmt.Sprint("text ", i))
		m.CreatedAt = now.Add(time.Duration(i/10) * time.Millisecond)
		batch = append(batch, m)
		if len(batch) == 100 {
			MustInsert(tb, s, batch...)
			batch = batch[:0]
		}
	}
	batch = append(batch, chat.Message{Room: "other", RefID: "bin", UserID: "u1", Payload: []byte{0, 0xff, 'x'}, CreatedAt: now})
	MustInsert(tb, s, batch...)
	toggles := []struct{ ref, user string }{{"m3", "u1"}, {"m3", "u2"}, {"m4", "u1"}}
	for _, tg := range toggles {
		if _, err := s.ToggleReaction(ctx, "r", tg.ref, tg.user, 2); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := s.DeleteMessage(ctx, "r", "m5", "u2"); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.SettingOrInit(ctx, "auth_secret", func() (string, error) { return "00ff00ff", nil }); err != nil {
		tb.Fatal(err)
	}
	return chat.Counts{Users: 2, Sessions: 3, Messages: int64(messages) + 1, Deleted: 1, Reactions: int64(len(toggles)), Settings: 1}
}

// Copy moves everything from src to dst through the bulk interfaces, in
// pages of batch rows, and returns how many rows were new.
func Copy(tb testing.TB, src, dst chat.Store, batch int) int {
	tb.Helper()
	ctx := context.Background()
	added := 0
	add := func(n int, err error) error { added += n; return err }
	if err := src.EachUser(ctx, batch, func(us []chat.BulkUser) error { return add(dst.LoadUsers(ctx, us)) }); err != nil {
		tb.Fatal(err)
	}
	if err := src.EachSession(ctx, batch, func(ss []chat.Session) error { return add(dst.LoadSessions(ctx, ss)) }); err != nil {
		tb.Fatal(err)
	}
	if err := src.EachMessage(ctx, batch, func(ms []chat.Message) error { return add(dst.LoadMessages(ctx, ms)) }); err != nil {
		tb.Fatal(err)
	}
	settings, err := src.Settings(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if err := add(dst.LoadSettings(ctx, settings)); err != nil {
		tb.Fatal(err)
	}
	return added
}

// Same fails tb unless a and b hold the same users (with hashes), sessions,
// settings and messages, in the same history order.
func Same(tb testing.TB, a, b chat.Store) {
	tb.Helper()
	ctx := context.Background()
	ca, err := a.Counts(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if cb, err := b.Counts(ctx); err != nil || ca != cb {
		tb.Fatalf("counts differ: %+v vs %+v (%v)", ca, cb, err)
	}
	var users [2][]chat.BulkUser
	var sessions [2][]chat.Session
	var msgs [2][]chat.Message
	for i, s := range []chat.Store{a, b} {
		if err := s.EachUser(ctx, 0, func(us []chat.BulkUser) error { users[i] = append(users[i], us...); return nil }); err != nil {
			tb.Fatal(err)
		}
		if err := s.EachSession(ctx, 0, func(ss []chat.Session) error { sessions[i] = append(sessions[i], ss...); return nil }); err != nil {
			tb.Fatal(err)
		}
		if err := s.EachMessage(ctx, 0, func(ms []chat.Message) error { msgs[i] = append(msgs[i], ms...); return nil }); err != nil {
			tb.Fatal(err)
		}
	}
	show := func(us []chat.BulkUser) (out []string) {
		for _, u := range us {
			out = append(out, userString(u.User)+"|"+u.PasswordHash)
		}
		return out
	}
	if !slices.Equal(show(users[0]), show(users[1])) {
		tb.Fatalf("users differ:\n%v\n%v", users[0], users[1])
	}
	if fmt.Sprint(sessions[0]) != fmt.Sprint(sessions[1]) {
		tb.Fatalf("sessions differ:\n%v\n%v", sessions[0], sessions[1])
	}
	if !slices.EqualFunc(msgs[0], msgs[1], sameMessage) {
		tb.Fatalf("messages differ: %v vs %v", Refs(msgs[0]), Refs(msgs[1]))
	}
	sa, err := a.Settings(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if sb, err := b.Settings(ctx); err != nil || fmt.Sprint(sa) != fmt.Sprint(sb) {
		tb.Fatalf("settings differ: %v vs %v (%v)", sa, sb, err)
	}
	for _, room := range []string{"r", "other"} {
		ha, err := a.History(ctx, room, chat.Cursor{}, chat.MaxHistoryLimit)
		if err != nil {
			tb.Fatal(err)
		}
		hb, err := b.History(ctx, room, chat.Cursor{}, chat.MaxHistoryLimit)
		if err != nil || !slices.EqualFunc(ha, hb, sameMessage) {
			tb.Fatalf("room %q history differs: %v vs %v (%v)", room, Refs(ha), Refs(hb), err)
		}
	}
}

func testBulk(t *testing.T, h Harness) {
	ctx := context.Background()
	src, clk := h.open(t)
	dst := h.openAt(t, h.New(t), clk)
	want := Fill(t, src, clk.Now(), 250)
	if c, err := src.Counts(ctx); err != nil || c != want {
		t.Fatalf("source counts %+v, %v; want %+v", c, err, want)
	}
	rows := int(want.Users + want.Sessions + want.Messages + want.Settings)
	if n := Copy(t, src, dst, 7); n != rows {
		t.Fatalf("copy added %d rows, want %d", n, rows)
	}
	if n := Copy(t, src, dst, 0); n != 0 {
		t.Fatalf("second copy added %d rows, want 0", n)
	}
	Same(t, src, dst)
	// Old password hashes and sessions work on the copy.
	if _, hash, err := dst.UserByEmail(ctx, "BOB@example.com"); err != nil || hash != "$scrypt$hash-1" {
		t.Fatalf("copied hash %q, %v", hash, err)
	}
	if s, u, err := dst.SessionByTokenHash(ctx, chat.HashToken("tok2")); err != nil || s.ID != "s2" || u.ID != "u1" {
		t.Fatalf("copied session %+v, %v", s, err)
	}

	t.Run("refusals", func(t *testing.T) {
		d := h.openAt(t, h.New(t), clk)
		if _, err := d.LoadSessions(ctx, []chat.Session{{ID: "s", TokenHash: "h", UserID: "nobody", ExpiresAt: clk.Now()}}); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("session of unknown user: err = %v, want ErrNotFound", err)
		}
		ok := chat.Message{ID: "id1", Room: "r", RefID: "a", UserID: "u", CreatedAt: clk.Now()}
		bad := chat.Message{ID: "id2", Room: "r", RefID: "b", UserID: "u"}
		if _, err := d.LoadMessages(ctx, []chat.Message{ok, bad}); !errors.Is(err, chat.ErrInvalid) {
			t.Fatalf("message without time: err = %v, want ErrInvalid", err)
		}
		if _, err := d.LoadUsers(ctx, []chat.BulkUser{{User: chat.User{ID: "x"}}}); !errors.Is(err, chat.ErrInvalid) {
			t.Fatalf("user without email: err = %v, want ErrInvalid", err)
		}
		if c, err := d.Counts(ctx); err != nil || !c.Empty() {
			t.Fatalf("after refused loads: %+v, %v; want empty", c, err)
		}
	})
}

// testOutage stops the server under a store and its writer: calls fail
// with errors instead of hanging, nothing is half-stored, and once the
// server is back the same ids are accepted and everything works again
// without reopening the store.
func testOutage(t *testing.T, h Harness) {
	if h.Outage == nil {
		t.Skip("this store has no server to stop")
	}
	ctx := context.Background()
	s, clk := h.open(t)
	w := batch.NewWriter(s, batch.Config{Now: clk.Now})
	defer w.Close(ctx)
	submit := func(ref string) (bool, error) {
		type res struct {
			fresh bool
			err   error
		}
		ch := make(chan res, 1)
		if err := w.Submit(Msg("r", ref, "u", "x"), func(f bool, err error) { ch <- res{f, err} }); err != nil {
			return false, err
		}
		select {
		case r := <-ch:
			return r.fresh, r.err
		case <-time.After(60 * time.Second):
			t.Fatalf("%s: no acknowledgement within a minute", ref)
			return false, nil
		}
	}
	if f, err := submit("before"); err != nil || !f {
		t.Fatalf("before the outage: %v, %v", f, err)
	}
	restart := h.Outage(t)
	down := time.Now()
	if f, err := submit("during"); err == nil {
		t.Fatalf("a message was acknowledged (fresh %v) while the server was down", f)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded while the server was down")
	}
	if _, err := s.History(ctx, "r", chat.Cursor{}, 10); err == nil {
		t.Fatal("History succeeded while the server was down")
	}
	if w.Err() == nil {
		t.Fatal("the writer reports no error while the server is down")
	}
	if took := time.Since(down); took > 30*time.Second {
		t.Fatalf("failing took %v: calls hang while the server is down", took)
	}
	restart()
	deadline := time.Now().Add(30 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("store did not recover within 30s of the server's return")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if f, err := submit("during"); err != nil || !f {
		t.Fatalf("resend after the outage: fresh %v, %v; want stored now", f, err)
	}
	if w.Err() != nil {
		t.Fatalf("writer still reports %v", w.Err())
	}
	got, err := s.History(ctx, "r", chat.Cursor{}, 10)
	if err != nil || !slices.Equal(Refs(got), []string{"during", "before"}) {
		t.Fatalf("after recovery: %v, %v", Refs(got), err)
	}
}
