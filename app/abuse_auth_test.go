package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/handlers"
)

// Auth abuse tests (issue 7, item 5) for what auth/ and handlers/ do not
// already cover at the unit level: brute force (auth/limiter_test.go,
// handlers TestAuthBruteForceHTTP), token hashes and a leaked database
// (auth TestLeakedSessionTableCannotAuthenticate, handlers
// TestAuthTokenNotInDatabaseFile), the origin rules themselves
// (auth/origin_test.go) and the auth routes' logs (handlers TestAuthLogsHTTP).
// Here they are checked on the assembled server, across every route.

const sessionCookie = "better-auth.session_token"

// req sends a request with the given headers and returns the status and body.
func (s *server) req(method, path string, body any, h http.Header) (*http.Response, []byte) {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	r, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		r.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// cookieUser signs up and returns the user and the session cookie exactly
// as the server set it (token.signature, percent-encoded).
func (s *server) cookieUser(name, password string) (user, *http.Cookie) {
	s.t.Helper()
	email := fmt.Sprintf("%s-%d@example.com", name, userSeq.Add(1))
	resp, raw := s.req("POST", "/api/auth/sign-up/email", map[string]any{"name": name, "email": email, "password": password}, nil)
	var out struct {
		Token string
		User  struct{ ID string }
	}
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 {
		s.t.Fatalf("sign-up %s: %d %s", name, resp.StatusCode, raw)
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return user{ID: out.User.ID, Name: name, Token: out.Token}, c
		}
	}
	s.t.Fatalf("sign-up %s set no session cookie", name)
	return user{}, nil
}

func cookieHeader(c *http.Cookie, extra ...string) http.Header {
	h := http.Header{"Cookie": {c.Name + "=" + c.Value}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

// bind points the harness at t for the length of a subtest: the e2e server
// and clients fail through the *testing.T they were made with, and a
// subtest must not fail its parent.
func bind(t *testing.T, s *server, cs ...*client) *server {
	for _, c := range cs {
		prev := c.t
		c.t = t
		t.Cleanup(func() { c.t = prev })
	}
	sub := *s
	sub.t = t
	return &sub
}

// TestAbuseRevokedAndExpiredSessionsClosed: alice has two sessions (two
// devices) with sockets in two rooms. Signing one out closes that
// session's sockets with 1008 within a few sweeps and refuses its token
// everywhere, while her other session and bob carry on undisturbed. Then
// the other session expires, and its socket is closed too.
func TestAbuseRevokedAndExpiredSessionsClosed(t *testing.T) {
	const sweep = 100 * time.Millisecond
	s := start(t, app.Config{Codec: "go", SessionSweep: sweep})
	alice, bob := s.signUp("alice"), s.signUp("bob")
	var second struct{ Token string }
	email := ""
	{ // a second session for alice: sign in again
		var gs struct {
			User struct{ Email string }
		}
		s.do("GET", "/api/auth/get-session", alice.Token, nil, &gs)
		email = gs.User.Email
		if st := s.do("POST", "/api/auth/sign-in/email", "", map[string]any{"email": email, "password": "correct horse battery"}, &second); st != 200 {
			t.Fatalf("second sign-in: %d", st)
		}
	}
	phone := user{ID: alice.ID, Name: "alice-phone", Token: second.Token}
	a1, a2 := joined(s.dial(alice, "one")), joined(s.dial(alice, "two"))
	p := joined(s.dial(phone, "one"))
	b := joined(s.dial(bob, "one"))

	a1.send(text("before-signout", "sent before signing out"))
	a1.next(withID("before-signout"))
	var out struct{ Success bool }
	if st := s.do("POST", "/api/auth/sign-out", alice.Token, nil, &out); st != 200 || !out.Success {
		t.Fatalf("sign-out: %d %+v", st, out)
	}
	signedOut := time.Now()
	for name, c := range map[string]*client{"room one": a1, "room two": a2} {
		if code := closeCode(t, c); code != websocket.ClosePolicyViolation {
			t.Fatalf("signed-out socket in %s closed with %d, want 1008", name, code)
		}
	}
	took := time.Since(signedOut)
	t.Logf("signed-out sockets closed %v after sign-out", took)
	if took > 2*time.Second {
		t.Fatalf("signed-out sockets closed after %v", took)
	}
	// The revoked token is refused everywhere.
	_, resp, err := s.tryDial(alice.Token, "one", nil)
	wantRefused(t, "socket with a signed-out token", resp, err, http.StatusUnauthorized, "UNAUTHORIZED")
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/messages?room=one"},
		{"POST", "/api/messages"},
		{"POST", "/rpc/messages/get"},
		{"PUT", "/api/messages/before-signout/react?room=one"},
		{"DELETE", "/api/messages/before-signout?room=one"},
	} {
		if st := s.do(r.method, r.path, alice.Token, map[string]any{"room": "one", "text": "x", "kind": 1}, nil); st != http.StatusUnauthorized {
			t.Fatalf("%s %s with a signed-out token: %d", r.method, r.path, st)
		}
	}
	var gs any
	if st := s.do("GET", "/api/auth/get-session", alice.Token, nil, &gs); st != 200 || gs != nil {
		t.Fatalf("get-session with a signed-out token: %d %v", st, gs)
	}
	// Her other session, and bob, did not notice anything; what she sent
	// before signing out is kept.
	p.send(text("from-phone", "still signed in here"))
	for _, c := range []*client{p, b} {
		if m := c.next(withID("from-phone")); *m.UserID != alice.ID {
			t.Fatalf("got %+v", m)
		}
	}
	if m, err := s.app.DB.MessageByRef(context.Background(), "one", "before-signout"); err != nil || m.UserID != alice.ID {
		t.Fatalf("message sent before sign-out: %+v %v", m, err)
	}

	// The phone's session expires (as if seven days had passed).
	var phoneSession struct{ Session struct{ ID string } }
	s.do("GET", "/api/auth/get-session", phone.Token, nil, &phoneSession)
	past := time.Now().Add(-time.Second)
	if err := s.app.DB.ExtendSession(context.Background(), phoneSession.Session.ID, past, past); err != nil {
		t.Fatal(err)
	}
	expired := time.Now()
	if code := closeCode(t, p); code != websocket.ClosePolicyViolation {
		t.Fatalf("expired session's socket closed with %d, want 1008", code)
	}
	if took := time.Since(expired); took > 2*time.Second {
		t.Fatalf("expired session's socket closed after %v", took)
	}
	_, resp, err = s.tryDial(phone.Token, "one", nil)
	wantRefused(t, "socket with an expired session", resp, err, http.StatusUnauthorized, "UNAUTHORIZED")
	b.send(text("bob-still", "bob carries on"))
	b.next(withID("bob-still"))
}

// unsafeRoutes lists every POST, PUT, PATCH and DELETE route the server
// registered, so a route added later is covered without editing this test.
func unsafeRoutes(t *testing.T, s *server) []*echo.Route {
	e, ok := s.app.HTTP.Handler.(*echo.Echo)
	if !ok {
		t.Fatalf("server handler is %T, not *echo.Echo", s.app.HTTP.Handler)
	}
	var out []*echo.Route
	for _, r := range e.Routes() {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			out = append(out, r)
		}
	}
	// Sign-out last: its control request ends the session.
	sort.SliceStable(out, func(i, j int) bool {
		return !strings.HasSuffix(out[i].Path, "/sign-out") && strings.HasSuffix(out[j].Path, "/sign-out")
	})
	return out
}

// TestAbuseCSRFEveryUnsafeRoute sends every state-changing route a request
// carrying alice's session cookie from a foreign Origin, a foreign Referer,
// a null Origin and no Origin at all: each gets 403 with Better Auth's code,
// and nothing changes. The same request from the server's own origin then
// passes the check, which proves the cookie was good.
func TestAbuseCSRFEveryUnsafeRoute(t *testing.T) {
	s := start(t, app.Config{Codec: "go"})
	alice, cookie := s.cookieUser("alice", "correct horse battery")
	var m handlers.WireMessage
	if st := s.do("POST", "/api/messages", alice.Token, map[string]any{"room": "csrf", "messageId": "csrf-1", "text": "original"}, &m); st != 201 {
		t.Fatalf("post: %d", st)
	}
	var gs struct{ User struct{ Email string } }
	s.do("GET", "/api/auth/get-session", alice.Token, nil, &gs)
	newEmail := fmt.Sprintf("csrf-new-%d@example.com", userSeq.Add(1))
	bodies := map[string]any{
		"/api/auth/sign-up/email": map[string]any{"name": "forged", "email": newEmail, "password": "forged password"},
		"/api/auth/sign-in/email": map[string]any{"email": gs.User.Email, "password": "correct horse battery"},
		"/api/messages":           map[string]any{"room": "csrf", "messageId": "forged-1", "text": "forged"},
		"/api/messages/:id/react": map[string]any{"kind": 1},
		"/rpc/messages/get":       map[string]any{},
		"/api/messages/:id":       nil,
		"/api/auth/sign-out":      nil,
	}
	fill := func(path string) string {
		p := strings.ReplaceAll(path, ":id", "csrf-1")
		p = strings.ReplaceAll(p, ":room", "csrf")
		p = strings.ReplaceAll(p, "*", "x")
		if strings.Contains(path, ":id") {
			p += "?room=csrf"
		}
		return p
	}
	routes := unsafeRoutes(t, s)
	if len(routes) < 6 {
		t.Fatalf("only %d unsafe routes found: %v", len(routes), routes)
	}
	attacks := []struct {
		name   string
		header []string
		code   string
	}{
		{"foreign Origin", []string{"Origin", "https://evil.example"}, "INVALID_ORIGIN"},
		{"foreign Referer", []string{"Referer", "https://evil.example/page"}, "INVALID_ORIGIN"},
		{"look-alike Origin", []string{"Origin", s.url + ".evil.example"}, "INVALID_ORIGIN"},
		{"null Origin", []string{"Origin", "null"}, "MISSING_OR_NULL_ORIGIN"},
		{"no Origin", nil, "MISSING_OR_NULL_ORIGIN"},
	}
	for _, r := range routes {
		for _, a := range attacks {
			t.Run(r.Method+" "+r.Path+" "+a.name, func(t *testing.T) {
				resp, raw := bind(t, s).req(r.Method, fill(r.Path), bodies[r.Path], cookieHeader(cookie, a.header...))
				var e struct{ Code string }
				_ = json.Unmarshal(raw, &e)
				if resp.StatusCode != http.StatusForbidden || e.Code != a.code {
					t.Fatalf("%d %s, want 403 %s", resp.StatusCode, raw, a.code)
				}
			})
		}
	}
	// Nothing changed: the message is untouched, nothing was posted, no
	// user was created, and the session is still alive.
	got, err := s.app.DB.MessageByRef(context.Background(), "csrf", "csrf-1")
	if err != nil || string(got.Payload) != "original" || len(got.Reactions) != 0 || got.DeletedAt != nil {
		t.Fatalf("csrf-1 after refused requests: %+v %v", got, err)
	}
	if _, err := s.app.DB.MessageByRef(context.Background(), "csrf", "forged-1"); err == nil {
		t.Fatal("a forged message was stored")
	}
	if _, _, err := s.app.DB.UserByEmail(context.Background(), newEmail); err == nil {
		t.Fatal("a forged sign-up created a user")
	}
	resp, raw := s.req("GET", "/api/auth/get-session", nil, cookieHeader(cookie))
	if resp.StatusCode != 200 || string(raw) == "null" {
		t.Fatalf("session after refused sign-outs: %d %s", resp.StatusCode, raw)
	}
	// Control: from the server's own origin, the same requests pass.
	for _, r := range routes {
		resp, raw := s.req(r.Method, fill(r.Path), bodies[r.Path], cookieHeader(cookie, "Origin", s.url))
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode >= 500 {
			t.Errorf("%s %s from the own origin: %d %s", r.Method, r.Path, resp.StatusCode, raw)
		}
	}
	if _, err := s.app.DB.MessageByRef(context.Background(), "csrf", "forged-1"); err != nil {
		t.Fatalf("the control post was not stored: %v", err)
	}
}

// TestAbuseWebSocketOrigin: a browser's cookie reaches the upgrade from any
// page, so the Origin decides. The server's own origin and configured
// trusted ones (exact and wildcard) are let in; foreign, look-alike, null
// and wrong-scheme origins get 403 before the session is even looked at.
func TestAbuseWebSocketOrigin(t *testing.T) {
	s := start(t, app.Config{Codec: "go", TrustedOrigins: []string{"https://chat.example", "https://*.example.org"}})
	_, cookie := s.cookieUser("alice", "correct horse battery")
	host := strings.TrimPrefix(s.url, "http://")
	cases := []struct {
		origin string
		cookie bool
		status int
	}{
		{s.url, true, http.StatusSwitchingProtocols},
		{"https://chat.example", true, http.StatusSwitchingProtocols},
		{"https://a.example.org", true, http.StatusSwitchingProtocols},
		{"", true, http.StatusSwitchingProtocols}, // not a browser
		{"https://evil.example", true, http.StatusForbidden},
		{"https://evil.example", false, http.StatusForbidden},
		{"null", true, http.StatusForbidden},
		{"https://" + host, true, http.StatusForbidden},
		{"http://chat.example", true, http.StatusForbidden},
		{"https://chat.example.evil.com", true, http.StatusForbidden},
		{"https://example.org.evil.com", true, http.StatusForbidden},
		{"http://" + host + "@evil.example", true, http.StatusForbidden},
		{s.url, false, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q cookie=%v", tc.origin, tc.cookie), func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			if tc.cookie {
				h.Set("Cookie", cookie.Name+"="+cookie.Value)
			}
			ws, resp, err := websocket.DefaultDialer.Dial(s.ws+"/ws/origin", h)
			if ws != nil {
				defer ws.Close()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

// TestAbuseImpersonation: alice tries, on every route, to act with bob's
// ids. Packets carrying bob's user_id are stamped with alice's; bob's
// message id cannot be reused, reacted to in his name, or deleted; and at
// the end bob's message is exactly as he sent it.
func TestAbuseImpersonation(t *testing.T) {
	s := start(t, app.Config{Codec: "wasm"})
	alice, bob := s.signUp("alice"), s.signUp("bob")
	a := joined(s.dial(alice, "imp"))
	b := joined(s.dial(bob, "imp"))
	b.send(text("bob-1", "bob's words"))
	b.next(withID("bob-1"))
	a.next(withID("bob-1"))
	bobMsg, err := s.app.DB.MessageByRef(context.Background(), "imp", "bob-1")
	if err != nil {
		t.Fatal(err)
	}
	asBob := codec.Str(bob.ID)
	stampedAlice := func(what string, p codec.Packet) {
		t.Helper()
		if p.UserID == nil || *p.UserID != alice.ID {
			t.Fatalf("%s: user_id %v, want alice", what, p.UserID)
		}
	}

	t.Run("ws message with bob's user_id", func(t *testing.T) {
		s := bind(t, s, a, b)
		a.send(codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str("imp-1"), UserID: asBob, Payload: []byte("I am bob")})
		stampedAlice("echo", a.next(withID("imp-1")))
		stampedAlice("delivery", b.next(withID("imp-1")))
		if m, err := s.app.DB.MessageByRef(context.Background(), "imp", "imp-1"); err != nil || m.UserID != alice.ID {
			t.Fatalf("stored %+v %v", m, err)
		}
	})
	t.Run("ws message reusing bob's message_id", func(t *testing.T) {
		bind(t, s, a, b)
		a.send(codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str("bob-1"), UserID: asBob, Payload: []byte("overwritten")})
		if p := a.next(notice); !strings.Contains(string(p.Payload), "already used by another user") {
			t.Fatalf("notice %q", p.Payload)
		}
		b.none(200*time.Millisecond, withID("bob-1"))
	})
	t.Run("ws reaction with bob's user_id", func(t *testing.T) {
		bind(t, s, a, b)
		a.send(codec.Packet{Kind: codec.KindReaction, MessageID: codec.Str("bob-1"), UserID: asBob, Reaction: codec.ReactionPtr(codec.ReactionLike)})
		stampedAlice("reaction to bob", b.next(kind(codec.KindReaction)))
		stampedAlice("reaction echo", a.next(kind(codec.KindReaction)))
	})
	t.Run("ws typing with bob's user_id", func(t *testing.T) {
		bind(t, s, a, b)
		a.send(codec.Packet{Kind: codec.KindTyping, UserID: asBob, Payload: []byte(`{"isTyping":true}`)})
		stampedAlice("typing", b.next(kind(codec.KindTyping)))
	})
	t.Run("ws delete packet for bob's message", func(t *testing.T) {
		bind(t, s, a, b)
		a.send(codec.Packet{Kind: codec.KindDelete, MessageID: codec.Str("bob-1"), UserID: asBob})
		if p := a.next(notice); !strings.Contains(string(p.Payload), "(rule)") {
			t.Fatalf("notice %q", p.Payload)
		}
		b.none(200*time.Millisecond, kind(codec.KindDelete))
	})
	t.Run("http post reusing bob's messageId", func(t *testing.T) {
		s := bind(t, s, a, b)
		var e struct{ Code string }
		if st := s.do("POST", "/api/messages", alice.Token, map[string]any{"room": "imp", "messageId": "bob-1", "text": "overwritten"}, &e); st != 409 || e.Code != "MESSAGE_ID_TAKEN" {
			t.Fatalf("%d %+v", st, e)
		}
	})
	t.Run("http post naming bob in the body", func(t *testing.T) {
		s := bind(t, s, a, b)
		var m handlers.WireMessage
		body := map[string]any{"room": "imp", "messageId": "imp-2", "text": "hi", "userId": bob.ID, "sentBy": bob.ID, "user_id": bob.ID}
		if st := s.do("POST", "/api/messages", alice.Token, body, &m); st != 201 || m.UserID != alice.ID {
			t.Fatalf("%d %+v", st, m)
		}
		stampedAlice("delivery", b.next(withID("imp-2")))
	})
	t.Run("http react records the caller", func(t *testing.T) {
		s := bind(t, s, a, b)
		for _, path := range []string{"/api/messages/bob-1/react?room=imp", "/api/messages/" + bobMsg.ID + "/react"} {
			var m handlers.WireMessage
			body := map[string]any{"kind": int(codec.ReactionHeart), "userId": bob.ID}
			if st := s.do("PUT", path, alice.Token, body, &m); st != 200 {
				t.Fatalf("%s: %d", path, st)
			}
			stampedAlice("reaction broadcast", b.next(kind(codec.KindReaction)))
			for _, r := range m.Reactions {
				for _, u := range r.Users {
					if u != alice.ID {
						t.Fatalf("%s: reaction recorded for %s: %+v", path, u, m.Reactions)
					}
				}
			}
		}
	})
	t.Run("http delete of bob's message", func(t *testing.T) {
		s := bind(t, s, a, b)
		for _, path := range []string{"/api/messages/bob-1?room=imp", "/api/messages/" + bobMsg.ID, "/api/messages/" + bobMsg.ID + "?room=elsewhere"} {
			var e struct{ Code string }
			if st := s.do("DELETE", path, alice.Token, nil, &e); st != 403 || e.Code != "FORBIDDEN" {
				t.Fatalf("%s: %d %+v", path, st, e)
			}
		}
		b.none(200*time.Millisecond, kind(codec.KindDelete))
		// Control: alice can delete her own.
		if st := s.do("DELETE", "/api/messages/imp-1?room=imp", alice.Token, nil, nil); st != 200 {
			t.Fatalf("own delete: %d", st)
		}
	})

	got, err := s.app.DB.MessageByRef(context.Background(), "imp", "bob-1")
	if err != nil || got.UserID != bob.ID || string(got.Payload) != "bob's words" || got.DeletedAt != nil {
		t.Fatalf("bob-1 at the end: %+v %v", got, err)
	}
	// Reactions: alice's Like, and her Heart toggled on then off again.
	if len(got.Reactions) != 1 || got.Reactions[0].Kind != int(codec.ReactionLike) ||
		len(got.Reactions[0].Users) != 1 || got.Reactions[0].Users[0] != alice.ID {
		t.Fatalf("bob-1 reactions: %+v", got.Reactions)
	}
}

// lockedBuffer is a log sink for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAbuseLogsCarryNoSecrets captures everything the assembled server
// logs, at debug level, over a full session of use and abuse (sign-up,
// brute-forced and good sign-ins, cookie and Bearer requests, sockets,
// messages, bad packets, a refused cross-origin request, sign-out, reuse of
// the revoked credentials) and checks that no password, token, cookie
// signature or server secret appears in it.
func TestAbuseLogsCarryNoSecrets(t *testing.T) {
	var logs lockedBuffer
	const secret = "log-test-server-secret-0123456789abcdef"
	const password, wrong = "log-test-password-S3cret!", "log-test-wrong-password-X9"
	s := start(t, app.Config{
		Codec: "wasm", Secret: secret, SessionSweep: 100 * time.Millisecond,
		Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	alice, cookie := s.cookieUser("alice", password)
	var gs struct{ User struct{ Email string } }
	s.do("GET", "/api/auth/get-session", alice.Token, nil, &gs)
	email := gs.User.Email

	for i := 0; i < 12; i++ { // past the brute-force limit
		s.req("POST", "/api/auth/sign-in/email", map[string]any{"email": email, "password": wrong}, nil)
	}
	// A password typed into the email field.
	s.req("POST", "/api/auth/sign-in/email", map[string]any{"email": password, "password": password}, nil)
	resp, raw := s.req("POST", "/api/auth/sign-in/email", map[string]any{"email": "other-" + email, "password": password}, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sign-in of an unknown email: %d %s", resp.StatusCode, raw)
	}
	bob, bobCookie := s.cookieUser("bob", password+"-bob")
	var bobSession struct{ User struct{ Email string } }
	s.do("GET", "/api/auth/get-session", bob.Token, nil, &bobSession)
	var signedIn struct{ Token string }
	resp, raw = s.req("POST", "/api/auth/sign-in/email", map[string]any{"email": bobSession.User.Email, "password": password + "-bob"}, nil)
	if err := json.Unmarshal(raw, &signedIn); err != nil || resp.StatusCode != 200 {
		t.Fatalf("bob's sign-in: %d %s", resp.StatusCode, raw)
	}

	// Sockets with the cookie and with the Bearer token.
	h := cookieHeader(cookie, "Origin", s.url)
	ws, _, err := websocket.DefaultDialer.Dial(s.ws+"/ws/logs", h)
	if err != nil {
		t.Fatal(err)
	}
	a := wrap(t, ws)
	bc := joined(s.dial(bob, "logs"))
	a.send(text("log-1", "hello"))
	bc.next(withID("log-1"))
	a.raw([]byte("garbage"))
	a.next(notice)
	a.send(codec.Packet{Kind: codec.KindReaction, MessageID: codec.Str("missing"), Reaction: codec.ReactionPtr(codec.ReactionLike)})
	a.next(notice)
	s.req("PUT", "/api/messages/log-1/react?room=logs", map[string]any{"kind": 2}, cookieHeader(cookie, "Origin", s.url))
	s.req("DELETE", "/api/messages/log-1?room=logs", nil, cookieHeader(bobCookie, "Origin", "https://evil.example"))
	s.req("DELETE", "/api/messages/log-1?room=logs", nil, http.Header{"Authorization": {"Bearer " + signedIn.Token}})
	s.req("GET", "/api/messages?room=logs&cursor=nope", nil, http.Header{"Authorization": {"Bearer " + bob.Token}})

	// Sign out; the socket is closed, and the old credentials are refused.
	if resp, raw := s.req("POST", "/api/auth/sign-out", nil, cookieHeader(cookie, "Origin", s.url)); resp.StatusCode != 200 {
		t.Fatalf("sign-out: %d %s", resp.StatusCode, raw)
	}
	closeCode(t, a)
	s.req("GET", "/api/messages?room=logs", nil, cookieHeader(cookie))
	s.req("GET", "/api/messages?room=logs", nil, http.Header{"Authorization": {"Bearer " + alice.Token}})
	websocket.DefaultDialer.Dial(s.ws+"/ws/logs", cookieHeader(cookie))
	s.req("GET", "/api/messages", nil, http.Header{"Authorization": {"Bearer " + alice.Token + ".forged-signature"}})
	s.stop()

	out := logs.String()
	for _, want := range []string{"sign-in failed", "cross-origin request refused", "signed up"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %q, so the capture is not seeing the server; log:\n%s", want, out)
		}
	}
	value, _ := url.QueryUnescape(cookie.Value)
	tok, sig, _ := strings.Cut(value, ".")
	secrets := map[string]string{
		"password": password, "wrong password": wrong, "bob's password": password + "-bob",
		"token": alice.Token, "cookie token": tok, "cookie signature": sig, "signed cookie": value,
		"encoded cookie": cookie.Value, "bob's token": bob.Token, "bob's signed-in token": signedIn.Token,
		"server secret": secret,
	}
	for name, v := range secrets {
		if v == "" {
			t.Fatalf("%s is empty: the test is not looking for anything", name)
		}
		if strings.Contains(out, v) {
			t.Errorf("the log contains the %s", name)
		}
	}
	t.Logf("%d log lines checked", strings.Count(out, "\n"))
}
