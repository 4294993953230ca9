package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pierrec/lz4/v4"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

// Abuse tests: hostile packets, floods and slow clients (issue 7, items 3
// and 4). The fuzz target over the room is in fuzz_test.go; the client
// that stops reading is TestSlowClientDroppedOthersKeepReceiving in
// e2e_test.go.

// goldenVector returns the named vector of testdata/golden/malformed.jsonl.
func goldenVector(t *testing.T, name string) []byte {
	t.Helper()
	vs, err := corpus.LoadFile("../testdata/golden/malformed.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Name == name {
			return v.Packet
		}
	}
	t.Fatalf("no vector %s", name)
	return nil
}

// craftedBomb is a valid Message packet under the 64 KiB frame limit whose
// payload is mib MiB of zeros in 4 MiB LZ4 blocks: 250 times its size.
func craftedBomb(t *testing.T, mib int) []byte {
	t.Helper()
	var frame bytes.Buffer
	zw := lz4.NewWriter(&frame)
	if err := zw.Apply(lz4.BlockSizeOption(lz4.Block4Mb)); err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 1<<20)
	for i := 0; i < mib; i++ {
		if _, err := zw.Write(zero); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	pkt, err := codec.AppendEnvelope(nil, codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str("bomb")}, frame.Bytes(), codec.FrameCRC(frame.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	// It is a real bomb: a decoder without a limit inflates all of it.
	if p, err := codec.NewGo().Decode(pkt, 1<<30); err != nil || len(p.Payload) != mib<<20 {
		t.Fatalf("crafted bomb decodes to %d bytes: %v", len(p.Payload), err)
	}
	return pkt
}

// TestAbuseDecompressionBombRefused sends decompression bombs that fit in
// a frame (the golden 2 MiB one and a crafted 14 MiB one, 57 KB on the
// wire) again and again. Each is refused with a too_large notice, nothing
// is stored or delivered, the socket stays usable, and the whole process
// allocates far less than even one bomb would inflate to.
func TestAbuseDecompressionBombRefused(t *testing.T) {
	bombs := []struct {
		name string
		pkt  []byte
		size int
	}{
		{"golden bomb-2MiB", goldenVector(t, "bomb-2MiB"), 2 << 20},
		{"crafted 14 MiB", craftedBomb(t, 14), 14 << 20},
	}
	eachCodec(t, func(t *testing.T, codecName string) {
		s := start(t, app.Config{Codec: codecName})
		mallory, watcher := s.signUp("mallory"), s.signUp("watcher")
		m := joined(s.dial(mallory, "bombs"))
		w := joined(s.dial(watcher, "bombs"))
		refused := func() {
			t.Helper()
			for _, b := range bombs {
				m.raw(b.pkt)
				if p := m.next(notice); !strings.Contains(string(p.Payload), "(too_large)") {
					t.Fatalf("%s: notice %q", b.name, p.Payload)
				}
			}
		}
		refused() // warm up buffers and codec instances
		const rounds = 8
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := 0; i < rounds; i++ {
			refused()
		}
		runtime.ReadMemStats(&after)
		inflated := 0
		for _, b := range bombs {
			inflated += rounds * b.size
		}
		allocated := after.TotalAlloc - before.TotalAlloc
		// Everything the process allocated in the meantime (server, both
		// clients, runtime) must stay far below one inflated bomb.
		const bound = 4 << 20
		t.Logf("%d bombs (%d MiB if inflated): %d KiB allocated, heap %d -> %d KiB",
			rounds*len(bombs), inflated>>20, allocated>>10, before.HeapAlloc>>10, after.HeapAlloc>>10)
		if allocated > bound {
			t.Fatalf("refusing %d bombs allocated %d bytes, bound %d", rounds*len(bombs), allocated, bound)
		}
		if _, err := s.app.DB.MessageByRef(context.Background(), "bombs", "bomb"); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("a bomb was stored: %v", err)
		}
		m.send(text("after-bombs", "still here"))
		m.next(withID("after-bombs"))
		if p := w.next(kind(codec.KindMessage)); p.MessageID == nil || *p.MessageID != "after-bombs" {
			t.Fatalf("watcher's first message is %+v, want after-bombs only", p)
		}
	})
}

// closeCode waits for c's connection to end and returns its close code.
func closeCode(t *testing.T, c *client) int {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-c.in:
			if ok {
				continue
			}
			var ce *websocket.CloseError
			if err := <-c.err; errors.As(err, &ce) {
				return ce.Code
			} else {
				t.Fatalf("connection ended without a close frame: %v", err)
			}
		case <-timeout:
			t.Fatal("connection still open")
		}
	}
}

// TestAbuseOversizeFrameClosed1009 checks the 64 KiB frame limit: a frame
// of exactly 64 KiB is read (and refused as a packet, with the socket kept),
// while one byte more, a message fragmented into small frames that adds up
// to more, or the golden 16 and 64 MiB bombs (too big to fit) close the
// socket with 1009. The room carries on for the others.
func TestAbuseOversizeFrameClosed1009(t *testing.T) {
	s := start(t, app.Config{Codec: "wasm"})
	mallory, alice := s.signUp("mallory"), s.signUp("alice")
	a := joined(s.dial(alice, "big"))
	junk := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		b[0] = 0 // kind Message, so it fails further in
		return b
	}

	m := joined(s.dial(mallory, "big"))
	m.raw(junk(64 << 10))
	if p := m.next(notice); !strings.HasPrefix(string(p.Payload), "Invalid packet") {
		t.Fatalf("64 KiB frame: notice %q", p.Payload)
	}
	m.send(text("m-ok", "the socket survived a 64 KiB frame"))
	m.next(withID("m-ok"))

	cases := []struct {
		name string
		data []byte
		frag int // write buffer size, so the message is sent in fragments
	}{
		{"64 KiB + 1", junk(64<<10 + 1), 0},
		{"fragmented 70 KiB", junk(70 << 10), 4096},
		{"golden bomb-16MiB", goldenVector(t, "bomb-16MiB"), 0},
		{"golden bomb-64MiB", goldenVector(t, "bomb-64MiB"), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := websocket.Dialer{WriteBufferSize: tc.frag}
			ws, _, err := d.Dial(s.ws+"/ws/big", http.Header{"Authorization": {"Bearer " + mallory.Token}})
			if err != nil {
				t.Fatal(err)
			}
			c := wrap(t, ws)
			// The write may fail part-way: the server hangs up after 64 KiB.
			_ = ws.WriteMessage(websocket.BinaryMessage, tc.data)
			if code := closeCode(t, c); code != websocket.CloseMessageTooBig {
				t.Fatalf("closed with %d, want 1009", code)
			}
		})
	}
	a.send(text("a-ok", "the room carries on"))
	a.next(withID("a-ok"))
	if p := m.next(withID("a-ok")); *p.UserID != alice.ID {
		t.Fatalf("got %+v", p)
	}
}

// wrap starts the e2e client's reader on an already dialled socket.
func wrap(t *testing.T, ws *websocket.Conn) *client {
	c := &client{t: t, ws: ws, c: codec.NewGo(), in: make(chan codec.Packet, 4096), err: make(chan error, 1)}
	go func() {
		dec := codec.NewGo()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				c.err <- err
				close(c.in)
				return
			}
			p, err := dec.Decode(data, 1<<20)
			if err != nil {
				c.err <- fmt.Errorf("server sent an undecodable packet: %w", err)
				close(c.in)
				return
			}
			c.in <- p
		}
	}()
	t.Cleanup(func() { ws.Close() })
	return c
}

// tryDial dials without failing, for tests that expect a refusal.
func (s *server) tryDial(token, room string, h http.Header) (*websocket.Conn, *http.Response, error) {
	if h == nil {
		h = http.Header{}
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ws, resp, err := websocket.DefaultDialer.Dial(s.ws+"/ws/"+room, h)
	if ws != nil {
		s.t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

// wantRefused checks a dial was answered with status and error code
// before any upgrade.
func wantRefused(t *testing.T, what string, resp *http.Response, err error, status int, code string) {
	t.Helper()
	if err == nil || resp == nil {
		t.Fatalf("%s: upgraded (err %v)", what, err)
	}
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d", what, resp.StatusCode, status)
	}
	if code != "" {
		var body struct{ Code string }
		if err := jsonBody(resp, &body); err != nil || body.Code != code {
			t.Fatalf("%s: body code %q (%v), want %s", what, body.Code, err, code)
		}
	}
}

// TestAbuseConnectionCaps: with 2 sockets per user and 3 per address, the
// next upgrade is answered 429 TOO_MANY_CONNECTIONS with Retry-After before
// any upgrade, a forged X-Forwarded-For does not get around the address
// cap, the sockets already open keep working, and a closed socket frees
// its place.
func TestAbuseConnectionCaps(t *testing.T) {
	s := start(t, app.Config{Codec: "go", MaxConnsPerUser: 2, MaxConnsPerIP: 3})
	alice, bob, carol := s.signUp("alice"), s.signUp("bob"), s.signUp("carol")
	a1 := joined(s.dial(alice, "caps"))
	a2 := joined(s.dial(alice, "other")) // the cap counts across rooms

	_, resp, err := s.tryDial(alice.Token, "caps", nil)
	wantRefused(t, "alice's third socket", resp, err, http.StatusTooManyRequests, "TOO_MANY_CONNECTIONS")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}

	b1 := joined(s.dial(bob, "caps")) // the address's third
	for i, h := range []http.Header{
		nil,
		{"X-Forwarded-For": {fmt.Sprintf("203.0.113.%d", 1)}},
		{"X-Real-Ip": {"198.51.100.7"}},
		{"X-Forwarded-For": {"198.51.100.8, 203.0.113.9"}},
	} {
		_, resp, err := s.tryDial(carol.Token, "caps", h)
		wantRefused(t, fmt.Sprintf("carol's socket %d (headers %v)", i, h), resp, err, http.StatusTooManyRequests, "TOO_MANY_CONNECTIONS")
	}

	// The refusals cost the open sockets nothing.
	a1.send(text("caps-1", "still connected"))
	for _, c := range []*client{a1, b1} {
		c.next(withID("caps-1"))
	}
	a2.send(text("other-1", "also connected"))
	a2.next(withID("other-1"))

	// Closing a socket frees its place (once the server has noticed).
	a2.ws.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ws, resp, err := s.tryDial(carol.Token, "caps", nil)
		if err == nil {
			c := wrap(t, ws)
			c.send(text("carol-1", "my turn"))
			c.next(withID("carol-1"))
			break
		}
		wantRefused(t, "carol after a close", resp, err, http.StatusTooManyRequests, "TOO_MANY_CONNECTIONS")
		if time.Now().After(deadline) {
			t.Fatal("a closed socket never freed its place")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAbuseFloodRateLimited: mallory floods one room from two sockets as
// fast as the connection takes them (tens of thousands of packets a
// second). Her packets beyond 5/s are answered with the rate-limit notice
// and neither stored nor delivered; a socket that cannot even read its
// notices fast enough is cut with 1013. Meanwhile alice's messages, sent at
// 4/s, all get through to bob promptly.
func TestAbuseFloodRateLimited(t *testing.T) {
	s := start(t, app.Config{Codec: "wasm", RateLimit: 5})
	mallory, alice, bob := s.signUp("mallory"), s.signUp("alice"), s.signUp("bob")
	a := joined(s.dial(alice, "flood"))
	b := joined(s.dial(bob, "flood"))

	const flood = 2 * time.Second
	var sent, notices atomic.Int64
	var mu sync.Mutex
	echoed := map[string]bool{}
	var closes []int
	stop := time.Now().Add(flood)
	var wg sync.WaitGroup
	for sock := 0; sock < 2; sock++ {
		ws, _, err := s.tryDial(mallory.Token, "flood", nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() { // mallory reads her replies as fast as she can
			defer wg.Done()
			dec := codec.NewGo()
			for {
				_, data, err := ws.ReadMessage()
				if err != nil {
					var ce *websocket.CloseError
					if errors.As(err, &ce) {
						mu.Lock()
						closes = append(closes, ce.Code)
						mu.Unlock()
					}
					return
				}
				p, err := dec.Decode(data, 1<<20)
				switch {
				case err != nil:
					t.Errorf("undecodable packet: %v", err)
				case notice(p) && string(p.Payload) == "Rate limit exceeded: 5 messages per second":
					notices.Add(1)
				case p.Kind == codec.KindMessage && p.UserID != nil && *p.UserID == mallory.ID:
					mu.Lock()
					echoed[*p.MessageID] = true
					mu.Unlock()
				}
			}
		}()
		go func(sock int) {
			defer wg.Done()
			defer ws.Close() // ends the reader too
			enc := codec.NewGo()
			for i := 0; time.Now().Before(stop); i++ {
				data, _ := enc.Encode(text(fmt.Sprintf("flood-%d-%d", sock, i), "spam"))
				if ws.WriteMessage(websocket.BinaryMessage, data) != nil {
					return // cut by the server
				}
				sent.Add(1)
			}
			time.Sleep(500 * time.Millisecond) // read the last replies
		}(sock)
	}

	// alice, under the limit, during the flood.
	var worst time.Duration
	aliceSent := 0
	bobSaw := map[string]int{}
	record := func(id string) func(codec.Packet) bool {
		return func(p codec.Packet) bool {
			if p.Kind == codec.KindMessage && p.MessageID != nil {
				bobSaw[*p.MessageID]++
			}
			return withID(id)(p)
		}
	}
	for ; time.Now().Before(stop); aliceSent++ {
		id := fmt.Sprintf("alice-%d", aliceSent)
		t0 := time.Now()
		a.send(text(id, "hello through the flood"))
		b.next(record(id))
		if d := time.Since(t0); d > worst {
			worst = d
		}
		a.next(withID(id))
		time.Sleep(250*time.Millisecond - time.Since(t0))
	}
	wg.Wait()
	// The server may still be working through frames mallory's sockets
	// delivered before they closed: wait until it has let go of them, then
	// for one more of alice's messages, which is committed and delivered
	// after everything the room took before it.
	for countConns(s) != 2 {
		if time.Since(stop) > 20*time.Second {
			t.Fatalf("the server still holds %d sockets", countConns(s))
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.send(text("alice-last", "after the flood"))
	b.next(record("alice-last"))
	a.next(withID("alice-last"))
	aliceSent++
	floodTook := time.Since(stop) + flood

	mu.Lock()
	defer mu.Unlock()
	t.Logf("flood: %d packets in %v (%.0f/s), %d echoed, %d rate-limit notices, sockets closed with %v, served within %v; alice sent %d, worst delivery %v",
		sent.Load(), flood, float64(sent.Load())/flood.Seconds(), len(echoed), notices.Load(), closes, floodTook.Round(time.Millisecond), aliceSent, worst)
	if sent.Load() < 2000 {
		t.Fatalf("only %d flood packets sent: not a flood", sent.Load())
	}
	if notices.Load() == 0 {
		t.Fatal("no rate-limit notice")
	}
	for _, code := range closes {
		if code != websocket.CloseTryAgainLater {
			t.Fatalf("flood socket closed with %d, want 1013 or still open", code)
		}
	}
	if worst > 2*time.Second {
		t.Fatalf("alice's messages took up to %v during the flood", worst)
	}
	// What got through is what the limit allows: a burst of 5, then 5/s.
	var h history
	s.do("GET", "/api/messages?room=flood&limit=100", bob.Token, nil, &h)
	stored, aliceStored := map[string]bool{}, 0
	for _, m := range h.Messages {
		switch m.UserID {
		case mallory.ID:
			stored[m.RefID] = true
		case alice.ID:
			aliceStored++
		}
	}
	if max := int(5 + 5*(floodTook.Seconds()+1)); len(stored) > max {
		t.Fatalf("%d flood messages stored, the limit allows %d", len(stored), max)
	}
	for id := range echoed {
		if !stored[id] {
			t.Errorf("flood message %s echoed but not stored", id)
		}
	}
	if aliceStored != aliceSent {
		t.Fatalf("%d of alice's %d messages stored", aliceStored, aliceSent)
	}
	// bob never saw a flood message beyond what was stored, nor a notice.
	for id, n := range b.messageIDs(300 * time.Millisecond) {
		bobSaw[id] += n
	}
	for id, n := range bobSaw {
		if strings.HasPrefix(id, "flood-") && (!stored[id] || n != 1) {
			t.Errorf("bob received %s %d times (stored %v)", id, n, stored[id])
		}
	}
	for id := range stored {
		if bobSaw[id] != 1 {
			t.Errorf("stored flood message %s reached bob %d times", id, bobSaw[id])
		}
	}
}

// jsonBody decodes a response body and closes it.
func jsonBody(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// dropped reports how long the server took to close conn, which the
// caller keeps feeding (or not) meanwhile; it fails after limit.
func dropped(conn net.Conn, start time.Time, limit time.Duration) (time.Duration, error) {
	_ = conn.SetReadDeadline(start.Add(limit))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, fmt.Errorf("still open after %v", limit)
			}
			return time.Since(start), nil // EOF or reset: closed by the server
		}
	}
}

// TestAbuseSlowlorisDropped opens slowloris connections of three kinds:
// headers sent a byte at a time and never finished, nothing sent at all,
// and a body trickled a byte at a time. The header ones are dropped by
// ReadHeaderTimeout, the body ones by ReadTimeout, and an idle keep-alive
// by IdleTimeout, while normal requests keep being answered promptly.
func TestAbuseSlowlorisDropped(t *testing.T) {
	const (
		headerTimeout = 300 * time.Millisecond
		readTimeout   = 800 * time.Millisecond
		idleTimeout   = 400 * time.Millisecond
	)
	s := start(t, app.Config{Codec: "go", ReadHeaderTimeout: headerTimeout, ReadTimeout: readTimeout, IdleTimeout: idleTimeout})
	addr := strings.TrimPrefix(s.url, "http://")
	type slow struct {
		kind  string
		limit time.Duration
		feed  []byte
	}
	header := []byte("GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 200))
	body := []byte("POST /api/auth/sign-in/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"email\":\"" + strings.Repeat("a", 200))
	var conns []slow
	for i := 0; i < 10; i++ {
		conns = append(conns,
			slow{"byte-by-byte headers", headerTimeout, header},
			slow{"silent", headerTimeout, nil},
			slow{"byte-by-byte body", readTimeout, body})
	}
	type result struct {
		kind string
		took time.Duration
		err  error
	}
	results := make(chan result, len(conns))
	for _, c := range conns {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		begin := time.Now()
		if c.kind == "byte-by-byte body" { // headers at once, then trickle
			i := bytes.Index(c.feed, []byte("\r\n\r\n")) + 4
			conn.Write(c.feed[:i])
			c.feed = c.feed[i:]
		}
		go func(feed []byte) { // one byte every 20ms until the server hangs up
			for _, b := range feed {
				if _, err := conn.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}(c.feed)
		go func(c slow) {
			took, err := dropped(conn, begin, c.limit+2*time.Second)
			results <- result{c.kind, took, err}
		}(c)
	}
	// Normal requests keep working while the slow ones hang on.
	for i := 0; i < 10; i++ {
		t0 := time.Now()
		if st, _ := s.health(); st != http.StatusOK {
			t.Fatalf("health during slowloris: %d", st)
		}
		if d := time.Since(t0); d > time.Second {
			t.Fatalf("health took %v during slowloris", d)
		}
		time.Sleep(30 * time.Millisecond)
	}
	worst := map[string]time.Duration{}
	for range conns {
		r := <-results
		if r.err != nil {
			t.Fatalf("%s connection: %v", r.kind, r.err)
		}
		worst[r.kind] = max(worst[r.kind], r.took)
	}
	t.Logf("dropped after at most: %v", worst)

	// An idle keep-alive connection is closed after IdleTimeout.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("keep-alive request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	idleFrom := time.Now()
	_ = conn.SetReadDeadline(idleFrom.Add(idleTimeout + 2*time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("server sent bytes on an idle connection")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("idle keep-alive still open after %v", time.Since(idleFrom))
	}
	t.Logf("idle keep-alive closed after %v", time.Since(idleFrom))
}

// TestAbuseBodyTooLarge: request bodies above the 64 KiB limit get 413
// whether they declare their length (refused before reading) or stream it
// chunked (cut off while reading), on JSON routes and the auth routes, and
// nothing is stored.
func TestAbuseBodyTooLarge(t *testing.T) {
	s := start(t, app.Config{Codec: "go"})
	alice := s.signUp("alice")
	big := `{"room":"big","messageId":"big-1","text":"` + strings.Repeat("x", 1<<20) + `"}`
	for _, tc := range []struct {
		name, path string
		chunked    bool
	}{
		{"declared length", "/api/messages", false},
		{"chunked", "/api/messages", true},
		{"auth declared", "/api/auth/sign-in/email", false},
		{"auth chunked", "/api/auth/sign-up/email", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(big)
			if tc.chunked {
				body = io.MultiReader(strings.NewReader(big)) // unknown length
			}
			req, _ := http.NewRequest("POST", s.url+tc.path, body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+alice.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e struct{ Code string }
			if err := jsonBody(resp, &e); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || e.Code != "PAYLOAD_TOO_LARGE" {
				t.Fatalf("%d %+v %v", resp.StatusCode, e, err)
			}
			if req.ContentLength > 0 == tc.chunked {
				t.Fatalf("content length %d for chunked=%v", req.ContentLength, tc.chunked)
			}
		})
	}
	if _, err := s.app.DB.MessageByRef(context.Background(), "big", "big-1"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("an oversize body was stored: %v", err)
	}
	if st, _ := s.health(); st != 200 {
		t.Fatalf("health: %d", st)
	}
}

// TestAbuseConnectionCapsSimultaneous opens many sockets for one user at
// the same moment: no more than the cap may get through, however the
// upgrades interleave.
func TestAbuseConnectionCapsSimultaneous(t *testing.T) {
	const maxPerUser, tries = 3, 24
	s := start(t, app.Config{Codec: "go", MaxConnsPerUser: maxPerUser})
	alice := s.signUp("alice")
	var wg sync.WaitGroup
	var opened, refused atomic.Int32
	start := make(chan struct{})
	for i := 0; i < tries; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ws, resp, err := websocket.DefaultDialer.Dial(s.ws+"/ws/rush", http.Header{"Authorization": {"Bearer " + alice.Token}})
			switch {
			case err == nil:
				opened.Add(1)
				t.Cleanup(func() { ws.Close() })
			case resp != nil && resp.StatusCode == http.StatusTooManyRequests:
				refused.Add(1)
			default:
				t.Errorf("dial: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	t.Logf("%d simultaneous upgrades: %d opened, %d refused", tries, opened.Load(), refused.Load())
	if opened.Load() != maxPerUser || refused.Load() != tries-maxPerUser {
		t.Fatalf("%d opened and %d refused with a cap of %d", opened.Load(), refused.Load(), maxPerUser)
	}
}

// joined waits for the OnlineUsers packet c's own join sends it: from then
// on c receives everything broadcast to its room. (A dial returns at the
// upgrade, before the server has added the socket to the room.)
func joined(c *client) *client {
	c.t.Helper()
	c.next(kind(codec.KindOnlineUsers))
	return c
}
