package wsframe

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// server is a real HTTP server on loopback whose handler upgrades with
// wsframe and hands each Conn to the test.
type server struct {
	*httptest.Server
	conns chan *Conn
}

func newServer(t testing.TB, cfg Config) *server {
	return startServer(t, cfg, false)
}

// startServer serves plain HTTP, or TLS when secure: a TLS socket cannot
// writev, so batches take the copy-and-write path.
func startServer(t testing.TB, cfg Config, secure bool) *server {
	t.Helper()
	s := &server{conns: make(chan *Conn, 16)}
	up := &websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(up, w, r, nil, cfg)
		if err != nil {
			return
		}
		s.conns <- c
	}))
	if secure {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// accept waits for the server side of the next connection.
func (s *server) accept(t testing.TB) *Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection upgraded")
		return nil
	}
}

// newGorillaServer serves each connection with plain gorilla, the way
// handlers wrote before wsframe: the reference for the bytes on the wire.
func newGorillaServer(t testing.TB, serve func(*websocket.Conn)) *httptest.Server {
	t.Helper()
	up := &websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		serve(ws)
	}))
	t.Cleanup(s.Close)
	return s
}

// readLoop runs gorilla's reader, as handlers do, until it fails; its
// error arrives on the returned channel.
func readLoop(c *Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.WS().ReadMessage(); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

// rawClient is a strict WebSocket client over plain TCP: it does the
// handshake by hand and checks every byte of every server frame.
type rawClient struct {
	nc net.Conn
	br *bufio.Reader
	wm sync.Mutex // client frames are written from several goroutines
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" // RFC 6455 § 1.3

func dialRaw(t testing.TB, s *httptest.Server) *rawClient {
	t.Helper()
	var tc *tls.Config
	if s.TLS != nil {
		tc = &tls.Config{RootCAs: x509.NewCertPool()}
		tc.RootCAs.AddCert(s.Certificate())
		tc.ServerName = "example.com"
	}
	c, err := dialTLS(s.Listener.Addr().String(), tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.nc.Close() })
	return c
}

// dial connects and does the opening handshake (§ 4.1), checking the
// server's accept key.
func dial(addr string) (*rawClient, error) { return dialTLS(addr, nil) }

// dialTLS is dial over TLS when tc is not nil.
func dialTLS(addr string, tc *tls.Config) (*rawClient, error) {
	var nc net.Conn
	var err error
	if tc != nil {
		nc, err = tls.Dial("tcp", addr, tc)
	} else {
		nc, err = net.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	k := make([]byte, 16)
	_, _ = rand.Read(k)
	key := base64.StdEncoding.EncodeToString(k)
	req := "GET / HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.StatusCode != http.StatusSwitchingProtocols ||
		resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		nc.Close()
		return nil, fmt.Errorf("handshake: %s %v", resp.Status, resp.Header)
	}
	return &rawClient{nc: nc, br: br}, nil
}

type wireFrame struct {
	op      byte
	payload []byte
}

// next reads one frame and fails on anything a server must not send:
// reserved bits, a mask, a non-minimal length, a fragment, an oversized
// or fragmented control frame, an unknown opcode.
func (c *rawClient) next() (wireFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return wireFrame{}, err
	}
	if h[0]&0x70 != 0 {
		return wireFrame{}, fmt.Errorf("reserved bits set: %#x", h[0])
	}
	if h[0]&finBit == 0 {
		return wireFrame{}, fmt.Errorf("fragmented frame, opcode %d", h[0]&0xF)
	}
	if h[1]&0x80 != 0 {
		return wireFrame{}, errors.New("server frame is masked")
	}
	op := h[0] & 0xF
	switch op {
	case opBinary, opClose, opPing, opPong:
	default:
		return wireFrame{}, fmt.Errorf("unexpected opcode %d", op)
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return wireFrame{}, err
		}
		if n = uint64(binary.BigEndian.Uint16(b[:])); n <= 125 {
			return wireFrame{}, fmt.Errorf("length %d not minimally encoded", n)
		}
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return wireFrame{}, err
		}
		if n = binary.BigEndian.Uint64(b[:]); n <= 0xFFFF || n>>63 != 0 {
			return wireFrame{}, fmt.Errorf("length %d not minimally encoded", n)
		}
	}
	if op >= opClose && n > maxControlPayload {
		return wireFrame{}, fmt.Errorf("control frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return wireFrame{}, err
	}
	return wireFrame{op: op, payload: p}, nil
}

// send writes one masked, final client frame.
func (c *rawClient) send(op byte, payload []byte) error {
	return c.write(clientFrame(nil, true, op, payload))
}

// write sends b, one or more client frames, in one write.
func (c *rawClient) write(b []byte) error {
	c.wm.Lock()
	defer c.wm.Unlock()
	_, err := c.nc.Write(b)
	return err
}

// clientFrame appends a masked client frame; fin false makes a fragment
// to be continued with opcode 0.
func clientFrame(b []byte, fin bool, op byte, payload []byte) []byte {
	var key [4]byte
	_, _ = rand.Read(key[:])
	if fin {
		op |= finBit
	}
	b = append(b, op)
	switch n := len(payload); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, key[:]...)
	for i, x := range payload {
		b = append(b, x^key[i%4])
	}
	return b
}

// closeCode splits a close payload.
func closeCode(p []byte) (int, string) {
	if len(p) < 2 {
		return closeNoStatus, ""
	}
	return int(binary.BigEndian.Uint16(p)), string(p[2:])
}
