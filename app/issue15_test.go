package app_test

// Issue 15's findings, one test each, against a real server on loopback
// (internal/testenv) with every threshold taken from app.DefaultConfig. The
// hub's own tests of the same limits are in hub/limits_test.go; the codec
// pool's at this level are TestHealthWithExhaustedPool and
// TestRoomCapPerUserOverHTTPAndWebSocket.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/codec"
)

// peer is a client whose connections come from one loopback address:
// on Linux all of 127.0.0.0/8 is loopback, so tests can be several
// addresses without trusting any forwarded header.
type peer struct {
	s    *server
	ip   string
	http *http.Client
	ws   *websocket.Dialer
}

func (s *server) from(ip string) *peer {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}
	s.t.Cleanup(tr.CloseIdleConnections)
	return &peer{s: s, ip: ip,
		http: &http.Client{Transport: tr, Timeout: 60 * time.Second},
		ws:   &websocket.Dialer{NetDialContext: d.DialContext, HandshakeTimeout: 10 * time.Second},
	}
}

// reply is an HTTP answer, read whole.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r reply) code() string {
	var e struct{ Code string }
	_ = json.Unmarshal(r.Body, &e)
	return e.Code
}

// retryAfter is the Retry-After header in seconds (0 when missing).
func (r reply) retryAfter() int {
	n, _ := strconv.Atoi(r.Header.Get("Retry-After"))
	return n
}

// do sends a JSON request; it does not fail the test, so goroutines may
// call it (a transport error is status 0).
func (p *peer) do(method, path, token string, body any) reply {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, p.s.url+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return reply{Body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: out}
}

func (p *peer) signUp(email string) reply {
	return p.do("POST", "/api/auth/sign-up/email", "", map[string]any{"name": "n", "email": email, "password": "correct horse battery"})
}

func (p *peer) signIn(email, password string) reply {
	return p.do("POST", "/api/auth/sign-in/email", "", map[string]any{"email": email, "password": password})
}

// mustUser signs up a fresh user from p's address.
func (p *peer) mustUser(name string) user {
	p.s.t.Helper()
	email := fmt.Sprintf("%s-%d@example.com", name, userSeq.Add(1))
	r := p.signUp(email)
	var out struct {
		Token string
		User  struct{ ID string }
	}
	if err := json.Unmarshal(r.Body, &out); r.Status != 200 || err != nil || out.Token == "" {
		p.s.t.Fatalf("sign-up %s from %s: %d %s", name, p.ip, r.Status, r.Body)
	}
	return user{ID: out.User.ID, Name: email, Token: out.Token}
}

// dial opens a socket to room as u; a refusal comes back as the reply.
func (p *peer) dial(u user, room string) (*websocket.Conn, reply) {
	ws, resp, err := p.ws.Dial(p.s.ws+"/ws/"+room, http.Header{"Authorization": {"Bearer " + u.Token}})
	if err != nil {
		if resp == nil {
			return nil, reply{Body: []byte(err.Error())}
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return nil, reply{Status: resp.StatusCode, Header: resp.Header, Body: body}
	}
	p.s.t.Cleanup(func() { ws.Close() })
	return ws, reply{Status: http.StatusSwitchingProtocols}
}

// wantLimited checks a 429 with the code and a Retry-After.
func wantLimited(t *testing.T, what string, r reply, code string) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests || r.code() != code || r.retryAfter() < 1 {
		t.Fatalf("%s: %d %q Retry-After %q, want 429 %s with Retry-After", what, r.Status, r.Body, r.Header.Get("Retry-After"), code)
	}
}

// sessionsOf counts the stored sessions of the account behind email.
func (s *server) sessionsOf(email string) int {
	s.t.Helper()
	ctx := context.Background()
	u, _, err := s.app.DB.UserByEmail(ctx, email)
	if err != nil {
		s.t.Fatalf("user %s: %v", email, err)
	}
	ss, err := s.app.DB.SessionsByUser(ctx, u.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	return len(ss)
}

func (s *server) hasUser(email string) bool {
	s.t.Helper()
	_, _, err := s.app.DB.UserByEmail(context.Background(), email)
	return err == nil
}

// TestFaultSignUpsPerAddress (finding 2): one address may sign up
// SignUpsPerIP times; the next is 429 with Retry-After and stores nothing,
// the accounts made are all there, and another address still signs up.
func TestFaultSignUpsPerAddress(t *testing.T) {
	s := start(t, func(c *app.Config) { c.Codec = "go" })
	n := s.env.Config.SignUpsPerIP
	if n <= 0 {
		t.Fatal("the default config has no sign-up quota")
	}
	p := s.from("127.0.0.2")
	for i := 0; i < n; i++ {
		if r := p.signUp(fmt.Sprintf("quota-%d@example.com", i)); r.Status != 200 {
			t.Fatalf("sign-up %d: %d %s", i, r.Status, r.Body)
		}
	}
	wantLimited(t, "sign-up over the quota", p.signUp("quota-over@example.com"), "TOO_MANY_REQUESTS")
	if s.hasUser("quota-over@example.com") {
		t.Fatal("the refused sign-up stored a user")
	}
	for i := 0; i < n; i++ {
		if !s.hasUser(fmt.Sprintf("quota-%d@example.com", i)) {
			t.Fatalf("user %d lost", i)
		}
	}
	if r := s.from("127.0.0.3").signUp("quota-elsewhere@example.com"); r.Status != 200 {
		t.Fatalf("another address: %d %s", r.Status, r.Body)
	}
}

// TestFaultSessionsPerAccount (finding 2): correct sign-ins count towards
// SessionsPerUser new sessions an hour; the next is 429 before any hash
// and opens nothing, from any address, and the sessions made still work.
func TestFaultSessionsPerAccount(t *testing.T) {
	s := start(t, func(c *app.Config) { c.Codec = "go" })
	n := s.env.Config.SessionsPerUser
	p := s.from("127.0.0.2")
	owner := p.mustUser("owner") // its sign-up is session 1
	var last string
	for i := 1; i < n; i++ {
		r := p.signIn(owner.Name, "correct horse battery")
		if r.Status != 200 {
			t.Fatalf("sign-in %d: %d %s", i, r.Status, r.Body)
		}
		var out struct{ Token string }
		_ = json.Unmarshal(r.Body, &out)
		last = out.Token
	}
	wantLimited(t, "sign-in over the quota", p.signIn(owner.Name, "correct horse battery"), "TOO_MANY_REQUESTS")
	wantLimited(t, "sign-in over the quota from elsewhere", s.from("127.0.0.3").signIn(owner.Name, "correct horse battery"), "TOO_MANY_REQUESTS")
	if got := s.sessionsOf(owner.Name); got != n {
		t.Fatalf("%d sessions stored, want %d", got, n)
	}
	for _, tok := range []string{owner.Token, last} {
		if r := p.do("GET", "/api/auth/get-session", tok, nil); r.Status != 200 || !strings.Contains(string(r.Body), `"session"`) {
			t.Fatalf("a session made before the quota: %d %s", r.Status, r.Body)
		}
	}
}

// TestFaultLockoutByEmailAndAddress (finding 6): SignInFailures wrong
// passwords from one address lock out that (email, address) pair with
// Retry-After, even for the right password, while the owner still signs
// in from another address.
func TestFaultLockoutByEmailAndAddress(t *testing.T) {
	s := start(t, func(c *app.Config) { c.Codec = "go" })
	owner := s.from("127.0.0.2").mustUser("owner")
	stranger := s.from("127.0.0.3")
	for i := 0; i < s.env.Config.SignInFailures; i++ {
		if r := stranger.signIn(owner.Name, "wrong password"); r.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	wantLimited(t, "the stranger's pair", stranger.signIn(owner.Name, "correct horse battery"), "TOO_MANY_REQUESTS")
	if r := s.from("127.0.0.2").signIn(owner.Name, "correct horse battery"); r.Status != 200 {
		t.Fatalf("the owner from its own address: %d %s", r.Status, r.Body)
	}
	if r := s.from("127.0.0.4").signIn(owner.Name, "correct horse battery"); r.Status != 200 {
		t.Fatalf("the owner from a third address: %d %s", r.Status, r.Body)
	}
}

// TestFaultHashingFlood (finding 2): at Better Auth's scrypt cost, sign-ups
// beyond what HashMemory runs at once plus HashQueue waiting are answered
// 503 SERVICE_BUSY with Retry-After at once; every answered sign-up is
// stored, no refused one is, and a sign-in works after the flood.
func TestFaultHashingFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes at the production cost")
	}
	s := start(t, func(c *app.Config) {
		c.Codec = "go"
		scrypt := auth.DefaultScrypt
		c.AuthScrypt = &scrypt
	})
	cfg := s.env.Config
	running := max(1, int(cfg.HashMemory/cfg.AuthScrypt.Memory()))
	n := running + cfg.HashQueue + 16
	// Spread over addresses so the sign-up quota is not what refuses.
	per := cfg.SignUpsPerIP
	peers := make([]*peer, (n+per-1)/per)
	for i := range peers {
		peers[i] = s.from(fmt.Sprintf("127.0.1.%d", i+1))
	}
	replies := make([]reply, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			replies[i] = peers[i/per].signUp(fmt.Sprintf("flood-%d@example.com", i))
		}(i)
	}
	wg.Wait()
	var ok, busy int
	first := -1
	for i, r := range replies {
		email := fmt.Sprintf("flood-%d@example.com", i)
		switch {
		case r.Status == 200:
			ok++
			if first < 0 {
				first = i
			}
			if !s.hasUser(email) {
				t.Fatalf("answered sign-up %d not stored", i)
			}
		case r.Status == http.StatusServiceUnavailable && r.code() == "SERVICE_BUSY" && r.retryAfter() >= 1:
			busy++
			if s.hasUser(email) {
				t.Fatalf("refused sign-up %d stored a user", i)
			}
		default:
			t.Fatalf("sign-up %d: %d %s", i, r.Status, r.Body)
		}
	}
	t.Logf("%d sign-ups at once: %d stored, %d refused busy (budget %d MiB runs %d, queue %d)", n, ok, busy, cfg.HashMemory>>20, running, cfg.HashQueue)
	if busy < n-running-cfg.HashQueue {
		t.Fatalf("%d refused, want at least the %d beyond the budget and its queue", busy, n-running-cfg.HashQueue)
	}
	if first < 0 {
		t.Fatal("no sign-up got through")
	}
	if r := peers[0].signIn(fmt.Sprintf("flood-%d@example.com", first), "correct horse battery"); r.Status != 200 {
		t.Fatalf("sign-in after the flood: %d %s", r.Status, r.Body)
	}
}

// TestFaultCallbackURL (finding 4): a callbackURL with a tab, newline,
// carriage return, backslash or a leading // is refused with 403 and opens
// no session; a same-origin path is returned as the redirect.
func TestFaultCallbackURL(t *testing.T) {
	s := start(t, func(c *app.Config) { c.Codec = "go" })
	p := s.from("127.0.0.2")
	owner := p.mustUser("owner")
	for _, bad := range []string{"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\\evil.example", "\\\\evil.example", "//evil.example", "https://evil.example/"} {
		r := p.do("POST", "/api/auth/sign-in/email", "", map[string]any{"email": owner.Name, "password": "correct horse battery", "callbackURL": bad})
		if r.Status != http.StatusForbidden || strings.Contains(string(r.Body), "evil") || r.Header.Get("Location") != "" {
			t.Fatalf("callbackURL %q: %d %s Location %q", bad, r.Status, r.Body, r.Header.Get("Location"))
		}
	}
	if got := s.sessionsOf(owner.Name); got != 1 {
		t.Fatalf("refused sign-ins opened sessions: %d stored", got)
	}
	r := p.do("POST", "/api/auth/sign-in/email", "", map[string]any{"email": owner.Name, "password": "correct horse battery", "callbackURL": "/chat?room=a"})
	var out struct {
		Redirect bool
		URL      string
	}
	if err := json.Unmarshal(r.Body, &out); r.Status != 200 || err != nil || !out.Redirect || out.URL != "/chat?room=a" {
		t.Fatalf("a same-origin path: %d %s", r.Status, r.Body)
	}
}

// TestFaultRoomsMultiplyRateLimit (finding 3): one user posting over HTTP
// into more rooms than UserPacketRate/RateLimit gets no more than its
// budget across rooms; every accepted message is stored, no refused one.
func TestFaultRoomsMultiplyRateLimit(t *testing.T) {
	s := start(t, func(c *app.Config) { c.Codec = "go" })
	cfg := s.env.Config
	rooms := min(cfg.MaxRoomsPerUser, 2*cfg.UserPacketRate/cfg.RateLimit)
	p := s.from("127.0.0.2")
	u := p.mustUser("poster")
	began := time.Now()
	var accepted, refused []string
	for i := 0; time.Since(began) < 2*time.Second; i++ {
		id := fmt.Sprintf("m-%d", i)
		r := p.do("POST", "/api/messages", u.Token, map[string]any{"room": fmt.Sprintf("multi-%d", i%rooms), "messageId": id, "text": "x"})
		switch {
		case r.Status == 201:
			accepted = append(accepted, id)
		case r.Status == http.StatusTooManyRequests && r.code() == "RATE_LIMITED":
			refused = append(refused, id)
		default:
			t.Fatalf("post %d: %d %s", i, r.Status, r.Body)
		}
	}
	took := time.Since(began).Seconds()
	// A token bucket: a burst of UserPacketRate, then UserPacketRate a second.
	most := cfg.UserPacketRate + int(took*float64(cfg.UserPacketRate)) + 1
	t.Logf("%d rooms, %.1fs: %d accepted (at most %d), %d refused", rooms, took, len(accepted), most, len(refused))
	if len(accepted) > most || len(refused) == 0 {
		t.Fatalf("%d accepted in %.1fs across %d rooms, want at most %d (UserPacketRate %d)", len(accepted), took, rooms, most, cfg.UserPacketRate)
	}
	stored := map[string]bool{}
	for i := 0; i < rooms; i++ {
		var page history
		if st := s.do("GET", fmt.Sprintf("/api/messages?room=multi-%d&limit=100", i), u.Token, nil, &page); st != 200 {
			t.Fatalf("history: %d", st)
		}
		for _, m := range page.Messages {
			stored[m.RefID] = true
		}
	}
	for _, id := range accepted {
		if !stored[id] {
			t.Fatalf("accepted %s not stored", id)
		}
	}
	for _, id := range refused {
		if stored[id] {
			t.Fatalf("refused %s stored", id)
		}
	}
}

// TestFaultJoinChurn (finding 5): a user reconnecting in a loop gets
// UpgradesPerUser upgrades (plus what refills meanwhile), then 429
// TOO_MANY_UPGRADES with Retry-After before any upgrade; many users from
// one address are stopped at UpgradesPerIP; the victim in the room keeps
// its echo, and other addresses still connect.
func TestFaultJoinChurn(t *testing.T) {
	s := start(t, func(c *app.Config) {
		c.Codec = "go"
		c.MaxConnsPerUser = 0 // closes are noticed asynchronously: not this test
	})
	cfg := s.env.Config
	victim := s.signUp("victim")
	v := joined(s.dial(victim, "churn"))

	churn := func(p *peer, u user, most int) (int, reply) {
		t.Helper()
		for i := 0; i < most; i++ {
			ws, r := p.dial(u, "churn")
			if ws == nil {
				return i, r
			}
			ws.Close()
		}
		t.Fatalf("%d upgrades for %s from %s, none refused", most, u.Name, p.ip)
		return 0, reply{}
	}
	p := s.from("127.0.0.2")
	u := p.mustUser("churner")
	began := time.Now()
	n, r := churn(p, u, 10*cfg.UpgradesPerUser)
	wantLimited(t, "churning user", r, "TOO_MANY_UPGRADES")
	if most := cfg.UpgradesPerUser + int(time.Since(began).Seconds()*float64(cfg.UpgradesPerUser)/60) + 1; n < cfg.UpgradesPerUser || n > most {
		t.Fatalf("%d upgrades before the refusal, want %d to %d", n, cfg.UpgradesPerUser, most)
	}
	v.send(text("v-1", "still here"))
	v.next(withID("v-1"))

	// Many accounts from one address: the address's bucket, which every
	// attempt past the Origin check spends, refused or not.
	q := s.from("127.0.0.3")
	began = time.Now()
	spent := 0
	for {
		n, r := churn(q, q.mustUser("many"), 10*cfg.UpgradesPerUser)
		spent += n
		if r.code() == "TOO_MANY_UPGRADES" && strings.Contains(string(r.Body), "address") {
			wantLimited(t, "churning address", r, "TOO_MANY_UPGRADES")
			break
		}
		wantLimited(t, "one of many users", r, "TOO_MANY_UPGRADES")
		spent++ // the user's refusal spent an address token too
		if spent > 2*cfg.UpgradesPerIP {
			t.Fatalf("%d upgrades from one address, none refused for the address", spent)
		}
	}
	if most := cfg.UpgradesPerIP + int(time.Since(began).Seconds()*float64(cfg.UpgradesPerIP)/60) + 1; spent < cfg.UpgradesPerIP || spent > most {
		t.Fatalf("%d upgrades from one address before its refusal, want %d to %d", spent, cfg.UpgradesPerIP, most)
	}
	if ws, r := s.from("127.0.0.4").dial(s.from("127.0.0.4").mustUser("other"), "churn"); ws == nil {
		t.Fatalf("another address: %d %s", r.Status, r.Body)
	}
	v.send(text("v-2", "still here"))
	v.next(withID("v-2"))
}

// TestFaultViolationsClose1008 (finding 8): MaxViolations undecodable
// frames close the socket with 1008 and the reason; what it sent before is
// stored and the room keeps serving.
func TestFaultViolationsClose1008(t *testing.T) {
	s := start(t, func(c *app.Config) { c.Codec = "wasm" })
	mallory, alice := s.signUp("mallory"), s.signUp("alice")
	a := joined(s.dial(alice, "violations"))
	m := joined(s.dial(mallory, "violations"))
	m.send(text("m-ok", "accepted before"))
	m.next(withID("m-ok"))
	junk := []byte{0xff, 0xfe, 0xfd}
	var err error
	for i := 0; i < s.env.Config.MaxViolations+1 && err == nil; i++ {
		err = m.ws.WriteMessage(websocket.BinaryMessage, junk)
	}
	code, reason := closeOf(t, m)
	if code != websocket.ClosePolicyViolation || !strings.Contains(reason, "too many") {
		t.Fatalf("closed with %d %q, want 1008 too many …", code, reason)
	}
	a.send(text("a-ok", "the room carries on"))
	a.next(withID("a-ok"))
	var page history
	if st := s.do("GET", "/api/messages?room=violations", alice.Token, nil, &page); st != 200 || len(page.Messages) != 2 {
		t.Fatalf("history: %d, %d messages, want m-ok and a-ok", st, len(page.Messages))
	}
}

// closeOf waits for c's connection to end and returns its close code and
// reason.
func closeOf(t *testing.T, c *client) (int, string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case _, ok := <-c.in:
			if ok {
				continue
			}
			var ce *websocket.CloseError
			if err := <-c.err; !errors.As(err, &ce) {
				t.Fatalf("connection ended without a close frame: %v", err)
			}
			return ce.Code, ce.Text
		case <-timeout:
			t.Fatal("connection still open")
		}
	}
}

// TestFaultPerAddressSocketCap (finding 10): one address may hold
// MaxConnsPerIP sockets by default, across accounts; one more is 429
// TOO_MANY_CONNECTIONS before the upgrade, the sockets open keep working,
// another address connects, and a closed socket frees its place.
func TestFaultPerAddressSocketCap(t *testing.T) {
	s := start(t, func(c *app.Config) { c.Codec = "go" })
	cfg := s.env.Config
	if cfg.MaxConnsPerIP <= 0 {
		t.Fatal("no per-address socket cap by default")
	}
	p := s.from("127.0.0.2")
	var open []*websocket.Conn
	var u user
	for i := 0; i < cfg.MaxConnsPerIP; i++ {
		if i%cfg.MaxConnsPerUser == 0 {
			u = p.mustUser("holder")
		}
		ws, r := p.dial(u, fmt.Sprintf("addr-%d", i/cfg.MaxConnsPerUser))
		if ws == nil {
			t.Fatalf("socket %d: %d %s", i, r.Status, r.Body)
		}
		open = append(open, ws)
	}
	extra := p.mustUser("one-more")
	_, r := p.dial(extra, "addr-extra")
	wantLimited(t, "socket over the address cap", r, "TOO_MANY_CONNECTIONS")
	if !strings.Contains(string(r.Body), "address") {
		t.Fatalf("refusal names %s, want the address", r.Body)
	}
	// An open socket still echoes.
	c := wrap(t, open[len(open)-1])
	c.send(text("last", "still open"))
	c.next(withID("last"))
	if ws, r := s.from("127.0.0.3").dial(s.from("127.0.0.3").mustUser("elsewhere"), "addr-extra"); ws == nil {
		t.Fatalf("another address: %d %s", r.Status, r.Body)
	}
	open[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ws, r := p.dial(extra, "addr-extra")
		if ws != nil {
			break
		}
		if r.code() != "TOO_MANY_CONNECTIONS" || time.Now().After(deadline) {
			t.Fatalf("after a close: %d %s", r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFaultFragmentCap (finding 10): a message sent as many small
// continuation fragments is read whole while it fits MaxFrameBytes; one
// whose fragments add up to more closes the socket with 1009 and a reason
// as soon as the limit is passed, and the room keeps serving.
func TestFaultFragmentCap(t *testing.T) {
	s := start(t, func(c *app.Config) { c.Codec = "go" })
	limit := s.env.Config.MaxFrameBytes
	mallory, alice := s.signUp("mallory"), s.signUp("alice")
	a := joined(s.dial(alice, "frag"))
	m := joined(s.dial(mallory, "frag"))
	raw := m.ws.UnderlyingConn()

	// A real packet, one byte per fragment.
	pkt, err := codec.NewGo().Encode(text("m-frag", "sent in pieces"))
	if err != nil {
		t.Fatal(err)
	}
	var msg bytes.Buffer
	for i := range pkt {
		writeFrame(&msg, i == 0, i == len(pkt)-1, pkt[i:i+1])
	}
	if _, err := raw.Write(msg.Bytes()); err != nil {
		t.Fatal(err)
	}
	m.next(withID("m-frag"))

	// 1 KiB fragments, never final, past the limit.
	chunk := make([]byte, 1024)
	_, _ = rand.Read(chunk)
	msg.Reset()
	for sent := 0; sent <= limit; sent += len(chunk) {
		writeFrame(&msg, sent == 0, false, chunk)
	}
	_, _ = raw.Write(msg.Bytes()) // may fail part-way: the server hangs up
	code, reason := closeOf(t, m)
	if code != websocket.CloseMessageTooBig || !strings.Contains(reason, strconv.Itoa(limit)) || !strings.Contains(reason, "fragments") {
		t.Fatalf("closed with %d %q, want 1009 naming %d bytes and fragments", code, reason, limit)
	}
	a.send(text("a-ok", "the room carries on"))
	a.next(withID("a-ok"))
	var page history
	if st := s.do("GET", "/api/messages?room=frag", alice.Token, nil, &page); st != 200 || len(page.Messages) != 2 {
		t.Fatalf("history: %d, %d messages, want m-frag and a-ok", st, len(page.Messages))
	}
}

// writeFrame appends one masked client frame (RFC 6455 § 5.2): binary when
// first, a continuation otherwise.
func writeFrame(w *bytes.Buffer, first, final bool, payload []byte) {
	var b0 byte
	if first {
		b0 = websocket.BinaryMessage
	}
	if final {
		b0 |= 0x80
	}
	w.WriteByte(b0)
	switch n := len(payload); {
	case n < 126:
		w.WriteByte(0x80 | byte(n))
	case n <= 0xffff:
		w.WriteByte(0x80 | 126)
		_ = binary.Write(w, binary.BigEndian, uint16(n))
	default:
		w.WriteByte(0x80 | 127)
		_ = binary.Write(w, binary.BigEndian, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	w.Write(key[:])
	for i, c := range payload {
		w.WriteByte(c ^ key[i%4])
	}
}
