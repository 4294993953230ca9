package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/host"
	"github.com/wasmchannel/wasmchannel/internal/testenv/fixture"
	"github.com/wasmchannel/wasmchannel/wasm"
)

// newClock is a clock that moves only when told.
func newClock() *fixture.Clock { return fixture.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }

// stored returns the ids of a room's stored messages, oldest first.
func (e *testEnv) stored(room string) []string {
	e.t.Helper()
	msgs, err := e.db.History(context.Background(), room, chat.Cursor{}, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[len(msgs)-1-i] = m.RefID
	}
	return ids
}

// TestExhaustedPoolNeverHangs fills a real WASM pool with awake rooms: a
// room woken after that must answer within CodecWait (on the Go codec),
// over HTTP and over a socket, and a room woken once an instance is free
// again leases from the pool.
func TestExhaustedPoolNeverHangs(t *testing.T) {
	ctx := context.Background()
	pool, err := host.NewPool(ctx, wasm.Module, host.Config{Name: "wasm", MaxInstances: 2, MinWarm: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close(context.Background()) })
	cfg := Config{CodecWait: 100 * time.Millisecond, IdleGrace: 50 * time.Millisecond}
	e := newEnvSource(t, cfg, pool)

	a, _ := e.join("busy-1", "alice")
	e.join("busy-2", "bob")
	if st := pool.Stats(); st.Total != 2 || st.Idle != 0 {
		t.Fatalf("pool %+v, want both instances leased", st)
	}

	// An HTTP post to a third room: answered, stored, on the Go codec.
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := e.hub.Post(pctx, "third", "carol", "m-1", "still served"); err != nil {
		t.Fatalf("post to a room woken with the pool exhausted: %v", err)
	}
	took := time.Since(start)
	if got := e.stored("third"); len(got) != 1 || got[0] != "m-1" {
		t.Fatalf("stored %v", got)
	}
	// A socket into a fourth room is greeted, and its message echoed.
	c, ct := e.join("fourth", "carol")
	if p := next(t, ct, ofKind(codec.KindOnlineUsers)); string(p.Payload) != "1" {
		t.Fatalf("greeting %q", p.Payload)
	}
	e.send(c, msg("m-2", "echo me"))
	if p := next(t, ct, ofKind(codec.KindMessage)); p.MessageID == nil || *p.MessageID != "m-2" {
		t.Fatalf("echo %+v", p)
	}
	if n := e.hub.Stats().CodecFallbacks; n != 2 {
		t.Fatalf("%d codec fallbacks, want 2 (third and fourth)", n)
	}
	t.Logf("post to a room woken with the pool exhausted took %v (CodecWait %v)", took, cfg.CodecWait)

	// Once busy-1 sleeps its instance is free, and the next room gets it.
	e.hub.Leave(a)
	waitFor(t, "busy-1 sleeps", func() bool { return pool.Stats().Idle == 1 })
	leases := pool.Stats().Leases
	if _, err := e.hub.Post(pctx, "fifth", "carol", "m-3", "on wasm"); err != nil {
		t.Fatal(err)
	}
	if pool.Stats().Leases != leases+1 || e.hub.Stats().CodecFallbacks != 2 {
		t.Fatalf("fifth room: pool %+v, fallbacks %d; want a lease and no new fallback", pool.Stats(), e.hub.Stats().CodecFallbacks)
	}
}

// TestRoomCapPerUser: a user may hold MaxRoomsPerUser rooms awake; waking
// one more is refused, over HTTP and over a socket, while rooms already
// awake and other users are unaffected and nothing accepted is lost.
func TestRoomCapPerUser(t *testing.T) {
	clk := newClock()
	cfg := Config{MaxRoomsPerUser: 3, Now: clk.Now}
	e := newEnv(t, cfg)
	ctx := context.Background()
	for i := 0; i < cfg.MaxRoomsPerUser; i++ {
		if _, err := e.hub.Post(ctx, fmt.Sprintf("r%d", i), "alice", fmt.Sprintf("a-%d", i), "hi"); err != nil {
			t.Fatal(err)
		}
	}
	over := fmt.Sprintf("r%d", cfg.MaxRoomsPerUser)
	_, err := e.hub.Post(ctx, over, "alice", "a-over", "one too many")
	var he *Error
	if !errors.Is(err, ErrTooManyRooms) || !errors.As(err, &he) || !strings.Contains(he.Message, fmt.Sprint(cfg.MaxRoomsPerUser)) {
		t.Fatalf("waking room %d: %v", cfg.MaxRoomsPerUser+1, err)
	}
	c := NewConn(newFake(false), "alice", "", "")
	if err := e.hub.Join(ctx, over, c); !errors.Is(err, ErrTooManyRooms) {
		t.Fatalf("socket waking one more room: %v", err)
	}
	// A room already awake takes her; another user may wake the room.
	if _, err := e.hub.Post(ctx, "r0", "alice", "a-again", "awake room"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.hub.Post(ctx, over, "bob", "b-1", "bob wakes it"); err != nil {
		t.Fatal(err)
	}
	if got := e.stored("r0"); len(got) != 2 {
		t.Fatalf("r0 holds %v", got)
	}
	if got := e.stored(over); len(got) != 1 || got[0] != "b-1" {
		t.Fatalf("%s holds %v, want only bob's", over, got)
	}
	if n := e.hub.Stats().RoomCapRefusals; n != 2 {
		t.Fatalf("%d refusals counted, want 2", n)
	}
	// HTTP claims lapse after IdleGrace; a socket's lasts while it is open.
	s, _ := e.join("r-sock", "carol")
	clk.Advance(e.hub.cfg.IdleGrace)
	if _, err := e.hub.Post(ctx, "r-new", "alice", "a-later", "after the grace"); err != nil {
		t.Fatalf("after her claims lapsed: %v", err)
	}
	for i := 1; i < cfg.MaxRoomsPerUser; i++ {
		if _, err := e.hub.Post(ctx, fmt.Sprintf("c%d", i), "carol", fmt.Sprintf("c-%d", i), "hi"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.hub.Post(ctx, "c-over", "carol", "c-over", "x"); !errors.Is(err, ErrTooManyRooms) {
		t.Fatalf("carol's socket should still count: %v", err)
	}
	e.hub.Leave(s)
}

// TestUserBudgetAcrossRooms: spreading packets over rooms does not
// multiply the per-room limit, in packets or in bytes.
func TestUserBudgetAcrossRooms(t *testing.T) {
	clk := newClock()
	cfg := Config{RateLimit: 5, UserPacketRate: 8, Now: clk.Now}
	e := newEnv(t, cfg)
	ctx := context.Background()
	const rooms = 4
	for i := 0; i < cfg.UserPacketRate; i++ { // within every room's own limit
		if _, err := e.hub.Post(ctx, fmt.Sprintf("r%d", i%rooms), "alice", fmt.Sprintf("a-%d", i), "hi"); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	_, err := e.hub.Post(ctx, "r0", "alice", "a-over", "hi")
	var he *Error
	want := fmt.Sprintf("Rate limit exceeded: %d messages per second across all rooms", cfg.UserPacketRate)
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &he) || he.Message != want {
		t.Fatalf("post over the budget: %v", err)
	}
	// On a socket the refusal is a notice.
	a, at := e.join("r1", "alice")
	e.send(a, msg("a-sock", "hi"))
	if n := next(t, at, isNotice); string(n.Payload) != want {
		t.Fatalf("notice %q", n.Payload)
	}
	// Bob's budget is his own.
	if _, err := e.hub.Post(ctx, "r0", "bob", "b-1", "hi"); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := 0; i < rooms; i++ {
		total += len(e.stored(fmt.Sprintf("r%d", i)))
	}
	if total != cfg.UserPacketRate+1 {
		t.Fatalf("%d messages stored, want %d", total, cfg.UserPacketRate+1)
	}
	clk.Advance(time.Second)
	if _, err := e.hub.Post(ctx, "r3", "alice", "a-next", "a second later"); err != nil {
		t.Fatalf("after a second: %v", err)
	}
}

func TestUserByteBudgetAcrossRooms(t *testing.T) {
	clk := newClock()
	cfg := Config{UserByteRate: 200, Now: clk.Now}
	e := newEnv(t, cfg)
	ctx := context.Background()
	text := strings.Repeat("b", cfg.UserByteRate*3/4)
	for i, room := range []string{"r0", "r1"} { // the second goes into debt
		if _, err := e.hub.Post(ctx, room, "alice", fmt.Sprintf("a-%d", i), text); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	want := fmt.Sprintf("Rate limit exceeded: %d bytes per second across all rooms", cfg.UserByteRate)
	if _, err := e.hub.Post(ctx, "r2", "alice", "a-2", "x"); !errors.Is(err, ErrRateLimited) || err.Error() != want {
		t.Fatalf("post over the byte budget: %v", err)
	}
	clk.Advance(time.Second) // the debt is paid back, and more
	if _, err := e.hub.Post(ctx, "r2", "alice", "a-3", text); err != nil {
		t.Fatalf("a second later: %v", err)
	}
	if n := len(e.stored("r0")) + len(e.stored("r1")) + len(e.stored("r2")); n != 3 {
		t.Fatalf("%d stored, want 3", n)
	}
}

// TestRepeatedViolationsDisconnect: MaxViolations refused frames within
// ViolationWindow close the socket with DisconnectViolations; fewer, or
// spread over windows, do not; the room keeps serving the others.
func TestRepeatedViolationsDisconnect(t *testing.T) {
	clk := newClock()
	cfg := Config{RateLimit: 3, MaxViolations: 6, ViolationWindow: 10 * time.Second, Now: clk.Now}
	e := newEnv(t, cfg)
	a, at := e.join("r1", "alice")
	_, bt := e.join("r1", "bob")
	bad := codec.Packet{Kind: codec.KindOnlineUsers, Payload: []byte("9")} // against the rules
	for round := 0; round < 2; round++ {
		for i := 0; i < cfg.MaxViolations-1; i++ {
			e.send(a, bad)
		}
		for i := 0; i < cfg.MaxViolations-1; i++ { // each refused with a notice
			next(t, at, isNotice)
		}
		// A notice is queued before its frame is counted as a violation:
		// move the clock only once the room has counted the last one.
		e.settle(a)
		clk.Advance(cfg.ViolationWindow)
	}
	select {
	case code := <-at.closed:
		t.Fatalf("closed with %d after violations spread over two windows", code)
	default:
	}
	// Within one window: RateLimit accepted, then only refused frames.
	for i := 0; i < cfg.RateLimit+cfg.MaxViolations; i++ {
		_ = e.hub.Receive(context.Background(), a, mustEncode(t, msg(fmt.Sprintf("a-%d", i), "spam")))
	}
	select {
	case code := <-at.closed:
		if code != DisconnectViolations.Code {
			t.Fatalf("closed with %d, want %d", code, DisconnectViolations.Code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not disconnected")
	}
	if e.hub.Stats().ViolationDisconnects != 1 {
		t.Fatalf("violation disconnects %d", e.hub.Stats().ViolationDisconnects)
	}
	// Alice's accepted messages are stored; bob is still served.
	waitFor(t, "alice's accepted messages are stored", func() bool { return len(e.stored("r1")) == cfg.RateLimit })
	b2, _ := e.join("r1", "bob")
	e.send(b2, msg("b-1", "still here"))
	if p := next(t, bt, func(p codec.Packet) bool { return p.MessageID != nil && *p.MessageID == "b-1" }); string(p.Payload) != "still here" {
		t.Fatalf("bob got %+v", p)
	}
}

func mustEncode(t *testing.T, p codec.Packet) []byte {
	t.Helper()
	b, err := codec.NewGo().Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
