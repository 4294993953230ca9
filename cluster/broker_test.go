package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wasmchannel/wasmchannel/internal/natstest"
)

// The tests below run real nats-server processes (natstest) and several
// Brokers in this process, each on its own NATS connection, as separate
// nodes would. Only the database is stood in for, by memStore.

// room has a '.', the NATS token separator, on purpose.
const room = "team.general"

func nodes(t *testing.T, url string, st *memStore, names ...string) []node {
	t.Helper()
	out := make([]node, len(names))
	for i, n := range names {
		out[i] = openNode(t, testConfig(url, n), st)
	}
	return out
}

func TestOrderAcrossThreeNodes(t *testing.T) {
	srv := natstest.Start(t)
	st := newMemStore()
	ns := nodes(t, srv.URL(), st, "a", "b", "c")
	for i, n := range ns {
		if _, err := n.SetLocal(room, []string{fmt.Sprint("u", i)}); err != nil {
			t.Fatal(err)
		}
		n.ready(t, room)
	}
	// Wait until every node's subscription is at the server, seen as
	// each node's presence reaching the others.
	for _, n := range ns {
		waitFor(t, 5*time.Second, "presence of 3", func() bool { return n.Online(room) == 3 })
	}
	// Each node commits and publishes concurrently: the store orders them,
	// NATS interleaves them differently for each receiver.
	const perNode = 200
	var wg sync.WaitGroup
	for _, n := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perNode; i++ {
				ev := st.commit(room, n.NodeID(), []byte(fmt.Sprintf("%s-%d", n.NodeID(), i)))
				if err := n.Publish(ev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := int64(3 * perNode)
	for _, n := range ns {
		waitFor(t, 10*time.Second, n.NodeID()+" all events", func() bool { return int64(len(n.rec.seqs(room))) >= total })
	}
	// A little longer, so a duplicate would show.
	time.Sleep(200 * time.Millisecond)
	for _, n := range ns {
		checkInOrder(t, n.NodeID(), n.rec, st, room, 1, total)
		s := n.Stats()
		if s.Published != perNode || s.PublishDropped != 0 || s.Skipped != 0 {
			t.Fatalf("%s stats %+v", n.NodeID(), s)
		}
		t.Logf("%s: received %d, duplicates %d, gap fills %d (events %d)", n.NodeID(), s.Received, s.Duplicates, s.GapFills, s.GapEvents)
	}
}

func TestGapFilledAfterNATSKill(t *testing.T) {
	srv := natstest.Start(t)
	st := newMemStore()
	ns := nodes(t, srv.URL(), st, "a", "b")
	a, b := ns[0], ns[1]
	for _, n := range ns {
		if _, err := n.SetLocal(room, []string{"u-" + n.NodeID()}); err != nil {
			t.Fatal(err)
		}
		n.ready(t, room)
	}
	waitFor(t, 5*time.Second, "b sees a", func() bool { return b.Online(room) == 2 })
	for i := 0; i < 10; i++ {
		a.commitPublish(t, st, room, fmt.Sprint("before-", i))
	}
	waitFor(t, 5*time.Second, "b has 10", func() bool { return len(b.rec.seqs(room)) == 10 })

	srv.Kill()
	// The disconnect callback runs after the connection state changes.
	waitFor(t, 5*time.Second, "both degraded", func() bool {
		return !a.Connected() && !b.Connected() && a.Stats().Disconnects > 0
	})
	if s := a.Stats(); s.Connected || s.Server != "" {
		t.Fatalf("a's stats while NATS is down: %+v", s)
	}
	// a keeps committing and delivering to its own sockets, in order.
	for i := 0; i < 25; i++ {
		a.commitPublish(t, st, room, fmt.Sprint("during-", i))
	}
	// So does b, interleaved: each must fill the other's from the store.
	for i := 0; i < 5; i++ {
		b.commitPublish(t, st, room, fmt.Sprint("b-during-", i))
	}
	if s := a.Stats(); s.PublishDropped != 25 {
		t.Fatalf("a dropped %d publishes while NATS was down, want 25", s.PublishDropped)
	}
	// b's own commits (36..40) are ahead of a's unseen ones: b fills them
	// from the store even before NATS returns.
	waitFor(t, 5*time.Second, "b fills a's outage events", func() bool { return len(b.rec.seqs(room)) == 40 })
	waitFor(t, 5*time.Second, "a has 35", func() bool { return len(a.rec.seqs(room)) == 35 })

	// Events committed by a peer while NATS is down with no later local
	// event to reveal them: only the reconnect resync finds these.
	for i := 0; i < 3; i++ {
		b.commitPublish(t, st, room, fmt.Sprint("b-tail-", i))
	}
	time.Sleep(300 * time.Millisecond)
	if got := len(a.rec.seqs(room)); got != 35 {
		t.Fatalf("a delivered %d before the reconnect, want 35 (no polling in this test)", got)
	}
	srv.Restart()
	waitFor(t, 10*time.Second, "reconnected", func() bool { return a.Connected() && b.Connected() })
	waitFor(t, 5*time.Second, "a filled on reconnect", func() bool { return len(a.rec.seqs(room)) == 43 })
	time.Sleep(200 * time.Millisecond)
	checkInOrder(t, "a", a.rec, st, room, 1, 43)
	checkInOrder(t, "b", b.rec, st, room, 1, 43)
	sa := a.Stats()
	if sa.Reconnects == 0 || sa.GapFills == 0 || sa.Skipped != 0 {
		t.Fatalf("a stats after reconnect: %+v", sa)
	}
	a.rec.mu.Lock()
	resyncs := a.rec.resyncs
	a.rec.mu.Unlock()
	if resyncs == 0 {
		t.Fatal("Handler.Resync not called after the reconnect")
	}
	// And traffic flows over NATS again.
	a.commitPublish(t, st, room, "after")
	waitFor(t, 5*time.Second, "b gets the next", func() bool { return len(b.rec.seqs(room)) == 44 })
	checkInOrder(t, "b after", b.rec, st, room, 1, 44)
}

func TestDegradedPollKeepsRoomsLive(t *testing.T) {
	srv := natstest.Start(t)
	st := newMemStore()
	ca, cb := testConfig(srv.URL(), "a"), testConfig(srv.URL(), "b")
	cb.DegradedPoll = 100 * time.Millisecond
	a, b := openNode(t, ca, st), openNode(t, cb, st)
	for _, n := range []node{a, b} {
		if _, err := n.SetLocal(room, []string{"u"}); err != nil {
			t.Fatal(err)
		}
		n.ready(t, room)
	}
	srv.Kill()
	waitFor(t, 5*time.Second, "b degraded", func() bool { return !b.Connected() })
	a.commitPublish(t, st, room, "while down")
	waitFor(t, 3*time.Second, "b polls it from the store", func() bool { return len(b.rec.seqs(room)) == 1 })
	checkInOrder(t, "b", b.rec, st, room, 1, 1)
}

func TestStartsWithoutNATS(t *testing.T) {
	srv := natstest.Start(t)
	srv.Stop()
	st := newMemStore()
	a := openNode(t, testConfig(srv.URL(), "a"), st)
	if a.Connected() {
		t.Fatal("connected with no server")
	}
	if _, err := a.SetLocal(room, []string{"u"}); err != nil {
		t.Fatal(err)
	}
	a.ready(t, room)
	a.commitPublish(t, st, room, "local only")
	if got := a.rec.seqs(room); len(got) != 1 {
		t.Fatalf("local delivery while NATS never connected: %v", got)
	}
	if s := a.Stats(); s.PublishDropped != 1 || s.Published != 0 {
		t.Fatalf("stats %+v", s)
	}
	srv.Restart()
	waitFor(t, 10*time.Second, "first connect", a.Connected)
	b := openNode(t, testConfig(srv.URL(), "b"), st)
	if _, err := b.SetLocal(room, []string{"v"}); err != nil {
		t.Fatal(err)
	}
	b.ready(t, room)
	waitFor(t, 5*time.Second, "a subscribed at the server", func() bool { return b.Online(room) == 2 })
	b.commitPublish(t, st, room, "over nats")
	waitFor(t, 5*time.Second, "a receives", func() bool { return len(a.rec.seqs(room)) == 2 })
	checkInOrder(t, "a", a.rec, st, room, 1, 2)
}

func TestPresenceAcrossNodes(t *testing.T) {
	srv := natstest.Start(t)
	st := newMemStore()
	ns := nodes(t, srv.URL(), st, "a", "b", "c")
	a, b, c := ns[0], ns[1], ns[2]
	// alice has sockets on a and b: she counts once.
	mustSet := func(n node, users ...string) int {
		t.Helper()
		k, err := n.SetLocal(room, users)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	mustSet(a, "alice")
	mustSet(b, "alice", "bob", "bob")
	mustSet(c, "carol")
	for _, n := range ns {
		waitFor(t, 5*time.Second, n.NodeID()+" counts 3", func() bool { return n.Online(room) == 3 })
	}
	if a.rec.noticed(room) == 0 {
		t.Fatal("a counts 3 but was never told the count changed")
	}
	told := a.rec.noticed(room)

	// bob leaves b: 2 everywhere, and a hears of it without asking.
	if k := mustSet(b, "alice"); k != 2 {
		t.Fatalf("b's own count after bob left: %d, want 2", k)
	}
	waitFor(t, 5*time.Second, "a told of bob leaving", func() bool { return a.rec.noticed(room) > told && a.Online(room) == 2 })

	// A node that shuts down says goodbye: carol drops at once, not after
	// the TTL.
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a drops carol", func() bool { return a.Online(room) == 1 })
	if d := time.Since(start); d >= a.cfg.PeerTTL {
		t.Fatalf("goodbye took %s, as long as an expiry", d)
	}
	if s := a.Stats(); s.Peers != 1 || s.PeersSeen != 2 {
		t.Fatalf("a peers %d seen %d, want 1 and 2", s.Peers, s.PeersSeen)
	}
}

// ghost publishes presence as a node that then dies without a goodbye, as
// a SIGKILLed node does: its last heartbeat is all the others ever get.
func ghost(t *testing.T, url, name string, rooms map[string][]string, seqs map[string]int64) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	data, _ := json.Marshal(ctlMsg{Type: ctlHeartbeat, Node: name, Full: true, Rooms: rooms, Seqs: seqs})
	if err := nc.Publish("wc.ctl", data); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestPresenceExpiresSilentPeer(t *testing.T) {
	srv := natstest.Start(t)
	st := newMemStore()
	a := openNode(t, testConfig(srv.URL(), "a"), st)
	if _, err := a.SetLocal(room, []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "subscribed", func() bool { return a.Stats().Rooms == 1 })
	time.Sleep(100 * time.Millisecond) // control SUB at the server
	ghost(t, srv.URL(), "dead", map[string][]string{room: {"alice", "zed"}}, nil)
	waitFor(t, 5*time.Second, "ghost counted", func() bool { return a.rec.noticed(room) == 1 && a.Online(room) == 2 })
	seen := time.Now()
	waitFor(t, 5*time.Second, "ghost expired", func() bool { return a.rec.noticed(room) == 2 && a.Online(room) == 1 })
	took := time.Since(seen)
	bound := a.cfg.PeerTTL + a.cfg.Heartbeat/2
	if took < a.cfg.PeerTTL-a.cfg.Heartbeat || took > bound+500*time.Millisecond {
		t.Fatalf("expired %s after the last heartbeat, want about %s..%s", took, a.cfg.PeerTTL, bound)
	}
	if s := a.Stats(); s.Peers != 0 || s.PeersSeen != 1 {
		t.Fatalf("peers %d seen %d after expiry", s.Peers, s.PeersSeen)
	}
}

func TestDefaultExpiryWithinIssueBound(t *testing.T) {
	c := DefaultConfig()
	if worst := c.PeerTTL + c.Heartbeat/2; worst > 15*time.Second {
		t.Fatalf("a dead node's users may count for %s; the issue allows 15s", worst)
	}
	if c.Heartbeat*3 > c.PeerTTL {
		t.Fatalf("heartbeat %s and TTL %s: fewer than 3 heartbeats per TTL", c.Heartbeat, c.PeerTTL)
	}
}

func TestHeartbeatHintFillsLostTail(t *testing.T) {
	srv := natstest.Start(t)
	st := newMemStore()
	a := openNode(t, testConfig(srv.URL(), "a"), st)
	if _, err := a.SetLocal(room, []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	a.ready(t, room)
	// A peer committed two events whose NATS messages were lost; its
	// heartbeat says it published up to seq 2.
	st.commit(room, "dead", []byte("lost-1"))
	st.commit(room, "dead", []byte("lost-2"))
	time.Sleep(100 * time.Millisecond)
	ghost(t, srv.URL(), "dead", nil, map[string]int64{room: 2})
	waitFor(t, 5*time.Second, "tail filled", func() bool { return len(a.rec.seqs(room)) == 2 })
	checkInOrder(t, "a", a.rec, st, room, 1, 2)
}

func TestRevocationFanOut(t *testing.T) {
	srv := natstest.Start(t)
	st := newMemStore()
	ns := nodes(t, srv.URL(), st, "a", "b", "c")
	for _, n := range ns {
		waitFor(t, 5*time.Second, n.NodeID()+" sees peers", func() bool { return n.Stats().Peers == 2 })
	}
	start := time.Now()
	if err := ns[0].Revoke("hash-of-token"); err != nil {
		t.Fatal(err)
	}
	for _, n := range ns[1:] {
		waitFor(t, 5*time.Second, n.NodeID()+" revoked", func() bool {
			n.rec.mu.Lock()
			defer n.rec.mu.Unlock()
			return len(n.rec.revoked) == 1 && n.rec.revoked[0] == "hash-of-token"
		})
	}
	t.Logf("revocation reached both peers in %s", time.Since(start))
	time.Sleep(100 * time.Millisecond)
	ns[0].rec.mu.Lock()
	self := len(ns[0].rec.revoked)
	ns[0].rec.mu.Unlock()
	if self != 0 {
		t.Fatal("the sender got its own revocation back: it closes its sockets itself")
	}
	if s := ns[0].Stats(); s.RevokesOut != 1 {
		t.Fatalf("revokes out %d", s.RevokesOut)
	}
	if err := ns[0].Revoke(""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty session key: %v, want ErrInvalid", err)
	}
	if err := ns[0].Publish(Event{Room: room}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("event without seq: %v, want ErrInvalid", err)
	}
	if err := ns[0].Publish(Event{Room: "", Seq: 1}); !errors.Is(err, ErrRoom) {
		t.Fatalf("event without room: %v, want ErrRoom", err)
	}
}

func TestTypingIsNotSequenced(t *testing.T) {
	srv := natstest.Start(t)
	st := newMemStore()
	ns := nodes(t, srv.URL(), st, "a", "b")
	a, b := ns[0], ns[1]
	for _, n := range ns {
		if _, err := n.SetLocal(room, []string{"u-" + n.NodeID()}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "b sees a", func() bool { return b.Online(room) == 2 })
	if err := a.Typing(room, "alice", []byte(`{"isTyping":true}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "typing at b", func() bool {
		b.rec.mu.Lock()
		defer b.rec.mu.Unlock()
		return len(b.rec.typing) == 1
	})
	b.rec.mu.Lock()
	got := b.rec.typing[0]
	b.rec.mu.Unlock()
	if got != room+`/alice/{"isTyping":true}` {
		t.Fatalf("typing at b: %q", got)
	}
	if len(b.rec.seqs(room)) != 0 || st.afterCalls() != 0 {
		t.Fatal("typing went through the sequencer or the store")
	}
	srv.Kill()
	waitFor(t, 5*time.Second, "a degraded", func() bool { return !a.Connected() })
	if err := a.Typing(room, "alice", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if s := a.Stats(); s.TypingOut != 1 || s.TypingDropped != 1 {
		t.Fatalf("typing stats while down: %+v", s)
	}
	// Shutting down while NATS is away does not wait for it.
	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatalf("close while degraded: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("close while degraded took %s", d)
	}
	if _, err := a.SetLocal(room, []string{"x"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetLocal after Close: %v, want ErrClosed", err)
	}
}

func TestMalformedMessagesAreDropped(t *testing.T) {
	srv := natstest.Start(t)
	st := newMemStore()
	a := openNode(t, testConfig(srv.URL(), "a"), st)
	if _, err := a.SetLocal(room, []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	a.ready(t, room)
	time.Sleep(100 * time.Millisecond)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	subject, _ := subjects{"wc"}.room(room)
	for _, bad := range [][]byte{nil, {'E'}, {'E', 0}, {'X', 1}, {'T', 200}, {'E', 1, 250, 'x'}} {
		_ = nc.Publish(subject, bad)
	}
	for _, bad := range []string{"{", `{"t":"hb"}`, `{"t":"nope","n":"x"}`, `{"t":"revoke","n":"x"}`} {
		_ = nc.Publish("wc.ctl", []byte(bad))
	}
	// A well-formed event after the junk still arrives.
	ev := st.commit(room, "peer", []byte("good"))
	_ = nc.Publish(subject, encodeEvent(ev))
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "good event", func() bool { return len(a.rec.seqs(room)) == 1 })
	waitFor(t, 5*time.Second, "malformed counted", func() bool { return a.Stats().Malformed == 10 })
	checkInOrder(t, "a", a.rec, st, room, 1, 1)
}

func TestUnsubscribeWhenRoomEmpties(t *testing.T) {
	srv := natstest.Start(t)
	st := newMemStore()
	ns := nodes(t, srv.URL(), st, "a", "b")
	a, b := ns[0], ns[1]
	for _, n := range ns {
		if _, err := n.SetLocal(room, []string{"u"}); err != nil {
			t.Fatal(err)
		}
		n.ready(t, room)
	}
	if _, err := b.SetLocal(room, nil); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Rooms != 0 {
		t.Fatalf("b still subscribed to %d rooms", s.Rooms)
	}
	a.commitPublish(t, st, room, "x")
	time.Sleep(300 * time.Millisecond)
	if got := b.rec.seqs(room); len(got) != 0 || b.Stats().Received != 0 {
		t.Fatalf("b got %v after leaving the room", got)
	}
	// Rejoining starts from the store's baseline: no replay of history.
	if _, err := b.SetLocal(room, []string{"u"}); err != nil {
		t.Fatal(err)
	}
	b.ready(t, room) // after the SUB reached the server
	a.commitPublish(t, st, room, "y")
	waitFor(t, 5*time.Second, "b gets y", func() bool { return len(b.rec.seqs(room)) == 1 })
	if got := b.rec.seqs(room); got[0] != 2 {
		t.Fatalf("b delivered %v, want [2]", got)
	}
}

// Three nodes keep committing while NATS is SIGKILLed and restarted: every
// node ends with every event, in order, once, and nothing is skipped.
func TestNATSRestartUnderLoad(t *testing.T) {
	srv := natstest.Start(t)
	st := newMemStore()
	ns := nodes(t, srv.URL(), st, "a", "b", "c")
	for _, n := range ns {
		if _, err := n.SetLocal(room, []string{"u-" + n.NodeID()}); err != nil {
			t.Fatal(err)
		}
		n.ready(t, room)
	}
	for _, n := range ns {
		waitFor(t, 5*time.Second, "presence of 3", func() bool { return n.Online(room) == 3 })
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				ev := st.commit(room, n.NodeID(), []byte(fmt.Sprintf("%s-%d", n.NodeID(), i)))
				if err := n.Publish(ev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(400 * time.Millisecond)
	srv.Kill()
	time.Sleep(500 * time.Millisecond)
	srv.Restart()
	waitFor(t, 10*time.Second, "all reconnected", func() bool {
		return ns[0].Connected() && ns[1].Connected() && ns[2].Connected()
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	total, _ := st.LastSeq(t.Context(), room)
	for _, n := range ns {
		deadline := time.Now().Add(10 * time.Second)
		for int64(len(n.rec.seqs(room))) < total {
			if time.Now().After(deadline) {
				t.Fatalf("%s delivered %d of %d; %s; stats %+v", n.NodeID(), len(n.rec.seqs(room)), total, n.seqState(room), n.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(200 * time.Millisecond)
	var dropped uint64
	for _, n := range ns {
		checkInOrder(t, n.NodeID(), n.rec, st, room, 1, total)
		s := n.Stats()
		if s.Skipped != 0 {
			t.Fatalf("%s skipped %d", n.NodeID(), s.Skipped)
		}
		dropped += s.PublishDropped
		t.Logf("%s: published %d, dropped while down %d, received %d, gap fills %d (%d events)", n.NodeID(), s.Published, s.PublishDropped, s.Received, s.GapFills, s.GapEvents)
	}
	if dropped == 0 {
		t.Fatal("no publish was dropped: NATS was not down while the nodes committed")
	}
	t.Logf("%d events in all", total)
}
