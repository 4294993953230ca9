package auth

import (
	"context"
	"errors"
	"github.com/wasmchannel/wasmchannel/chat"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/scrypt"
)

func TestSignUpAndAuthenticate(t *testing.T) {
	f := newFixture(t, nil, nil)
	iss := f.signUp(t, "  Ann@Example.COM ", "password123")
	if iss.User.Email != "ann@example.com" {
		t.Fatalf("email not normalised: %q", iss.User.Email)
	}
	if len(iss.Token) != 43 || strings.ContainsAny(iss.Token, ".+/=") {
		t.Fatalf("token %q is not 32 bytes of unpadded base64url", iss.Token)
	}
	if got := iss.Session.ExpiresAt.Sub(iss.Session.CreatedAt); got != DefaultSessionTTL {
		t.Fatalf("session lasts %v, want 7 days", got)
	}
	if iss.Session.IPAddress != "192.0.2.1" {
		t.Fatalf("ip %q", iss.Session.IPAddress)
	}
	for _, tc := range []struct {
		name   string
		header string
	}{
		{"cookie", f.cookieHeader(iss.Token)},
		{"bearer raw", "Authorization: Bearer " + iss.Token},
		{"bearer signed", "Authorization: Bearer " + Sign([]byte(testSecret), iss.Token)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := f.svc.Authenticate(req("GET", "/", tc.header))
			if err != nil {
				t.Fatal(err)
			}
			if id.User.ID != iss.User.ID || id.Session.ID != iss.Session.ID || id.Token != iss.Token {
				t.Fatalf("identity %+v", id)
			}
		})
	}
	if _, err := f.svc.Authenticate(req("GET", "/")); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("no credentials: %v", err)
	}
}

func TestSignUpErrors(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.signUp(t, "taken@example.com", "password123")
	cases := []struct {
		name, email, password string
		want                  error
	}{
		{"duplicate", "taken@example.com", "password123", ErrUserExists},
		{"duplicate other case", "TAKEN@example.com", "password123", ErrUserExists},
		{"bad email", "not-an-email", "password123", ErrInvalidEmail},
		{"short", "new@example.com", "short", ErrPasswordTooShort},
		{"long", "new@example.com", strings.Repeat("p", 129), ErrPasswordTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.SignUp(req("POST", "/"), SignUpInput{Name: "x", Email: tc.email, Password: tc.password})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignIn(t *testing.T) {
	f := newFixture(t, nil, nil)
	u := f.signUp(t, "ann@example.com", "password123")
	cases := []struct {
		name, email, password string
		want                  error
	}{
		{"good", "ann@example.com", "password123", nil},
		{"good, email needs normalising", " ANN@example.com", "password123", nil},
		{"wrong password", "ann@example.com", "password124", ErrInvalidCredentials},
		{"unknown email", "bob@example.com", "password123", ErrInvalidCredentials},
		{"invalid email", "bob", "password123", ErrInvalidEmail},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := f.svc.SignIn(req("POST", "/"), SignInInput{Email: tc.email, Password: tc.password, RememberMe: true})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && (iss.User.ID != u.User.ID || iss.Token == u.Token) {
				t.Fatalf("sign-in gave %+v", iss)
			}
		})
	}
}

// TestUnknownEmailSpendsAHash checks that a sign-in for an email with no
// account runs scrypt exactly as often as one with a wrong password, so
// response time does not reveal which emails exist.
func TestUnknownEmailSpendsAHash(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.signUp(t, "ann@example.com", "password123")
	var calls atomic.Int64
	deriveKey = func(pw, salt []byte, N, r, p, keyLen int) ([]byte, error) {
		calls.Add(1)
		return scrypt.Key(pw, salt, N, r, p, keyLen)
	}
	t.Cleanup(func() { deriveKey = scrypt.Key })
	count := func(email string) int64 {
		calls.Store(0)
		_, err := f.svc.SignIn(req("POST", "/"), SignInInput{Email: email, Password: "wrong-password"})
		if !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("%s: %v", email, err)
		}
		return calls.Load()
	}
	known, unknown := count("ann@example.com"), count("nobody@example.com")
	if known != 1 || unknown != 1 {
		t.Fatalf("scrypt runs: known email %d, unknown email %d; want 1 and 1", known, unknown)
	}
}

func TestSessionExtensionAndExpiry(t *testing.T) {
	cases := []struct {
		name         string
		after        time.Duration
		wantErr      error
		wantExtended bool
	}{
		{"fresh", time.Hour, nil, false},
		{"just under a day", 24*time.Hour - time.Second, nil, false},
		{"a day old", 24 * time.Hour, nil, true},
		{"six days old", 6 * 24 * time.Hour, nil, true},
		{"expired", 7 * 24 * time.Hour, ErrUnauthenticated, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, nil)
			iss := f.signUp(t, "ann@example.com", "password123")
			f.clock.Advance(tc.after)
			id, err := f.svc.Authenticate(req("GET", "/", f.cookieHeader(iss.Token)))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			rows := sessionRows(t, f.store)
			if tc.wantErr != nil {
				if !errors.Is(err, ErrSessionGone) {
					t.Fatalf("expired session should be ErrSessionGone, got %v", err)
				}
				// The store hides it; the hourly purge deletes it. It
				// must not have been extended.
				if len(rows) != 1 || !rows[0].ExpiresAt.Equal(iss.Session.ExpiresAt) {
					t.Fatalf("expired session changed: %+v", rows)
				}
				return
			}
			if id.Refreshed != tc.wantExtended {
				t.Fatalf("Refreshed = %v, want %v", id.Refreshed, tc.wantExtended)
			}
			wantExp := iss.Session.ExpiresAt
			if tc.wantExtended {
				wantExp = f.clock.Now().Add(DefaultSessionTTL)
			}
			if !rows[0].ExpiresAt.Equal(wantExp) || !id.Session.ExpiresAt.Equal(wantExp) {
				t.Fatalf("expiresAt stored %v, returned %v, want %v", rows[0].ExpiresAt, id.Session.ExpiresAt, wantExp)
			}
		})
	}
}

// TestSessionSlidesAcrossWeeks: a session used daily never expires; one
// left alone for a week does.
func TestSessionSlidesAcrossWeeks(t *testing.T) {
	f := newFixture(t, nil, nil)
	iss := f.signUp(t, "ann@example.com", "password123")
	h := f.cookieHeader(iss.Token)
	for day := 0; day < 20; day++ {
		f.clock.Advance(25 * time.Hour)
		if _, err := f.svc.Authenticate(req("GET", "/", h)); err != nil {
			t.Fatalf("day %d: %v", day, err)
		}
	}
	f.clock.Advance(DefaultSessionTTL)
	if _, err := f.svc.Authenticate(req("GET", "/", h)); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("after a week idle: %v", err)
	}
}

func TestDontRememberSession(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.signUp(t, "ann@example.com", "password123")
	iss, err := f.svc.SignIn(req("POST", "/"), SignInInput{Email: "ann@example.com", Password: "password123", RememberMe: false})
	if err != nil {
		t.Fatal(err)
	}
	if got := iss.Session.ExpiresAt.Sub(iss.Session.CreatedAt); got != 24*time.Hour {
		t.Fatalf("rememberMe:false session lasts %v, want 1 day", got)
	}
	marker := "better-auth.dont_remember=" + encodeCookieValue(Sign([]byte(testSecret), "true"))
	h := "Cookie: " + strings.TrimPrefix(f.cookieHeader(iss.Token), "Cookie: ") + "; " + marker
	f.clock.Advance(23 * time.Hour)
	id, err := f.svc.Authenticate(req("GET", "/", h))
	if err != nil {
		t.Fatal(err)
	}
	if id.Refreshed || !id.DontRemember {
		t.Fatalf("rememberMe:false session: Refreshed=%v DontRemember=%v", id.Refreshed, id.DontRemember)
	}
	f.clock.Advance(time.Hour)
	if _, err := f.svc.Authenticate(req("GET", "/", h)); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("after a day: %v", err)
	}
}

func TestSignOutAndCheckSession(t *testing.T) {
	f := newFixture(t, nil, nil)
	iss := f.signUp(t, "ann@example.com", "password123")
	r := req("GET", "/", f.cookieHeader(iss.Token))
	id, err := f.svc.Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CheckSession(context.Background(), id.Session.TokenHash); err != nil {
		t.Fatalf("CheckSession before sign-out = %v", err)
	}
	if err := f.svc.SignOut(req("POST", "/", "Authorization: Bearer "+iss.Token)); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CheckSession(context.Background(), id.Session.TokenHash); !errors.Is(err, ErrSessionGone) {
		t.Fatalf("CheckSession after sign-out = %v, want ErrSessionGone", err)
	}
	if _, err := f.svc.Authenticate(r); !errors.Is(err, ErrSessionGone) {
		t.Fatalf("Authenticate after sign-out: %v", err)
	}
	// Signing out without a session is not an error.
	if err := f.svc.SignOut(req("POST", "/")); err != nil {
		t.Fatal(err)
	}
}

func TestCheckSessionExpires(t *testing.T) {
	f := newFixture(t, nil, nil)
	iss := f.signUp(t, "ann@example.com", "password123")
	id, err := f.svc.Authenticate(req("GET", "/", f.cookieHeader(iss.Token)))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(DefaultSessionTTL)
	if err := f.svc.CheckSession(context.Background(), id.Session.TokenHash); !errors.Is(err, ErrSessionGone) {
		t.Fatalf("CheckSession after expiry = %v, want ErrSessionGone", err)
	}
}

// TestLeakedSessionTableCannotAuthenticate plays an attacker holding a copy
// of the sessions table, and even the secret: nothing stored works as a
// token, signed or not.
func TestLeakedSessionTableCannotAuthenticate(t *testing.T) {
	f := newFixture(t, nil, nil)
	iss := f.signUp(t, "ann@example.com", "password123")
	rows := sessionRows(t, f.store)
	if len(rows) != 1 {
		t.Fatalf("rows %+v", rows)
	}
	row := rows[0]
	if row.TokenHash != chat.HashToken(iss.Token) {
		t.Fatalf("stored %q, want sha256(token)", row.TokenHash)
	}
	for _, field := range []string{row.ID, row.TokenHash, row.UserID, row.IPAddress, row.UserAgent} {
		if field != "" && strings.Contains(field, iss.Token) {
			t.Fatalf("a stored field contains the raw token: %q", field)
		}
	}
	for _, candidate := range []string{row.TokenHash, row.ID} {
		for _, h := range []string{
			"Authorization: Bearer " + candidate,
			"Authorization: Bearer " + Sign([]byte(testSecret), candidate),
			f.cookieHeader(candidate),
		} {
			if _, err := f.svc.Authenticate(req("GET", "/", h)); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("%q authenticated: %v", h, err)
			}
		}
	}
	if _, err := f.svc.Authenticate(req("GET", "/", f.cookieHeader(iss.Token))); err != nil {
		t.Fatalf("the real token stopped working: %v", err)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id, err := NewID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 32 || strings.Trim(id, idAlphabet) != "" || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("abcé", 4); got != "abc" {
		t.Fatalf("truncate split a rune: %q", got)
	}
	if got := truncate("abc", 4); got != "abc" {
		t.Fatalf("got %q", got)
	}
}
