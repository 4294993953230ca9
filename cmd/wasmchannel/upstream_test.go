package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
	"github.com/wasmchannel/wasmchannel/d1import/d1fixture"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

// upstreamCodec is the original wasm-bindgen codec build, beside the
// repository and never committed (../shared/upstream-codec/README.md).
const upstreamCodec = "../../../shared/upstream-codec/wasmchannel_bg.wasm"

// childEnv makes the test binary run the CLI instead of the tests, so a
// test can start `wasmchannel serve` as a real child process.
const childEnv = "WASMCHANNEL_TEST_RUN_CLI"

// upstreamModule returns the original's absolute path. Outside CI a
// checkout without ../shared skips; under CI=true its absence fails.
func upstreamModule(t *testing.T) string {
	t.Helper()
	module, err := filepath.Abs(upstreamCodec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(module); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the original codec build is required under CI: %v", err)
		}
		t.Skipf("original codec build not found: %v", err)
	}
	return module
}

// TestCodecCheckOriginal: `codec check` on the original build passes every
// public golden vector.
func TestCodecCheckOriginal(t *testing.T) {
	code, stdout, stderr := runCLI(t, "codec", "check", "--codec", upstreamModule(t), goldenPackets, goldenMalformed)
	if code != 0 || lastLine(stdout) != "704 passed, 0 failed" {
		t.Fatalf("exit %d, %q, %s", code, lastLine(stdout), stderr)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	// The import tests share one PostgreSQL cluster and one set of
	// generated dumps; both go when the binary ends.
	code := pgtest.Main(m)
	d1fixture.Cleanup()
	os.Exit(code)
}

// TestServeOriginalCodec starts `serve --codec …/wasmchannel_bg.wasm` as a
// child process and chats through it: two users in a room, a message
// broadcast to both with the sender's id stamped, a packet with a wrong crc
// (which the original alone would accept) refused with its class while the
// room carries on, and /metrics and /health naming the codec.
func TestServeOriginalCodec(t *testing.T) {
	module := upstreamModule(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	var logs bytes.Buffer
	cmd := exec.Command(os.Args[0], "serve", "--addr", addr, "--db", filepath.Join(dir, "chat.db"),
		"--codec", module, "--log-level", "warn")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("server output:\n%s", logs.String())
		}
	})

	base := "http://" + addr
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("server exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if h := get(t, client, base+"/health"); !strings.Contains(h, "wasmchannel_bg.wasm") {
		t.Errorf("/health does not name the codec: %s", h)
	}

	signUp := func(name string) string {
		body := fmt.Sprintf(`{"name":%q,"email":"%s@example.com","password":"correct horse battery"}`, name, strings.ToLower(name))
		resp, err := client.Post(base+"/api/auth/sign-up/email", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
			t.Fatalf("sign-up %s: status %d, %v", name, resp.StatusCode, err)
		}
		return out.Token
	}
	dial := func(token string) *websocket.Conn {
		ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws/lobby", http.Header{"Authorization": {"Bearer " + token}})
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		t.Cleanup(func() { ws.Close() })
		return ws
	}
	gc := codec.NewGo()
	// next reads packets until one of kind k arrives.
	next := func(ws *websocket.Conn, k codec.Kind) codec.Packet {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			p, err := gc.Decode(data, 1<<20)
			if err != nil {
				t.Fatalf("server sent a packet the Go codec refuses: %v", err)
			}
			if p.Kind == k {
				return p
			}
		}
	}

	ada, bob := dial(signUp("Ada")), dial(signUp("Bob"))
	next(ada, codec.KindOnlineUsers)
	next(bob, codec.KindOnlineUsers)

	send := func(ws *websocket.Conn, data []byte) {
		t.Helper()
		if err := ws.WriteMessage(websocket.BinaryMessage, data); err != nil {
			t.Fatal(err)
		}
	}
	msg := func(id, text string) []byte {
		b, err := gc.Encode(codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str(id), Payload: []byte(text)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	send(ada, msg("m-1", "hello through the original codec"))
	for _, ws := range []*websocket.Conn{ada, bob} {
		p := next(ws, codec.KindMessage)
		if string(p.Payload) != "hello through the original codec" || p.UserID == nil || *p.UserID == "" ||
			p.MessageID == nil || *p.MessageID != "m-1" {
			t.Fatalf("broadcast %s", corpus.Diff(p, codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str("m-1"), Payload: []byte("hello through the original codec")}))
		}
	}

	bad := msg("m-2", "a wrong crc")
	bad[len(bad)-1] ^= 0x55
	send(ada, bad)
	if p := next(ada, codec.KindMessage); !strings.Contains(string(p.Payload), "Invalid packet (checksum)") {
		t.Fatalf("reply to a wrong crc: %q", p.Payload)
	}

	send(bob, msg("m-3", "still serving"))
	for _, ws := range []*websocket.Conn{ada, bob} {
		if p := next(ws, codec.KindMessage); string(p.Payload) != "still serving" {
			t.Fatalf("after the bad packet: %q", p.Payload)
		}
	}

	m := get(t, client, base+"/metrics")
	for _, want := range []string{`wasmchannel_packets_rejected_total{class="checksum"} 1`, "wasmchannel_pool_traps_total 0", `codec="` + module + `"`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
