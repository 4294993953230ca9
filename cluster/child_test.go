package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/internal/natstest"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

// childEnv makes the test binary a cluster node of its own (TestMain),
// so a test can SIGKILL a real node process.
const childEnv = "WASMCHANNEL_CLUSTER_CHILD"

func TestMain(m *testing.M) {
	if url := os.Getenv(childEnv); url != "" {
		runChild(url)
		return
	}
	os.Exit(pgtest.Main(m))
}

// runChild joins room with one user on DefaultConfig, says "ready" and
// heartbeats until it is killed. It stops by itself after a minute, so a
// lost child cannot linger.
func runChild(url string) {
	cfg := DefaultConfig()
	cfg.URLs = url
	cfg.NodeID = "child"
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := Open(cfg, newMemStore(), newRecorder())
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	if _, err := b.SetLocal(room, []string{"kid"}); err != nil {
		fmt.Println("set local:", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	os.Exit(3)
}

// A node killed with SIGKILL sends no goodbye: its users must leave the
// other nodes' counts within 15 s of its death (issue 11), with the
// default heartbeat and TTL.
func TestSIGKILLedNodeLeavesPresence(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the default peer TTL")
	}
	srv := natstest.Start(t)
	st := newMemStore()
	cfg := DefaultConfig()
	cfg.URLs, cfg.NodeID, cfg.Log = srv.URL(), "observer", quietLog()
	obs := openNode(t, cfg, st)
	if _, err := obs.SetLocal(room, []string{"alice"}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+srv.URL())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("child said %q, %v", line, err)
	}
	waitFor(t, 10*time.Second, "child's user counted", func() bool { return obs.Online(room) == 2 })

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	told := obs.rec.noticed(room)
	waitFor(t, 20*time.Second, "child's user gone", func() bool { return obs.rec.noticed(room) > told && obs.Online(room) == 1 })
	took := time.Since(killed)
	t.Logf("SIGKILLed node's user left the count %s after the kill", took.Round(10*time.Millisecond))
	if took > 15*time.Second {
		t.Fatalf("took %s, the issue allows 15s", took)
	}
}
