package hub

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
)

// A resend of a deleted id, over a socket or HTTP, is answered as deleted,
// never with the text it had: the store erased it.
func TestResendOfDeletedIDIsAnsweredAsDeleted(t *testing.T) {
	e := newEnv(t, Config{})
	a, at := e.join("r1", "alice")
	_, bt := e.join("r1", "bob")
	e.send(a, msg("gone", "secret text"))
	next(t, at, ofKind(codec.KindMessage))
	next(t, bt, ofKind(codec.KindMessage))
	if _, err := e.hub.Delete(context.Background(), "r1", "alice", "gone"); err != nil {
		t.Fatal(err)
	}
	next(t, at, ofKind(codec.KindDelete))
	next(t, bt, ofKind(codec.KindDelete))

	e.send(a, msg("gone", "secret text"))
	got := next(t, at, func(p codec.Packet) bool { return p.Kind == codec.KindMessage || p.Kind == codec.KindDelete })
	if got.Kind != codec.KindDelete || *got.MessageID != "gone" || *got.UserID != "alice" || len(got.Payload) != 0 {
		t.Fatalf("resend of a deleted id answered %+v payload %q; want its Delete", got, got.Payload)
	}
	none(t, bt, 200*time.Millisecond, func(p codec.Packet) bool { return p.Kind == codec.KindMessage })

	m, err := e.hub.Post(context.Background(), "r1", "alice", "gone", "secret text")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Deleted() || len(m.Payload) != 0 {
		t.Fatalf("HTTP resend of a deleted id = %+v; want the erased message", m)
	}
	stored, err := e.db.MessageByRef(context.Background(), "r1", "gone")
	if err != nil || !stored.Deleted() || len(stored.Payload) != 0 {
		t.Fatalf("stored = %+v, %v; want erased", stored, err)
	}
	page, _, _ := e.hub.History(context.Background(), "r1", chat.Cursor{}, 10)
	if len(page) != 0 {
		t.Fatalf("history after resend = %+v", page)
	}
}

// Toggles go through the writer's group commit, and concurrent toggles by
// many users on one message lose none: each user's even number of toggles
// leaves nothing, an odd number leaves its reaction, and every socket sees
// every toggle.
func TestConcurrentTogglesThroughGroupCommit(t *testing.T) {
	e := newEnv(t, Config{})
	const users, rounds = 12, 5
	a, at := e.join("r1", "alice")
	e.send(a, msg("m-1", "react"))
	next(t, at, ofKind(codec.KindMessage))
	seqs := make(chan int64, users*rounds)
	var wg sync.WaitGroup
	for u := 0; u < users; u++ {
		wg.Add(1)
		go func(u int) {
			defer wg.Done()
			n := rounds
			if u%2 == 0 {
				n-- // even users toggle an even number of times
			}
			for i := 0; i < n; i++ {
				m, err := e.hub.React(context.Background(), "r1", fmt.Sprintf("u%d", u), "m-1", int(codec.ReactionLike))
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- m.EventSeq
			}
		}(u)
	}
	wg.Wait()
	close(seqs)
	seen := map[int64]bool{}
	for s := range seqs {
		if s <= 1 || seen[s] {
			t.Fatalf("toggle event number %d repeated or not after the message", s)
		}
		seen[s] = true
	}
	m, err := e.db.MessageByRef(context.Background(), "r1", "m-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Reactions) != 1 || m.Reactions[0].Count != users/2 {
		t.Fatalf("reactions = %+v; want %d likes (the odd users)", m.Reactions, users/2)
	}
	for _, u := range m.Reactions[0].Users {
		var n int
		fmt.Sscanf(u, "u%d", &n)
		if n%2 == 0 {
			t.Fatalf("user %s toggled an even number of times but still reacts", u)
		}
	}
	want := users*rounds - users/2
	for i := 0; i < want; i++ {
		next(t, at, ofKind(codec.KindReaction))
	}
}
