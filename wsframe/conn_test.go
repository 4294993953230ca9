package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// sizes cover each header length and its edges (§ 5.2).
var sizes = []int{8, 125, 126, 200, 200, 200, 1000, 0xFFFF, 0x10000, 70000}

// packet is message seq: its number, then bytes derived from it.
func packet(seq int) []byte {
	n := sizes[seq%len(sizes)]
	if seq%97 != 0 && n > 1000 {
		n = 200 // keep big frames rare
	}
	p := make([]byte, n)
	binary.BigEndian.PutUint64(p, uint64(seq))
	for i := 8; i < n; i++ {
		p[i] = byte(seq*31 + i)
	}
	return p
}

// TestStrictClientSeesEveryFrame is issue 17's "Done means": batches of
// frames, server pings, pongs to the client's pings and a final close
// reach a strict client as separate, intact frames, in order.
func TestStrictClientSeesEveryFrame(t *testing.T) {
	t.Run("tcp", func(t *testing.T) { testStrictClient(t, false) })
	t.Run("tls", func(t *testing.T) { testStrictClient(t, true) })
}

func testStrictClient(t *testing.T, secure bool) {
	const total = 3000
	s := startServer(t, Config{MaxBatchFrames: 16}, secure)
	cl := dialRaw(t, s.Server)
	c := s.accept(t)
	if c.writev == secure {
		t.Fatalf("writev %v over TLS %v", c.writev, secure)
	}
	readErr := readLoop(c)
	c.StartPinger(2 * time.Millisecond)

	writeErr := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		var batch [][]byte
		for seq := 0; seq < total; {
			batch = batch[:0]
			for k := 1 + rng.IntN(40); k > 0 && seq < total; k-- {
				batch = append(batch, Binary(packet(seq)))
				seq++
			}
			if err := c.WriteFrames(batch); err != nil {
				writeErr <- err
				return
			}
			if rng.IntN(8) == 0 {
				time.Sleep(time.Millisecond) // let pings fall between batches
			}
		}
		c.Close(4000, "done: bye")
		writeErr <- nil
	}()

	// The client pings while it reads; pongs must answer them in order.
	pinged := make(chan int, 1)
	stopPing := make(chan struct{})
	go func() {
		i := 0
		defer func() { pinged <- i }()
		for {
			select {
			case <-stopPing:
				return
			case <-time.After(500 * time.Microsecond):
			}
			if err := cl.send(opPing, []byte("p"+strconv.Itoa(i))); err != nil {
				return
			}
			i++
		}
	}()

	next, pings, pongs, lastPong, between := 0, 0, 0, -1, 0
	lastWasData := false
	for {
		f, err := cl.next()
		if err != nil {
			t.Fatalf("after %d data frames: %v", next, err)
		}
		switch f.op {
		case opBinary:
			want := packet(next)
			if !bytes.Equal(f.payload, want) {
				got := -1
				if len(f.payload) >= 8 {
					got = int(binary.BigEndian.Uint64(f.payload))
				}
				t.Fatalf("frame %d: got %d bytes of packet %d, want %d bytes", next, len(f.payload), got, len(want))
			}
			next++
			lastWasData = true
			continue
		case opPing:
			if len(f.payload) != 0 {
				t.Fatalf("server ping with payload %q", f.payload)
			}
			pings++
		case opPong:
			n, err := strconv.Atoi(string(bytes.TrimPrefix(f.payload, []byte("p"))))
			if err != nil || n <= lastPong {
				t.Fatalf("pong %q after pong p%d", f.payload, lastPong)
			}
			lastPong = n
			pongs++
		case opClose:
			code, reason := closeCode(f.payload)
			if code != 4000 || reason != "done: bye" {
				t.Fatalf("close %d %q", code, reason)
			}
			if next != total {
				t.Fatalf("close after %d of %d data frames", next, total)
			}
			close(stopPing)
			if err := cl.send(opClose, f.payload); err != nil {
				t.Fatal(err)
			}
			// Nothing may follow the close frame: the server ends with EOF.
			if f, err := cl.next(); err != io.EOF {
				t.Fatalf("after close: frame %d %q, err %v", f.op, f.payload, err)
			}
			if err := <-writeErr; err != nil {
				t.Fatal(err)
			}
			var ce *websocket.CloseError
			if err := <-readErr; !errors.As(err, &ce) || ce.Code != 4000 {
				t.Fatalf("server reader ended with %v", err)
			}
			st := c.Stats()
			sent := <-pinged
			t.Logf("%d frames in %d batches (%.1f a batch), %d controls; client saw %d pings, %d pongs for %d client pings, %d between data frames",
				st.Frames, st.Batches, float64(st.Frames)/float64(st.Batches), st.Controls, pings, pongs, sent, between)
			if st.Frames != total || st.Batches*2 > st.Frames {
				t.Errorf("stats %+v: frames were not batched", st)
			}
			if pings == 0 || pongs == 0 || between == 0 {
				t.Errorf("want pings, pongs and controls between data frames: %d, %d, %d", pings, pongs, between)
			}
			return
		}
		if lastWasData && next < total {
			between++
		}
		lastWasData = false
	}
}

// TestFramesMatchGorilla: the bytes Binary builds are the bytes gorilla
// sends for the same message with WritePreparedMessage, as handlers do
// today, so clients see no change.
func TestFramesMatchGorilla(t *testing.T) {
	got := make(chan []byte, 1)
	// A plain gorilla server next to it: the reference.
	ref := newGorillaServer(t, func(ws *websocket.Conn) {
		for _, n := range []int{0, 1, 125, 126, 127, 4096, 4097, 0xFFFF, 0x10000, 200000} {
			p := bytes.Repeat([]byte{byte(n)}, n)
			pm, err := websocket.NewPreparedMessage(websocket.BinaryMessage, p)
			if err != nil {
				t.Error(err)
				return
			}
			if err := ws.WritePreparedMessage(pm); err != nil {
				t.Error(err)
				return
			}
		}
		got <- nil
	})
	cl := dialRaw(t, ref)
	for _, n := range []int{0, 1, 125, 126, 127, 4096, 4097, 0xFFFF, 0x10000, 200000} {
		want := Binary(bytes.Repeat([]byte{byte(n)}, n))
		b := make([]byte, len(want))
		if _, err := io.ReadFull(cl.br, b); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("%d bytes: gorilla header % x, ours % x", n, b[:min(len(b), 10)], want[:min(len(want), 10)])
		}
	}
	<-got
}

// TestCloseFrameMatchesGorilla: close payloads are gorilla's, and a long
// reason is cut on a rune boundary to fit.
func TestCloseFrameMatchesGorilla(t *testing.T) {
	long := string(bytes.Repeat([]byte("é"), 100)) // 200 bytes
	for _, tc := range []struct {
		code   int
		reason string
	}{
		{1000, ""}, {1001, "going away"}, {1013, "send queue overflow: client reads too slowly"}, {closeNoStatus, ""},
	} {
		want := appendFrame(nil, opClose, websocket.FormatCloseMessage(tc.code, tc.reason))
		if got := closeFrame(tc.code, tc.reason); !bytes.Equal(got, want) {
			t.Errorf("close %d %q: % x, want % x", tc.code, tc.reason, got, want)
		}
	}
	f := closeFrame(1008, long)
	if len(f) != 2+2+122 || f[1] != 124 {
		t.Fatalf("long reason: frame of %d bytes, length byte %d", len(f), f[1])
	}
	if _, r := closeCode(f[2:]); r != long[:122] {
		t.Fatalf("reason cut to %q", r)
	}
}

// TestSlowClientTimesOut: a client that never reads makes the batch time
// out after WriteWait; the socket closes, the writer and the reader
// return, and later writes fail at once.
func TestSlowClientTimesOut(t *testing.T) {
	s := newServer(t, Config{WriteWait: 300 * time.Millisecond})
	_ = dialRaw(t, s.Server) // never reads
	c := s.accept(t)
	readErr := readLoop(c)
	big := Binary(make([]byte, 256<<10))
	start := time.Now()
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = c.WriteFrames([][]byte{big, big})
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write error %v, want a deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("writer returned after %v", d)
	}
	select {
	case <-readErr:
	case <-time.After(5 * time.Second):
		t.Fatal("reader still running after the write timed out")
	}
	if err := c.WriteFrames([][]byte{Binary([]byte("x"))}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after failure: %v", err)
	}
}

// TestDeadlineMovesWithTheWrites: the write deadline is set at most once
// per tenth of WriteWait, yet a client that keeps reading is written to
// well past the first WriteWait, and once it stops reading the batch in
// progress still times out within WriteWait.
func TestDeadlineMovesWithTheWrites(t *testing.T) {
	const wait = 300 * time.Millisecond
	s := newServer(t, Config{WriteWait: wait})
	rc := dialRaw(t, s.Server)
	c := s.accept(t)
	_ = readLoop(c)
	var reading atomic.Bool
	reading.Store(true)
	go func() {
		buf := make([]byte, 64<<10)
		for reading.Load() {
			if _, err := rc.br.Read(buf); err != nil {
				return
			}
		}
	}()
	frame := Binary(make([]byte, 1<<10))
	start := time.Now()
	for time.Since(start) < 3*wait {
		if err := c.WriteFrames([][]byte{frame}); err != nil {
			t.Fatalf("write to a reading client after %v: %v", time.Since(start), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	reading.Store(false)
	big := Binary(make([]byte, 256<<10))
	var err error
	stalled := time.Now()
	for i := 0; i < 1000 && err == nil; i++ {
		err = c.WriteFrames([][]byte{big, big})
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write error %v, want a deadline", err)
	}
	if d := time.Since(stalled); d > wait+2*time.Second {
		t.Fatalf("a stalled client was written to for %v (WriteWait %v)", d, wait)
	}
}

// TestCloseDoesNotWaitForStuckWriter: Close returns at once; if the batch
// in progress is stuck on a client that does not read, the socket closes
// after CloseWait and the writer returns long before WriteWait.
func TestCloseDoesNotWaitForStuckWriter(t *testing.T) {
	s := newServer(t, Config{WriteWait: time.Minute, CloseWait: 200 * time.Millisecond})
	_ = dialRaw(t, s.Server)
	c := s.accept(t)
	big := Binary(make([]byte, 1<<20))
	done := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			err = c.WriteFrames([][]byte{big})
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // the socket buffers are full by now
	start := time.Now()
	c.Close(1001, "shutting down")
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("Close blocked for %v", d)
	}
	select {
	case err := <-done:
		if errors.Is(err, ErrClosed) || err == nil {
			t.Fatalf("writer ended with %v, want the socket closed under it", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("writer still blocked after Close")
	}
}

// TestClientGoneMidWrite: a client that disconnects while a batch is
// being written makes the write fail without waiting for the deadline.
func TestClientGoneMidWrite(t *testing.T) {
	s := newServer(t, Config{WriteWait: time.Minute})
	cl := dialRaw(t, s.Server)
	c := s.accept(t)
	readErr := readLoop(c)
	big := Binary(make([]byte, 64<<10))
	done := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			err = c.WriteFrames([][]byte{big, big, big, big})
		}
		done <- err
	}()
	if _, err := io.CopyN(io.Discard, cl.br, 100<<10); err != nil {
		t.Fatal(err)
	}
	cl.nc.Close() // unread data: the kernel answers with a reset
	select {
	case err := <-done:
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writer did not notice the client left")
	}
	select {
	case <-readErr:
	case <-time.After(5 * time.Second):
		t.Fatal("reader still running")
	}
}

// TestPeerClose: a client's close is echoed with its code, then the
// server ends the TCP connection; data written later is refused.
func TestPeerClose(t *testing.T) {
	s := newServer(t, Config{})
	cl := dialRaw(t, s.Server)
	c := s.accept(t)
	readErr := readLoop(c)
	if err := cl.send(opClose, websocket.FormatCloseMessage(1000, "bye")); err != nil {
		t.Fatal(err)
	}
	f, err := cl.next()
	if err != nil || f.op != opClose {
		t.Fatalf("want the close echo, got %d %q %v", f.op, f.payload, err)
	}
	if code, _ := closeCode(f.payload); code != 1000 {
		t.Fatalf("echoed code %d", code)
	}
	if _, err := cl.next(); err != io.EOF {
		t.Fatalf("after close: %v", err)
	}
	var ce *websocket.CloseError
	if err := <-readErr; !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("reader: %v", err)
	}
	if err := c.WriteFrames([][]byte{Binary([]byte("late"))}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

// TestGorillaCloseGoesThroughWriter: the close frame gorilla writes by
// itself when a client exceeds the read limit comes after the batch in
// progress, never inside it, and no data follows it.
func TestGorillaCloseGoesThroughWriter(t *testing.T) {
	s := newServer(t, Config{MaxBatchFrames: 8})
	cl := dialRaw(t, s.Server)
	c := s.accept(t)
	c.WS().SetReadLimit(64)
	readErr := readLoop(c)
	writeErr := make(chan error, 1)
	go func() {
		var err error
		for seq := 0; err == nil; seq += 8 {
			batch := make([][]byte, 8)
			for i := range batch {
				batch[i] = Binary(packet(seq + i))
			}
			err = c.WriteFrames(batch)
		}
		writeErr <- err
	}()
	if err := cl.send(opBinary, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	next := 0
	for {
		f, err := cl.next()
		if err != nil {
			t.Fatalf("after %d frames: %v", next, err)
		}
		if f.op == opBinary {
			if !bytes.Equal(f.payload, packet(next)) {
				t.Fatalf("frame %d corrupt", next)
			}
			next++
			continue
		}
		if f.op != opClose {
			t.Fatalf("opcode %d", f.op)
		}
		if code, _ := closeCode(f.payload); code != websocket.CloseMessageTooBig {
			t.Fatalf("close code %d", code)
		}
		break
	}
	if _, err := cl.next(); err != io.EOF {
		t.Fatalf("after close: %v", err)
	}
	if err := <-readErr; !errors.Is(err, websocket.ErrReadLimit) {
		t.Fatalf("reader: %v", err)
	}
	if err := <-writeErr; !errors.Is(err, ErrClosed) {
		t.Fatalf("writer: %v", err)
	}
	t.Logf("close came after %d intact data frames", next)
}

// TestForeignWriteRefused: gorilla's own data write path is shut; nothing
// reaches the socket through it, and Conn's writes still work.
func TestForeignWriteRefused(t *testing.T) {
	s := newServer(t, Config{})
	cl := dialRaw(t, s.Server)
	c := s.accept(t)
	if err := c.WS().WriteMessage(websocket.BinaryMessage, []byte("sneak")); !errors.Is(err, ErrForeignWrite) {
		t.Fatalf("gorilla write: %v", err)
	}
	if err := c.WriteFrames([][]byte{Binary([]byte("ok"))}); err != nil {
		t.Fatal(err)
	}
	f, err := cl.next()
	if err != nil || f.op != opBinary || string(f.payload) != "ok" {
		t.Fatalf("got %d %q %v, want only Conn's frame", f.op, f.payload, err)
	}
}

// TestSmallReadBufferReadsEveryFrame: the read buffer Upgrade gives
// gorilla (DefaultReadBuffer, far below net/http's 4 KB) still reads
// messages up to and past the server's 64 KiB limit, a message fragmented
// around a full-size ping, and many frames arriving in one segment, all
// intact; the ping's 125-byte payload comes back in the pong.
func TestSmallReadBufferReadsEveryFrame(t *testing.T) {
	s := newServer(t, Config{})
	cl := dialRaw(t, s.Server)
	c := s.accept(t)
	if c.cfg.ReadBuffer != DefaultReadBuffer || DefaultReadBuffer >= 4096 {
		t.Fatalf("read buffer %d", c.cfg.ReadBuffer)
	}
	msgSizes := []int{0, 1, 125, 126, 200, 511, 512, 513, 1000, 4096, 0xFFFF, 64 << 10, 70000}
	var want [][]byte
	var wire []byte
	for i, n := range msgSizes {
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(i*7 + j)
		}
		want = append(want, p)
		wire = clientFrame(wire, true, opBinary, p)
	}
	// A 1,500-byte message in three fragments with a 125-byte ping
	// between the first two.
	frag := make([]byte, 1500)
	for j := range frag {
		frag[j] = byte(j * 3)
	}
	ping := bytes.Repeat([]byte{'p'}, maxControlPayload)
	wire = clientFrame(wire, false, opBinary, frag[:700])
	wire = clientFrame(wire, true, opPing, ping)
	wire = clientFrame(wire, false, 0, frag[700:1200])
	wire = clientFrame(wire, true, 0, frag[1200:])
	want = append(want, frag)
	if err := cl.write(wire); err != nil {
		t.Fatal(err)
	}
	ws := c.WS()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, w := range want {
		_, got, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("message %d: %d bytes, want %d intact", i, len(got), len(w))
		}
	}
	f, err := cl.next()
	if err != nil || f.op != opPong || !bytes.Equal(f.payload, ping) {
		t.Fatalf("want a pong with the ping's 125 bytes, got op %d, %d bytes, %v", f.op, len(f.payload), err)
	}
}
