package auth

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/sqlite"
)

// identity authenticates token as a request would.
func (f *authFixture) identity(t *testing.T, token string) Identity {
	t.Helper()
	id, err := f.svc.Authenticate(req("GET", "/", f.cookieHeader(token)))
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return id
}

// live reports whether token still authenticates.
func (f *authFixture) live(t *testing.T, token string) bool {
	t.Helper()
	_, err := f.svc.Authenticate(req("GET", "/", f.cookieHeader(token)))
	if err != nil && !errors.Is(err, ErrSessionGone) {
		t.Fatalf("authenticate: %v", err)
	}
	return err == nil
}

// signIn opens another session of email from ip.
func (f *authFixture) signIn(t *testing.T, ip, email, password string) Issued {
	t.Helper()
	iss, err := f.svc.SignIn(reqFrom(ip), SignInInput{Email: email, Password: password, RememberMe: true})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	return iss
}

func TestListAndRevokeSessions(t *testing.T) {
	f := newFixture(t, nil, nil)
	ctx := context.Background()
	a1 := f.signUp(t, "ann@example.com", "password123")
	f.clock.Advance(time.Second)
	a2 := f.signIn(t, "198.51.100.2", "ann@example.com", "password123")
	f.clock.Advance(time.Second)
	a3 := f.signIn(t, "198.51.100.3", "ann@example.com", "password123")
	b1 := f.signUp(t, "bob@example.com", "password123")

	me := f.identity(t, a2.Token)
	list, err := f.svc.ListSessions(ctx, me)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("%d sessions listed, want 3", len(list))
	}
	for i, want := range []Issued{a1, a2, a3} {
		got := list[i]
		if got.ID != want.Session.ID || got.UserID != want.User.ID || got.IPAddress != want.Session.IPAddress {
			t.Fatalf("session %d = %+v, want %+v", i, got.Session, want.Session)
		}
		if got.Current != (i == 1) {
			t.Fatalf("session %d Current = %v", i, got.Current)
		}
		// The caller's own session shows its token; others show a handle
		// that is not a credential.
		if i == 1 && got.Token != a2.Token {
			t.Fatalf("current session token %q, want the caller's", got.Token)
		}
		if i != 1 {
			if got.Token == want.Token {
				t.Fatal("a raw token of another session was listed")
			}
			if _, err := f.svc.Authenticate(req("GET", "/", "Authorization: Bearer "+got.Token)); err == nil {
				t.Fatal("a listed handle authenticates")
			}
		}
	}

	t.Run("another user's token changes nothing", func(t *testing.T) {
		self, err := f.svc.RevokeSession(ctx, me, b1.Token)
		if err != nil || self {
			t.Fatalf("RevokeSession(bob's token) = %v, %v", self, err)
		}
		bobList, _ := f.svc.ListSessions(ctx, f.identity(t, b1.Token))
		if _, err := f.svc.RevokeSession(ctx, me, bobList[0].Token); err != nil {
			t.Fatal(err)
		}
		if !f.live(t, b1.Token) {
			t.Fatal("ann revoked bob's session")
		}
		for _, junk := range []string{"", "unknown", "a.b", "../../etc"} {
			if self, err := f.svc.RevokeSession(ctx, me, junk); err != nil || self {
				t.Fatalf("RevokeSession(%q) = %v, %v", junk, self, err)
			}
		}
	})
	t.Run("by listed handle", func(t *testing.T) {
		self, err := f.svc.RevokeSession(ctx, me, list[0].Token)
		if err != nil || self {
			t.Fatalf("RevokeSession = %v, %v", self, err)
		}
		if f.live(t, a1.Token) || !f.live(t, a2.Token) || !f.live(t, a3.Token) {
			t.Fatal("wrong sessions ended")
		}
	})
	t.Run("revoke others", func(t *testing.T) {
		a4 := f.signIn(t, "198.51.100.4", "ann@example.com", "password123")
		if err := f.svc.RevokeOtherSessions(ctx, me); err != nil {
			t.Fatal(err)
		}
		if !f.live(t, a2.Token) || f.live(t, a3.Token) || f.live(t, a4.Token) || !f.live(t, b1.Token) {
			t.Fatal("revoke-other-sessions ended the wrong sessions")
		}
	})
	t.Run("by own raw token", func(t *testing.T) {
		a5 := f.signIn(t, "198.51.100.5", "ann@example.com", "password123")
		self, err := f.svc.RevokeSession(ctx, me, a2.Token)
		if err != nil || !self {
			t.Fatalf("revoking the caller's own session = %v, %v; want revokedSelf", self, err)
		}
		if f.live(t, a2.Token) || !f.live(t, a5.Token) {
			t.Fatal("wrong session ended")
		}
		if err := f.svc.RevokeSessions(ctx, f.identity(t, a5.Token)); err != nil {
			t.Fatal(err)
		}
		if f.live(t, a5.Token) || !f.live(t, b1.Token) {
			t.Fatal("revoke-sessions ended the wrong sessions")
		}
	})
}

func TestChangePassword(t *testing.T) {
	lim := DefaultLimits()
	f := newFixture(t, nil, nil)
	a1 := f.signUp(t, "ann@example.com", "password123")
	a2 := f.signIn(t, "198.51.100.2", "ann@example.com", "password123")
	me := f.identity(t, a1.Token)
	change := func(cur, next string, revoke bool) (chat.User, *Issued, error) {
		return f.svc.ChangePassword(req("POST", "/"), me, ChangePasswordInput{CurrentPassword: cur, NewPassword: next, RevokeOtherSessions: revoke})
	}
	for _, tc := range []struct {
		cur, next string
		want      error
	}{
		{"wrong-password", "short", ErrPasswordTooShort}, // the new one is checked first
		{"password123", string(make([]byte, MaxPasswordLen+1)), ErrPasswordTooLong},
		{"wrong-password", "new-password-1", ErrInvalidPassword},
	} {
		if _, _, err := change(tc.cur, tc.next, false); !errors.Is(err, tc.want) {
			t.Fatalf("change(%q, %q) = %v, want %v", tc.cur, tc.next, err, tc.want)
		}
	}
	if _, err := f.svc.SignIn(req("POST", "/"), SignInInput{Email: "ann@example.com", Password: "password123"}); err != nil {
		t.Fatalf("a refused change altered the password: %v", err)
	}

	u, iss, err := change("password123", "new-password-1", false)
	if err != nil || iss != nil || u.ID != a1.User.ID {
		t.Fatalf("change = %+v, %v, %v", u, iss, err)
	}
	if !f.live(t, a1.Token) || !f.live(t, a2.Token) {
		t.Fatal("a change without revokeOtherSessions ended sessions")
	}
	if err := f.signInFrom("198.51.100.9", "ann@example.com", "password123"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("old password still works: %v", err)
	}

	_, iss, err = change("new-password-1", "new-password-2", true)
	if err != nil || iss == nil || iss.Token == "" || iss.User.ID != a1.User.ID {
		t.Fatalf("change with revokeOtherSessions = %+v, %v", iss, err)
	}
	if f.live(t, a1.Token) || f.live(t, a2.Token) || !f.live(t, iss.Token) {
		t.Fatal("revokeOtherSessions must end every old session and keep the new one")
	}
	if n := len(sessionRows(t, f.store)); n != 1 {
		t.Fatalf("%d sessions left, want 1", n)
	}

	// Wrong current passwords count as failed sign-ins of the pair: a
	// stolen session is no password oracle.
	me = f.identity(t, iss.Token)
	for i := 0; i < lim.EmailFailures; i++ {
		if _, _, err := f.svc.ChangePassword(req("POST", "/"), me, ChangePasswordInput{CurrentPassword: "guess-guess", NewPassword: "whatever-1"}); !errors.Is(err, ErrInvalidPassword) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, _, err := f.svc.ChangePassword(req("POST", "/"), me, ChangePasswordInput{CurrentPassword: "new-password-2", NewPassword: "whatever-1"}); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("after %d wrong guesses: %v", lim.EmailFailures, err)
	}
}

func TestUpdateUser(t *testing.T) {
	f := newFixture(t, nil, nil)
	ctx := context.Background()
	a := f.signUp(t, "ann@example.com", "password123")
	me := f.identity(t, a.Token)
	if _, err := f.svc.UpdateUser(ctx, me, chat.UserChange{}); !errors.Is(err, ErrNothingToUpdate) {
		t.Fatalf("empty update: %v", err)
	}
	f.clock.Advance(time.Minute)
	name, img := "Ann B.", "https://img.example/ann.png"
	u, err := f.svc.UpdateUser(ctx, me, chat.UserChange{Name: &name, Image: &img, SetImage: true})
	if err != nil || u.Name != name || u.Image == nil || *u.Image != img || u.Email != "ann@example.com" {
		t.Fatalf("update = %+v, %v", u, err)
	}
	if !u.UpdatedAt.Equal(f.clock.Now()) || !u.CreatedAt.Equal(a.User.CreatedAt) {
		t.Fatalf("times: created %v updated %v", u.CreatedAt, u.UpdatedAt)
	}
	u, err = f.svc.UpdateUser(ctx, me, chat.UserChange{SetImage: true})
	if err != nil || u.Image != nil || u.Name != name {
		t.Fatalf("clearing the image = %+v, %v", u, err)
	}
	if got := f.identity(t, a.Token).User; got.Name != name || got.Image != nil {
		t.Fatalf("session sees %+v", got)
	}
}

// TestCheckSession: the session sweep's check is nil for a live session,
// ErrSessionGone for a revoked or expired one, and the store's own error
// when the store fails, so the caller can keep sockets through a transient
// database failure (app's sweep does).
func TestCheckSession(t *testing.T) {
	f := newFixture(t, nil, nil)
	ctx := context.Background()
	a := f.signUp(t, "ann@example.com", "password123")
	b := f.signUp(t, "bob@example.com", "password123")
	if err := f.svc.CheckSession(ctx, a.Session.TokenHash); err != nil {
		t.Fatalf("live session: %v", err)
	}
	if err := f.svc.SignOut(req("POST", "/", "Authorization: Bearer "+a.Token)); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CheckSession(ctx, a.Session.TokenHash); !errors.Is(err, ErrSessionGone) {
		t.Fatalf("signed-out session: %v", err)
	}
	f.clock.Advance(DefaultSessionTTL)
	if err := f.svc.CheckSession(ctx, b.Session.TokenHash); !errors.Is(err, ErrSessionGone) {
		t.Fatalf("expired session: %v", err)
	}

	// A store that fails: a closed database.
	d, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "closed.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := New(d, Config{Secret: []byte(testSecret), Scrypt: TestScrypt}, nil)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := svc.CheckSession(ctx, b.Session.TokenHash); err == nil || errors.Is(err, ErrSessionGone) {
		t.Fatalf("CheckSession on a failing store = %v, want the store's error", err)
	}
}
