package loadgen

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/internal/testenv"
)

// startApp serves a real wasmchannel server in-process on a loopback port
// over a fresh store (internal/testenv, the server users run), with what
// bench load turns off for its child: the load is one user on many sockets
// sending as fast as it can, so every per-user limit is off.
func startApp(t *testing.T, codecSpec string) string {
	t.Helper()
	cfg := testenv.Config(t)
	cfg.Codec = codecSpec
	cfg.RateLimit = 0
	cfg.MaxConnsPerUser, cfg.MaxConnsPerIP = 0, 0
	cfg.MaxRoomsPerUser = 0
	cfg.UserPacketRate, cfg.UserByteRate = 0, 0
	cfg.MaxViolations = 0
	return testenv.Start(t, cfg).URL
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
