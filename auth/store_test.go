package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

// memStore is an in-memory Store with *sqlite.DB's documented semantics,
// except that it returns expired sessions, so the Service's own expiry
// check is what the tests exercise.
type memStore struct {
	mu       sync.Mutex
	users    map[string]chat.User // by email
	hashes   map[string]string    // password hash by user id
	sessions map[string]chat.Session
	settings map[string]string
}

func newMemStore() *memStore {
	return &memStore{
		users:    map[string]chat.User{},
		hashes:   map[string]string{},
		sessions: map[string]chat.Session{},
		settings: map[string]string{},
	}
}

func (m *memStore) CreateUser(_ context.Context, u chat.User, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[u.Email]; ok {
		return fmt.Errorf("create user: %w", chat.ErrConflict)
	}
	m.users[u.Email] = u
	m.hashes[u.ID] = hash
	return nil
}

func (m *memStore) UserByEmail(_ context.Context, email string) (chat.User, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[email]
	if !ok {
		return chat.User{}, "", fmt.Errorf("user by email: %w", chat.ErrNotFound)
	}
	return u, m.hashes[u.ID], nil
}

func (m *memStore) CreateSession(_ context.Context, s chat.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[s.TokenHash]; ok {
		return fmt.Errorf("create session: %w", chat.ErrConflict)
	}
	m.sessions[s.TokenHash] = s
	return nil
}

func (m *memStore) SessionByTokenHash(_ context.Context, h string) (chat.Session, chat.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[h]
	if !ok {
		return chat.Session{}, chat.User{}, fmt.Errorf("session: %w", chat.ErrNotFound)
	}
	for _, u := range m.users {
		if u.ID == s.UserID {
			return s, u, nil
		}
	}
	return chat.Session{}, chat.User{}, fmt.Errorf("session user: %w", chat.ErrNotFound)
}

func (m *memStore) ExtendSession(_ context.Context, id string, exp, upd time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, s := range m.sessions {
		if s.ID == id {
			s.ExpiresAt, s.UpdatedAt = exp, upd
			m.sessions[h] = s
			return nil
		}
	}
	return fmt.Errorf("extend: %w", chat.ErrNotFound)
}

func (m *memStore) DeleteSession(_ context.Context, h string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, h)
	return nil
}

func (m *memStore) SettingOrInit(_ context.Context, key string, gen func() (string, error)) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.settings[key]; ok {
		return v, nil
	}
	v, err := gen()
	if err != nil {
		return "", err
	}
	m.settings[key] = v
	return v, nil
}

// sessionRows is a copy of the sessions table, as a leaked backup would be.
func (m *memStore) sessionRows() []chat.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]chat.Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		out = append(out, s)
	}
	return out
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const testSecret = "unit-test-secret-0123456789abcdef0123"

// cheapScrypt keeps tests fast; production uses DefaultScrypt.
var cheapScrypt = ScryptParams{LogN: 4, R: 1, P: 1}

type fixture struct {
	svc   *Service
	store *memStore
	clock *fakeClock
}

// newFixture builds a Service over a memStore with a fake clock; mod may
// adjust the config first.
func newFixture(t testing.TB, log *slog.Logger, mod func(*Config)) *fixture {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	store := newMemStore()
	cfg := Config{
		Secret:         []byte(testSecret),
		TrustedOrigins: []string{"https://app.example.com"},
		Now:            clock.Now,
		Scrypt:         cheapScrypt,
	}
	if mod != nil {
		mod(&cfg)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &fixture{svc: New(store, cfg, log), store: store, clock: clock}
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
func (f *fixture) signUp(t testing.TB, email, password string) Issued {
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
func (f *fixture) cookieHeader(token string) string {
	return "Cookie: " + SessionCookieName + "=" + encodeCookieValue(Sign([]byte(testSecret), token))
}
