package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/db"
	"github.com/wasmchannel/wasmchannel/internal/testenv"
)

// TestMain lets the test binary double as a server process, so the
// durability test can SIGKILL a real server without building a binary, and
// runs the suite on PostgreSQL with WASMCHANNEL_TEST_STORE=postgres.
func TestMain(m *testing.M) {
	if dbPath := os.Getenv("WASMCHANNEL_TEST_CHILD_DB"); dbPath != "" {
		childServer(dbPath, os.Getenv("WASMCHANNEL_TEST_CHILD_CODEC"))
		return
	}
	os.Exit(testenv.UseStoreFromEnv(m))
}

// childServer serves on a free loopback port, prints it, and runs until
// killed.
func childServer(dbPath, codecName string) {
	cfg := app.DefaultConfig()
	cfg.DBPath, cfg.Codec, cfg.Secret = dbPath, codecName, testenv.Secret
	scrypt := auth.TestScrypt
	cfg.AuthScrypt = &scrypt
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	// The writers send as fast as acknowledgements come back.
	noRateLimits(&cfg)
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("LISTEN", ln.Addr().String())
	_ = a.Serve(ln)
}

type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, dbPath, codecName string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WASMCHANNEL_TEST_CHILD_DB="+dbPath, "WASMCHANNEL_TEST_CHILD_CODEC="+codecName)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(out)
	addr := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if a, ok := strings.CutPrefix(lines.Text(), "LISTEN "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("child server exited before listening")
		}
		return &child{cmd: cmd, addr: a}
	case <-time.After(20 * time.Second):
		t.Fatal("child server did not start")
	}
	return nil
}

// TestSIGKILLLosesNoAcknowledgedMessage is the durability experiment:
// senders stream messages, the server is SIGKILLed at a random moment, and
// after a restart every message whose echo a sender received is in history,
// and the database passes an integrity check. It runs on the suite's store
// (testenv.StoreTarget: SQLite, or PostgreSQL under
// WASMCHANNEL_TEST_STORE=postgres). WASMCHANNEL_DURABILITY_RUNS sets the
// number of kills (default 3).
func TestSIGKILLLosesNoAcknowledgedMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills server processes")
	}
	runs := 3
	if v, err := strconv.Atoi(os.Getenv("WASMCHANNEL_DURABILITY_RUNS")); err == nil && v > 0 {
		runs = v
	}
	dbPath := testenv.StoreTarget(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var totalAcked, totalSent int
	tokens := map[string]string{}
	for run := 0; run < runs; run++ {
		c := startChild(t, dbPath, []string{"wasm", "go"}[run%2])
		srv := &server{t: t, url: "http://" + c.addr, ws: "ws://" + c.addr}
		if len(tokens) == 0 {
			for i := 0; i < 4; i++ {
				u := srv.signUp(fmt.Sprintf("sender%d", i))
				tokens[u.ID] = u.Token
			}
		}
		var mu sync.Mutex
		acked := map[string]bool{}
		sent := 0
		var wg sync.WaitGroup
		i := 0
		for uid, tok := range tokens {
			wg.Add(1)
			go func(n int, uid, tok string) {
				defer wg.Done()
				ws, _, err := websocket.DefaultDialer.Dial(srv.ws+"/ws/durable", map[string][]string{"Authorization": {"Bearer " + tok}})
				if err != nil {
					return
				}
				defer ws.Close()
				enc, dec := codec.NewGo(), codec.NewGo()
				go func() {
					for {
						_, data, err := ws.ReadMessage()
						if err != nil {
							return
						}
						p, err := dec.Decode(data, 1<<20)
						if err == nil && p.Kind == codec.KindMessage && p.UserID != nil && *p.UserID == uid && p.MessageID != nil {
							mu.Lock()
							acked[*p.MessageID] = true
							mu.Unlock()
						}
					}
				}()
				for k := 0; k < 100000; k++ {
					id := fmt.Sprintf("r%d-u%d-%d", run, n, k)
					data, _ := enc.Encode(codec.Packet{Kind: codec.KindMessage, MessageID: &id, Payload: []byte("payload " + id)})
					if ws.WriteMessage(websocket.BinaryMessage, data) != nil {
						return
					}
					mu.Lock()
					sent++
					mu.Unlock()
					time.Sleep(time.Millisecond)
				}
			}(i, uid, tok)
			i++
		}
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = c.cmd.Wait()
		wg.Wait()
		mu.Lock()
		ackedIDs := make([]string, 0, len(acked))
		for id := range acked {
			ackedIDs = append(ackedIDs, id)
		}
		totalAcked += len(acked)
		totalSent += sent
		mu.Unlock()
		if len(ackedIDs) == 0 {
			t.Fatalf("run %d: nothing was acknowledged before the kill", run)
		}

		// Open the store directly, as the restarted server would.
		d, err := db.Open(context.Background(), dbPath)
		if err != nil {
			t.Fatalf("run %d: reopen after SIGKILL: %v", run, err)
		}
		if err := integrityCheck(context.Background(), d); err != nil {
			t.Fatalf("run %d: integrity: %v", run, err)
		}
		missing := 0
		for _, id := range ackedIDs {
			if _, err := d.MessageByRef(context.Background(), "durable", id); err != nil {
				missing++
				t.Errorf("run %d: acknowledged %s missing after SIGKILL: %v", run, id, err)
			}
		}
		d.Close()
		t.Logf("run %d: sent %d, acknowledged %d, missing %d", run, sent, len(ackedIDs), missing)
	}
	t.Logf("durability (%s): %d SIGKILL runs, %d sent, %d acknowledged, 0 lost", storeKind(dbPath), runs, totalSent, totalAcked)
}
