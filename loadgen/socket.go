package loadgen

// socket.go: the client end of a WebSocket (RFC 6455) as the generator
// uses it. gorilla/websocket's client costs the generator an allocation
// and several calls per received frame, and wasmchannel sends one packet
// per frame where Centrifugo packs a dozen messages into one, so that cost
// weighed on one server's figures more than the other's. This client reads
// each message into the caller's buffer, answers pings, and writes masked
// frames; it offers nothing the generator does not use (no extensions, no
// subprotocols, no TLS: the generator targets loopback).

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// WebSocket opcodes (RFC 6455 § 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// Errors of the socket, for callers that tell them apart.
var (
	// ErrProtocol is a frame that breaks RFC 6455.
	ErrProtocol = errors.New("websocket protocol violation")
	// ErrTooBig is a message above the socket's read limit.
	ErrTooBig = errors.New("websocket message above the read limit")
	// ErrHandshake is an upgrade the server refused or answered wrongly.
	ErrHandshake = errors.New("websocket handshake failed")
)

// CloseError is the server closing the socket, with its code and reason.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket closed by the server: %d %s", e.Code, e.Reason)
}

// Dialer opens sockets.
type Dialer struct {
	// ReadBufferSize is each socket's read buffer: how much one read
	// system call can bring in (0 = 4096).
	ReadBufferSize int
	// HandshakeTimeout bounds the connection and the upgrade (0 = none
	// beyond the context's).
	HandshakeTimeout time.Duration
	// ReadLimit bounds one message (0 = maxFrame).
	ReadLimit int
}

// Socket is one client WebSocket. One goroutine reads (ReadMessage); any
// may write.
type Socket struct {
	conn  net.Conn
	stamp *stampConn
	br    *bufio.Reader
	limit int

	wmu       sync.Mutex
	wbuf      []byte
	closeSent bool
	ctl       [125]byte // a control frame's payload, for the reader
}

// stampConn notes when each read from the connection returned: the moment
// a frame's last bytes reached the generator, which is its receipt time.
// One clock reading per read system call, rather than per frame, keeps the
// clock out of the cost of a receipt without moving it: frames that came
// in with one read arrived together. Only the socket's reader reads.
type stampConn struct {
	net.Conn
	at time.Time
}

func (c *stampConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.at = time.Now()
	return n, err
}

// wsGUID is the key suffix of RFC 6455 § 1.3.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Dial opens a socket to wsURL (ws://host:port/path) with header added to
// the upgrade request.
func (d *Dialer) Dial(ctx context.Context, wsURL string, header http.Header) (*Socket, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("dial %s: the generator speaks ws:// only (loopback, no TLS)", wsURL)
	}
	if d.HandshakeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.HandshakeTimeout)
		defer cancel()
	}
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	s, err := d.handshake(ctx, nc, u, header)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	return s, nil
}

// handshake sends the upgrade request and checks the answer (RFC 6455
// § 4.1). Bytes after the answer stay in the socket's buffer.
func (d *Dialer) handshake(ctx context.Context, nc net.Conn, u *url.URL, header http.Header) (*Socket, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	// Unblock the handshake if ctx ends first.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if err := req.Write(nc); err != nil {
		return nil, err
	}
	sc := &stampConn{Conn: nc}
	size := d.ReadBufferSize
	if size <= 0 {
		size = 4096
	}
	br := bufio.NewReaderSize(sc, size)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%w (status %d: %s)", ErrHandshake, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	switch {
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"):
		return nil, fmt.Errorf("%w: Upgrade %q", ErrHandshake, resp.Header.Get("Upgrade"))
	case !headerHasToken(resp.Header, "Connection", "upgrade"):
		return nil, fmt.Errorf("%w: Connection %q", ErrHandshake, resp.Header.Get("Connection"))
	case resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		return nil, fmt.Errorf("%w: wrong Sec-WebSocket-Accept", ErrHandshake)
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		return nil, fmt.Errorf("%w: extensions %q were not asked for", ErrHandshake, resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	if !stop() {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, context.Cause(ctx))
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	limit := d.ReadLimit
	if limit <= 0 {
		limit = maxFrame
	}
	return &Socket{conn: nc, stamp: sc, br: br, limit: limit}, nil
}

// headerHasToken reports whether a comma-separated header holds token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// LastRead is when the newest bytes came in: the receipt time of the
// message ReadMessage just returned. Only the reader may call it.
func (s *Socket) LastRead() time.Time { return s.stamp.at }

// SetReadDeadline bounds the reads of ReadMessage (zero: no bound).
func (s *Socket) SetReadDeadline(t time.Time) error { return s.conn.SetReadDeadline(t) }

// ReadMessage appends the next text or binary message to buf and returns
// its opcode and the bytes. It answers pings on the way, and returns a
// *CloseError when the server closes. Only one goroutine may read.
func (s *Socket) ReadMessage(buf []byte) (op byte, msg []byte, err error) {
	msg = buf
	for {
		fin, opcode, n, err := s.readHeader()
		if err != nil {
			return 0, msg, err
		}
		if opcode >= opClose {
			if err := s.control(fin, opcode, n); err != nil {
				return 0, msg, err
			}
			continue
		}
		switch {
		case opcode == opContinuation && op == 0:
			return 0, msg, fmt.Errorf("%w: continuation frame with no message to continue", ErrProtocol)
		case opcode != opContinuation && op != 0:
			return 0, msg, fmt.Errorf("%w: new message inside a fragmented one", ErrProtocol)
		case opcode != opContinuation && opcode != opText && opcode != opBinary:
			return 0, msg, fmt.Errorf("%w: opcode %#x", ErrProtocol, opcode)
		case opcode != opContinuation:
			op = opcode
		}
		if n > uint64(s.limit-(len(msg)-len(buf))) {
			return 0, msg, fmt.Errorf("%w: more than %d bytes", ErrTooBig, s.limit)
		}
		start := len(msg)
		msg = growLen(msg, int(n))
		if _, err := io.ReadFull(s.br, msg[start:]); err != nil {
			return 0, msg[:start], err
		}
		if fin {
			return op, msg, nil
		}
	}
}

// readHeader reads a frame header from the server: unmasked, no reserved
// bits (no extension was agreed), the length in its shortest form or not.
func (s *Socket) readHeader() (fin bool, opcode byte, n uint64, err error) {
	h, err := s.br.Peek(2)
	if err != nil {
		return false, 0, 0, err
	}
	b0, b1 := h[0], h[1]
	if b0&0x70 != 0 {
		return false, 0, 0, fmt.Errorf("%w: reserved bits %#x", ErrProtocol, b0&0x70)
	}
	if b1&0x80 != 0 {
		return false, 0, 0, fmt.Errorf("%w: masked frame from the server", ErrProtocol)
	}
	fin, opcode, n = b0&0x80 != 0, b0&0x0f, uint64(b1&0x7f)
	hl := 2
	switch n {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	if hl > 2 {
		if h, err = s.br.Peek(hl); err != nil {
			return false, 0, 0, err
		}
		if hl == 4 {
			n = uint64(binary.BigEndian.Uint16(h[2:]))
		} else if n = binary.BigEndian.Uint64(h[2:]); bits.LeadingZeros64(n) == 0 {
			return false, 0, 0, fmt.Errorf("%w: 64-bit length with its top bit set", ErrProtocol)
		}
	}
	_, _ = s.br.Discard(hl)
	return fin, opcode, n, nil
}

// control handles a ping, pong or close frame of n bytes.
func (s *Socket) control(fin bool, opcode byte, n uint64) error {
	if !fin || n > uint64(len(s.ctl)) {
		return fmt.Errorf("%w: control frame %#x fragmented or of %d bytes", ErrProtocol, opcode, n)
	}
	p := s.ctl[:n]
	if _, err := io.ReadFull(s.br, p); err != nil {
		return err
	}
	switch opcode {
	case opPing:
		return s.writeFrame(opPong, p, time.Now().Add(10*time.Second))
	case opPong:
		return nil
	case opClose:
		ce := &CloseError{Code: 1005}
		if len(p) >= 2 {
			ce.Code, ce.Reason = int(binary.BigEndian.Uint16(p)), string(p[2:])
		}
		// Echo the code, as RFC 6455 § 5.5.1 asks; the server closes.
		_ = s.writeFrame(opClose, p[:min(len(p), 2)], time.Now().Add(time.Second))
		return ce
	}
	return fmt.Errorf("%w: opcode %#x", ErrProtocol, opcode)
}

// growLen extends b by n bytes, reallocating only when it lacks room.
func growLen(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, max(2*cap(b), len(b)+n))
	copy(nb, b)
	return nb
}

// WriteMessage sends data as one text or binary frame.
func (s *Socket) WriteMessage(op byte, data []byte, deadline time.Time) error {
	return s.writeFrame(op, data, deadline)
}

// writeFrame sends one masked frame, as a client must (RFC 6455 § 5.3).
func (s *Socket) writeFrame(op byte, data []byte, deadline time.Time) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closeSent {
		return net.ErrClosed
	}
	b := append(s.wbuf[:0], 0x80|op)
	switch n := len(data); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	}
	key := mrand.Uint32()
	b = binary.LittleEndian.AppendUint32(b, key)
	start := len(b)
	b = append(b, data...)
	maskBytes(b[start:], key)
	if op == opClose {
		s.closeSent = true
	}
	if cap(b) <= 64<<10 {
		s.wbuf = b
	}
	if err := s.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := s.conn.Write(b)
	return err
}

// maskBytes XORs p with the 4-byte key as it sits on the wire (its bytes
// in little-endian order), a word at a time.
func maskBytes(p []byte, key uint32) {
	k8 := uint64(key) | uint64(key)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k8)
	}
	for ; i < len(p); i++ {
		p[i] ^= byte(key >> (8 * (i & 3)))
	}
}

// Close sends a close frame with code 1000 and reason, if none was sent,
// and closes the connection without waiting for the server's.
func (s *Socket) Close(reason string) error {
	p := binary.BigEndian.AppendUint16(nil, 1000)
	_ = s.writeFrame(opClose, append(p, reason...), time.Now().Add(time.Second))
	return s.conn.Close()
}
