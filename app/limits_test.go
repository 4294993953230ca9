package app_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wasmchannel/wasmchannel/app"
)

// TestRoomCapPerUserOverHTTPAndWebSocket: one user may hold
// MaxRoomsPerUser rooms awake; one more is refused with 429 TOO_MANY_ROOMS
// over HTTP and a 1013 close naming the cap over WebSocket, and what was
// accepted is kept. (The cap's bookkeeping is tested in hub.)
func TestRoomCapPerUserOverHTTPAndWebSocket(t *testing.T) {
	const limit = 2
	s := start(t, func(c *app.Config) {
		c.Codec = "go"
		c.MaxRoomsPerUser = limit
		// Claims must outlive the test, not lapse while it runs.
		c.IdleGrace = time.Minute
	})
	alice, bob := s.signUp("alice"), s.signUp("bob")
	for i := 0; i < limit; i++ {
		room := fmt.Sprintf("cap-%d", i)
		if st := s.do("POST", "/api/messages", alice.Token, map[string]any{"room": room, "messageId": "m-" + room, "text": "x"}, nil); st != 201 {
			t.Fatalf("post into %s: %d", room, st)
		}
	}
	var e struct{ Code, Message string }
	resp, raw := s.req("POST", "/api/messages", map[string]any{"room": "cap-over", "text": "x"}, http.Header{"Authorization": {"Bearer " + alice.Token}})
	if err := json.Unmarshal(raw, &e); err != nil || resp.StatusCode != http.StatusTooManyRequests || e.Code != "TOO_MANY_ROOMS" || !strings.Contains(e.Message, fmt.Sprint(limit)) {
		t.Fatalf("room %d over HTTP: %d %s", limit+1, resp.StatusCode, raw)
	}
	// Over WebSocket the upgrade succeeds and the room refuses the join.
	ws, _, err := s.tryDial(alice.Token, "cap-over-ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1013 || !strings.Contains(ce.Text, "Too many rooms") {
		t.Fatalf("room over the cap over WebSocket: %v", err)
	}
	// Other users are not affected, and alice's rooms still serve her.
	if st := s.do("POST", "/api/messages", bob.Token, map[string]any{"room": "cap-over", "text": "bob's"}, nil); st != 201 {
		t.Fatalf("bob into a new room: %d", st)
	}
	var page history
	if st := s.do("GET", "/api/messages?room=cap-0", alice.Token, nil, &page); st != 200 || len(page.Messages) != 1 {
		t.Fatalf("alice's accepted message: %d %d", st, len(page.Messages))
	}
}
