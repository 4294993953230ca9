package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

func strPtr(s string) *string { return &s }

func TestUsers(t *testing.T) {
	d, clk := mustOpenClock(t)
	ctx := context.Background()

	alice := chat.User{ID: "u-alice", Name: "Alice", Email: "alice@example.com", Image: strPtr("https://img/a.png")}
	if err := d.CreateUser(ctx, alice, "scrypt$alice"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	bob := chat.User{ID: "u-bob", Name: "Bob", Email: "bob@example.com", EmailVerified: true,
		CreatedAt: clk.Now().Add(-time.Hour), UpdatedAt: clk.Now()}
	if err := d.CreateUser(ctx, bob, "scrypt$bob"); err != nil {
		t.Fatal(err)
	}

	t.Run("by email", func(t *testing.T) {
		cases := []struct {
			email    string
			wantID   string
			wantHash string
			wantErr  error
		}{
			{"alice@example.com", "u-alice", "scrypt$alice", nil},
			{"ALICE@Example.com", "u-alice", "scrypt$alice", nil},
			{"bob@example.com", "u-bob", "scrypt$bob", nil},
			{"carol@example.com", "", "", chat.ErrNotFound},
			{"", "", "", chat.ErrNotFound},
		}
		for _, c := range cases {
			t.Run(c.email, func(t *testing.T) {
				u, hash, err := d.UserByEmail(ctx, c.email)
				if !errorsIs(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				if u.ID != c.wantID || hash != c.wantHash {
					t.Fatalf("got (%q, %q), want (%q, %q)", u.ID, hash, c.wantID, c.wantHash)
				}
			})
		}
	})

	t.Run("by id round trip", func(t *testing.T) {
		got, err := d.UserByID(ctx, "u-alice")
		if err != nil {
			t.Fatal(err)
		}
		want := alice
		want.CreatedAt, want.UpdatedAt = newClock().Now(), newClock().Now()
		if !sameUser(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		got, err = d.UserByID(ctx, "u-bob")
		if err != nil {
			t.Fatal(err)
		}
		if !sameUser(got, bob) {
			t.Fatalf("got %+v, want %+v", got, bob)
		}
		if _, err := d.UserByID(ctx, "u-nobody"); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("unknown id: err = %v", err)
		}
	})

	t.Run("duplicates", func(t *testing.T) {
		cases := []struct {
			name string
			u    chat.User
		}{
			{"same email", chat.User{ID: "u-2", Name: "A2", Email: "alice@example.com"}},
			{"email in other case", chat.User{ID: "u-3", Name: "A3", Email: "Alice@EXAMPLE.com"}},
			{"same id", chat.User{ID: "u-alice", Name: "A4", Email: "alice4@example.com"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if err := d.CreateUser(ctx, c.u, "h"); !errors.Is(err, chat.ErrConflict) {
					t.Fatalf("err = %v, want chat.ErrConflict", err)
				}
			})
		}
		var users, accounts int
		if err := d.rd.QueryRow(`SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM accounts)`).Scan(&users, &accounts); err != nil {
			t.Fatal(err)
		}
		if users != 2 || accounts != 2 {
			t.Fatalf("users=%d accounts=%d after refused duplicates, want 2 and 2", users, accounts)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		for _, u := range []chat.User{{Email: "x@example.com"}, {ID: "u-x"}} {
			if err := d.CreateUser(ctx, u, "h"); !errors.Is(err, chat.ErrInvalid) {
				t.Errorf("CreateUser(%+v) err = %v, want ErrInvalid", u, err)
			}
		}
	})

	t.Run("credential account row", func(t *testing.T) {
		var provider, hash string
		if err := d.rd.QueryRow(`SELECT provider_id, password_hash FROM accounts WHERE user_id = 'u-bob'`).Scan(&provider, &hash); err != nil {
			t.Fatal(err)
		}
		if provider != "credential" || hash != "scrypt$bob" {
			t.Fatalf("account = (%q, %q)", provider, hash)
		}
	})
}

// sameUser compares users field by field, times by instant.
func sameUser(a, b chat.User) bool {
	img := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	return a.ID == b.ID && a.Name == b.Name && a.Email == b.Email && a.EmailVerified == b.EmailVerified &&
		img(a.Image) == img(b.Image) && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func TestSessions(t *testing.T) {
	d, clk := mustOpenClock(t)
	ctx := context.Background()
	for _, id := range []string{"u1", "u2"} {
		if err := d.CreateUser(ctx, chat.User{ID: id, Name: id, Email: id + "@example.com"}, "h"); err != nil {
			t.Fatal(err)
		}
	}
	now := clk.Now()
	mk := func(id, token, user string, ttl time.Duration) chat.Session {
		return chat.Session{ID: id, TokenHash: chat.HashToken(token), UserID: user, ExpiresAt: now.Add(ttl),
			IPAddress: "127.0.0.1", UserAgent: "test/1.0"}
	}
	for _, s := range []chat.Session{
		mk("s1", "tok1", "u1", 7*24*time.Hour),
		mk("s2", "tok2", "u1", 7*24*time.Hour),
		mk("s3", "tok3", "u2", time.Hour),
	} {
		if err := d.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("lookup", func(t *testing.T) {
		s, u, err := d.SessionByTokenHash(ctx, chat.HashToken("tok1"))
		if err != nil {
			t.Fatal(err)
		}
		if s.ID != "s1" || s.UserID != "u1" || u.ID != "u1" || u.Email != "u1@example.com" ||
			s.IPAddress != "127.0.0.1" || s.UserAgent != "test/1.0" ||
			!s.ExpiresAt.Equal(now.Add(7*24*time.Hour)) || !s.CreatedAt.Equal(now) || !s.UpdatedAt.Equal(now) {
			t.Fatalf("got %+v / %+v", s, u)
		}
		if _, _, err := d.SessionByTokenHash(ctx, chat.HashToken("nope")); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("unknown token: err = %v", err)
		}
		// The raw token is not a key: only its hash finds the session.
		if _, _, err := d.SessionByTokenHash(ctx, "tok1"); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("raw token: err = %v", err)
		}
	})

	t.Run("create errors", func(t *testing.T) {
		cases := []struct {
			name string
			s    chat.Session
			want error
		}{
			{"duplicate id", mk("s1", "other", "u1", time.Hour), chat.ErrConflict},
			{"duplicate token hash", mk("s9", "tok1", "u1", time.Hour), chat.ErrConflict},
			{"unknown user", mk("s10", "tok10", "ghost", time.Hour), chat.ErrNotFound},
			{"no token hash", chat.Session{ID: "s11", UserID: "u1"}, chat.ErrInvalid},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if err := d.CreateSession(ctx, c.s); !errors.Is(err, c.want) {
					t.Fatalf("err = %v, want %v", err, c.want)
				}
			})
		}
	})

	t.Run("extend", func(t *testing.T) {
		exp, upd := now.Add(14*24*time.Hour), now.Add(24*time.Hour)
		if err := d.ExtendSession(ctx, "s1", exp, upd); err != nil {
			t.Fatal(err)
		}
		s, _, err := d.SessionByTokenHash(ctx, chat.HashToken("tok1"))
		if err != nil {
			t.Fatal(err)
		}
		if !s.ExpiresAt.Equal(exp) || !s.UpdatedAt.Equal(upd) {
			t.Fatalf("after extend: expires %v updated %v", s.ExpiresAt, s.UpdatedAt)
		}
		if err := d.ExtendSession(ctx, "nope", exp, upd); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("extend unknown: err = %v", err)
		}
	})

	t.Run("expiry", func(t *testing.T) {
		clk.Advance(2 * time.Hour) // s3 (1h) is now expired
		if _, _, err := d.SessionByTokenHash(ctx, chat.HashToken("tok3")); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("expired session: err = %v, want ErrNotFound", err)
		}
		n, err := d.DeleteExpiredSessions(ctx, clk.Now())
		if err != nil || n != 1 {
			t.Fatalf("DeleteExpiredSessions = %d, %v; want 1", n, err)
		}
		n, err = d.DeleteExpiredSessions(ctx, clk.Now())
		if err != nil || n != 0 {
			t.Fatalf("second DeleteExpiredSessions = %d, %v; want 0", n, err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := d.DeleteSession(ctx, chat.HashToken("tok2")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.SessionByTokenHash(ctx, chat.HashToken("tok2")); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("deleted session: err = %v", err)
		}
		if err := d.DeleteSession(ctx, chat.HashToken("tok2")); err != nil {
			t.Fatalf("deleting twice: %v", err)
		}
		if _, _, err := d.SessionByTokenHash(ctx, chat.HashToken("tok1")); err != nil {
			t.Fatalf("other session gone too: %v", err)
		}
	})

	t.Run("delete all of a user", func(t *testing.T) {
		for i := range 3 {
			if err := d.CreateSession(ctx, mk(fmt.Sprintf("m%d", i), fmt.Sprintf("multi%d", i), "u2", time.Hour*24)); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.DeleteUserSessions(ctx, "u2"); err != nil {
			t.Fatal(err)
		}
		var left, other int
		d.rd.QueryRow(`SELECT count(*) FROM sessions WHERE user_id = 'u2'`).Scan(&left)
		d.rd.QueryRow(`SELECT count(*) FROM sessions WHERE user_id = 'u1'`).Scan(&other)
		if left != 0 || other != 1 {
			t.Fatalf("u2 has %d sessions left, u1 has %d; want 0 and 1", left, other)
		}
	})

	t.Run("cascade on user delete", func(t *testing.T) {
		if _, err := d.wr.Exec(`DELETE FROM users WHERE id = 'u1'`); err != nil {
			t.Fatal(err)
		}
		var n int
		d.rd.QueryRow(`SELECT count(*) FROM sessions`).Scan(&n)
		if n != 0 {
			t.Fatalf("%d sessions outlived their user", n)
		}
	})
}

func TestSessions_OnlyTokenHashStored(t *testing.T) {
	d := MustOpenDB(t)
	ctx := context.Background()
	if err := d.CreateUser(ctx, chat.User{ID: "u", Name: "n", Email: "e@example.com"}, "h"); err != nil {
		t.Fatal(err)
	}
	token := "T0KEN-7fQm2xkZ9p1sVbW3yR8c"
	if err := d.CreateSession(ctx, chat.Session{ID: "s", TokenHash: chat.HashToken(token), UserID: "u",
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rows, err := d.rd.Query(`SELECT * FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatal("no session row")
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	sawHash := false
	for i, v := range vals {
		s := fmt.Sprint(v)
		if b, ok := v.([]byte); ok {
			s = string(b)
		}
		if strings.Contains(s, token) {
			t.Errorf("column %s holds the raw token: %q", cols[i], s)
		}
		if s == chat.HashToken(token) {
			sawHash = true
		}
	}
	if !sawHash {
		t.Errorf("no column holds the token hash; row %v", vals)
	}
	if chat.HashToken(token) == token || len(chat.HashToken(token)) != 64 {
		t.Errorf("HashToken(%q) = %q", token, chat.HashToken(token))
	}
}

func TestSettings(t *testing.T) {
	d := MustOpenDB(t)
	ctx := context.Background()

	if _, err := d.Setting(ctx, "auth_secret"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("missing setting: err = %v", err)
	}

	t.Run("init once under concurrency", func(t *testing.T) {
		var calls atomic.Int32
		gen := func() (string, error) {
			n := calls.Add(1)
			return fmt.Sprintf("secret-%d", n), nil
		}
		const workers = 8
		got := make([]string, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Go(func() { got[i], errs[i] = d.SettingOrInit(ctx, "auth_secret", gen) })
		}
		wg.Wait()
		for i := range workers {
			if errs[i] != nil || got[i] != got[0] {
				t.Fatalf("worker %d: %q, %v; worker 0 got %q", i, got[i], errs[i], got[0])
			}
		}
		if calls.Load() != 1 {
			t.Fatalf("gen called %d times, want 1", calls.Load())
		}
		v, err := d.Setting(ctx, "auth_secret")
		if err != nil || v != got[0] {
			t.Fatalf("Setting = %q, %v; want %q", v, err, got[0])
		}
	})

	t.Run("gen error stores nothing", func(t *testing.T) {
		boom := errors.New("no entropy")
		if _, err := d.SettingOrInit(ctx, "k2", func() (string, error) { return "", boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
		if _, err := d.Setting(ctx, "k2"); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("after failed gen: err = %v", err)
		}
	})

	t.Run("put replaces", func(t *testing.T) {
		for _, v := range []string{"one", "two"} {
			if err := d.PutSetting(ctx, "k3", v); err != nil {
				t.Fatal(err)
			}
			if got, err := d.Setting(ctx, "k3"); err != nil || got != v {
				t.Fatalf("Setting = %q, %v; want %q", got, err, v)
			}
		}
	})
}
