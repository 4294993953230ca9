package hub

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/wsframe"
)

// gatedTransport is the BatchTransport handlers/ws.go builds over wsframe,
// with a gate that holds the first write so the test can fill the queue.
type gatedTransport struct {
	fc   *wsframe.Conn
	gate chan struct{}
	// entered, if set, is closed when the writer reaches the gate, so a
	// test knows which frames it is holding.
	entered chan struct{}

	mu      sync.Mutex
	calls   []int // frames per WriteFrames call
	singles int   // WriteFrame calls
}

func framed(b []byte) any { return wsframe.Binary(b) }

func (t *gatedTransport) WriteFrame(f *Frame) error {
	t.mu.Lock()
	t.singles++
	t.mu.Unlock()
	return t.fc.WriteFrames([][]byte{f.Prepared(framed).([]byte)})
}

func (t *gatedTransport) WriteFrames(fs []*Frame) error {
	if t.gate != nil { // only the writer goroutine calls this
		if t.entered != nil {
			close(t.entered)
		}
		<-t.gate
		t.gate = nil
	}
	t.mu.Lock()
	t.calls = append(t.calls, len(fs))
	t.mu.Unlock()
	bufs := make([][]byte, len(fs))
	for i, f := range fs {
		bufs[i] = f.Prepared(framed).([]byte)
	}
	return t.fc.WriteFrames(bufs)
}

func (t *gatedTransport) Close(code int, reason string) { t.fc.Close(code, reason) }

// rawFrame is one WebSocket frame as a strict client reads it.
type rawFrame struct {
	op      byte
	payload []byte
}

// readStrict reads one server frame and refuses anything a server must not
// send: a fragment, reserved bits, a mask, a non-minimal length.
func readStrict(br *bufio.Reader) (rawFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return rawFrame{}, err
	}
	if h[0]&0x80 == 0 || h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		return rawFrame{}, fmt.Errorf("bad header %08b %08b", h[0], h[1])
	}
	op := h[0] & 0x0f
	if op != 0x2 && op != 0x8 && op != 0x9 && op != 0xA {
		return rawFrame{}, fmt.Errorf("opcode %#x", op)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return rawFrame{}, err
		}
		if n = uint64(binary.BigEndian.Uint16(b[:])); n <= 125 {
			return rawFrame{}, fmt.Errorf("non-minimal length %d", n)
		}
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return rawFrame{}, err
		}
		if n = binary.BigEndian.Uint64(b[:]); n <= 0xFFFF {
			return rawFrame{}, fmt.Errorf("non-minimal length %d", n)
		}
	}
	if op >= 0x8 && n > 125 {
		return rawFrame{}, fmt.Errorf("control frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return rawFrame{op, p}, err
}

// dialRaw does the client handshake by hand, so every byte after it is
// read by readStrict and none by a library.
func dialRaw(t *testing.T, url string) (net.Conn, *bufio.Reader) {
	t.Helper()
	host := strings.TrimPrefix(url, "http://")
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", host, key)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("handshake: %s %v", resp.Status, resp.Header)
	}
	return conn, br
}

// TestQueuedFramesGoOutInOneBatch runs a room over a real loopback socket
// through wsframe: frames queued while the writer is busy reach the
// transport in one WriteFrames call, and a strict client reads each packet
// as its own intact frame, in order, with pings between frames and the
// close frame after the last.
func TestQueuedFramesGoOutInOneBatch(t *testing.T) {
	e := newEnv(t, Config{})
	const typings = 300
	type accepted struct {
		c  *Conn
		gt *gatedTransport
	}
	got := make(chan accepted, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fc, err := wsframe.Upgrade(&websocket.Upgrader{}, w, r, nil, wsframe.DefaultConfig())
		if err != nil {
			return
		}
		gt := &gatedTransport{fc: fc, gate: make(chan struct{}), entered: make(chan struct{})}
		c := NewConn(gt, "alice", "", "")
		if err := e.hub.Join(context.Background(), "r1", c); err != nil {
			return
		}
		got <- accepted{c, gt}
		defer e.hub.Leave(c)
		for {
			if _, _, err := fc.WS().ReadMessage(); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	_, br := dialRaw(t, srv.URL)
	a := <-got

	// alice's writer is held on the greeting alone before bob joins and
	// types; otherwise it could take bob's OnlineUsers with the greeting.
	<-a.gt.entered
	b, _ := e.join("r1", "bob")
	for i := 0; i < typings; i++ {
		e.send(b, codec.Packet{Kind: codec.KindTyping, Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
	queued := func() int { a.c.mu.Lock(); defer a.c.mu.Unlock(); return len(a.c.queue) }
	waitFor(t, "alice's queue holds everything", func() bool { return queued() == typings+1 })
	close(a.gt.gate)
	for i := 0; i < 3; i++ {
		a.gt.fc.Ping()
	}

	dec := codec.NewGo()
	var order []string
	pings := 0
	for len(order) < typings+2 {
		f, err := readStrict(br)
		if err != nil {
			t.Fatalf("after %d packets: %v", len(order), err)
		}
		if f.op == 0x9 {
			pings++
			continue
		}
		if f.op != 0x2 {
			t.Fatalf("after %d packets: opcode %#x", len(order), f.op)
		}
		p, err := dec.Decode(f.payload, 1<<20)
		if err != nil {
			t.Fatalf("packet %d is not intact: %v", len(order), err)
		}
		order = append(order, p.Kind.String()+" "+string(p.Payload))
	}
	if order[0] != "online_users 1" || order[1] != "online_users 2" {
		t.Fatalf("first packets %q", order[:2])
	}
	for i, s := range order[2:] {
		if want := fmt.Sprintf(`typing {"n":%d}`, i); s != want {
			t.Fatalf("packet %d is %q, want %q", i+2, s, want)
		}
	}
	a.c.Disconnect(DisconnectShutdown)
	for {
		f, err := readStrict(br)
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if f.op == 0x9 {
			pings++
			continue
		}
		if f.op != 0x8 || len(f.payload) < 2 || int(binary.BigEndian.Uint16(f.payload)) != DisconnectShutdown.Code {
			t.Fatalf("after the data: opcode %#x payload %q, want a close with %d", f.op, f.payload, DisconnectShutdown.Code)
		}
		break
	}
	a.gt.mu.Lock()
	calls, singles := a.gt.calls, a.gt.singles
	a.gt.mu.Unlock()
	st := a.gt.fc.Stats()
	t.Logf("WriteFrames calls %v, WriteFrame calls %d; wsframe: %d writes for %d frames, %d pings read", calls, singles, st.Batches, st.Frames, pings)
	if singles != 0 || len(calls) != 2 || calls[0] != 1 || calls[1] != typings+1 {
		t.Fatalf("WriteFrames calls %v and %d WriteFrame calls; want [1 %d] and none", calls, singles, typings+1)
	}
	if pings == 0 { // pings asked for together may be sent as one
		t.Fatal("no ping read")
	}
}
