package wsframe

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The fan-out benchmark runs its clients in a child process (this test
// binary again, with benchClientEnv set), so the parent's CPU time and
// write syscalls are the server's alone.
const (
	benchClientEnv  = "WSFRAME_BENCH_CLIENT"
	benchSocketsEnv = "WSFRAME_BENCH_SOCKETS"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(benchClientEnv); addr != "" {
		n, _ := strconv.Atoi(os.Getenv(benchSocketsEnv))
		os.Exit(benchClient(addr, n))
	}
	os.Exit(m.Run())
}

// benchClient opens n sockets, counts the data frames each receives until
// the server's close, answers it, and prints the totals.
func benchClient(addr string, n int) int {
	var frames, bytes atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		c, err := dial(addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.nc.Close()
			f, b, err := drain(c)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			frames.Add(f)
			bytes.Add(b)
		}()
	}
	fmt.Println("ready")
	wg.Wait()
	fmt.Printf("frames %d bytes %d\n", frames.Load(), bytes.Load())
	return 0
}

// drain reads frames without keeping them until the close frame.
func drain(c *rawClient) (frames, n int64, err error) {
	var h [10]byte
	for {
		if _, err := io.ReadFull(c.br, h[:2]); err != nil {
			return frames, n, err
		}
		size := int64(h[1] & 0x7F)
		switch size {
		case 126:
			if _, err := io.ReadFull(c.br, h[2:4]); err != nil {
				return frames, n, err
			}
			size = int64(binary.BigEndian.Uint16(h[2:4]))
		case 127:
			if _, err := io.ReadFull(c.br, h[2:10]); err != nil {
				return frames, n, err
			}
			size = int64(binary.BigEndian.Uint64(h[2:10]))
		}
		switch h[0] {
		case finBit | opBinary:
			frames++
			n += size
			if _, err := c.br.Discard(int(size)); err != nil {
				return frames, n, err
			}
		case finBit | opClose:
			p := make([]byte, size)
			if _, err := io.ReadFull(c.br, p); err != nil {
				return frames, n, err
			}
			return frames, n, c.send(opClose, p)
		default:
			if _, err := c.br.Discard(int(size)); err != nil {
				return frames, n, err
			}
		}
	}
}

// benchQueue is hub.Conn's send path in small: a queue drained whole by
// one writer goroutine, which hands the drained frames to write.
type benchQueue struct {
	mu     sync.Mutex
	queue  []benchFrame
	signal chan struct{}
}

// benchFrame is one broadcast prepared for either writer.
type benchFrame struct {
	pm     *websocket.PreparedMessage
	framed []byte
}

func (q *benchQueue) enqueue(f benchFrame) {
	q.mu.Lock()
	q.queue = append(q.queue, f)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *benchQueue) run(write func([]benchFrame) error, pending *atomic.Int64, idle chan struct{}) {
	var batch []benchFrame
	for range q.signal {
		q.mu.Lock()
		batch, q.queue = q.queue, batch[:0]
		q.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		if err := write(batch); err != nil {
			panic(err)
		}
		if pending.Add(-int64(len(batch))) == 0 {
			select {
			case idle <- struct{}{}:
			default:
			}
		}
	}
}

// procWrites reads this process's write syscall count (write, writev,
// sendmsg) from /proc/self/io.
func procWrites(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io:", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Skip("no syscw in /proc/self/io")
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFanout broadcasts 200-byte packets (the load) to
// sockets loopback clients in a child process, burst packets at a time
// before waiting for every queue to drain. "gorilla" is today's path: one
// SetWriteDeadline and one WritePreparedMessage per frame per socket;
// "wsframe-N" is WriteFrames with batches of at most N frames. One op is
// one broadcast; cpu-ns/delivery and writes/delivery are the server
// process's.
func BenchmarkFanout(b *testing.B) {
	for _, sockets := range []int{100} {
		for _, burst := range []int{1, 16, 64} {
			for _, mode := range []string{"gorilla", "wsframe-16", "wsframe-64"} {
				b.Run(fmt.Sprintf("sockets=%d/burst=%d/%s", sockets, burst, mode), func(b *testing.B) {
					benchFanout(b, mode, sockets, burst)
				})
			}
		}
	}
}

func benchFanout(b *testing.B, mode string, sockets, burst int) {
	maxBatch := 0
	if v, ok := strings.CutPrefix(mode, "wsframe-"); ok {
		maxBatch, _ = strconv.Atoi(v)
	}
	type peer struct {
		ws *websocket.Conn
		fc *Conn
	}
	peers := make(chan peer, sockets)
	up := &websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, WriteBufferPool: &sync.Pool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if maxBatch == 0 {
			ws, err := up.Upgrade(w, r, nil)
			if err == nil {
				peers <- peer{ws: ws}
			}
			return
		}
		fc, err := Upgrade(up, w, r, nil, Config{MaxBatchFrames: maxBatch})
		if err == nil {
			peers <- peer{ws: fc.WS(), fc: fc}
		}
	}))
	defer srv.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchClientEnv+"="+srv.Listener.Addr().String(), benchSocketsEnv+"="+strconv.Itoa(sockets))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		b.Fatalf("client: %q", lines.Text())
	}

	var pending atomic.Int64
	idle := make(chan struct{}, 1)
	queues := make([]*benchQueue, sockets)
	all := make([]peer, sockets)
	for i := range queues {
		var p peer
		select {
		case p = <-peers:
		case <-time.After(10 * time.Second):
			b.Fatal("clients did not connect")
		}
		all[i] = p
		q := &benchQueue{signal: make(chan struct{}, 1)}
		queues[i] = q
		go func() { // the reader, as handlers run it: answers the client's close
			for {
				if _, _, err := p.ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		var write func([]benchFrame) error
		if p.fc == nil {
			write = func(batch []benchFrame) error {
				for _, f := range batch {
					if err := p.ws.SetWriteDeadline(time.Now().Add(DefaultWriteWait)); err != nil {
						return err
					}
					if err := p.ws.WritePreparedMessage(f.pm); err != nil {
						return err
					}
				}
				return nil
			}
		} else {
			var bufs [][]byte
			write = func(batch []benchFrame) error {
				bufs = bufs[:0]
				for _, f := range batch {
					bufs = append(bufs, f.framed)
				}
				return p.fc.WriteFrames(bufs)
			}
		}
		go q.run(write, &pending, idle)
	}

	payload := bytes.Repeat([]byte{'m'}, 200)
	b.SetBytes(int64(len(payload) * sockets))
	b.ReportAllocs()
	cpu0, w0 := cpuTime(), procWrites(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var f benchFrame
		if maxBatch == 0 {
			f.pm, _ = websocket.NewPreparedMessage(websocket.BinaryMessage, payload)
		} else {
			f.framed = Binary(payload)
		}
		pending.Add(int64(sockets))
		for _, q := range queues {
			q.enqueue(f)
		}
		if (i+1)%burst == 0 || i == b.N-1 {
			for pending.Load() != 0 {
				<-idle
			}
		}
	}
	b.StopTimer()
	deliveries := float64(b.N) * float64(sockets)
	b.ReportMetric(float64(cpuTime()-cpu0)/deliveries, "cpu-ns/delivery")
	b.ReportMetric(float64(procWrites(b)-w0)/deliveries, "writes/delivery")
	if maxBatch > 0 {
		var st Stats
		for _, p := range all {
			s := p.fc.Stats()
			st.Batches += s.Batches
			st.Frames += s.Frames
		}
		b.ReportMetric(float64(st.Frames)/float64(st.Batches), "frames/batch")
	}

	// Close every socket and check the client got every frame.
	for i, p := range all {
		close(queues[i].signal)
		if p.fc != nil {
			p.fc.Close(websocket.CloseNormalClosure, "")
		} else {
			_ = p.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		}
	}
	if !lines.Scan() {
		b.Fatal("client ended without totals")
	}
	want := fmt.Sprintf("frames %d bytes %d", b.N*sockets, b.N*sockets*len(payload))
	if lines.Text() != want {
		b.Fatalf("client got %q, want %q", lines.Text(), want)
	}
	for _, p := range all {
		if p.fc == nil {
			p.ws.Close()
		}
	}
}
