package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestHTTPRefusalsAreTyped checks that every refusal an HTTP caller gets is
// an *Error of one kind whose message reads once, with no "hub:" prefix.
func TestHTTPRefusalsAreTyped(t *testing.T) {
	cfg := Config{RateLimit: 2}
	e := newEnv(t, cfg)
	ctx := context.Background()
	for i := 0; i < cfg.RateLimit; i++ {
		if _, err := e.hub.Post(ctx, "r1", "alice", fmt.Sprintf("m-%d", i), "hi"); err != nil {
			t.Fatal(err)
		}
	}
	_, rateErr := e.hub.Post(ctx, "r1", "alice", "m-over", "hi")
	_, bigErr := e.hub.Post(ctx, "r1", "bob", "", strings.Repeat("z", e.hub.cfg.MaxPayload+1))
	_, roomErr := e.hub.Post(ctx, "bad room!", "bob", "", "x")
	_, takenErr := e.hub.Post(ctx, "r1", "bob", "m-0", "mine now")
	_, goneErr := e.hub.Delete(ctx, "r1", "bob", "no-such-id")
	_, forbidErr := e.hub.Delete(ctx, "r1", "bob", "m-0")
	for _, tc := range []struct {
		name string
		err  error
		kind error
		text string
	}{
		{"rate", rateErr, ErrRateLimited, fmt.Sprintf("Rate limit exceeded: %d messages per second", cfg.RateLimit)},
		{"too large", bigErr, ErrTooLarge, fmt.Sprintf("payload too large (max %d bytes)", e.hub.cfg.MaxPayload)},
		{"room", roomErr, ErrRoomName, errRoomName.Message},
		{"id taken", takenErr, ErrIDTaken, errIDTaken.Message},
		{"not found", goneErr, ErrNotFound, errNotFound.Message},
		{"forbidden", forbidErr, ErrForbidden, errForbidden.Message},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var he *Error
			if !errors.As(tc.err, &he) || !errors.Is(tc.err, tc.kind) {
				t.Fatalf("got %#v, want an *Error of kind %v", tc.err, tc.kind)
			}
			if he.Error() != tc.text || strings.HasPrefix(he.Error(), "hub:") {
				t.Fatalf("message %q, want %q", he.Error(), tc.text)
			}
		})
	}
}
