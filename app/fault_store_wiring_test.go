package app_test

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/handlers"
)

// Issue 15, finding 9: a flood of reaction toggles across 200 rooms shares
// the writer's group commits with messages, so an unrelated room's message
// acknowledgements stay within the interval between two messages of a user
// at the default rate limit, and no toggle is lost.
func TestFaultToggleFloodDoesNotStarveAcks(t *testing.T) {
	s := start(t, noRateLimits, func(c *app.Config) { c.MaxRoomsPerUser = 0 })
	bound := time.Second / time.Duration(app.DefaultConfig().RateLimit)
	mallory, alice, bob := s.signUp("mallory"), s.signUp("alice"), s.signUp("bob")

	const rooms, flooders = 200, 8
	ids := make([]string, rooms)
	for i := range ids {
		var m handlers.WireMessage
		if st := s.do("POST", "/api/messages", mallory.Token, map[string]any{"room": fmt.Sprintf("flood%d", i), "text": "react to me"}, &m); st != 201 {
			t.Fatalf("post to room %d: %d", i, st)
		}
		ids[i] = m.ID
	}
	writes0, txs0 := metricValue(t, s, "wasmchannel_persist_batch_messages_sum"), metricValue(t, s, "wasmchannel_persist_batch_messages_count")
	a := joined(s.dial(alice, "quiet"))
	b := joined(s.dial(bob, "quiet"))

	stop := make(chan struct{})
	var toggles [rooms]atomic.Int64
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	for f := 0; f < flooders; f++ {
		wg.Add(1)
		go func(f int) {
			defer wg.Done()
			for i := f; ; i += flooders {
				select {
				case <-stop:
					return
				default:
				}
				room := i % rooms
				req, _ := http.NewRequest("PUT", s.url+"/api/messages/"+ids[room]+"/react", strings.NewReader(`{"kind":1}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+mallory.Token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					toggles[room].Add(1)
					sent.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}(f)
	}
	time.Sleep(300 * time.Millisecond) // the flood is under way

	var lat []time.Duration
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		id := fmt.Sprintf("quiet-%d", i)
		t0 := time.Now()
		a.send(text(id, "are you there"))
		a.next(withID(id))
		lat = append(lat, time.Since(t0))
		b.next(withID(id))
		time.Sleep(20 * time.Millisecond)
	}
	flooded := sent.Load()
	close(stop)
	wg.Wait()

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("%d toggles committed during the run (%d refused), %d acks: p50 %v, p99 %v, max %v; bound %v",
		sent.Load(), failed.Load(), len(lat), p50, p99, lat[len(lat)-1], bound)
	if flooded < 500 {
		t.Fatalf("only %d toggles during the measurement: not a flood", flooded)
	}
	if failed.Load() != 0 {
		t.Fatalf("%d toggles refused", failed.Load())
	}
	if p99 > bound {
		t.Fatalf("acks in an unrelated room took p99 %v under the toggle flood, over %v (1 s / the default rate limit)", p99, bound)
	}
	// The toggles went through the group commit: the writer committed them
	// with alice's messages, and some transactions held several (how many
	// depends on how far the disk lags the flood).
	writes := metricValue(t, s, "wasmchannel_persist_batch_messages_sum") - writes0
	txs := metricValue(t, s, "wasmchannel_persist_batch_messages_count") - txs0
	t.Logf("writer: %.0f writes in %.0f transactions", writes, txs)
	if writes < float64(sent.Load()+int64(len(lat))) {
		t.Fatalf("the writer committed %.0f writes, fewer than the %d toggles and %d messages: toggles bypass the group commit", writes, sent.Load(), len(lat))
	}
	if txs >= writes {
		t.Fatalf("%.0f writes took %.0f transactions: no commit was shared", writes, txs)
	}
	// Nothing lost: each room's like is there exactly when mallory toggled
	// it an odd number of times.
	for i, id := range ids {
		var h history
		s.do("GET", fmt.Sprintf("/api/messages?room=flood%d&limit=1", i), bob.Token, nil, &h)
		if len(h.Messages) != 1 || h.Messages[0].ID != id {
			t.Fatalf("room %d: history %+v", i, h.Messages)
		}
		liked := len(h.Messages[0].Reactions) == 1 && h.Messages[0].Reactions[0].Count == 1
		if odd := toggles[i].Load()%2 == 1; liked != odd {
			t.Fatalf("room %d: %d toggles, reactions %+v", i, toggles[i].Load(), h.Messages[0].Reactions)
		}
	}
}

// metricLines scrapes the server's /metrics, a line per element.
func metricLines(s *server) ([]string, error) {
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.Split(string(b), "\n"), err
}

// metricValue reads one unlabelled sample from /metrics.
func metricValue(t *testing.T, s *server, name string) float64 {
	t.Helper()
	lines, err := metricLines(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range lines {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			fmt.Sscanf(v, "%g", &f)
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// Issue 15, finding 7: a resend of a deleted id (the cache dropped it, so
// it reaches the store) is answered with its Delete, never with its old text, and
// the text is gone from the store.
func TestFaultDeletedResendNeverLiveText(t *testing.T) {
	s := start(t)
	alice, bob := s.signUp("alice"), s.signUp("bob")
	a := joined(s.dial(alice, "del"))
	a.send(text("secret-1", "the secret"))
	a.next(withID("secret-1"))
	var h history
	s.do("GET", "/api/messages?room=del&limit=10", alice.Token, nil, &h)
	if len(h.Messages) != 1 {
		t.Fatalf("history %+v", h.Messages)
	}
	if st := s.do("DELETE", "/api/messages/"+h.Messages[0].ID, alice.Token, nil, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	a.next(kind(codec.KindDelete))
	b := joined(s.dial(bob, "del"))
	a.send(text("secret-1", "the secret"))
	got := a.next(func(p codec.Packet) bool { return withID("secret-1")(p) })
	if got.Kind != codec.KindDelete || len(got.Payload) != 0 {
		t.Fatalf("resend of a deleted id answered %v %q; want its Delete", got.Kind, got.Payload)
	}
	b.none(300*time.Millisecond, withID("secret-1"))
	var m handlers.WireMessage
	if st := s.do("POST", "/api/messages", alice.Token, map[string]any{"room": "del", "text": "the secret", "messageId": "secret-1"}, &m); st/100 != 2 || m.DeletedAt == nil || len(m.Payload) != 0 {
		t.Fatalf("HTTP resend of a deleted id: %d %+v; want the erased message", st, m)
	}
	s.do("GET", "/api/messages?room=del&limit=10", alice.Token, nil, &h)
	if len(h.Messages) != 0 {
		t.Fatalf("history after the resends: %+v", h.Messages)
	}
}
