package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Baseline is the ceiling the load generator compares wasmchannel with: a
// broadcast hub on gorilla/websocket alone. It relays every frame a client
// sends to every client of the room, sender included, with no codec, no
// validation, no persistence and no real authentication (any Bearer header
// is accepted). It does what any competent hub must (a reader and a writer
// goroutine per socket started from a handler that then returns, as in
// gorilla's own chat example; the HTTP server's buffers reused; a bounded
// send queue; one prepared frame per broadcast; write deadlines), so that
// the difference to wasmchannel is what wasmchannel adds.
type Baseline struct {
	mu    sync.Mutex
	rooms map[string]map[*baseConn]struct{}
	conns sync.WaitGroup
	up    websocket.Upgrader
}

// baseQueue is each socket's send queue, in frames. wasmchannel bounds its
// queues at 1 MiB, about 4,000 chat packets; this is the same order.
const baseQueue = 4096

// baseConn is one socket. Its queue is a slice under a mutex with a
// one-slot wake-up channel, so a writer that fell behind takes everything
// queued in one go instead of waking once per frame.
type baseConn struct {
	ws     *websocket.Conn
	mu     sync.Mutex
	queue  []*websocket.PreparedMessage
	signal chan struct{}
	once   sync.Once
	done   chan struct{}
}

// enqueue queues pm, or drops the socket when its queue is full: a client
// that reads too slowly is disconnected, never waited on.
func (c *baseConn) enqueue(pm *websocket.PreparedMessage) {
	c.mu.Lock()
	if len(c.queue) >= baseQueue {
		c.mu.Unlock()
		c.close()
		return
	}
	c.queue = append(c.queue, pm)
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

func (c *baseConn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}

// NewBaseline returns an empty hub.
func NewBaseline() *Baseline {
	return &Baseline{
		rooms: make(map[string]map[*baseConn]struct{}),
		// Zero buffer sizes reuse the 4 KiB buffers net/http already made.
		up: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
	}
}

// Handler serves the routes the generator uses: sign-up (a stub that hands
// out a random token), /health, and /ws/{room}.
func (b *Baseline) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/auth/sign-up/email", b.signUp)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok","codec":"none"}`))
	})
	mux.HandleFunc("GET /ws/{room}", b.websocket)
	return mux
}

func (b *Baseline) signUp(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		http.Error(w, `{"code":"BAD_REQUEST"}`, http.StatusBadRequest)
		return
	}
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token": hex.EncodeToString(tok),
		"user":  map[string]any{"id": hex.EncodeToString(tok[:8]), "name": body.Name, "email": body.Email},
	})
}

func (b *Baseline) websocket(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		http.Error(w, `{"code":"UNAUTHORIZED"}`, http.StatusUnauthorized)
		return
	}
	ws, err := b.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &baseConn{ws: ws, signal: make(chan struct{}, 1), done: make(chan struct{})}
	room := r.PathValue("room")
	b.mu.Lock()
	members := b.rooms[room]
	if members == nil {
		members = make(map[*baseConn]struct{})
		b.rooms[room] = members
	}
	members[c] = struct{}{}
	b.conns.Add(1)
	b.mu.Unlock()
	go c.writeLoop()
	go b.readLoop(c, room)
}

// readLoop relays the socket's frames to its room until the socket ends.
func (b *Baseline) readLoop(c *baseConn, room string) {
	defer b.conns.Done()
	ws := c.ws
	defer func() {
		b.mu.Lock()
		if members := b.rooms[room]; members != nil {
			delete(members, c)
			if len(members) == 0 {
				delete(b.rooms, room)
			}
		}
		b.mu.Unlock()
		c.close()
	}()
	ws.SetReadLimit(1 << 20)
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		pm, err := websocket.NewPreparedMessage(typ, data)
		if err != nil {
			return
		}
		b.mu.Lock()
		for m := range b.rooms[room] {
			m.enqueue(pm)
		}
		b.mu.Unlock()
	}
}

func (c *baseConn) writeLoop() {
	var batch []*websocket.PreparedMessage
	for {
		select {
		case <-c.done:
			return
		case <-c.signal:
		}
		c.mu.Lock()
		batch, c.queue = c.queue, batch[:0]
		c.mu.Unlock()
		for i, pm := range batch {
			_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.ws.WritePreparedMessage(pm); err != nil {
				c.close()
				return
			}
			batch[i] = nil
		}
	}
}

// Shutdown closes every socket.
func (b *Baseline) Shutdown() {
	b.mu.Lock()
	for _, members := range b.rooms {
		for c := range members {
			c.close()
		}
	}
	b.mu.Unlock()
}

// ServeBaseline runs a Baseline on ln until ctx ends.
func ServeBaseline(ctx context.Context, ln net.Listener) error {
	b := NewBaseline()
	srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// A connection still open after the grace (one that sent no full
		// request yet) is closed, as any server ends its stop; the stop
		// itself did not fail.
		err = srv.Close()
	}
	b.Shutdown()
	b.conns.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
