package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

// Msg builds a message; the store fills the id and times.
func Msg(room, ref, user, text string) chat.Message {
	return chat.Message{Room: room, RefID: ref, UserID: user, Payload: []byte(text)}
}

// MustInsert stores msgs in one batch and fails the test on error.
func MustInsert(tb testing.TB, s chat.Store, msgs ...chat.Message) []bool {
	tb.Helper()
	fresh, err := s.InsertMessages(context.Background(), msgs)
	if err != nil {
		tb.Fatalf("InsertMessages: %v", err)
	}
	return fresh
}

// Refs lists the reference ids of ms, in order.
func Refs(ms []chat.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.RefID
	}
	return out
}

// userString shows every field of u, the image by value, for comparing.
func userString(u chat.User) string {
	img := "<nil>"
	if u.Image != nil {
		img = *u.Image
	}
	return fmt.Sprintf("%s|%q|%q|%v|%q|%d|%d", u.ID, u.Name, u.Email, u.EmailVerified, img,
		u.CreatedAt.UnixMilli(), u.UpdatedAt.UnixMilli())
}

// sameMessage compares every field, times by instant.
func sameMessage(a, b chat.Message) bool {
	eqTime := func(x, y *time.Time) bool {
		if x == nil || y == nil {
			return x == y
		}
		return x.Equal(*y)
	}
	eqInt := func(x, y *int) bool {
		if x == nil || y == nil {
			return x == y
		}
		return *x == *y
	}
	return a.ID == b.ID && a.Room == b.Room && a.RefID == b.RefID && a.UserID == b.UserID && a.Kind == b.Kind &&
		eqInt(a.ReactionKind, b.ReactionKind) && bytes.Equal(a.Payload, b.Payload) &&
		fmt.Sprint(chat.NormReactions(a.Reactions)) == fmt.Sprint(chat.NormReactions(b.Reactions)) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) && eqTime(a.DeletedAt, b.DeletedAt)
}

func testMigrations(t *testing.T, h Harness) {
	ctx := context.Background()
	if len(h.Versions) == 0 {
		t.Fatal("harness lists no migration versions")
	}
	t.Run("from empty", func(t *testing.T) {
		target := h.New(t)
		s, err := h.Open(t, target, "", NewClock().Now)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.AppliedAtOpen(); !slices.Equal(got, h.Versions) {
			t.Fatalf("first open applied %v, want %v", got, h.Versions)
		}
		if s.Kind() != h.Kind {
			t.Fatalf("Kind() = %q, want %q", s.Kind(), h.Kind)
		}
		s.Close()
		s = h.openAt(t, target, NewClock())
		if got := s.AppliedAtOpen(); len(got) != 0 {
			t.Fatalf("second open applied %v, want nothing", got)
		}
		if got, err := s.AppliedMigrations(ctx); err != nil || !slices.Equal(got, h.Versions) {
			t.Fatalf("recorded %v, %v; want %v", got, err, h.Versions)
		}
	})
	for i, v := range h.Versions {
		t.Run("from "+v, func(t *testing.T) {
			target := h.New(t)
			old, err := h.Open(t, target, v, NewClock().Now)
			if err != nil {
				t.Fatal(err)
			}
			if got := old.AppliedAtOpen(); !slices.Equal(got, h.Versions[:i+1]) {
				t.Fatalf("opening at %s applied %v", v, got)
			}
			old.Close()
			s := h.openAt(t, target, NewClock())
			if got := s.AppliedAtOpen(); !slices.Equal(got, h.Versions[i+1:]) && !(len(got) == 0 && i+1 == len(h.Versions)) {
				t.Fatalf("upgrade from %s applied %v, want %v", v, got, h.Versions[i+1:])
			}
			// The upgraded store works.
			MustInsert(t, s, Msg("r", "a", "u", "hi"))
			if _, err := s.MessageByRef(ctx, "r", "a"); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("concurrent first opens", func(t *testing.T) {
		target := h.New(t)
		var wg sync.WaitGroup
		applied := make([][]string, 4)
		errs := make([]error, 4)
		for i := range applied {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := h.Open(t, target, "", time.Now)
				if err != nil {
					errs[i] = err
					return
				}
				applied[i] = s.AppliedAtOpen()
				s.Close()
			}()
		}
		wg.Wait()
		total := 0
		for i := range applied {
			if errs[i] != nil {
				t.Fatalf("open %d: %v", i, errs[i])
			}
			total += len(applied[i])
		}
		if total != len(h.Versions) {
			t.Fatalf("four concurrent opens applied %v, want each version once", applied)
		}
	})
}

func testUsers(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clk := h.open(t)
	img := "https://example.com/a.png"
	ann := chat.User{ID: "u1", Name: "Ann", Email: "ann@example.com", EmailVerified: true, Image: &img}
	if err := s.CreateUser(ctx, ann, "hash-1"); err != nil {
		t.Fatal(err)
	}
	got, hash, err := s.UserByEmail(ctx, "ANN@Example.com")
	if err != nil || hash != "hash-1" || got.ID != "u1" || got.Name != "Ann" || !got.EmailVerified ||
		got.Image == nil || *got.Image != img || !got.CreatedAt.Equal(clk.Now()) || !got.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("UserByEmail = %+v, %q, %v", got, hash, err)
	}
	byID, err := s.UserByID(ctx, "u1")
	if err != nil || userString(byID) != userString(got) {
		t.Fatalf("UserByID = %+v, %v; want %+v", byID, err, got)
	}
	for _, c := range []struct {
		name string
		u    chat.User
		want error
	}{
		{"same email other case", chat.User{ID: "u2", Name: "x", Email: "Ann@EXAMPLE.com"}, chat.ErrConflict},
		{"same id", chat.User{ID: "u1", Name: "x", Email: "other@example.com"}, chat.ErrConflict},
		{"no id", chat.User{Name: "x", Email: "x@example.com"}, chat.ErrInvalid},
		{"no email", chat.User{ID: "u3", Name: "x"}, chat.ErrInvalid},
	} {
		if err := s.CreateUser(ctx, c.u, "h"); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if _, _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("unknown email: %v", err)
	}
	if _, err := s.UserByID(ctx, "nobody"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	// A refused user left nothing behind.
	if c, err := s.Counts(ctx); err != nil || c.Users != 1 {
		t.Fatalf("counts after refusals: %+v, %v", c, err)
	}
}

func testSessions(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clk := h.open(t)
	for _, id := range []string{"u1", "u2"} {
		if err := s.CreateUser(ctx, chat.User{ID: id, Name: id, Email: id + "@example.com"}, "h"); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(id, tok, user string, ttl time.Duration) chat.Session {
		return chat.Session{ID: id, TokenHash: chat.HashToken(tok), UserID: user, ExpiresAt: clk.Now().Add(ttl),
			IPAddress: "127.0.0.1", UserAgent: "test"}
	}
	for _, ss := range []chat.Session{mk("s1", "t1", "u1", time.Hour), mk("s2", "t2", "u1", 2*time.Hour), mk("s3", "t3", "u2", 3*time.Hour)} {
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		s    chat.Session
		want error
	}{
		{"same id", mk("s1", "t9", "u1", time.Hour), chat.ErrConflict},
		{"same token", mk("s9", "t1", "u1", time.Hour), chat.ErrConflict},
		{"unknown user", mk("s8", "t8", "ghost", time.Hour), chat.ErrNotFound},
		{"no token", chat.Session{ID: "s7", UserID: "u1"}, chat.ErrInvalid},
	} {
		if err := s.CreateSession(ctx, c.s); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	got, u, err := s.SessionByTokenHash(ctx, chat.HashToken("t1"))
	if err != nil || got.ID != "s1" || got.UserID != "u1" || u.ID != "u1" || u.Email != "u1@example.com" ||
		got.IPAddress != "127.0.0.1" || got.UserAgent != "test" || !got.ExpiresAt.Equal(clk.Now().Add(time.Hour)) ||
		!got.CreatedAt.Equal(clk.Now()) {
		t.Fatalf("SessionByTokenHash = %+v, %+v, %v", got, u, err)
	}

	// Expiry by the store's clock, and sliding renewal.
	clk.Advance(time.Hour)
	if _, _, err := s.SessionByTokenHash(ctx, chat.HashToken("t1")); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("expired session: err = %v, want ErrNotFound", err)
	}
	if err := s.ExtendSession(ctx, "s1", clk.Now().Add(time.Hour), clk.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.SessionByTokenHash(ctx, chat.HashToken("t1")); err != nil || !got.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("extended session = %+v, %v", got, err)
	}
	if err := s.ExtendSession(ctx, "ghost", clk.Now(), clk.Now()); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("extend unknown: %v", err)
	}

	// Deletes.
	for range 2 { // twice: signing out twice succeeds
		if err := s.DeleteSession(ctx, chat.HashToken("t1")); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.SessionByTokenHash(ctx, chat.HashToken("t1")); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("deleted session: %v", err)
	}
	clk.Advance(90 * time.Minute) // s2 (expires at +2h) has now expired; s3 (+3h) has not
	n, err := s.DeleteExpiredSessions(ctx, clk.Now())
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 1", n, err)
	}
	if err := s.DeleteUserSessions(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Counts(ctx); err != nil || c.Sessions != 0 {
		t.Fatalf("sessions left: %+v, %v", c, err)
	}
}

func testSettings(t *testing.T, h Harness) {
	ctx := context.Background()
	s, _ := h.open(t)
	if _, err := s.Setting(ctx, "k"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("missing setting: %v", err)
	}
	for _, v := range []string{"one", "two"} {
		if err := s.PutSetting(ctx, "k", v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Setting(ctx, "k"); err != nil || got != v {
			t.Fatalf("Setting = %q, %v; want %q", got, err, v)
		}
	}
	// Concurrent SettingOrInit: one generated value, seen by all.
	var gens sync.Map
	var wg sync.WaitGroup
	vals := make([]string, 8)
	errs := make([]error, 8)
	for i := range vals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals[i], errs[i] = s.SettingOrInit(ctx, "secret", func() (string, error) {
				v := fmt.Sprint("gen-", i)
				gens.Store(v, true)
				return v, nil
			})
		}()
	}
	wg.Wait()
	n := 0
	gens.Range(func(any, any) bool { n++; return true })
	for i := range vals {
		if errs[i] != nil || vals[i] != vals[0] {
			t.Fatalf("caller %d got %q, %v; caller 0 got %q", i, vals[i], errs[i], vals[0])
		}
	}
	if n != 1 {
		t.Fatalf("gen ran %d times, want once", n)
	}
	if _, err := s.SettingOrInit(ctx, "other", func() (string, error) { return "", errors.New("boom") }); err == nil {
		t.Fatal("a failing gen was not reported")
	}
	if _, err := s.Setting(ctx, "other"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("a failing gen stored something: %v", err)
	}
}

func testInsertDedup(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clk := h.open(t)
	fresh := MustInsert(t, s, Msg("r", "a", "u1", "first"), Msg("r", "b", "u1", "x"), Msg("r", "a", "u1", "repeat in batch"),
		Msg("other", "a", "u1", "same ref, other room"))
	if !slices.Equal(fresh, []bool{true, true, false, true}) {
		t.Fatalf("fresh = %v", fresh)
	}
	// A resend is acknowledged (fresh false) and changes nothing.
	clk.Advance(time.Second)
	if fresh := MustInsert(t, s, Msg("r", "a", "u2", "resent")); !slices.Equal(fresh, []bool{false}) {
		t.Fatalf("resend fresh = %v", fresh)
	}
	m, err := s.MessageByRef(ctx, "r", "a")
	if err != nil || string(m.Payload) != "first" || m.UserID != "u1" || !m.CreatedAt.Equal(clk.Now().Add(-time.Second)) {
		t.Fatalf("stored after resend = %+v, %v", m, err)
	}
	byID, err := s.MessageByID(ctx, m.ID)
	if err != nil || !sameMessage(byID, m) || len(m.ID) != 26 {
		t.Fatalf("MessageByID = %+v, %v", byID, err)
	}
	if _, err := s.MessageByID(ctx, "nope"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := s.MessageByRef(ctx, "r", "nope"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("unknown ref: %v", err)
	}

	// A server id used by another message fails the whole batch.
	dup := Msg("r", "c", "u1", "x")
	dup.ID = m.ID
	if _, err := s.InsertMessages(ctx, []chat.Message{Msg("r", "d", "u1", "x"), dup}); !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("id collision: err = %v, want ErrConflict", err)
	}
	for _, ref := range []string{"c", "d"} {
		if _, err := s.MessageByRef(ctx, "r", ref); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("%s stored from a failed batch: %v", ref, err)
		}
	}
	for i, bad := range []chat.Message{{RefID: "x", UserID: "u"}, {Room: "r", UserID: "u"}, {Room: "r", RefID: "x"}, {Room: "r", RefID: "x", UserID: "u", Kind: -1}} {
		if _, err := s.InsertMessages(ctx, []chat.Message{bad}); !errors.Is(err, chat.ErrInvalid) {
			t.Errorf("case %d: err = %v, want ErrInvalid", i, err)
		}
	}
	if fresh, err := s.InsertMessages(ctx, nil); err != nil || len(fresh) != 0 {
		t.Fatalf("empty batch: %v, %v", fresh, err)
	}
	if c, err := s.Counts(ctx); err != nil || c.Messages != 3 {
		t.Fatalf("counts: %+v, %v; want 3 messages", c, err)
	}
}

func testHistory(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clk := h.open(t)
	// m0..m9, one ms apart, then e0..e4 all in one millisecond.
	for i := range 10 {
		MustInsert(t, s, Msg("r", fmt.Sprint("m", i), "u", "x"))
		clk.Advance(time.Millisecond)
	}
	for i := range 5 {
		MustInsert(t, s, Msg("r", fmt.Sprint("e", i), "u", "x"))
	}
	MustInsert(t, s, Msg("other", "o", "u", "x"))
	if _, err := s.DeleteMessage(ctx, "r", "m5", "u"); err != nil {
		t.Fatal(err)
	}
	base := NewClock().Now()
	cases := []struct {
		name  string
		c     chat.Cursor
		limit int
		want  []string
		err   error
	}{
		{"newest", chat.Cursor{}, 4, []string{"e4", "e3", "e2", "e1"}, nil},
		{"ties by insertion", chat.Cursor{BeforeRef: "e3"}, 10, []string{"e2", "e1", "e0", "m9", "m8", "m7", "m6", "m4", "m3", "m2"}, nil},
		{"deleted cursor still works", chat.Cursor{BeforeRef: "m5"}, 2, []string{"m4", "m3"}, nil},
		{"before time", chat.Cursor{Before: base.Add(3 * time.Millisecond)}, 10, []string{"m2", "m1", "m0"}, nil},
		{"before inside a millisecond", chat.Cursor{Before: base.Add(2*time.Millisecond + 500*time.Microsecond)}, 10, []string{"m2", "m1", "m0"}, nil},
		{"both", chat.Cursor{Before: base.Add(8 * time.Millisecond), BeforeRef: "m3"}, 10, []string{"m2", "m1", "m0"}, nil},
		{"nothing before", chat.Cursor{BeforeRef: "m0"}, 10, []string{}, nil},
		{"unknown ref", chat.Cursor{BeforeRef: "zz"}, 10, nil, chat.ErrNotFound},
		{"ref of another room", chat.Cursor{BeforeRef: "o"}, 10, nil, chat.ErrNotFound},
		{"limit 0", chat.Cursor{}, 0, nil, chat.ErrInvalid},
		{"limit too big", chat.Cursor{}, chat.MaxHistoryLimit + 1, nil, chat.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.History(ctx, "r", c.c, c.limit)
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if c.err != nil {
				return
			}
			if got == nil || !slices.Equal(Refs(got), c.want) {
				t.Fatalf("got %v, want %v", Refs(got), c.want)
			}
		})
	}
	if got, err := s.History(ctx, "empty", chat.Cursor{}, 10); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty room: %v, %v", got, err)
	}
}

func testReactions(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clk := h.open(t)
	MustInsert(t, s, Msg("r", "a", "author", "hi"))
	steps := []struct {
		user string
		kind int
		want []chat.Reaction
	}{
		{"u1", 1, []chat.Reaction{{Kind: 1, Count: 1, Users: []string{"u1"}}}},
		{"u2", 1, []chat.Reaction{{Kind: 1, Count: 2, Users: []string{"u1", "u2"}}}},
		{"u1", 3, []chat.Reaction{{Kind: 1, Count: 2, Users: []string{"u1", "u2"}}, {Kind: 3, Count: 1, Users: []string{"u1"}}}},
		{"u1", 1, []chat.Reaction{{Kind: 1, Count: 1, Users: []string{"u2"}}, {Kind: 3, Count: 1, Users: []string{"u1"}}}},
		{"u2", 1, []chat.Reaction{{Kind: 3, Count: 1, Users: []string{"u1"}}}},
		{"u1", 3, []chat.Reaction{}},
	}
	for i, st := range steps {
		clk.Advance(time.Second)
		m, err := s.ToggleReaction(ctx, "r", "a", st.user, st.kind)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := s.MessageByRef(ctx, "r", "a")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(m.Reactions) != fmt.Sprint(st.want) || !sameMessage(m, stored) || !m.UpdatedAt.Equal(clk.Now()) {
			t.Fatalf("step %d: returned %+v, stored %+v, want reactions %v", i, m, stored, st.want)
		}
	}
	if _, err := s.ToggleReaction(ctx, "r", "zz", "u1", 1); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("unknown message: %v", err)
	}
	if _, err := s.ToggleReaction(ctx, "r", "a", "", 1); !errors.Is(err, chat.ErrInvalid) {
		t.Fatalf("no user: %v", err)
	}
	if _, err := s.DeleteMessage(ctx, "r", "a", "author"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ToggleReaction(ctx, "r", "a", "u1", 1); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("deleted message: %v", err)
	}
}

// testConcurrentToggles has many users toggle one message at once, twice:
// after the first round every user is counted once, after the second none.
func testConcurrentToggles(t *testing.T, h Harness) {
	ctx := context.Background()
	s, _ := h.open(t)
	MustInsert(t, s, Msg("r", "a", "author", "hi"))
	const users = 24
	round := func() {
		var wg sync.WaitGroup
		errs := make(chan error, users)
		for i := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.ToggleReaction(ctx, "r", "a", fmt.Sprint("u", i), 2); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	round()
	m, err := s.MessageByRef(ctx, "r", "a")
	if err != nil || len(m.Reactions) != 1 || m.Reactions[0].Count != users || len(m.Reactions[0].Users) != users {
		t.Fatalf("after %d concurrent toggles: %+v, %v", users, m.Reactions, err)
	}
	if c, err := s.Counts(ctx); err != nil || c.Reactions != users {
		t.Fatalf("counted %+v, %v; want %d reactions", c, err, users)
	}
	round()
	if m, err := s.MessageByRef(ctx, "r", "a"); err != nil || len(m.Reactions) != 0 {
		t.Fatalf("after toggling back: %+v, %v", m.Reactions, err)
	}
}

func testDelete(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clk := h.open(t)
	MustInsert(t, s, Msg("r", "a", "author", "hi"))
	if _, err := s.DeleteMessage(ctx, "r", "a", "intruder"); !errors.Is(err, chat.ErrForbidden) {
		t.Fatalf("not the author: %v", err)
	}
	clk.Advance(time.Minute)
	m, err := s.DeleteMessage(ctx, "r", "a", "author")
	if err != nil || m.DeletedAt == nil || !m.DeletedAt.Equal(clk.Now()) || !m.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("DeleteMessage = %+v, %v", m, err)
	}
	stored, err := s.MessageByRef(ctx, "r", "a")
	if err != nil || !sameMessage(stored, m) {
		t.Fatalf("stored = %+v, %v; want %+v", stored, err, m)
	}
	if _, err := s.DeleteMessage(ctx, "r", "a", "author"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.DeleteMessage(ctx, "r", "zz", "author"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if h, err := s.History(ctx, "r", chat.Cursor{}, 10); err != nil || len(h) != 0 {
		t.Fatalf("history shows a deleted message: %v %v", Refs(h), err)
	}
	// A resend of a deleted message's id is acknowledged, not revived.
	if fresh := MustInsert(t, s, Msg("r", "a", "author", "again")); fresh[0] {
		t.Fatal("resend revived a deleted message")
	}
	if c, err := s.Counts(ctx); err != nil || c.Messages != 1 || c.Deleted != 1 {
		t.Fatalf("counts: %+v, %v", c, err)
	}
}

func testPayloadBytes(t *testing.T, h Harness) {
	ctx := context.Background()
	s, _ := h.open(t)
	all := make([]byte, 0, 256)
	for b := range 256 {
		all = append(all, byte(b))
	}
	cases := map[string][]byte{"all bytes": all, "empty": {}, "invalid utf-8": {0xff, 0xfe, 'a'}, "nul": {0, 0, 0}}
	for ref, p := range cases {
		MustInsert(t, s, chat.Message{Room: "r", RefID: ref, UserID: "u", Payload: p})
		m, err := s.MessageByRef(ctx, "r", ref)
		if err != nil || !bytes.Equal(m.Payload, p) || m.Payload == nil {
			t.Fatalf("%s: got %q, %v; want %q", ref, m.Payload, err, p)
		}
	}
}
