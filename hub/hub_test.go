package hub

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/db/batch"
	"github.com/wasmchannel/wasmchannel/db/sqlite"
)

// fakeTransport hands every written frame, decoded, to a channel, as
// centrifuge's hub tests do. block makes WriteFrame hang (a client that
// stopped reading) until Close.
type fakeTransport struct {
	out    chan codec.Packet
	block  bool
	closed chan int
	once   sync.Once
	dec    *codec.Go
	mu     sync.Mutex
	// onClose plays the socket's read loop ending, which calls Leave.
	onClose func()
}

func newFake(block bool) *fakeTransport {
	return &fakeTransport{out: make(chan codec.Packet, 1024), closed: make(chan int, 1), block: block, dec: codec.NewGo()}
}

func (f *fakeTransport) WriteFrame(fr *Frame) error {
	if f.block {
		<-f.closedWait()
		return errors.New("closed")
	}
	f.mu.Lock()
	p, err := f.dec.Decode(fr.Data, 1<<20)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	f.out <- p
	return nil
}

var closedChans sync.Map

func (f *fakeTransport) closedWait() chan struct{} {
	ch, _ := closedChans.LoadOrStore(f, make(chan struct{}))
	return ch.(chan struct{})
}

func (f *fakeTransport) Close(code int, reason string) {
	f.once.Do(func() {
		f.closed <- code
		close(f.closedWait())
		if f.onClose != nil {
			go f.onClose()
		}
	})
}

type testEnv struct {
	t   *testing.T
	hub *Hub
	db  *sqlite.DB
	w   *batch.Writer
	enc *codec.Go
}

func newEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	return newEnvSource(t, cfg, codec.NewGoSource())
}

// newEnvSource is newEnv with the rooms' codecs leased from src.
func newEnvSource(t *testing.T, cfg Config, src codec.Source) *testEnv {
	t.Helper()
	ctx := context.Background()
	d, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := d.CreateUser(ctx, chat.User{ID: u, Name: u, Email: u + "@example.com"}, "x"); err != nil {
			t.Fatal(err)
		}
	}
	w := batch.NewWriter(d, batch.Config{})
	if cfg.IdleGrace == 0 {
		cfg.IdleGrace = time.Hour
	}
	h := New(cfg, src, d, w, nil, nil)
	env := &testEnv{t: t, hub: h, db: d, w: w, enc: codec.NewGo()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		_ = w.Close(ctx)
		_ = d.Close()
	})
	return env
}

// join connects user to room and returns the connection and its transport.
func (e *testEnv) join(room, user string) (*Conn, *fakeTransport) {
	e.t.Helper()
	ft := newFake(false)
	c := NewConn(ft, user, user, "127.0.0.1")
	c.SessionKey = "s-" + user
	ft.onClose = func() { e.hub.Leave(c) }
	if err := e.hub.Join(context.Background(), room, c); err != nil {
		e.t.Fatal(err)
	}
	return c, ft
}

func (e *testEnv) send(c *Conn, p codec.Packet) {
	e.t.Helper()
	data, err := e.enc.Encode(p)
	if err != nil {
		e.t.Fatal(err)
	}
	e.sendRaw(c, data)
}

func (e *testEnv) sendRaw(c *Conn, data []byte) {
	e.t.Helper()
	if err := e.hub.Receive(context.Background(), c, data); err != nil {
		e.t.Fatal(err)
	}
}

// settle waits until c's room has run everything queued to it before this
// call, so that a test may move its clock without racing the room.
func (e *testEnv) settle(c *Conn) {
	e.t.Helper()
	done := make(chan struct{})
	if err := c.room.send(context.Background(), func() { close(done) }); err != nil {
		e.t.Fatal(err)
	}
	<-done
}

// next waits for the next packet matching keep, skipping others.
func next(t *testing.T, ft *fakeTransport, keep func(codec.Packet) bool) codec.Packet {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case p := <-ft.out:
			if keep == nil || keep(p) {
				return p
			}
		case <-timeout:
			t.Fatal("timed out waiting for a packet")
		}
	}
}

func ofKind(k codec.Kind) func(codec.Packet) bool {
	return func(p codec.Packet) bool { return p.Kind == k }
}

// none asserts no packet matching keep arrives within d.
func none(t *testing.T, ft *fakeTransport, d time.Duration, keep func(codec.Packet) bool) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case p := <-ft.out:
			if keep(p) {
				t.Fatalf("unexpected packet %+v payload %q", p, p.Payload)
			}
		case <-timeout:
			return
		}
	}
}

func msg(id, text string) codec.Packet {
	return codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str(id), Payload: []byte(text)}
}

func isNotice(p codec.Packet) bool {
	return p.Kind == codec.KindMessage && p.MessageID == nil && p.UserID == nil
}

func TestPresenceCountsDistinctUsers(t *testing.T) {
	e := newEnv(t, Config{})
	_, a1 := e.join("r1", "alice")
	if p := next(t, a1, ofKind(codec.KindOnlineUsers)); string(p.Payload) != "1" {
		t.Fatalf("first join: online %q, want 1", p.Payload)
	}
	// A second tab learns the count; the first hears nothing, as the
	// number of distinct users did not change (its next count is bob's 2).
	_, a2 := e.join("r1", "alice")
	if p := next(t, a2, ofKind(codec.KindOnlineUsers)); string(p.Payload) != "1" {
		t.Fatalf("second tab: online %q, want 1", p.Payload)
	}
	b, bt := e.join("r1", "bob")
	for _, ft := range []*fakeTransport{a1, a2, bt} {
		if p := next(t, ft, ofKind(codec.KindOnlineUsers)); string(p.Payload) != "2" {
			t.Fatalf("bob joined: online %q, want 2", p.Payload)
		}
	}
	e.hub.Leave(b)
	for _, ft := range []*fakeTransport{a1, a2} {
		if p := next(t, ft, ofKind(codec.KindOnlineUsers)); string(p.Payload) != "1" {
			t.Fatalf("bob left: online %q, want 1", p.Payload)
		}
	}
}

func TestMessageEchoedStampedAndStoredBeforeAck(t *testing.T) {
	e := newEnv(t, Config{})
	a, at := e.join("r1", "alice")
	_, bt := e.join("r1", "bob")
	p := msg("m-1", "hello")
	p.UserID = codec.Str("mallory") // a client never sets user_id: it is overwritten
	e.send(a, p)
	for _, ft := range []*fakeTransport{at, bt} {
		got := next(t, ft, ofKind(codec.KindMessage))
		if got.UserID == nil || *got.UserID != "alice" || *got.MessageID != "m-1" || string(got.Payload) != "hello" {
			t.Fatalf("broadcast = %+v", got)
		}
	}
	// The echo is the acknowledgement: the row must already be committed.
	m, err := e.db.MessageByRef(context.Background(), "r1", "m-1")
	if err != nil {
		t.Fatalf("acknowledged message not in the database: %v", err)
	}
	if m.UserID != "alice" || string(m.Payload) != "hello" {
		t.Fatalf("stored %+v", m)
	}
}

func TestResendSameIDIsAckedNotStoredTwice(t *testing.T) {
	e := newEnv(t, Config{})
	a, at := e.join("r1", "alice")
	_, bt := e.join("r1", "bob")
	e.send(a, msg("dup", "once"))
	next(t, at, ofKind(codec.KindMessage))
	next(t, bt, ofKind(codec.KindMessage))
	e.send(a, msg("dup", "once"))
	got := next(t, at, ofKind(codec.KindMessage))
	if got.MessageID == nil || *got.MessageID != "dup" {
		t.Fatalf("re-ack = %+v", got)
	}
	none(t, bt, 200*time.Millisecond, ofKind(codec.KindMessage))
	msgs, err := e.db.History(context.Background(), "r1", chat.Cursor{}, 10)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("history = %d messages, %v; want 1", len(msgs), err)
	}
	// Another user reusing the id is refused, and nothing changes.
	b := e.hubConn(t, "r1", "carol")
	e.send(b.c, msg("dup", "hijack"))
	if n := next(t, b.ft, isNotice); !strings.Contains(string(n.Payload), "already used") {
		t.Fatalf("notice = %q", n.Payload)
	}
}

type joined struct {
	c  *Conn
	ft *fakeTransport
}

func (e *testEnv) hubConn(t *testing.T, room, user string) joined {
	c, ft := e.join(room, user)
	return joined{c, ft}
}

func TestTypingNotEchoedToSender(t *testing.T) {
	e := newEnv(t, Config{})
	a, at := e.join("r1", "alice")
	_, bt := e.join("r1", "bob")
	e.send(a, codec.Packet{Kind: codec.KindTyping, Payload: []byte(`{"isTyping":true,"timestamp":1730000000000}`)})
	got := next(t, bt, ofKind(codec.KindTyping))
	if got.UserID == nil || *got.UserID != "alice" {
		t.Fatalf("typing = %+v", got)
	}
	none(t, at, 200*time.Millisecond, ofKind(codec.KindTyping))
}

func TestReactionToggledAndBroadcast(t *testing.T) {
	e := newEnv(t, Config{})
	a, at := e.join("r1", "alice")
	b, bt := e.join("r1", "bob")
	e.send(a, msg("m-1", "react to me"))
	next(t, bt, ofKind(codec.KindMessage))
	react := codec.Packet{Kind: codec.KindReaction, MessageID: codec.Str("m-1"), Reaction: codec.ReactionPtr(codec.ReactionHeart)}
	e.send(b, react)
	got := next(t, at, ofKind(codec.KindReaction))
	if *got.UserID != "bob" || *got.Reaction != codec.ReactionHeart || *got.MessageID != "m-1" || len(got.Payload) != 0 {
		t.Fatalf("reaction = %+v", got)
	}
	m, _ := e.db.MessageByRef(context.Background(), "r1", "m-1")
	if len(m.Reactions) != 1 || m.Reactions[0].Count != 1 || m.Reactions[0].Users[0] != "bob" {
		t.Fatalf("stored reactions = %+v", m.Reactions)
	}
	e.send(b, react) // again: toggled off
	next(t, at, ofKind(codec.KindReaction))
	m, _ = e.db.MessageByRef(context.Background(), "r1", "m-1")
	if len(m.Reactions) != 0 {
		t.Fatalf("after toggle off: %+v", m.Reactions)
	}
	// History from the cache shows the same.
	page, src, err := e.hub.History(context.Background(), "r1", chat.Cursor{}, 10)
	if err != nil || src != "cache" || len(page) != 1 || len(page[0].Reactions) != 0 {
		t.Fatalf("history = %+v %q %v", page, src, err)
	}
	// Unknown message: an error to the sender only.
	e.send(b, codec.Packet{Kind: codec.KindReaction, MessageID: codec.Str("nope"), Reaction: codec.ReactionPtr(codec.ReactionLike)})
	if n := next(t, bt, isNotice); !strings.Contains(string(n.Payload), "unknown message") {
		t.Fatalf("notice = %q", n.Payload)
	}
}

func TestRateLimitRepliesAndOthersGetThrough(t *testing.T) {
	e := newEnv(t, Config{RateLimit: 5})
	a, at := e.join("r1", "alice")
	b, bt := e.join("r1", "bob")
	for i := 0; i < 8; i++ {
		e.send(a, msg(fmt.Sprintf("a-%d", i), "spam"))
	}
	n := next(t, at, isNotice)
	if string(n.Payload) != "Rate limit exceeded: 5 messages per second" {
		t.Fatalf("notice = %q", n.Payload)
	}
	e.send(b, msg("b-1", "still here"))
	got := next(t, at, func(p codec.Packet) bool { return p.MessageID != nil && *p.MessageID == "b-1" })
	if *got.UserID != "bob" {
		t.Fatalf("bob's message = %+v", got)
	}
	// Exactly the 5 allowed messages were stored; the excess was not.
	next(t, bt, func(p codec.Packet) bool { return p.MessageID != nil && *p.MessageID == "b-1" })
	msgs, _ := e.db.History(context.Background(), "r1", chat.Cursor{}, 100)
	var alice int
	for _, m := range msgs {
		if m.UserID == "alice" {
			alice++
		}
	}
	if alice != 5 {
		t.Fatalf("stored %d of alice's messages, want 5", alice)
	}
}

func TestInvalidPacketsGetClassAndConnectionSurvives(t *testing.T) {
	e := newEnv(t, Config{MaxPayload: 999})
	a, at := e.join("r1", "alice")
	good, _ := e.enc.Encode(msg("ok", "fine"))
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 0xff // crc
	big, _ := e.enc.Encode(msg("big", strings.Repeat("x", 1000)))
	cases := []struct {
		name, class string
		data        []byte
	}{
		{"truncated", "truncated", good[:3]},
		{"checksum", "checksum", bad},
		{"too_large", "too_large", big},
		{"trailing", "trailing_bytes", append(append([]byte(nil), good...), 0)},
		{"text frame", "invalid_enum", []byte("hello")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.sendRaw(a, tc.data)
			n := next(t, at, isNotice)
			if !strings.Contains(string(n.Payload), "("+tc.class+")") {
				t.Fatalf("notice = %q, want class %s", n.Payload, tc.class)
			}
		})
	}
	// Client rules: OnlineUsers from a client, Message without id.
	e.send(a, codec.Packet{Kind: codec.KindOnlineUsers, Payload: []byte("9")})
	if n := next(t, at, isNotice); !strings.Contains(string(n.Payload), "(rule)") {
		t.Fatalf("notice = %q", n.Payload)
	}
	e.send(a, codec.Packet{Kind: codec.KindMessage, Payload: []byte("no id")})
	if n := next(t, at, isNotice); !strings.Contains(string(n.Payload), "message_id") {
		t.Fatalf("notice = %q", n.Payload)
	}
	// The connection still works, and nothing invalid was stored.
	e.sendRaw(a, good)
	if got := next(t, at, ofKind(codec.KindMessage)); got.MessageID == nil || *got.MessageID != "ok" {
		t.Fatalf("after errors: %+v", got)
	}
	msgs, _ := e.db.History(context.Background(), "r1", chat.Cursor{}, 100)
	if len(msgs) != 1 {
		t.Fatalf("stored %d messages, want 1", len(msgs))
	}
}

func TestSlowClientDisconnectedOthersContinue(t *testing.T) {
	e := newEnv(t, Config{SendQueueBytes: 4 << 10})
	a, at := e.join("r1", "alice")
	slow := newFake(true)
	sc := NewConn(slow, "carol", "carol", "127.0.0.1")
	slow.onClose = func() { e.hub.Leave(sc) }
	if err := e.hub.Join(context.Background(), "r1", sc); err != nil {
		t.Fatal(err)
	}
	// Incompressible text, so the frames really fill the queue.
	raw := make([]byte, 375)
	rand.Read(raw)
	text := base64.StdEncoding.EncodeToString(raw)
	for i := 0; i < 40; i++ {
		e.send(a, msg(fmt.Sprintf("m-%d", i), text))
		next(t, at, ofKind(codec.KindMessage))
	}
	select {
	case code := <-slow.closed:
		if code != DisconnectSlow.Code {
			t.Fatalf("slow client closed with %d, want %d", code, DisconnectSlow.Code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow client was never disconnected")
	}
	e.hub.Leave(sc)
	msgs, _ := e.db.History(context.Background(), "r1", chat.Cursor{}, 100)
	if len(msgs) != 40 {
		t.Fatalf("stored %d, want 40: a slow reader must not cost messages", len(msgs))
	}
}

func TestPostOverHTTPTakesRoomPath(t *testing.T) {
	e := newEnv(t, Config{})
	_, at := e.join("r1", "alice")
	m, err := e.hub.Post(context.Background(), "r1", "bob", "", "from a bot")
	if err != nil {
		t.Fatal(err)
	}
	got := next(t, at, ofKind(codec.KindMessage))
	if *got.UserID != "bob" || *got.MessageID != m.RefID || string(got.Payload) != "from a bot" {
		t.Fatalf("broadcast %+v for %+v", got, m)
	}
	var he *Error
	if _, err := e.hub.Post(context.Background(), "r1", "bob", "", strings.Repeat("z", 1000)); !errors.Is(err, ErrTooLarge) || !errors.As(err, &he) || he.Message != "payload too large (max 999 bytes)" {
		t.Fatalf("oversize post: %v", err)
	}
	if _, err := e.hub.Post(context.Background(), "bad room!", "bob", "", "x"); !errors.Is(err, ErrRoomName) {
		t.Fatalf("bad room: %v", err)
	}
}

func TestDeleteOnlyByAuthor(t *testing.T) {
	e := newEnv(t, Config{})
	a, at := e.join("r1", "alice")
	e.send(a, msg("m-1", "mine"))
	next(t, at, ofKind(codec.KindMessage))
	if _, err := e.hub.Delete(context.Background(), "r1", "bob", "m-1"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("bob deleting alice's message: %v", err)
	}
	if _, err := e.hub.Delete(context.Background(), "r1", "alice", "m-1"); err != nil {
		t.Fatal(err)
	}
	got := next(t, at, ofKind(codec.KindDelete))
	if *got.MessageID != "m-1" || *got.UserID != "alice" {
		t.Fatalf("delete packet %+v", got)
	}
	page, _, _ := e.hub.History(context.Background(), "r1", chat.Cursor{}, 10)
	if len(page) != 0 {
		t.Fatalf("deleted message still in history: %+v", page)
	}
}

func TestIdleRoomReleasesCodecAndStops(t *testing.T) {
	e := newEnv(t, Config{IdleGrace: 50 * time.Millisecond})
	a, _ := e.join("r1", "alice")
	if e.hub.ActiveRooms() != 1 {
		t.Fatal("room not awake")
	}
	e.hub.Leave(a)
	deadline := time.Now().Add(5 * time.Second)
	for e.hub.ActiveRooms() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("empty room never went idle")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// It wakes again, warming its cache from the database.
	_, at := e.join("r1", "alice")
	next(t, at, ofKind(codec.KindOnlineUsers))
}

func TestHistoryCacheSources(t *testing.T) {
	e := newEnv(t, Config{HistoryCache: 3})
	a, at := e.join("r1", "alice")
	for i := 0; i < 5; i++ {
		e.send(a, msg(fmt.Sprintf("m-%d", i), "x"))
		next(t, at, ofKind(codec.KindMessage))
	}
	ctx := context.Background()
	cases := []struct {
		cur    chat.Cursor
		limit  int
		source string
		first  string
		n      int
	}{
		{chat.Cursor{}, 2, "cache", "m-4", 2},
		{chat.Cursor{}, 5, "cache+database", "m-4", 5},
		{chat.Cursor{BeforeRef: "m-3"}, 1, "cache", "m-2", 1},
		{chat.Cursor{BeforeRef: "m-1"}, 5, "database", "m-0", 1},
	}
	for _, tc := range cases {
		page, src, err := e.hub.History(ctx, "r1", tc.cur, tc.limit)
		if err != nil || src != tc.source || len(page) != tc.n || page[0].RefID != tc.first {
			t.Fatalf("%+v: got %d msgs from %q (%v), first %v", tc, len(page), src, err, page)
		}
	}
}
