package cluster

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/internal/natstest"
)

func TestSplitPresenceKeepsEverything(t *testing.T) {
	rooms := map[string][]string{}
	seqs := map[string]int64{}
	for i := 0; i < 40; i++ {
		r := fmt.Sprintf("room-%02d", i)
		for j := 0; j <= i; j++ { // up to 40 users: some rooms span parts
			rooms[r] = append(rooms[r], fmt.Sprintf("user-%03d", j))
		}
		seqs[r] = int64(i + 1)
	}
	for _, limit := range []int{0, 300, 1000, 1 << 20} {
		parts := splitPresence(rooms, seqs, limit)
		gotRooms := map[string][]string{}
		gotSeqs := map[string]int64{}
		for _, p := range parts {
			data, _ := json.Marshal(ctlMsg{Type: ctlHeartbeat, Node: "node-1", Full: true, Rooms: p.rooms, Seqs: p.seqs, Gen: 1 << 40, Part: 999, Parts: 999})
			if eff := max(limit, 256); len(data) > eff {
				t.Fatalf("limit %d: a part of %d bytes", limit, len(data))
			}
			for r, us := range p.rooms {
				gotRooms[r] = append(gotRooms[r], us...)
			}
			for r, q := range p.seqs {
				gotSeqs[r] = q
			}
		}
		for r, us := range rooms {
			if !slices.Equal(normUsers(gotRooms[r]), normUsers(us)) {
				t.Fatalf("limit %d: room %s users %v, want %v", limit, r, gotRooms[r], us)
			}
			if gotSeqs[r] != seqs[r] {
				t.Fatalf("limit %d: room %s seq %d", limit, r, gotSeqs[r])
			}
		}
		if limit == 1<<20 && len(parts) != 1 {
			t.Fatalf("%d parts under a 1 MiB limit", len(parts))
		}
		if limit == 300 && len(parts) < 20 {
			t.Fatalf("only %d parts of 300 bytes", len(parts))
		}
	}
	if parts := splitPresence(nil, nil, 1000); len(parts) != 1 || len(parts[0].rooms) != 0 {
		t.Fatalf("empty presence: %d parts", len(parts))
	}
}

func TestPresencePartsApplyWhenComplete(t *testing.T) {
	p := newPresence()
	p.setLocal("r", []string{"me"})
	now := time.Now()
	p.apply("peer", true, map[string][]string{"r": {"a"}}, now)
	// Generation 2 arrives in two parts; until the second, the old view
	// stands.
	if ch := p.applyPart("peer", 2, 2, map[string][]string{"r": {"b"}}, now); ch != nil {
		t.Fatalf("applied after part 1 of 2: %v", ch)
	}
	if n := p.count("r"); n != 2 {
		t.Fatalf("count %d during gen 2, want the old 2 (me, a)", n)
	}
	// Part 2 of gen 2 is lost; gen 3 starts over and completes.
	p.applyPart("peer", 3, 2, map[string][]string{"r": {"c"}}, now)
	if ch := p.applyPart("peer", 3, 2, map[string][]string{"r": {"d"}, "s": {"e"}}, now); len(ch) != 2 {
		t.Fatalf("changed rooms %v, want r and s", ch)
	}
	if n := p.count("r"); n != 3 {
		t.Fatalf("count %d after gen 3, want 3 (me, c, d)", n)
	}
}

func TestMultiPartHeartbeatOverNATS(t *testing.T) {
	srv := natstest.Start(t)
	st := newMemStore()
	cfg := testConfig(srv.URL(), "big")
	cfg.partBytes = 300
	big := openNode(t, cfg, st)
	obs := openNode(t, testConfig(srv.URL(), "obs"), st)
	for i := 0; i < 30; i++ {
		users := make([]string, 0, 20)
		for j := 0; j < 20; j++ {
			users = append(users, fmt.Sprintf("user-%d-%d", i, j))
		}
		if _, err := big.SetLocal(fmt.Sprintf("room-%d", i), users); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := obs.SetLocal("room-7", []string{"watcher"}); err != nil {
		t.Fatal(err)
	}
	// A full heartbeat must carry everything; drop what deltas brought
	// first, so only the multi-part heartbeat can restore it.
	time.Sleep(100 * time.Millisecond)
	obs.mu.Lock()
	obs.pres.drop("big")
	obs.mu.Unlock()
	waitFor(t, 5*time.Second, "room-7 counted from parts", func() bool { return obs.Online("room-7") == 21 })
	obs.mu.Lock()
	total := 0
	for _, us := range obs.pres.peers["big"].rooms {
		total += len(us)
	}
	obs.mu.Unlock()
	if total != 600 {
		t.Fatalf("obs knows %d of big's 600 room-users", total)
	}
}
