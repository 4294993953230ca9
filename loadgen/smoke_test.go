package loadgen

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary act as a baseline server, so StartChild
// can be tested on a real child process.
const childEnv = "LOADGEN_TEST_BASELINE_ADDR"

func TestMain(m *testing.M) {
	if addr := os.Getenv(childEnv); addr != "" {
		os.Exit(serveBaselineChild(addr))
	}
	os.Exit(m.Run())
}

func serveBaselineChild(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline child:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() { <-sig; cancel() }()
	if err := ServeBaseline(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, "baseline child:", err)
		return 1
	}
	return 0
}

// startBaseline serves a Baseline in-process on a loopback port.
func startBaseline(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeBaseline(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("baseline: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// checkClean fails unless every message reached every client exactly once.
func checkClean(t *testing.T, r *Result, clients int) {
	t.Helper()
	if r.Lost != 0 || r.Duplicated != 0 || r.MissingDeliveries != 0 {
		t.Errorf("lost %d (missing deliveries %d), duplicated %d: want 0", r.Lost, r.MissingDeliveries, r.Duplicated)
	}
	if r.Sent == 0 {
		t.Fatal("nothing was sent")
	}
	if r.Deliveries != r.Sent*int64(clients) {
		t.Errorf("%d deliveries of %d messages to %d clients per room: want %d", r.Deliveries, r.Sent, clients, r.Sent*int64(clients))
	}
	if r.Clients == 0 || r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.MaxMs < r.P999Ms {
		t.Errorf("implausible figures: %+v", r)
	}
	if len(r.Errors) > 0 || r.Disconnects > 0 || r.Corrupt > 0 || r.DecodeErrors > 0 || r.Foreign > 0 {
		t.Errorf("errors %v, disconnects %d, corrupt %d, decode errors %d, foreign %d", r.Errors, r.Disconnects, r.Corrupt, r.DecodeErrors, r.Foreign)
	}
}

func TestSmokeBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("smoke run skipped with -short")
	}
	url := startBaseline(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"saturation", Config{Rooms: 2, Clients: 15, Senders: 3, Rate: 0, Window: 4, Payload: 200, Duration: 1500 * time.Millisecond}},
		{"paced", Config{Rooms: 1, Clients: 20, Senders: 4, Rate: 20, Payload: 120, Duration: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.URL, cfg.Label = url, "baseline"
			cfg.Stats = ProcSource{Pid: os.Getpid()}
			var progress strings.Builder
			cfg.Progress = &progress
			r, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkClean(t, r, cfg.Clients)
			if !strings.Contains(progress.String(), "deliveries") {
				t.Errorf("no progress lines:\n%s", progress.String())
			}
		})
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"http://192.0.2.1:8080", "http://example.com", "ftp://127.0.0.1", "http://10.0.0.1"} {
		_, err := Run(context.Background(), Config{URL: u, Rooms: 1, Clients: 1, Senders: 1, Duration: time.Second})
		if err == nil {
			t.Errorf("Run accepted %s", u)
		}
	}
}

func TestChildBaselineIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("child-process run skipped with -short")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	child, err := StartChild(ctx, exe, func(addr string) ([]string, error) {
		os.Setenv(childEnv, addr) // inherited by the child started right after
		return []string{"-test.run=^$"}, nil
	}, 20*time.Second)
	os.Unsetenv(childEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer child.Stop(15 * time.Second)
	r, err := Run(ctx, Config{
		URL: child.URL, Label: "baseline", Idle: 60, IdleRoomSize: 25,
		Settle: 3 * time.Second, settleStep: 200 * time.Millisecond, Stats: ProcSource{Pid: child.Pid},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.IdleConns != 60 || r.Rooms != 3 || r.RSSIdleMB <= 0 || r.ServerRSSMB < r.RSSIdleMB {
		t.Errorf("idle result %+v", r)
	}
	if err := child.Stop(15 * time.Second); err != nil {
		t.Errorf("stop: %v", err)
	}
	if !child.Exited() {
		t.Error("child still running after Stop")
	}
}
