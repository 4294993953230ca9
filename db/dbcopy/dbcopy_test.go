package dbcopy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/postgres"
	"github.com/wasmchannel/wasmchannel/db/sqlite"
	"github.com/wasmchannel/wasmchannel/db/storetest"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// stores opens a fresh SQLite file and a fresh PostgreSQL database on one
// clock, closed when the test ends.
func stores(t *testing.T) (src, dst chat.Store, clk *storetest.Clock) {
	t.Helper()
	ctx := context.Background()
	clk = storetest.NewClock()
	pgURL := pgtest.Database(t)
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "single.db"), sqlite.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d, err := postgres.Open(ctx, pgURL, postgres.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return s, d, clk
}

// TestCopy_SQLiteToPostgres copies a filled SQLite installation and checks
// the copy holds the same rows, histories and counts; progress is shown.
func TestCopy_SQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	src, dst, clk := stores(t)
	want := storetest.Fill(t, src, clk.Now(), 2500)
	var out bytes.Buffer
	tick := storetest.NewClock()
	rep, err := Copy(ctx, src, dst, Options{Batch: 300, Progress: &out, Now: func() time.Time {
		tick.Advance(700 * time.Millisecond) // a line about every other batch
		return tick.Now()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Source != want || rep.Target != want || rep.Added != int(want.Users+want.Sessions+want.Messages+want.Settings) {
		t.Fatalf("report %+v; want counts %+v", rep, want)
	}
	storetest.Same(t, src, dst)
	for _, line := range []string{"users: 2 copied", "messages: 2501 copied", "settings: 1 copied", "messages: 600 of 2501 (24%)"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("progress lacks %q:\n%s", line, out.String())
		}
	}
}

// TestCopy_RefusesNonEmptyTarget leaves a target with data untouched.
func TestCopy_RefusesNonEmptyTarget(t *testing.T) {
	ctx := context.Background()
	src, dst, clk := stores(t)
	storetest.Fill(t, src, clk.Now(), 10)
	if err := dst.PutSetting(ctx, "mine", "x"); err != nil {
		t.Fatal(err)
	}
	_, err := Copy(ctx, src, dst, Options{})
	if !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "1 settings") || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("err = %v, want ErrTargetNotEmpty naming what is there and --resume", err)
	}
	if c, err := dst.Counts(ctx); err != nil || c != (chat.Counts{Settings: 1}) {
		t.Fatalf("target changed: %+v, %v", c, err)
	}
}

// failingLoader fails LoadMessages after `after` successful calls, as an
// interrupted copy (a killed process, a lost connection) would.
type failingLoader struct {
	chat.Store
	mu    sync.Mutex
	after int
}

func (f *failingLoader) LoadMessages(ctx context.Context, ms []chat.Message) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.after == 0 {
		return 0, errors.New("connection lost")
	}
	f.after--
	return f.Store.LoadMessages(ctx, ms)
}

// TestCopy_ResumeAfterInterruption interrupts a copy part-way through the
// messages, then finishes it with Resume: no duplicates, same counts.
func TestCopy_ResumeAfterInterruption(t *testing.T) {
	ctx := context.Background()
	src, dst, clk := stores(t)
	want := storetest.Fill(t, src, clk.Now(), 1000)
	_, err := Copy(ctx, src, &failingLoader{Store: dst, after: 3}, Options{Batch: 100})
	if err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Fatalf("interrupted copy: %v", err)
	}
	partial, err := dst.Counts(ctx)
	if err != nil || partial.Messages != 300 {
		t.Fatalf("after the interruption: %+v, %v; want 300 messages", partial, err)
	}
	if _, err := Copy(ctx, src, dst, Options{}); !errors.Is(err, ErrTargetNotEmpty) {
		t.Fatalf("rerun without resume: %v", err)
	}
	rep, err := Copy(ctx, src, dst, Options{Resume: true, Batch: 100})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Target != want || rep.Added != int(want.Messages-300+want.Settings) {
		t.Fatalf("resumed: %+v; want %+v with %d added", rep, want, want.Messages-300+want.Settings)
	}
	storetest.Same(t, src, dst)
}

// TestCopy_CountMismatchFails reports a target that ends with other counts
// than the source, here an extra message already in it.
func TestCopy_CountMismatchFails(t *testing.T) {
	ctx := context.Background()
	src, dst, clk := stores(t)
	storetest.Fill(t, src, clk.Now(), 10)
	if _, err := dst.InsertMessages(ctx, []chat.Message{{Room: "x", RefID: "extra", UserID: "u"}}); err != nil {
		t.Fatal(err)
	}
	_, err := Copy(ctx, src, dst, Options{Resume: true})
	if !errors.Is(err, ErrCountMismatch) || !strings.Contains(err.Error(), "11 messages") || !strings.Contains(err.Error(), "12 messages") {
		t.Fatalf("err = %v, want ErrCountMismatch with both counts", err)
	}
}

// TestCopy_OldPasswordAndSessionWork signs up on SQLite through the auth
// service, copies, and signs in on PostgreSQL with the same password; the
// session issued before the copy still authenticates.
func TestCopy_OldPasswordAndSessionWork(t *testing.T) {
	ctx := context.Background()
	src, dst, _ := stores(t)
	cfg := auth.Config{Secret: []byte(strings.Repeat("s", 32)), Scrypt: auth.ScryptParams{LogN: 4, R: 8, P: 1}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	before := auth.New(src, cfg, log)
	req := httptest.NewRequest("POST", "/api/auth/sign-up/email", nil)
	up, err := before.SignUp(req, auth.SignUpInput{Name: "Ann", Email: "ann@example.com", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.InsertMessages(ctx, []chat.Message{{Room: "r", RefID: "hello", UserID: up.User.ID, Payload: []byte("hi")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.ToggleReaction(ctx, "r", "hello", up.User.ID, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(ctx, src, dst, Options{}); err != nil {
		t.Fatal(err)
	}
	after := auth.New(dst, cfg, log)
	in, err := after.SignIn(httptest.NewRequest("POST", "/api/auth/sign-in/email", nil),
		auth.SignInInput{Email: "ann@example.com", Password: "correct horse battery"})
	if err != nil || in.User.ID != up.User.ID {
		t.Fatalf("sign-in on the copy: %+v, %v", in.User, err)
	}
	if _, err := after.SignIn(httptest.NewRequest("POST", "/api/auth/sign-in/email", nil),
		auth.SignInInput{Email: "ann@example.com", Password: "wrong horse battery"}); err == nil {
		t.Fatal("a wrong password signed in on the copy")
	}
	r := httptest.NewRequest("GET", "/api/auth/get-session", nil)
	r.Header.Set("Authorization", "Bearer "+up.Token)
	if id, err := after.Authenticate(r); err != nil || id.User.ID != up.User.ID {
		t.Fatalf("pre-copy session on the copy: %+v, %v", id, err)
	}
	h, err := dst.History(ctx, "r", chat.Cursor{}, 10)
	if err != nil || len(h) != 1 || string(h[0].Payload) != "hi" || fmt.Sprint(h[0].Reactions) != fmt.Sprintf("[{3 1 [%s]}]", up.User.ID) {
		t.Fatalf("history on the copy: %+v, %v", h, err)
	}
}
