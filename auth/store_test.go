package auth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/sqlite"
	"github.com/wasmchannel/wasmchannel/internal/testenv/fixture"
)

// openStore opens a real SQLite store in a temporary file on clock, and
// closes it, after an integrity check, when the test ends.
func openStore(t testing.TB, clock func() time.Time) *sqlite.DB {
	t.Helper()
	d, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "auth.db"), sqlite.WithClock(clock))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := d.IntegrityCheck(context.Background()); err != nil {
			t.Errorf("integrity: %v", err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return d
}

// sessionRows is a copy of the sessions table, as a leaked backup would be.
func sessionRows(t testing.TB, d *sqlite.DB) []chat.Session {
	t.Helper()
	var out []chat.Session
	err := d.EachSession(context.Background(), 0, func(ss []chat.Session) error {
		out = append(out, ss...)
		return nil
	})
	if err != nil {
		t.Fatalf("read sessions: %v", err)
	}
	return out
}

// passwordHash is the stored hash of email's password.
func passwordHash(t testing.TB, d *sqlite.DB, email string) string {
	t.Helper()
	_, h, err := d.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return h
}

const testSecret = "unit-test-secret-0123456789abcdef0123"

type authFixture struct {
	svc   *Service
	store *sqlite.DB
	clock *fixture.Clock
}

// newFixture builds a Service over a real SQLite store with a fake clock; mod may
// adjust the config first.
func newFixture(t testing.TB, log *slog.Logger, mod func(*Config)) *authFixture {
	t.Helper()
	clock := fixture.NewClock(time.Time{})
	store := openStore(t, clock.Now)
	cfg := Config{
		Secret:         []byte(testSecret),
		TrustedOrigins: []string{"https://app.example.com"},
		Now:            clock.Now,
		Scrypt:         TestScrypt,
	}
	if mod != nil {
		mod(&cfg)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &authFixture{svc: New(store, cfg, log), store: store, clock: clock}
}

// req builds a request from 192.0.2.1 with the given headers ("Name: value").
func req(method, target string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "192.0.2.1:4242"
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		r.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return r
}

// signUp creates a user and returns the issued session.
func (f *authFixture) signUp(t testing.TB, email, password string) Issued {
	t.Helper()
	iss, err := f.svc.SignUp(req("POST", "http://chat.test/api/auth/sign-up/email"), SignUpInput{
		Name: "Test", Email: email, Password: password, RememberMe: true,
	})
	if err != nil {
		t.Fatalf("sign up %s: %v", email, err)
	}
	return iss
}

// cookieHeader is the Cookie header a browser would send for iss.
func (f *authFixture) cookieHeader(token string) string {
	return "Cookie: " + SessionCookieName + "=" + encodeCookieValue(Sign([]byte(testSecret), token))
}
