package auth

import (
	"bytes"
	"encoding/hex"
	"errors"
	"github.com/wasmchannel/wasmchannel/chat"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsCarryNoSecrets runs every logging path at debug level and checks
// that no password, token, signed cookie, hash or secret reaches the log.
func TestLogsCarryNoSecrets(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFixture(t, log, func(c *Config) {
		c.Limits = Limits{EmailFailures: 2, IPFailures: 100, Window: time.Hour}
	})
	const password = "Tr0ub4dor&3-secret-password"
	iss := f.signUp(t, "ann@example.com", password)
	signIn := func(pw string) (Issued, error) {
		return f.svc.SignIn(req("POST", "/"), SignInInput{Email: "ann@example.com", Password: pw, RememberMe: true})
	}
	iss2, err := signIn(password)
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "wrong-password-that-must-not-leak"
	for i := 0; i < 3; i++ {
		_, _ = signIn(wrong) // the last one hits the limiter
	}
	if _, err := signIn(password); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("limiter did not engage: %v", err)
	}
	if _, err := f.svc.SignIn(req("POST", "/"), SignInInput{Email: "nobody@example.com", Password: wrong}); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
	f.clock.Advance(2 * 24 * time.Hour)
	if _, err := f.svc.Authenticate(req("GET", "/", f.cookieHeader(iss.Token))); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(f.svc.OriginMiddleware())
	e.POST("/x", func(c echo.Context) error { return nil })
	e.ServeHTTP(httptest.NewRecorder(), req("POST", "/x", f.cookieHeader(iss2.Token), "Origin: https://evil.example"))
	if err := f.svc.SignOut(req("POST", "/", f.cookieHeader(iss.Token))); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(8 * 24 * time.Hour)
	_, _ = f.svc.Authenticate(req("GET", "/", f.cookieHeader(iss2.Token))) // expired: deleted

	out := buf.String()
	for _, want := range []string{"user signed up", "sign-in failed", "brute-force", "cross-origin request refused", iss.User.ID} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %q; the test is not exercising the paths it claims:\n%s", want, out)
		}
	}
	secrets := map[string]string{
		"password":        password,
		"wrong password":  wrong,
		"token":           iss.Token,
		"second token":    iss2.Token,
		"token hash":      chat.HashToken(iss.Token),
		"signed cookie":   Sign([]byte(testSecret), iss.Token),
		"encoded cookie":  encodeCookieValue(Sign([]byte(testSecret), iss2.Token)),
		"url cookie":      url.QueryEscape(Sign([]byte(testSecret), iss2.Token)),
		"secret":          testSecret,
		"secret hex":      hex.EncodeToString([]byte(testSecret)),
		"password hash":   passwordHash(t, f.store, iss.User.Email),
		"hash salt field": strings.Split(passwordHash(t, f.store, iss.User.Email), "$")[3],
	}
	for name, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("log contains the %s", name)
		}
	}
}
