package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/chat"
)

// Deployment shapes of issue 12: a front end on another origin (CORS for
// trusted origins only), a reverse proxy (--trusted-proxies), a public URL
// that differs from the Host a proxy sends (--public-url), and oRPC's error
// shape on /rpc/*.

const (
	trustedApp = "http://app.example:3000"
	evilOrigin = "https://evil.example"
)

// accessControl returns the response's Access-Control-* headers.
func accessControl(h http.Header) map[string]string {
	out := map[string]string{}
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = h.Get(k)
		}
	}
	return out
}

func hasToken(list, want string) bool {
	for _, v := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(v), want) {
			return true
		}
	}
	return false
}

func TestCORSTrustedOriginsOnly(t *testing.T) {
	s := start(t, func(c *app.Config) {
		c.Codec = "go"
		c.TrustedOrigins = []string{trustedApp, "https://*.example.org"}
	})
	alice := s.signUp("alice")
	bearer := http.Header{"Authorization": {"Bearer " + alice.Token}}
	routes := []struct{ method, path string }{
		{"GET", "/api/auth/get-session"},
		{"POST", "/api/auth/sign-in/email"},
		{"POST", "/rpc/messages/get"},
		{"GET", "/api/messages"},
		{"POST", "/api/messages"},
		{"PUT", "/api/messages/m-1/react"},
		{"DELETE", "/api/messages/m-1"},
		{"GET", "/api/users/" + alice.ID},
	}
	for _, r := range routes {
		for _, origin := range []string{trustedApp, "https://team.example.org"} {
			resp, _ := s.req("OPTIONS", r.path, nil, http.Header{
				"Origin": {origin}, "Access-Control-Request-Method": {r.method},
				"Access-Control-Request-Headers": {"content-type,authorization"},
			})
			h := resp.Header
			if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
				h.Get("Access-Control-Allow-Credentials") != "true" || !hasToken(h.Get("Access-Control-Allow-Methods"), r.method) ||
				!hasToken(h.Get("Access-Control-Allow-Headers"), "Content-Type") || !hasToken(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
				!hasToken(h.Get("Vary"), "Origin") {
				t.Fatalf("preflight %s %s from %s: %d %v Vary %q", r.method, r.path, origin, resp.StatusCode, accessControl(h), h.Get("Vary"))
			}
		}
		for _, origin := range []string{evilOrigin, "null", trustedApp + ".evil.example", "http://app.example:3001"} {
			resp, _ := s.req("OPTIONS", r.path, nil, http.Header{"Origin": {origin}, "Access-Control-Request-Method": {r.method}})
			if ac := accessControl(resp.Header); len(ac) != 0 {
				t.Fatalf("preflight %s %s from untrusted %s got CORS headers %v", r.method, r.path, origin, ac)
			}
		}
	}

	// Actual requests: a trusted page may read the answers, and the token
	// header; an untrusted one gets no CORS header, even on answers that
	// carry a token.
	from := func(origin string) http.Header {
		h := bearer.Clone()
		h.Set("Origin", origin)
		return h
	}
	resp, raw := s.req("GET", "/api/messages?room=cors", nil, from(trustedApp))
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != trustedApp ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" || !hasToken(resp.Header.Get("Access-Control-Expose-Headers"), "set-auth-token") {
		t.Fatalf("trusted GET: %d %s %v", resp.StatusCode, raw, accessControl(resp.Header))
	}
	email := fmt.Sprintf("cors-%d@example.com", userSeq.Add(1))
	signUp := map[string]any{"name": "cors", "email": email, "password": "correct horse battery"}
	resp, raw = s.req("POST", "/api/auth/sign-up/email", signUp, http.Header{"Origin": {trustedApp}})
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != trustedApp ||
		resp.Header.Get("set-auth-token") == "" || !hasToken(resp.Header.Get("Access-Control-Expose-Headers"), "set-auth-token") {
		t.Fatalf("trusted sign-up: %d %s %v", resp.StatusCode, raw, accessControl(resp.Header))
	}
	signIn := map[string]any{"email": email, "password": "correct horse battery"}
	resp, raw = s.req("POST", "/api/auth/sign-in/email", signIn, http.Header{"Origin": {evilOrigin}})
	if resp.StatusCode != http.StatusForbidden || len(accessControl(resp.Header)) != 0 {
		t.Fatalf("untrusted sign-in: %d %s %v", resp.StatusCode, raw, accessControl(resp.Header))
	}
	resp, raw = s.req("GET", "/api/messages?room=cors", nil, from(evilOrigin))
	if resp.StatusCode != 200 || len(accessControl(resp.Header)) != 0 {
		t.Fatalf("untrusted GET: %d %s %v", resp.StatusCode, raw, accessControl(resp.Header))
	}
	// The refused sign-up from an untrusted origin created nothing.
	other := fmt.Sprintf("cors-evil-%d@example.com", userSeq.Add(1))
	resp, _ = s.req("POST", "/api/auth/sign-up/email", map[string]any{"name": "x", "email": other, "password": "correct horse battery"}, http.Header{"Origin": {evilOrigin}})
	if resp.StatusCode != http.StatusForbidden || len(accessControl(resp.Header)) != 0 {
		t.Fatalf("untrusted sign-up: %d %v", resp.StatusCode, accessControl(resp.Header))
	}
	if _, _, err := s.app.DB.UserByEmail(context.Background(), other); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("refused sign-up stored a user: %v", err)
	}
	// Routes that are not the API get none, from anyone.
	resp, _ = s.req("GET", "/health", nil, http.Header{"Origin": {trustedApp}})
	if ac := accessControl(resp.Header); len(ac) != 0 {
		t.Fatalf("/health got CORS headers %v", ac)
	}
}

func TestTrustedProxies(t *testing.T) {
	const perIP = 1
	dialFrom := func(s *server, u user, xff string) (int, func()) {
		ws, resp, err := s.tryDial(u.Token, "proxied", http.Header{"X-Forwarded-For": {xff}})
		if err != nil {
			return resp.StatusCode, func() {}
		}
		return http.StatusSwitchingProtocols, func() { ws.Close() }
	}
	t.Run("believed from a trusted proxy", func(t *testing.T) {
		s := start(t, func(c *app.Config) {
			c.Codec = "go"
			c.MaxConnsPerIP = perIP
			c.TrustedProxies = []string{"127.0.0.0/8", "::1"}
		})
		u := s.signUp("proxied")
		// The client wrote the first hop; our proxy appended the second.
		if st, _ := dialFrom(s, u, "198.51.100.7, 203.0.113.5"); st != 101 {
			t.Fatalf("first client: %d", st)
		}
		if st, _ := dialFrom(s, u, "203.0.113.6"); st != 101 {
			t.Fatalf("another client behind the same proxy: %d", st)
		}
		// A forged first hop does not make the same client someone else.
		if st, _ := dialFrom(s, u, "192.0.2.99, 203.0.113.5"); st != http.StatusTooManyRequests {
			t.Fatalf("same client, forged first hop: %d, want 429", st)
		}
		// The proxy's Host and scheme are the origin the browser used.
		email := fmt.Sprintf("px-%d@example.com", userSeq.Add(1))
		resp, raw := s.req("POST", "/api/auth/sign-up/email", map[string]any{"name": "p", "email": email, "password": "correct horse battery"},
			http.Header{"Origin": {"https://chat.example.com"}, "X-Forwarded-Host": {"chat.example.com"}, "X-Forwarded-Proto": {"https"}})
		if resp.StatusCode != 200 {
			t.Fatalf("sign-up through the proxy: %d %s", resp.StatusCode, raw)
		}
	})
	t.Run("ignored from anyone else", func(t *testing.T) {
		s := start(t, func(c *app.Config) {
			c.Codec = "go"
			c.MaxConnsPerIP = perIP
			c.TrustedProxies = []string{"10.0.0.0/8"}
		})
		u := s.signUp("direct")
		if st, _ := dialFrom(s, u, "203.0.113.5"); st != 101 {
			t.Fatalf("first socket: %d", st)
		}
		if st, _ := dialFrom(s, u, "203.0.113.6"); st != http.StatusTooManyRequests {
			t.Fatalf("a forged X-Forwarded-For from an untrusted peer got past the per-IP cap: %d", st)
		}
		email := fmt.Sprintf("px-%d@example.com", userSeq.Add(1))
		resp, raw := s.req("POST", "/api/auth/sign-up/email", map[string]any{"name": "p", "email": email, "password": "correct horse battery"},
			http.Header{"Origin": {"https://chat.example.com"}, "X-Forwarded-Host": {"chat.example.com"}, "X-Forwarded-Proto": {"https"}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(raw), "INVALID_ORIGIN") {
			t.Fatalf("forged X-Forwarded-Host: %d %s", resp.StatusCode, raw)
		}
		if _, _, err := s.app.DB.UserByEmail(context.Background(), email); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("refused sign-up stored a user: %v", err)
		}
	})
}

func TestPublicURL(t *testing.T) {
	const public = "https://chat.example.com"
	signUp := func(s *server, origin string) (int, string) {
		email := fmt.Sprintf("pub-%d@example.com", userSeq.Add(1))
		// A proxy that rewrites Host: the request reaches us as 127.0.0.1.
		resp, raw := s.req("POST", "/api/auth/sign-up/email", map[string]any{"name": "p", "email": email, "password": "correct horse battery"},
			http.Header{"Origin": {origin}})
		return resp.StatusCode, string(raw)
	}
	without := start(t, func(c *app.Config) { c.Codec = "go" })
	if st, raw := signUp(without, public); st != http.StatusForbidden || !strings.Contains(raw, "INVALID_ORIGIN") {
		t.Fatalf("without --public-url: %d %s, want 403 INVALID_ORIGIN", st, raw)
	}
	with := start(t, func(c *app.Config) {
		c.Codec = "go"
		c.PublicURL = public + "/"
	})
	if st, raw := signUp(with, public); st != 200 {
		t.Fatalf("with --public-url: %d %s", st, raw)
	}
	// The Host-derived origin is no longer ours.
	if st, raw := signUp(with, with.url); st != http.StatusForbidden {
		t.Fatalf("Host origin with --public-url: %d %s, want 403", st, raw)
	}
	for _, bad := range []string{"chat.example.com", "ftp://chat.example.com", "https://"} {
		cfg := app.DefaultConfig()
		cfg.PublicURL = bad
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--public-url") {
			t.Fatalf("--public-url %q: %v", bad, err)
		}
	}
	cfg := app.DefaultConfig()
	cfg.TrustedProxies = []string{"10.0.0.0/8", "not-a-cidr"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "not-a-cidr") {
		t.Fatalf("--trusted-proxies with a bad entry: %v", err)
	}
}

// TestRPCErrorShape: /rpc/messages/get answers errors as oRPC does, so
// upstream's OpenAPILink raises the same ORPCError.
func TestRPCErrorShape(t *testing.T) {
	s := start(t, func(c *app.Config) { c.Codec = "go" })
	alice := s.signUp("alice")
	cases := []struct {
		name, token string
		body        any
		status      int
		code, ours  string
	}{
		{"no session", "", map[string]any{}, 401, "UNAUTHORIZED", "UNAUTHORIZED"},
		{"bad limit", alice.Token, map[string]any{"limit": 0}, 400, "BAD_REQUEST", "INVALID_LIMIT"},
		{"bad JSON", alice.Token, "{", 400, "BAD_REQUEST", "BAD_REQUEST"},
		{"unknown cursor", alice.Token, map[string]any{"json": map[string]any{"cursor": "no-such-ref"}}, 400, "BAD_REQUEST", "INVALID_CURSOR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Header
			if tc.token != "" {
				h = http.Header{"Authorization": {"Bearer " + tc.token}}
			}
			resp, raw := s.req("POST", "/rpc/messages/get", tc.body, h)
			var e struct {
				Defined *bool             `json:"defined"`
				Code    string            `json:"code"`
				Status  int               `json:"status"`
				Message string            `json:"message"`
				Data    map[string]string `json:"data"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("%d %s: %v", resp.StatusCode, raw, err)
			}
			if resp.StatusCode != tc.status || e.Defined == nil || *e.Defined || e.Code != tc.code || e.Status != tc.status ||
				e.Message == "" || e.Data["code"] != tc.ours {
				t.Fatalf("got %d %s, want %d with oRPC code %s and data.code %s", resp.StatusCode, raw, tc.status, tc.code, tc.ours)
			}
		})
	}
	// The other routes keep {"code","message"}.
	var e struct{ Code string }
	if st := s.do("GET", "/api/messages?limit=0", alice.Token, nil, &e); st != 400 || e.Code != "INVALID_LIMIT" {
		t.Fatalf("GET /api/messages?limit=0: %d %q", st, e.Code)
	}
}

// TestHealthWithExhaustedPool: /health answers at once and stays 200 while
// every codec instance is held by awake rooms, the rooms keep serving, and
// rooms woken meanwhile over WebSocket and HTTP are served on the Go codec.
func TestHealthWithExhaustedPool(t *testing.T) {
	s := start(t, func(c *app.Config) {
		c.Codec = "wasm"
		c.Pool.MaxInstances, c.Pool.MinWarm = 1, 1
	})
	alice, bob := s.signUp("alice"), s.signUp("bob")
	a := s.dial(alice, "holds-the-instance")
	a.send(text("a-1", "hello"))
	a.next(withID("a-1"))
	b := s.dial(bob, "falls-back")
	b.send(text("b-1", "hello"))
	b.next(withID("b-1"))
	began := time.Now()
	var h struct {
		Status    string
		CodecOK   bool `json:"codecOk"`
		CodecBusy bool `json:"codecBusy"`
	}
	if st := s.do("GET", "/health", "", nil, &h); st != 200 || h.Status != "ok" || !h.CodecOK || !h.CodecBusy {
		t.Fatalf("/health with the pool held: %d %+v", st, h)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("/health took %v with the pool held", took)
	}
	// A POST that wakes a third room is answered too (it once waited for
	// an instance for ever).
	posted := time.Now()
	if st := s.do("POST", "/api/messages", bob.Token, map[string]any{"room": "woken-by-post", "messageId": "p-1", "text": "x"}, nil); st != 201 {
		t.Fatalf("POST into a new room with the pool held: %d", st)
	}
	if took := time.Since(posted); took > s.env.Config.CodecWait+5*time.Second {
		t.Fatalf("POST into a new room took %v", took)
	}
	for _, u := range []user{alice, bob} {
		var page history
		if st := s.do("GET", "/api/messages?room=holds-the-instance", u.Token, nil, &page); st != 200 || len(page.Messages) != 1 {
			t.Fatalf("history after /health: %d %d", st, len(page.Messages))
		}
	}
}
