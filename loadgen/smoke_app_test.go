package loadgen

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/auth"
)

// startApp serves a real wasmchannel server in-process on a loopback port
// with a temporary database: no rate limit, no per-user socket cap, and a
// cheap password hash, as bench load starts its child.
func startApp(t *testing.T, codecSpec string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := app.New(ctx, app.Config{
		Addr:       ln.Addr().String(),
		DBPath:     filepath.Join(t.TempDir(), "bench.db"),
		Codec:      codecSpec,
		RateLimit:  0,
		AuthScrypt: &auth.ScryptParams{LogN: 4, R: 16, P: 1},
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ln) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func TestSmokeWasmchannel(t *testing.T) {
	if testing.Short() {
		t.Skip("smoke run skipped with -short")
	}
	for _, codecSpec := range []string{"wasm", "go"} {
		t.Run(codecSpec, func(t *testing.T) {
			url := startApp(t, codecSpec)
			cfg := Config{
				URL: url, Label: "wasmchannel/" + codecSpec,
				Rooms: 2, Clients: 12, Senders: 3, Rate: 0, Window: 4, Payload: 200,
				Duration: 1500 * time.Millisecond, Stats: ProcSource{Pid: os.Getpid()},
			}
			r, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkClean(t, r, cfg.Clients)
			if r.Users != cfg.Senders+1 {
				t.Errorf("%d users signed up, want %d senders + 1 shared by the receivers", r.Users, cfg.Senders)
			}
		})
	}
}
