package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxFrame bounds what a client reads in one frame; the server's packets
// are far smaller.
const maxFrame = 1 << 20

// counters are the run-wide event counts every client adds to. Fresh
// receipts, the one count per delivery, are kept per client instead
// (client.delivered), so that readers do not contend on it.
type counters struct {
	sent         atomic.Int64
	online       atomic.Int64 // OnlineUsers packets
	notices      atomic.Int64 // Message packets without ids: server notices
	foreign      atomic.Int64 // messages not of this run, or of another room
	corrupt      atomic.Int64 // a payload that does not match its id
	decodeErrors atomic.Int64
	other        atomic.Int64 // other packet kinds
	disconnects  atomic.Int64 // sockets that ended before the run closed them
	sendErrors   atomic.Int64
}

// client is one WebSocket connection of the generator.
type client struct {
	r      *run
	ws     *Socket
	room   int
	sender int // index among the room's senders, -1 for a pure receiver
	idx    int // index among the room's clients (its node, in a cluster)
	rcv    *Receiver
	wire   Wire // the reader's decoder
	// delivered counts this client's fresh receipts and latency their
	// latencies: per client, summed when read, so that 200 readers do not
	// share a cache line per delivery. latency is nil for idle sockets.
	delivered atomic.Int64
	latency   *Histogram
	// wmu serializes writes: the sender's messages and the reader's
	// replies to pings.
	wmu sync.Mutex

	probeSeen atomic.Bool
	closing   atomic.Bool
	readDone  chan struct{}
	// lastNotice is the text of the newest server notice, for error reports.
	lastNotice atomic.Pointer[string]
}

// dial opens the socket of one client, with a Bearer token unless it is
// empty.
func dial(ctx context.Context, d *Dialer, wsURL, token string) (*Socket, error) {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return d.Dial(ctx, wsURL, h)
}

// readLoop receives until the socket closes, accounting every packet. It
// reuses its frame buffer and event slice, so a receipt allocates nothing.
func (c *client) readLoop() {
	defer close(c.readDone)
	r := c.r
	buf := make([]byte, 0, 4096)
	var evs []Event
	for {
		var err error
		if _, buf, err = c.ws.ReadMessage(buf[:0]); err != nil {
			if !c.closing.Load() {
				r.c.disconnects.Add(1)
				r.noteError(fmt.Errorf("room %d client socket ended early: %w", c.room, err))
			}
			return
		}
		now := c.ws.LastRead()
		evs, err = c.wire.Decode(buf, evs[:0])
		for i := range evs {
			c.event(&evs[i], now)
		}
		if err != nil {
			r.c.decodeErrors.Add(1)
		}
	}
}

// event accounts for one received event, and answers it if it asks.
func (c *client) event(ev *Event, now time.Time) {
	r := c.r
	switch ev.Kind {
	case EventMessage:
		c.message(ev, now)
	case EventNotice:
		// The server refused something this client sent.
		r.c.notices.Add(1)
		text := string(ev.Payload)
		c.lastNotice.Store(&text)
		if c.sender >= 0 && r.measuring.Load() {
			r.tracker.Reject(c.room, c.sender)
		}
	case EventPresence:
		r.c.online.Add(1)
	default:
		r.c.other.Add(1)
	}
	if ev.Reply != nil {
		if err := c.write(ev.Reply); err != nil && !c.closing.Load() {
			r.noteError(fmt.Errorf("room %d client reply: %w", c.room, err))
		}
	}
}

func (c *client) message(ev *Event, now time.Time) {
	r := c.r
	room, sender, seq, probe, err := ParseMessageID(r.id, ev.ID)
	if err != nil || room != c.room {
		r.c.foreign.Add(1)
		return
	}
	if probe {
		if !c.probeSeen.Swap(true) {
			r.probes[room].Add(1)
		}
		return
	}
	sentNs, pseq, err := ParsePayload(ev.Payload)
	if err != nil || pseq != seq {
		r.c.corrupt.Add(1)
		return
	}
	switch r.tracker.Receive(c.rcv, room, sender, seq) {
	case Fresh:
		d := now.Sub(time.Unix(0, sentNs))
		if c.latency != nil {
			c.latency.Record(d)
		}
		r.nodes.record(room, sender, c.idx, d)
		c.delivered.Add(1)
	case Foreign:
		r.c.foreign.Add(1)
	case Duplicate:
		// counted by the tracker
	}
}

// sendLoop sends messages until stop closes: every interval (offset
// staggers senders) or, with interval 0, as fast as the window allows.
func (c *client) sendLoop(stop <-chan struct{}, start time.Time, interval, offset time.Duration) {
	r := c.r
	enc := r.cfg.Protocol.NewWire(r.roomName(c.room))
	filler := Filler(max(r.cfg.Payload, HeaderLen), uint64(c.room)<<20|uint64(c.sender))
	window := r.tracker.Window(c.room, c.sender)
	buf := make([]byte, 0, max(r.cfg.Payload, HeaderLen)+8)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for seq := int64(0); seq < MaxSeq; seq++ {
		var due time.Time
		if interval > 0 {
			due = start.Add(offset + time.Duration(seq)*interval)
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-stop:
					return
				case <-timer.C:
				}
			}
		}
		if window != nil {
			select {
			case <-stop:
				return
			case <-window:
			}
		}
		select {
		case <-stop:
			return
		default:
		}
		sentAt := due
		if interval == 0 {
			sentAt = time.Now()
		}
		buf = AppendPayload(buf[:0], sentAt.UnixNano(), seq, filler, r.cfg.Payload)
		data, err := enc.Encode(MessageID(r.id, c.room, c.sender, seq), buf)
		if err != nil {
			r.noteError(err)
			return
		}
		if err := c.write(data); err != nil {
			r.c.sendErrors.Add(1)
			r.noteError(fmt.Errorf("room %d sender %d: %w", c.room, c.sender, err))
			return
		}
		r.tracker.Sent(c.room, c.sender, seq)
		r.c.sent.Add(1)
	}
}

// write sends one frame: binary for wasmchannel's packets, text for
// JSON protocols.
func (c *client) write(data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(c.r.cfg.Protocol.FrameType(), data, time.Now().Add(10*time.Second)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// close says goodbye and closes the socket without waiting for the reply.
func (c *client) close() {
	c.closing.Store(true)
	_ = c.ws.Close("bench done")
}

// signUp creates n users on the server and returns their session tokens.
func signUp(ctx context.Context, base, run string, n, parallel int) ([]string, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	tokens := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tokens[i], errs[i] = signUpOne(ctx, hc, base, fmt.Sprintf("bench-%s-%d", run, i))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return tokens, nil
}

func signUpOne(ctx context.Context, hc *http.Client, base, name string) (string, error) {
	body, _ := json.Marshal(map[string]string{
		"name": name, "email": name + "@example.com", "password": "bench-password-" + name,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/auth/sign-up/email", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("sign up %s: %w", name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("sign up %s: %w", name, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("sign up %s: status %d: %s", name, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Token == "" {
		return "", fmt.Errorf("sign up %s: no token in %q", name, raw)
	}
	return out.Token, nil
}

// wsBase turns http://host:port into ws://host:port and refuses anything
// but a loopback host: the generator is a load test, not a tool to point at
// other people's servers.
func wsBase(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse url %q: %w", base, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("url %q: want http:// or https://", base)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("url %q: the load generator targets loopback addresses only (127.0.0.0/8, ::1, localhost)", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u.String(), nil
}
