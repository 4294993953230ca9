package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// gorillaServer upgrades with gorilla/websocket, a reference peer, and
// hands each server-side socket to serve.
func gorillaServer(t *testing.T, writeBuf int, serve func(*websocket.Conn)) string {
	t.Helper()
	up := websocket.Upgrader{WriteBufferSize: writeBuf}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		serve(ws)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dialTest(t *testing.T, url string, limit int) *Socket {
	t.Helper()
	d := &Dialer{ReadBufferSize: 512, HandshakeTimeout: 5 * time.Second, ReadLimit: limit}
	s, err := d.Dial(context.Background(), url+"/ws", http.Header{"Authorization": {"Bearer tok"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close("") })
	return s
}

// TestSocketEcho: messages of every length form (7-bit, 16-bit, 64-bit)
// go out masked and come back intact, text and binary, through a buffer
// that is reused and smaller than some messages.
func TestSocketEcho(t *testing.T) {
	url := gorillaServer(t, 0, func(ws *websocket.Conn) {
		for {
			op, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if ws.WriteMessage(op, data) != nil {
				return
			}
		}
	})
	s := dialTest(t, url, 1<<20)
	var buf []byte
	for i, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 300_000, 3} {
		msg := bytes.Repeat([]byte{byte('a' + i)}, n)
		op := byte(opBinary)
		if i%2 == 1 {
			op = opText
		}
		if err := s.WriteMessage(op, msg, time.Now().Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		gotOp, got, err := s.ReadMessage(buf[:0])
		if err != nil || gotOp != op || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: op %d, %d bytes back, %v", n, gotOp, len(got), err)
		}
		buf = got
		if s.LastRead().IsZero() || time.Since(s.LastRead()) > 5*time.Second {
			t.Fatalf("LastRead %v", s.LastRead())
		}
	}
}

// TestSocketPingInsideFragments: a message written in fragments, with a
// ping between two of them, arrives whole, and the ping is answered with
// its own payload.
func TestSocketPingInsideFragments(t *testing.T) {
	pong := make(chan string, 1)
	url := gorillaServer(t, 64, func(ws *websocket.Conn) {
		ws.SetPongHandler(func(p string) error { pong <- p; return nil })
		go func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		w, err := ws.NextWriter(websocket.BinaryMessage)
		if err != nil {
			return
		}
		w.Write(bytes.Repeat([]byte("x"), 300)) // several 64-byte frames
		ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second))
		w.Write(bytes.Repeat([]byte("y"), 300))
		w.Close()
		time.Sleep(2 * time.Second)
	})
	s := dialTest(t, url, 1<<20)
	_, got, err := s.ReadMessage(nil)
	if want := strings.Repeat("x", 300) + strings.Repeat("y", 300); err != nil || string(got) != want {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
	select {
	case p := <-pong:
		if p != "are you there" {
			t.Fatalf("pong %q", p)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no pong")
	}
}

// TestSocketServerClose returns the server's close code and reason.
func TestSocketServerClose(t *testing.T) {
	url := gorillaServer(t, 0, func(ws *websocket.Conn) {
		ws.WriteMessage(websocket.TextMessage, []byte("hi"))
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1001, "going away"), time.Now().Add(time.Second))
		ws.ReadMessage() // our close echo
	})
	s := dialTest(t, url, 1<<20)
	if _, got, err := s.ReadMessage(nil); err != nil || string(got) != "hi" {
		t.Fatalf("%q %v", got, err)
	}
	_, _, err := s.ReadMessage(nil)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1001 || ce.Reason != "going away" {
		t.Fatalf("err %v", err)
	}
}

// TestSocketRefused: an upgrade the server refuses names its status and
// body.
func TestSocketRefused(t *testing.T) {
	url := gorillaServer(t, 0, func(*websocket.Conn) {})
	d := &Dialer{HandshakeTimeout: 5 * time.Second}
	_, err := d.Dial(context.Background(), url+"/ws", nil)
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "who are you") {
		t.Fatalf("err %v", err)
	}
	if _, err := d.Dial(context.Background(), "wss://127.0.0.1:1/ws", nil); err == nil {
		t.Fatal("wss dialled")
	}
}

// rawServer answers the upgrade itself, writing reply(key) in one write,
// and keeps the connection until the test ends.
func rawServer(t *testing.T, reply func(key string) []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		c.Write(reply(req.Header.Get("Sec-WebSocket-Key")))
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		var b [512]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				return
			}
		}
	}()
	return "ws://" + ln.Addr().String()
}

func upgradeReply(key string) []byte {
	sum := sha1.Sum([]byte(key + wsGUID))
	return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
}

// TestSocketMalformed: frames that break RFC 6455, or the read limit, end
// the read with a clear error; a frame sent in the same write as the
// upgrade answer is not lost.
func TestSocketMalformed(t *testing.T) {
	long := func(n uint64) []byte { return binary.BigEndian.AppendUint64([]byte{0x82, 127}, n) }
	cases := []struct {
		name   string
		frames []byte
		want   error
		first  string // a message to read before the error
	}{
		{"right after the upgrade", []byte("\x82\x03abc\x82\x01"), nil, "abc"},
		{"masked", []byte("\x82\x83\x00\x00\x00\x00abc"), ErrProtocol, ""},
		{"reserved bit", []byte("\xc2\x01a"), ErrProtocol, ""},
		{"lone continuation", []byte("\x80\x01a"), ErrProtocol, ""},
		{"message inside a message", []byte("\x02\x01a\x82\x01b"), ErrProtocol, ""},
		{"unknown opcode", []byte("\x83\x01a"), ErrProtocol, ""},
		{"fragmented ping", []byte("\x09\x01a"), ErrProtocol, ""},
		{"long ping", append([]byte("\x89\x7e\x00\x7e"), make([]byte, 126)...), ErrProtocol, ""},
		{"top length bit", long(1 << 63), ErrProtocol, ""},
		{"above the limit", long(1025), ErrTooBig, ""},
		{"fragments above the limit", append(append([]byte("\x02\x7e\x02\x00"), make([]byte, 512)...), append([]byte("\x80\x7e\x02\x01"), make([]byte, 513)...)...), ErrTooBig, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := rawServer(t, func(key string) []byte { return append(upgradeReply(key), c.frames...) })
			s := dialTest(t, url, 1024)
			if c.first != "" {
				if _, got, err := s.ReadMessage(nil); err != nil || string(got) != c.first {
					t.Fatalf("first message %q, %v", got, err)
				}
			}
			s.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, _, err := s.ReadMessage(nil)
			if c.want == nil {
				if err == nil {
					t.Fatal("a cut frame read as a message")
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
}

// TestSocketBadAccept refuses a server that does not prove it read the key.
func TestSocketBadAccept(t *testing.T) {
	url := rawServer(t, func(string) []byte { return upgradeReply("not the key") })
	d := &Dialer{HandshakeTimeout: 5 * time.Second}
	if _, err := d.Dial(context.Background(), url, nil); !errors.Is(err, ErrHandshake) {
		t.Fatalf("err %v", err)
	}
}

func TestMaskBytes(t *testing.T) {
	for n := range 20 {
		p := bytes.Repeat([]byte{0x5a}, n)
		maskBytes(p, 0x04030201)
		for i, b := range p {
			if want := byte(0x5a ^ (i%4 + 1)); b != want {
				t.Fatalf("len %d byte %d: %#x, want %#x", n, i, b, want)
			}
		}
	}
}
