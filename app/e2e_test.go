package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/handlers"
	"github.com/wasmchannel/wasmchannel/internal/testenv"
)

// server is a real wasmchannel (internal/testenv) with this suite's
// client helpers.
type server struct {
	t    *testing.T
	env  *testenv.Server
	app  *app.App
	url  string
	ws   string
	path string
}

// start runs the server users run (testenv.Config: app.DefaultConfig with
// a fresh SQLite file and a cheap hash), changed by each mod.
func start(t *testing.T, mods ...func(*app.Config)) *server {
	t.Helper()
	cfg := testenv.Config(t)
	for _, mod := range mods {
		mod(&cfg)
	}
	env := testenv.Start(t, cfg)
	return &server{t: t, env: env, app: env.App, url: env.URL, ws: env.WS, path: cfg.DBPath}
}

func (s *server) stop() { s.env.Stop() }

// noRateLimits turns off the per-room rate limit and the per-user budgets
// across rooms, for tests that send faster than a person; the limits have
// their own tests.
func noRateLimits(c *app.Config) {
	c.RateLimit, c.UserPacketRate, c.UserByteRate = 0, 0, 0
}

type user struct {
	ID, Name, Token string
	Email           string // set by signUp
}

// testPassword is the password signUp gives every user.
const testPassword = "correct horse battery"

var userSeq atomic.Int64

func (s *server) signUp(name string) user {
	s.t.Helper()
	email := fmt.Sprintf("%s-%d@example.com", name, userSeq.Add(1))
	var out struct {
		Token string `json:"token"`
		User  struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	status := s.do("POST", "/api/auth/sign-up/email", "", map[string]any{"name": name, "email": email, "password": testPassword}, &out)
	if status != 200 || out.Token == "" {
		s.t.Fatalf("sign-up %s: %d", name, status)
	}
	return user{ID: out.User.ID, Name: name, Token: out.Token, Email: email}
}

// do sends a JSON request with a Bearer token and decodes the reply.
func (s *server) do(method, path, token string, body any, out any) int {
	s.t.Helper()
	st, _ := s.doHeader(method, path, token, body, out, "")
	return st
}

// doHeader is do that also returns the reply's header named header.
func (s *server) doHeader(method, path, token string, body any, out any, header string) (int, string) {
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
	req, _ := http.NewRequest(method, s.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, resp.Header.Get(header)
}

// client is a real WebSocket client speaking packets through the Go codec.
type client struct {
	t   *testing.T
	ws  *websocket.Conn
	c   *codec.Go
	in  chan codec.Packet
	err chan error
}

func (s *server) dial(u user, room string) *client {
	s.t.Helper()
	path := "/ws/" + room
	if room == "" {
		path = "/"
	}
	h := http.Header{"Authorization": {"Bearer " + u.Token}}
	ws, resp, err := websocket.DefaultDialer.Dial(s.ws+path, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		s.t.Fatalf("dial %s as %s: %v (status %d)", path, u.Name, err, status)
	}
	return wrap(s.t, ws)
}

func (c *client) send(p codec.Packet) {
	c.t.Helper()
	data, err := c.c.Encode(p)
	if err != nil {
		c.t.Fatal(err)
	}
	c.raw(data)
}

func (c *client) raw(data []byte) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, data); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) next(keep func(codec.Packet) bool) codec.Packet {
	c.t.Helper()
	p, ok := c.within(10*time.Second, keep)
	if !ok {
		c.t.Fatal("timed out waiting for a packet")
	}
	return p
}

// within is next with its own limit; false means none came within d.
func (c *client) within(d time.Duration, keep func(codec.Packet) bool) (codec.Packet, bool) {
	c.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case p, ok := <-c.in:
			if !ok {
				c.t.Fatalf("connection ended: %v", <-c.err)
			}
			if keep == nil || keep(p) {
				return p, true
			}
		case <-timeout:
			return codec.Packet{}, false
		}
	}
}

func (c *client) none(d time.Duration, keep func(codec.Packet) bool) {
	c.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case p, ok := <-c.in:
			if ok && keep(p) {
				c.t.Fatalf("unexpected packet %+v %q", p, p.Payload)
			}
			if !ok {
				return
			}
		case <-timeout:
			return
		}
	}
}

func kind(k codec.Kind) func(codec.Packet) bool {
	return func(p codec.Packet) bool { return p.Kind == k }
}

func notice(p codec.Packet) bool {
	return p.Kind == codec.KindMessage && p.MessageID == nil && p.UserID == nil
}

func withID(id string) func(codec.Packet) bool {
	return func(p codec.Packet) bool { return p.MessageID != nil && *p.MessageID == id }
}

func text(id, s string) codec.Packet {
	return codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str(id), Payload: []byte(s)}
}

type history struct {
	Messages []handlers.WireMessage `json:"messages"`
	Source   string                 `json:"source"`
}

// eachCodec runs a suite against a Go-codec server and a WASM-codec server:
// both must behave the same.
func eachCodec(t *testing.T, fn func(t *testing.T, codecName string)) {
	for _, c := range []string{"go", "wasm"} {
		t.Run(c, func(t *testing.T) { fn(t, c) })
	}
}

func TestWebSocketNeedsSession(t *testing.T) {
	s := start(t, func(c *app.Config) { c.Codec = "go" })
	for _, path := range []string{"/", "/ws/lobby"} {
		_, resp, err := websocket.DefaultDialer.Dial(s.ws+path, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s without session: err %v, resp %+v", path, err, resp)
		}
		_, resp, err = websocket.DefaultDialer.Dial(s.ws+path, http.Header{"Authorization": {"Bearer forged.token"}})
		if err == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s with a forged token: %v %d", path, err, resp.StatusCode)
		}
	}
	// GET / without an upgrade is the banner.
	resp, err := http.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "WasmChannel") {
		t.Fatalf("banner: %d %q", resp.StatusCode, b)
	}
	// A cross-site browser Origin that is not trusted gets 403.
	u := s.signUp("eve")
	_, resp, err = websocket.DefaultDialer.Dial(s.ws+"/ws/lobby", http.Header{"Authorization": {"Bearer " + u.Token}, "Origin": {"https://evil.example"}})
	if err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("untrusted origin: %v %+v", err, resp)
	}
}

func TestChatEndToEnd(t *testing.T) {
	eachCodec(t, func(t *testing.T, codecName string) {
		s := start(t, func(c *app.Config) {
			c.Codec = codecName
			c.RateLimit = 5
		})
		alice, bob := s.signUp("alice"), s.signUp("bob")
		a := s.dial(alice, "lobby")
		if p := a.next(kind(codec.KindOnlineUsers)); string(p.Payload) != "1" {
			t.Fatalf("online = %q", p.Payload)
		}
		b := s.dial(bob, "lobby")
		for _, c := range []*client{a, b} {
			if p := c.next(kind(codec.KindOnlineUsers)); string(p.Payload) != "2" {
				t.Fatalf("online = %q", p.Payload)
			}
		}

		t.Run("message echoed stamped and delivered", func(t *testing.T) {
			a.send(text("m-1", "hello bob"))
			for _, c := range []*client{a, b} {
				p := c.next(withID("m-1"))
				if p.UserID == nil || *p.UserID != alice.ID || string(p.Payload) != "hello bob" {
					t.Fatalf("got %+v", p)
				}
			}
		})

		t.Run("typing not echoed", func(t *testing.T) {
			a.send(codec.Packet{Kind: codec.KindTyping, Payload: []byte(`{"isTyping":true,"timestamp":1730000000000}`)})
			if p := b.next(kind(codec.KindTyping)); *p.UserID != alice.ID {
				t.Fatalf("typing %+v", p)
			}
			a.none(300*time.Millisecond, kind(codec.KindTyping))
		})

		t.Run("reaction toggled in database and history", func(t *testing.T) {
			r := codec.Packet{Kind: codec.KindReaction, MessageID: codec.Str("m-1"), Reaction: codec.ReactionPtr(codec.ReactionStar)}
			b.send(r)
			if p := a.next(kind(codec.KindReaction)); *p.UserID != bob.ID || *p.Reaction != codec.ReactionStar {
				t.Fatalf("reaction %+v", p)
			}
			var h history
			s.do("GET", "/api/messages?room=lobby", alice.Token, nil, &h)
			if len(h.Messages) != 1 || len(h.Messages[0].Reactions) != 1 || h.Messages[0].Reactions[0].Users[0] != bob.ID {
				t.Fatalf("history after reaction: %+v", h)
			}
			b.send(r)
			a.next(kind(codec.KindReaction))
			s.do("GET", "/api/messages?room=lobby", alice.Token, nil, &h)
			if len(h.Messages[0].Reactions) != 0 {
				t.Fatalf("history after toggle off: %+v", h.Messages[0].Reactions)
			}
			m, err := s.app.DB.MessageByRef(context.Background(), "lobby", "m-1")
			if err != nil || len(m.Reactions) != 0 {
				t.Fatalf("db after toggle off: %+v %v", m.Reactions, err)
			}
		})

		t.Run("malformed packets get their class and the socket survives", func(t *testing.T) {
			good, _ := codec.NewGo().Encode(text("ok-1", "fine"))
			badCRC := append([]byte(nil), good...)
			badCRC[len(badCRC)-1] ^= 0x55
			big, _ := codec.NewGo().Encode(text("big", strings.Repeat("a", 1000)))
			for _, tc := range []struct {
				class string
				data  []byte
			}{
				{"truncated", good[:4]},
				{"checksum", badCRC},
				{"too_large", big},
				{"trailing_bytes", append(append([]byte(nil), good...), 1, 2)},
				{"invalid_enum", append([]byte{9}, good[1:]...)},
			} {
				time.Sleep(220 * time.Millisecond) // stay under the 5/s limit
				a.raw(tc.data)
				if p := a.next(notice); !strings.Contains(string(p.Payload), "("+tc.class+")") {
					t.Fatalf("%s: notice %q", tc.class, p.Payload)
				}
			}
			time.Sleep(220 * time.Millisecond)
			a.raw(good)
			a.next(withID("ok-1"))
		})

		t.Run("rate limit reply", func(t *testing.T) {
			time.Sleep(1100 * time.Millisecond) // refill
			for i := 0; i < 7; i++ {
				b.send(text(fmt.Sprintf("flood-%d", i), "x"))
			}
			p := b.next(notice)
			if string(p.Payload) != "Rate limit exceeded: 5 messages per second" {
				t.Fatalf("notice %q", p.Payload)
			}
		})
	})
}

func TestHistoryPaginationAndIsolation(t *testing.T) {
	s := start(t, func(c *app.Config) {
		// Pages need more messages than 5/s allows; the rate limit has its own tests.
		noRateLimits(c)
		c.Codec = "go"
		c.HistoryCache = 4
	})
	alice := s.signUp("alice")
	a := s.dial(alice, "hist")
	o := s.dial(alice, "other")
	for i := 0; i < 10; i++ {
		a.send(text(fmt.Sprintf("h-%02d", i), fmt.Sprintf("message %d", i)))
		a.next(withID(fmt.Sprintf("h-%02d", i)))
	}
	o.send(text("o-1", "elsewhere"))
	o.next(withID("o-1"))

	var p1, p2, p3 history
	s.do("GET", "/api/messages?room=hist&limit=4", alice.Token, nil, &p1)
	if len(p1.Messages) != 4 || p1.Messages[0].RefID != "h-09" || p1.Source != "cache" {
		t.Fatalf("page 1: %d msgs from %s, first %v", len(p1.Messages), p1.Source, p1.Messages)
	}
	last := p1.Messages[3].RefID
	s.do("GET", "/api/messages?room=hist&limit=4&cursor="+last, alice.Token, nil, &p2)
	if len(p2.Messages) != 4 || p2.Messages[0].RefID != "h-05" || p2.Source != "database" {
		t.Fatalf("page 2 by ref: %+v", p2)
	}
	ts := p2.Messages[3].CreatedAt.Format(time.RFC3339Nano)
	s.do("GET", "/api/messages?room=hist&limit=50&cursor="+ts, alice.Token, nil, &p3)
	for _, m := range p3.Messages {
		if !m.CreatedAt.Before(p2.Messages[3].CreatedAt) {
			t.Fatalf("time cursor returned %s created %v, not before %v", m.RefID, m.CreatedAt, ts)
		}
	}
	var other history
	s.do("GET", "/api/messages?room=other", alice.Token, nil, &other)
	if len(other.Messages) != 1 || other.Messages[0].RefID != "o-1" {
		t.Fatalf("room isolation: %+v", other)
	}
	// upstream's oRPC call reads the default room, which is empty.
	var rpc history
	if st := s.do("POST", "/rpc/messages/get", alice.Token, map[string]any{"limit": 10}, &rpc); st != 200 || len(rpc.Messages) != 0 {
		t.Fatalf("rpc: %d %+v", st, rpc)
	}
}

func TestHTTPErrorsAreJSONNever500(t *testing.T) {
	s := start(t, func(c *app.Config) { c.Codec = "go" })
	alice, bob := s.signUp("alice"), s.signUp("bob")
	var m handlers.WireMessage
	if st := s.do("POST", "/api/messages", alice.Token, map[string]any{"room": "r", "messageId": "a-1", "text": "mine"}, &m); st != 201 {
		t.Fatalf("post: %d", st)
	}
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"no session", "GET", "/api/messages", "", nil, 401, "UNAUTHORIZED"},
		{"bad json", "POST", "/api/messages", alice.Token, "{nope", 400, "BAD_REQUEST"},
		{"missing text", "POST", "/api/messages", alice.Token, map[string]any{"room": "r"}, 400, "VALIDATION_ERROR"},
		{"oversize", "POST", "/api/messages", alice.Token, map[string]any{"text": strings.Repeat("x", 1000)}, 413, "PAYLOAD_TOO_LARGE"},
		{"bad room", "POST", "/api/messages", alice.Token, map[string]any{"room": "no spaces!", "text": "x"}, 400, "INVALID_ROOM"},
		{"limit high", "GET", "/api/messages?limit=101", alice.Token, nil, 400, "INVALID_LIMIT"},
		{"limit zero", "GET", "/api/messages?limit=0", alice.Token, nil, 400, "INVALID_LIMIT"},
		{"limit text", "GET", "/api/messages?limit=ten", alice.Token, nil, 400, "INVALID_LIMIT"},
		{"unknown cursor", "GET", "/api/messages?room=r&cursor=nope", alice.Token, nil, 400, "INVALID_CURSOR"},
		{"unknown message react", "PUT", "/api/messages/nope/react?room=r", alice.Token, map[string]any{"kind": 1}, 404, "MESSAGE_NOT_FOUND"},
		{"bad kind", "PUT", "/api/messages/a-1/react?room=r", alice.Token, map[string]any{"kind": 9}, 400, "VALIDATION_ERROR"},
		{"foreign delete", "DELETE", "/api/messages/a-1?room=r", bob.Token, nil, 403, "FORBIDDEN"},
		{"unknown delete", "DELETE", "/api/messages/zzz?room=r", bob.Token, nil, 404, "MESSAGE_NOT_FOUND"},
		{"reused id", "POST", "/api/messages", bob.Token, map[string]any{"room": "r", "messageId": "a-1", "text": "hijack"}, 409, "MESSAGE_ID_TAKEN"},
		{"no route", "GET", "/api/nothing", "", nil, 404, "NOT_FOUND"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e struct{ Code, Message string }
			st := s.do(tc.method, tc.path, tc.token, tc.body, &e)
			if st != tc.status || e.Code != tc.code || e.Message == "" {
				t.Fatalf("%d %+v, want %d %s", st, e, tc.status, tc.code)
			}
		})
	}
	// Profiles: a name for a user id, never the email.
	var prof map[string]any
	if st := s.do("GET", "/api/users/"+alice.ID, bob.Token, nil, &prof); st != 200 || prof["name"] != "alice" || prof["id"] != alice.ID {
		t.Fatalf("profile: %d %v", st, prof)
	}
	if _, leaked := prof["email"]; leaked {
		t.Fatalf("profile leaks the email: %v", prof)
	}
	var e struct{ Code string }
	if st := s.do("GET", "/api/users/nobody", bob.Token, nil, &e); st != 404 || e.Code != "USER_NOT_FOUND" {
		t.Fatalf("unknown profile: %d %v", st, e)
	}
	if st := s.do("GET", "/api/users/"+alice.ID, "", nil, nil); st != 401 {
		t.Fatalf("profile without session: %d", st)
	}

	// Nothing was changed by the refused requests.
	got, err := s.app.DB.MessageByRef(context.Background(), "r", "a-1")
	if err != nil || string(got.Payload) != "mine" || got.UserID != alice.ID || got.DeletedAt != nil {
		t.Fatalf("a-1 after refused requests: %+v %v", got, err)
	}
	// And the author's own delete works.
	if st := s.do("DELETE", "/api/messages/a-1?room=r", alice.Token, nil, nil); st != 200 {
		t.Fatalf("author delete: %d", st)
	}
}

func TestSlowClientDroppedOthersKeepReceiving(t *testing.T) {
	s := start(t, func(c *app.Config) {
		c.Codec = "wasm"
		// The senders flood; the rate limit has its own tests.
		noRateLimits(c)
	})
	alice, carol := s.signUp("alice"), s.signUp("carol")
	a := s.dial(alice, "slow")
	// carol connects and never reads: her socket buffers fill up, then her
	// server-side queue, and the server drops her.
	h := http.Header{"Authorization": {"Bearer " + carol.Token}}
	d := websocket.Dialer{ReadBufferSize: 1024}
	slow, _, err := d.Dial(s.ws+"/ws/slow", h)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if tc, ok := slow.UnderlyingConn().(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	// alice keeps up to 100 messages in flight (the rate limit is off) and
	// reads her echoes; carol's kernel buffers fill, then her queue.
	raw := make([]byte, 600)
	sent := 0
	deadline := time.Now().Add(40 * time.Second)
	for sent < 40000 && time.Now().Before(deadline) {
		rand.Read(raw)
		a.send(text(fmt.Sprintf("s-%d", sent), base64.StdEncoding.EncodeToString(raw)[:800]))
		sent++
		if sent >= 100 {
			a.next(withID(fmt.Sprintf("s-%d", sent-100)))
		}
		if sent%500 == 0 && countConns(s) == 1 {
			t.Logf("slow client dropped after %d messages of 800 bytes", sent)
			break
		}
	}
	// Every message alice sent is stored: dropping carol cost nothing. Her
	// echo of the last one means it is committed and in the room's cache.
	want := fmt.Sprintf("s-%d", sent-1)
	a.next(withID(want))
	var h2 history
	s.do("GET", "/api/messages?room=slow&limit=1", alice.Token, nil, &h2)
	if len(h2.Messages) != 1 || h2.Messages[0].RefID != want {
		t.Fatalf("history has %d messages, newest %v; want %s", len(h2.Messages), refs(h2.Messages), want)
	}
}

// countConns reads the connections gauge from /metrics.
func countConns(s *server) int {
	lines, err := metricLines(s)
	if err != nil {
		return -1
	}
	for _, line := range lines {
		if strings.HasPrefix(line, "wasmchannel_connections ") {
			var v float64
			fmt.Sscanf(strings.TrimPrefix(line, "wasmchannel_connections "), "%g", &v)
			return int(v)
		}
	}
	return -1
}

func TestRestartKeepsAcknowledgedMessages(t *testing.T) {
	keep := func(c *app.Config) {
		c.Codec = "wasm"
		c.DBPath = filepath.Join(t.TempDir(), "keep.db")
		// 50 messages in a burst; the rate limit has its own tests.
		noRateLimits(c)
	}
	s := start(t, keep)
	alice := s.signUp("alice")
	a := s.dial(alice, "keep")
	for i := 0; i < 50; i++ {
		a.send(text(fmt.Sprintf("k-%d", i), "durable"))
	}
	acked := 0
	for acked < 50 {
		a.next(kind(codec.KindMessage))
		acked++
	}
	s.stop()
	// The graceful stop closed the socket with 1001.
	for range a.in {
	}
	if err := <-a.err; !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("socket closed with %v, want 1001", err)
	}
	s2 := start(t, func(c *app.Config) { c.DBPath = s.path })
	// Same secret in the database: the old token still works.
	var h history
	if st := s2.do("GET", "/api/messages?room=keep&limit=100", alice.Token, nil, &h); st != 200 || len(h.Messages) != 50 {
		t.Fatalf("after restart: %d, %d messages", st, len(h.Messages))
	}
	// A resend of an old id after the restart is acknowledged, not stored twice.
	a2 := s2.dial(alice, "keep")
	a2.send(text("k-7", "durable"))
	if p := a2.next(withID("k-7")); *p.UserID != alice.ID {
		t.Fatalf("re-ack %+v", p)
	}
	s2.do("GET", "/api/messages?room=keep&limit=100", alice.Token, nil, &h)
	if len(h.Messages) != 50 {
		t.Fatalf("resend stored twice: %d messages", len(h.Messages))
	}
}

func refs(ms []handlers.WireMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.RefID
	}
	return out
}
