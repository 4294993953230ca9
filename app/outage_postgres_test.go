package app_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

// Outage test sizes: senders each keep up to window Messages in flight,
// pause outagePace between sends and send at most perSender in all, so the
// test is bounded whatever the speed.
const (
	outageSenders   = 6
	outageWindow    = 16
	outagePace      = time.Millisecond
	outagePerSender = 10000
)

// outageSender is one WebSocket sender that streams Messages with up to
// outageWindow unanswered, counting echoes (acknowledged) and not-stored
// notices (refused). Notices carry no id: the refused ids are the sent ones
// never echoed, and their number must equal the notices'.
type outageSender struct {
	t    *testing.T
	u    user
	ws   *websocket.Conn
	room string
	slot chan struct{} // one token per Message in flight

	mu      sync.Mutex
	sent    []string
	acked   map[string]int // echoes per id
	notices int
	other   []string // notices that are not "Message not stored"
	replied chan struct{}
}

func newOutageSender(t *testing.T, s *server, u user, room string) *outageSender {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(s.ws+"/ws/"+room, http.Header{"Authorization": {"Bearer " + u.Token}})
	if err != nil {
		t.Fatalf("dial as %s: %v", u.Name, err)
	}
	t.Cleanup(func() { ws.Close() })
	o := &outageSender{t: t, u: u, ws: ws, room: room, slot: make(chan struct{}, outageWindow),
		acked: map[string]int{}, replied: make(chan struct{}, 1)}
	go o.read()
	return o
}

// payload is what id carries, so a stored row can be checked against it.
func outagePayload(id string) string { return "outage payload " + id }

// read classifies replies until the socket closes.
func (o *outageSender) read() {
	dec := codec.NewGo()
	for {
		_, data, err := o.ws.ReadMessage()
		if err != nil {
			return
		}
		p, err := dec.Decode(data, 1<<20)
		if err != nil || p.Kind != codec.KindMessage {
			continue
		}
		o.mu.Lock()
		switch {
		case notice(p) && strings.HasPrefix(string(p.Payload), "Message not stored"):
			o.notices++
		case notice(p):
			o.other = append(o.other, string(p.Payload))
		case p.UserID != nil && *p.UserID == o.u.ID && p.MessageID != nil:
			o.acked[*p.MessageID]++
		default:
			o.mu.Unlock()
			continue // another sender's Message
		}
		o.mu.Unlock()
		select {
		case <-o.slot:
		default:
		}
		select {
		case o.replied <- struct{}{}:
		default:
		}
	}
}

// send sends id once its window has room; false when the socket failed.
func (o *outageSender) send(id string) bool {
	o.slot <- struct{}{}
	enc := codec.NewGo()
	data, _ := enc.Encode(codec.Packet{Kind: codec.KindMessage, MessageID: &id, Payload: []byte(outagePayload(id))})
	o.mu.Lock()
	o.sent = append(o.sent, id)
	o.mu.Unlock()
	return o.ws.WriteMessage(websocket.BinaryMessage, data) == nil
}

// settle waits until every Message sent has had its one reply (an echo or
// a notice), and fails the test after limit.
func (o *outageSender) settle(limit time.Duration) {
	o.t.Helper()
	deadline := time.After(limit)
	for {
		o.mu.Lock()
		replies := o.notices + len(o.other)
		for _, n := range o.acked {
			replies += n
		}
		sent := len(o.sent)
		o.mu.Unlock()
		if replies == sent {
			return
		}
		if replies > sent {
			o.t.Fatalf("%s: %d replies for %d Messages sent", o.u.Name, replies, sent)
		}
		select {
		case <-o.replied:
		case <-deadline:
			o.t.Fatalf("%s: %d of %d Messages unanswered after %v", o.u.Name, sent-replies, sent, limit)
		}
	}
}

// unacked returns the ids sent but never echoed.
func (o *outageSender) unacked() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, id := range o.sent {
		if o.acked[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// TestFaultPostgresOutageUnderLoad stops a real PostgreSQL under a server
// that senders are streaming to (issue 10, item 7). While it is down
// senders get "Message not stored" notices instead of echoes, /health is
// 503 naming the store, and HTTP calls and WebSocket upgrades with a valid
// session answer 503, not 401. Nothing acknowledged is lost; when
// PostgreSQL is back, health recovers without a server restart and the
// refused ids, resent as they were, are acknowledged and stored once.
func TestFaultPostgresOutageUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts, stops and restarts a PostgreSQL cluster")
	}
	pg := pgtest.Own(t)
	if !pg.CanRestart() {
		t.Skipf("%s names an external server, which this test cannot stop", pgtest.EnvURL)
	}
	target := pg.Database(t)
	s := start(t, func(c *app.Config) {
		noRateLimits(c)
		c.Codec = "go"
		c.DBPath = target
	})
	down := false
	t.Cleanup(func() { // before the server's Stop, so it can flush
		if down {
			if err := pg.StartServer(); err != nil {
				t.Errorf("restart PostgreSQL: %v", err)
			}
		}
	})
	const room = "outage"
	watcher := s.signUp("watcher")
	w := newOutageWatcher(t, s, watcher, room)
	senders := make([]*outageSender, outageSenders)
	for i := range senders {
		senders[i] = newOutageSender(t, s, s.signUp(fmt.Sprintf("sender%d", i)), room)
	}

	// Stream until stop is closed.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, o := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < outagePerSender; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if !o.send(fmt.Sprintf("s%d-%d", i, k)) {
					return
				}
				time.Sleep(outagePace)
			}
		}()
	}
	ackedNow := func() int {
		n := 0
		for _, o := range senders {
			o.mu.Lock()
			n += len(o.acked)
			o.mu.Unlock()
		}
		return n
	}
	time.Sleep(time.Second)
	if ackedNow() == 0 {
		t.Fatal("nothing acknowledged while PostgreSQL was up")
	}
	ackedBefore := ackedNow()

	// PostgreSQL goes away while the senders keep sending.
	if err := pg.StopServer(); err != nil {
		t.Fatal(err)
	}
	down = true
	var st int
	var body map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; {
		if st, body = s.health(); st == http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st != http.StatusServiceUnavailable || body["store"] != "postgres" || body["db"] != false {
		t.Fatalf("health with PostgreSQL stopped: %d %v; want 503 naming store postgres, db false", st, body)
	}
	// A valid session cannot be checked: 503 (retry), not 401 (sign in).
	var e struct{ Code string }
	if st, retry := s.doHeader("GET", "/api/messages?room="+room, watcher.Token, nil, &e, "Retry-After"); st != http.StatusServiceUnavailable || retry == "" {
		t.Errorf("history with PostgreSQL stopped: %d %s Retry-After %q, want 503 with Retry-After", st, e.Code, retry)
	}
	if st, retry := s.doHeader("POST", "/api/messages", watcher.Token, map[string]any{"room": room, "messageId": "http-down", "text": "x"}, &e, "Retry-After"); st != http.StatusServiceUnavailable || retry == "" {
		t.Errorf("HTTP post with PostgreSQL stopped: %d %s Retry-After %q, want 503 with Retry-After", st, e.Code, retry)
	}
	// Better Auth's routes: a clear 503 with Retry-After, not a 500 and
	// not a refusal that would send the user to sign in again.
	for _, r := range []struct {
		method, path, token string
		body                any
	}{
		{"POST", "/api/auth/sign-in/email", "", map[string]any{"email": watcher.Email, "password": testPassword}},
		{"POST", "/api/auth/sign-up/email", "", map[string]any{"name": "late", "email": "late-outage@example.com", "password": testPassword}},
		{"GET", "/api/auth/get-session", watcher.Token, nil},
		{"GET", "/api/auth/list-sessions", watcher.Token, nil},
	} {
		e.Code = ""
		st, retry := s.doHeader(r.method, r.path, r.token, r.body, &e, "Retry-After")
		if st != http.StatusServiceUnavailable || retry == "" || e.Code == "" {
			t.Errorf("%s %s with PostgreSQL stopped: %d %q Retry-After %q, want 503 with a code and Retry-After", r.method, r.path, st, e.Code, retry)
		}
	}
	_, resp, err := websocket.DefaultDialer.Dial(s.ws+"/ws/"+room, http.Header{"Authorization": {"Bearer " + watcher.Token}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Errorf("WebSocket upgrade with PostgreSQL stopped: %v (status %d), want 503", err, status)
	}
	time.Sleep(time.Second) // more Messages refused under load
	close(stop)
	wg.Wait()
	refused := 0
	for _, o := range senders {
		o.settle(20 * time.Second)
		o.mu.Lock()
		if len(o.other) > 0 {
			t.Errorf("%s got notices other than not-stored: %q", o.u.Name, o.other)
		}
		if n := len(o.sent) - len(o.acked); n != o.notices {
			t.Errorf("%s: %d Messages unacknowledged but %d not-stored notices", o.u.Name, n, o.notices)
		}
		refused += o.notices
		o.mu.Unlock()
	}
	if refused == 0 {
		t.Fatal("no Message was refused while PostgreSQL was stopped")
	}
	t.Logf("PostgreSQL down: %d acknowledged before the stop, %d in all, %d refused with a notice", ackedBefore, ackedNow(), refused)

	// PostgreSQL comes back: health recovers without restarting the server.
	if err := pg.StartServer(); err != nil {
		t.Fatal(err)
	}
	down = false
	for deadline := time.Now().Add(30 * time.Second); ; {
		if st, body = s.health(); st == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st != http.StatusOK || body["store"] != "postgres" || body["db"] != true {
		t.Fatalf("health after PostgreSQL restarted: %d %v", st, body)
	}
	// The sign-up refused during the outage stored nothing: the address is
	// free. The watcher signs in again with the password it always had.
	if st := s.do("POST", "/api/auth/sign-up/email", "", map[string]any{"name": "late", "email": "late-outage@example.com", "password": testPassword}, nil); st != http.StatusOK {
		t.Errorf("sign-up refused during the outage, sent again after it: %d, want 200", st)
	}
	if st := s.do("POST", "/api/auth/sign-in/email", "", map[string]any{"email": watcher.Email, "password": testPassword}, nil); st != http.StatusOK {
		t.Errorf("sign-in after PostgreSQL restarted: %d, want 200", st)
	}
	ctx := context.Background()
	// A refused id whose commit reached PostgreSQL just as it stopped may
	// be stored; its resend is acknowledged from the store, to its sender
	// only, so the watcher never sees it.
	storedRefused := map[string]bool{}
	for _, o := range senders {
		for _, id := range o.unacked() {
			if _, err := s.app.DB.MessageByRef(ctx, room, id); err == nil {
				storedRefused[id] = true
			}
		}
	}
	// The same ids, resent as they were, are acknowledged; so is a resend
	// of ids acknowledged before, which must not be stored twice.
	for _, o := range senders {
		again := o.unacked()
		o.mu.Lock()
		again = append(again, o.sent[0], o.sent[1])
		o.mu.Unlock()
		for _, id := range again {
			if !o.send(id) {
				t.Fatalf("%s: socket failed while resending", o.u.Name)
			}
		}
	}
	acked := map[string]storedMsg{}
	for _, o := range senders {
		o.settle(30 * time.Second)
		if left := o.unacked(); len(left) > 0 {
			t.Fatalf("%s: %d resent ids not acknowledged after PostgreSQL came back (first %s); %d notices", o.u.Name, len(left), left[0], o.notices)
		}
		o.mu.Lock()
		for id := range o.acked {
			acked[id] = storedMsg{o.u.ID, outagePayload(id)}
		}
		o.mu.Unlock()
	}

	// Every acknowledged id is stored once, as sent; the watcher saw only
	// stored Messages, each once.
	wantStored(t, s.app.DB, room, acked)
	counter, ok := s.app.DB.(interface {
		Counts(context.Context) (chat.Counts, error)
	})
	if !ok {
		t.Fatal("the PostgreSQL store has no Counts")
	}
	n, err := counter.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Messages != int64(len(acked)) {
		t.Errorf("%d Messages stored, %d distinct ids acknowledged", n.Messages, len(acked))
	}
	seen := w.quiet(time.Second)
	for id := range seen {
		if _, ok := acked[id]; !ok {
			t.Errorf("watcher received %s, which was never acknowledged", id)
		}
	}
	for id := range acked {
		if seen[id] != 1 && !(storedRefused[id] && seen[id] == 0) {
			t.Errorf("watcher received %s %d times, want once", id, seen[id])
		}
	}
	t.Logf("after restart: %d distinct ids acknowledged and stored (%d refused ids were stored as PostgreSQL stopped)", len(acked), len(storedRefused))
}

// outageWatcher counts the stamped Messages delivered to a room member who
// only watches, reading all the time so the server never finds it slow.
type outageWatcher struct {
	mu     sync.Mutex
	seen   map[string]int
	last   time.Time
	joined chan struct{}
}

func newOutageWatcher(t *testing.T, s *server, u user, room string) *outageWatcher {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(s.ws+"/ws/"+room, http.Header{"Authorization": {"Bearer " + u.Token}})
	if err != nil {
		t.Fatalf("dial as %s: %v", u.Name, err)
	}
	t.Cleanup(func() { ws.Close() })
	w := &outageWatcher{seen: map[string]int{}, joined: make(chan struct{})}
	go func() {
		dec := codec.NewGo()
		once := sync.Once{}
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			p, err := dec.Decode(data, 1<<20)
			if err != nil {
				continue
			}
			if p.Kind == codec.KindOnlineUsers {
				once.Do(func() { close(w.joined) })
			}
			if p.Kind == codec.KindMessage && p.MessageID != nil {
				w.mu.Lock()
				w.seen[*p.MessageID]++
				w.last = time.Now()
				w.mu.Unlock()
			}
		}
	}()
	select {
	case <-w.joined:
	case <-time.After(10 * time.Second):
		t.Fatal("watcher never joined")
	}
	return w
}

// quiet returns the counts once nothing has arrived for d.
func (w *outageWatcher) quiet(d time.Duration) map[string]int {
	for {
		w.mu.Lock()
		idle := time.Since(w.last)
		w.mu.Unlock()
		if idle >= d {
			break
		}
		time.Sleep(d - idle)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.seen)
}
