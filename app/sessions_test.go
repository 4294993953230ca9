package app

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db"
	"github.com/wasmchannel/wasmchannel/internal/testenv/fixture"
)

// TestSessionCheckStoreErrors: a live session is kept, a signed-out one is
// closed, and while the store fails a session is kept for uncheckedSweeps
// sweeps and then closed, never closed at once.
func TestSessionCheckStoreErrors(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := auth.New(d, auth.Config{Secret: []byte("a-session-check-secret-of-32-bytes"), Scrypt: auth.TestScrypt}, log)
	signUp := func(email string) string {
		iss, err := svc.SignUp(httptest.NewRequest("POST", "/", nil), auth.SignUpInput{Name: "n", Email: email, Password: "password123", RememberMe: true})
		if err != nil {
			t.Fatal(err)
		}
		return chat.HashToken(iss.Token)
	}
	live, gone := signUp("live@example.com"), signUp("gone@example.com")
	if err := d.DeleteSession(ctx, gone); err != nil {
		t.Fatal(err)
	}
	const every = 5 * time.Second
	clock := fixture.NewClock(time.Time{})
	sc := newSessionCheck(svc, every, log)
	sc.now = clock.Now
	if !sc.live(ctx, live) || sc.live(ctx, gone) {
		t.Fatal("a live session must stay and a deleted one go")
	}
	sc.endSweep()

	d.Close() // every check now fails with a store error
	for i := 0; i < uncheckedSweeps; i++ {
		if !sc.live(ctx, live) {
			t.Fatalf("sweep %d of a failing store closed the session", i)
		}
		sc.endSweep()
		clock.Advance(every)
	}
	if sc.live(ctx, live) {
		t.Fatalf("a session unchecked for %v is still kept", uncheckedSweeps*every)
	}
}
