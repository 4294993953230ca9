// Package loadgen is the load generator of `wasmchannel bench load`: real
// WebSocket clients that sign up through the HTTP API, join rooms, send
// chat messages carrying their send time, and account for every receipt
// (latency, loss, duplication); plus the baseline hub it compares
// wasmchannel with, and the plumbing to run either server as a child
// process whose CPU and memory are measured apart from the generator's.
package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one run against one server.
type Config struct {
	// URL is the server's base URL (loopback only).
	URL string
	// Label names the server in progress lines and reports.
	Label string
	// Protocol is how to talk to the server; nil means Wasmchannel.
	Protocol Protocol

	Rooms   int // rooms, each with its own clients and senders
	Clients int // clients per room, senders included
	Senders int // clients per room that also send
	// Rate is messages per second per sender; 0 sends as fast as the
	// window allows (saturation). Paced messages carry their scheduled
	// send time, not the moment they left, so a generator or server that
	// falls behind shows up as latency instead of hiding in a send that
	// went out late (coordinated omission).
	Rate float64
	// Window bounds each sender's messages in flight: sent, but not yet
	// received by every client of the room (nor refused by the server).
	// It keeps a saturating sender from queueing more than the server's
	// per-socket send queue holds. 0 means 16.
	Window   int
	Payload  int           // message payload bytes (at least HeaderLen)
	Duration time.Duration // how long senders send
	// Drain is how long to wait, after sending stops, for the last
	// messages to arrive before counting what is missing as lost. 0 means 10s.
	Drain time.Duration

	// ConnsPerUser is how many sockets share one signed-up user (senders
	// always get users of their own, for the per-user rate limit). The
	// server's default cap is 32 per user; 0 means 32.
	ConnsPerUser int
	// DialParallel is how many WebSocket handshakes run at once (0 = 64).
	DialParallel int

	// Idle, when positive, replaces the message load with the idle test:
	// open Idle authenticated sockets, let them settle, and report the
	// server's RSS per socket. They are spread over rooms of IdleRoomSize
	// (0 = 500), because each join is announced to the whole room and
	// 10,000 sockets in one room would make that announcement traffic,
	// not the sockets, the cost being measured.
	Idle         int
	IdleRoomSize int
	// Settle bounds the wait for the server's RSS to stop moving (0 = 20s).
	Settle time.Duration
	// settleStep is the time between RSS readings while settling (1s);
	// tests shorten it.
	settleStep time.Duration

	// Stats reads the server's CPU and memory; nil leaves them out.
	Stats StatsSource
	// BeforeClose, when set, runs once the figures are taken and before
	// the sockets close: the moment to snapshot a loaded server's heap.
	BeforeClose func()
	// OnMeasure, when set, runs as the measured window opens (first send)
	// and the function it returns as it closes (end of the drain): the
	// window to profile the generator in, without sign-up and joins.
	OnMeasure func() (end func())
	// Progress receives one line a second; nil is silent.
	Progress io.Writer

	// NodeURLs, when set, are the cluster's nodes (base URLs, loopback):
	// sockets are spread over them round robin and the latency of
	// deliveries between nodes is also reported on its own (nodes.go).
	NodeURLs []string
}

func (c *Config) fill() error {
	if c.Window <= 0 {
		c.Window = 16
	}
	if c.Drain <= 0 {
		c.Drain = 10 * time.Second
	}
	if c.ConnsPerUser <= 0 {
		c.ConnsPerUser = 32
	}
	if c.DialParallel <= 0 {
		c.DialParallel = 64
	}
	if c.IdleRoomSize <= 0 {
		c.IdleRoomSize = 500
	}
	if c.Settle <= 0 {
		c.Settle = 20 * time.Second
	}
	if c.settleStep <= 0 {
		c.settleStep = time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Label == "" {
		c.Label = "server"
	}
	if c.Protocol == nil {
		c.Protocol = Wasmchannel{}
	}
	if c.Idle > 0 {
		return nil
	}
	switch {
	case c.Rooms < 1:
		return fmt.Errorf("rooms %d: want at least 1", c.Rooms)
	case c.Clients < 1:
		return fmt.Errorf("clients %d: want at least 1 per room", c.Clients)
	case c.Senders < 1 || c.Senders > c.Clients:
		return fmt.Errorf("senders %d: want 1 to clients (%d) per room", c.Senders, c.Clients)
	case c.Rate < 0:
		return fmt.Errorf("rate %v: want 0 (saturation) or more", c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("duration %v: want a positive duration", c.Duration)
	case c.Payload < 0:
		return fmt.Errorf("payload %d: want 0 or more bytes", c.Payload)
	}
	c.Payload = max(c.Payload, HeaderLen)
	return nil
}

// Result is one run's figures. The JSON keys deliveries_per_s, p50_ms,
// p99_ms, p999_ms, lost, duplicated, clients, server_rss_mb and
// server_cpu_s are a documented interface (issue 6); the rest are extra.
type Result struct {
	Label   string  `json:"label"`
	Rooms   int     `json:"rooms"`
	Clients int     `json:"clients"`
	Senders int     `json:"senders"`
	Rate    float64 `json:"rate"`
	Payload int     `json:"payload"`

	DurationS      float64 `json:"duration_s"`
	Sent           int64   `json:"sent"`
	Deliveries     int64   `json:"deliveries"`
	DeliveriesPerS float64 `json:"deliveries_per_s"`
	MessagesPerS   float64 `json:"messages_per_s"`

	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`

	Lost              int64 `json:"lost"`
	MissingDeliveries int64 `json:"missing_deliveries"`
	Duplicated        int64 `json:"duplicated"`
	Rejected          int64 `json:"rejected"`
	Notices           int64 `json:"notices"`
	Disconnects       int64 `json:"disconnects"`
	Foreign           int64 `json:"foreign"`
	Corrupt           int64 `json:"corrupt"`
	DecodeErrors      int64 `json:"decode_errors"`

	SignupS      float64 `json:"signup_s"`
	Users        int     `json:"users"`
	ConnectS     float64 `json:"connect_s"`
	ConnectP50Ms float64 `json:"connect_p50_ms"`
	ConnectP99Ms float64 `json:"connect_p99_ms"`
	ConnectMaxMs float64 `json:"connect_max_ms"`
	SettleS      float64 `json:"settle_s"`

	// ServerRSSMB is the server's peak RSS (VmHWM, or the sampled maximum),
	// ServerCPUS its CPU seconds while the load ran (send and drain).
	ServerRSSMB    float64 `json:"server_rss_mb"`
	ServerRSSEndMB float64 `json:"server_rss_end_mb"`
	ServerCPUS     float64 `json:"server_cpu_s"`
	// ServerCPUUsPerDelivery is server CPU per delivered message copy, the
	// efficiency figure that does not depend on the generator keeping up.
	ServerCPUUsPerDelivery float64 `json:"server_cpu_us_per_delivery"`
	// DeliveriesPerWrite is deliveries per write system call of the
	// server (0 when unknown): 1 for a frame per syscall, more when a
	// server batches frames into one writev or messages into one frame.
	DeliveriesPerWrite float64 `json:"deliveries_per_write,omitempty"`
	GeneratorCPUS      float64 `json:"generator_cpu_s"`
	// GeneratorCPUUsPerDelivery is the generator's CPU per delivery: on a
	// shared machine, what it costs to receive and check a server's
	// packets, which decides how fast the server can be driven.
	GeneratorCPUUsPerDelivery float64 `json:"generator_cpu_us_per_delivery"`
	// LoadAvg is the machine's one-minute load average when the
	// measurement started: well above the cores in use by this run means
	// other processes were competing for the CPU.
	LoadAvg float64 `json:"load_avg_1m"`
	// OtherCPUS is the CPU time other processes on the machine used while
	// the load ran: near 0 for an undisturbed run. InterruptCPUS is the
	// kernel's irq and softirq time meanwhile, and KernelThreadCPUS its
	// threads' (ksoftirqd, kworker, jbd2): mostly the loopback network and
	// disk work of this run, which no process is charged for.
	OtherCPUS        float64 `json:"other_cpu_s"`
	InterruptCPUS    float64 `json:"interrupt_cpu_s"`
	KernelThreadCPUS float64 `json:"kernel_thread_cpu_s"`

	// Idle test figures.
	IdleConns    int     `json:"idle_conns,omitempty"`
	RSSBeforeMB  float64 `json:"rss_before_mb,omitempty"`
	RSSIdleMB    float64 `json:"rss_idle_mb,omitempty"`
	RSSPerConnKB float64 `json:"rss_per_conn_kb,omitempty"`

	// Errors lists the first few problems seen (sockets ending early,
	// failed writes); a clean run has none.
	Errors []string `json:"errors,omitempty"`

	// Cluster figures (NodeURLs set): nodes.go.
	Nodes     int          `json:"nodes,omitempty"`
	Split     *NodeLatency `json:"node_latency,omitempty"`
	NodeRSSMB []float64    `json:"node_rss_mb,omitempty"`
}

// run is the state of one Run.
type run struct {
	cfg     Config
	id      string
	tracker *Tracker
	connect Histogram
	c       counters
	probes  []atomic.Int32
	// measuring is set while senders run and the drain waits; notices
	// outside it are not rejections of measured messages.
	measuring atomic.Bool
	clients   [][]*client
	sampler   *Sampler
	nodes     nodeSpread

	errMu  sync.Mutex
	errs   []string
	nErrs  int
	closed sync.Once
}

// maxErrors is how many problems a result lists.
const maxErrors = 5

func (r *run) noteError(err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.nErrs++
	if len(r.errs) < maxErrors {
		r.errs = append(r.errs, err.Error())
	}
}

func (r *run) errors() []string {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	out := append([]string(nil), r.errs...)
	if r.nErrs > len(r.errs) {
		out = append(out, fmt.Sprintf("... and %d more", r.nErrs-len(r.errs)))
	}
	return out
}

func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Run performs one run against cfg.URL: the message load, or the idle test
// when cfg.Idle > 0. It always closes its sockets before returning.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	wsURL, err := wsBase(cfg.URL)
	if err != nil {
		return nil, err
	}
	cfg.Progress = &lockedWriter{w: cfg.Progress}
	r := &run{cfg: cfg, id: newRunID()}
	if err := r.nodes.init(cfg); err != nil {
		return nil, err
	}
	if cfg.Stats != nil {
		r.sampler = StartSampler(cfg.Stats, 250*time.Millisecond)
		defer r.sampler.Stop()
	}
	defer r.closeAll()
	if cfg.Idle > 0 {
		return r.idle(ctx, wsURL)
	}
	return r.load(ctx, wsURL)
}

// slot is one socket to open: its room, its index in the room (the first
// senders of each room send), and the credential it joins with.
type slot struct {
	room, idx int
	cred      string
}

// slots lays out counts[i] sockets in room i: the first senders of each
// room with the sender users' credentials, the rest sharing the others'.
func (r *run) slots(counts []int, senders int, senderCreds, creds []string) []slot {
	var out []slot
	receiver := 0
	for room, n := range counts {
		for i := range n {
			s := slot{room: room, idx: i}
			if i < senders {
				s.cred = senderCreds[i]
			} else {
				s.cred = creds[(receiver/r.cfg.ConnsPerUser)%len(creds)]
				receiver++
			}
			out = append(out, s)
		}
	}
	return out
}

// connectAll opens the sockets of slots, DialParallel at a time, and starts
// their readers. It fails on the first socket that cannot connect.
func (r *run) connectAll(ctx context.Context, wsURL string, counts []int, senders int, senderCreds, creds []string) error {
	r.clients = make([][]*client, len(counts))
	for room, n := range counts {
		r.clients[room] = make([]*client, n)
	}
	slots := r.slots(counts, senders, senderCreds, creds)
	// A loaded socket reads up to 32 KiB per system call, so a server's
	// batch of frames (or of messages in one frame) comes in with one read;
	// idle sockets keep 4 KiB, as thousands of them are open.
	rbuf := 32 << 10
	if r.cfg.Idle > 0 {
		rbuf = 4096
	}
	d := &Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: rbuf}
	sem := make(chan struct{}, r.cfg.DialParallel)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	var connected atomic.Int64
	defer r.tick(func(elapsed time.Duration) string {
		return fmt.Sprintf("connecting %5.1fs %d/%d sockets", elapsed.Seconds(), connected.Load(), len(slots))
	})()
	for _, s := range slots {
		if firstErr.Load() != nil || ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.open(ctx, d, wsURL, s, senders); err != nil {
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			connected.Add(1)
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return fmt.Errorf("connect %d sockets (%d made it): %w", len(slots), connected.Load(), *p)
	}
	return ctx.Err()
}

// open joins one socket into its room, times it, and starts its reader.
func (r *run) open(ctx context.Context, d *Dialer, wsURL string, s slot, senders int) error {
	start := time.Now()
	wsURL = r.nodes.wsURL(wsURL, s.room, s.idx)
	ws, err := r.cfg.Protocol.Join(ctx, d, wsURL, r.roomName(s.room), s.cred)
	if err != nil {
		return err
	}
	r.connect.Record(time.Since(start))
	sender := -1
	if s.idx < senders {
		sender = s.idx
	}
	c := &client{
		r: r, ws: ws, room: s.room, sender: sender, idx: s.idx,
		rcv: r.tracker.NewReceiver(s.room), wire: r.cfg.Protocol.NewWire(r.roomName(s.room)),
		readDone: make(chan struct{}),
	}
	if r.cfg.Idle == 0 {
		c.latency = new(Histogram)
	}
	r.clients[s.room][s.idx] = c
	go c.readLoop()
	return nil
}

// tick prints line(elapsed) once a second until the returned function is
// called.
func (r *run) tick(line func(elapsed time.Duration) string) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(r.cfg.Progress, "[%s] %s\n", r.cfg.Label, line(time.Since(start)))
			}
		}
	}()
	return func() { close(done) }
}

func (r *run) roomName(room int) string { return "bench-" + r.id + "-" + strconv.Itoa(room) }

// barrier sends probe messages into every room until every client has
// received one. A socket's handshake completes a moment before the server
// adds it to its room, so a client that has seen a probe is known to be in
// the room; and each socket's queue is FIFO, so the join announcements
// before the probe have arrived too: the measurement starts on a quiet
// server with every client able to receive.
func (r *run) barrier(ctx context.Context, timeout time.Duration) error {
	wires := make([]Wire, len(r.clients))
	for room := range wires {
		wires[room] = r.cfg.Protocol.NewWire(r.roomName(room))
	}
	deadline := time.Now().Add(timeout)
	for k := 0; ; k++ {
		waiting := 0
		for room, cs := range r.clients {
			if int(r.probes[room].Load()) >= len(cs) {
				continue
			}
			waiting++
			if k%10 != 0 {
				continue // resend every 250 ms
			}
			id := ProbeID(r.id, room, k/10)
			data, err := wires[room].Encode(id, []byte("probe "+id))
			if err != nil {
				return fmt.Errorf("probe: %w", err)
			}
			if err := cs[0].write(data); err != nil {
				return fmt.Errorf("probe room %d: %w", room, err)
			}
		}
		if waiting == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			note := ""
			for _, cs := range r.clients {
				if n := cs[0].lastNotice.Load(); n != nil {
					note = fmt.Sprintf(" (the server said: %q)", *n)
					break
				}
			}
			return fmt.Errorf("barrier: %d rooms still waiting for their probe after %v%s; %v", waiting, timeout, note, r.errors())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// closeAll closes every socket and waits (boundedly) for the readers.
func (r *run) closeAll() {
	r.closed.Do(func() {
		var all []*client
		for _, cs := range r.clients {
			for _, c := range cs {
				if c != nil {
					all = append(all, c)
				}
			}
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for _, c := range all {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c.close()
			}()
		}
		wg.Wait()
		deadline := time.After(10 * time.Second)
		for _, c := range all {
			select {
			case <-c.readDone:
			case <-deadline:
				return
			}
		}
	})
}

func (r *run) signUpAll(ctx context.Context, senders, receivers int) (senderTokens, tokens []string, took time.Duration, err error) {
	users := 0
	if receivers > 0 {
		users = (receivers + r.cfg.ConnsPerUser - 1) / r.cfg.ConnsPerUser
	}
	start := time.Now()
	all, err := r.cfg.Protocol.Credentials(ctx, r.cfg.URL, r.id, senders+users)
	if err != nil {
		return nil, nil, 0, err
	}
	return all[:senders], all[senders:], time.Since(start), nil
}

// load is the message load: join every client, send for the duration,
// drain, and count.
func (r *run) load(ctx context.Context, wsURL string) (*Result, error) {
	cfg := r.cfg
	r.tracker = NewTracker(cfg.Rooms, cfg.Clients, cfg.Senders, cfg.Window)
	r.probes = make([]atomic.Int32, cfg.Rooms)
	res := &Result{
		Label: cfg.Label, Rooms: cfg.Rooms, Clients: cfg.Rooms * cfg.Clients, Senders: cfg.Senders,
		Rate: cfg.Rate, Payload: cfg.Payload,
	}
	if err := r.joinRooms(ctx, wsURL, res); err != nil {
		return nil, err
	}
	w, err := r.measure(ctx)
	if err != nil {
		return nil, err
	}
	r.fillLoad(res, w)
	if cfg.BeforeClose != nil {
		cfg.BeforeClose()
	}
	r.closeAll()
	res.Errors = r.errors()
	return res, nil
}

// joinRooms makes the users, connects every client and waits until each
// is in its room.
func (r *run) joinRooms(ctx context.Context, wsURL string, res *Result) error {
	cfg := r.cfg
	fmt.Fprintf(cfg.Progress, "[%s] signing up users\n", cfg.Label)
	senderCreds, creds, took, err := r.signUpAll(ctx, cfg.Senders, cfg.Rooms*(cfg.Clients-cfg.Senders))
	if err != nil {
		return err
	}
	res.SignupS, res.Users = took.Seconds(), len(senderCreds)+len(creds)
	counts := make([]int, cfg.Rooms)
	for i := range counts {
		counts[i] = cfg.Clients
	}
	start := time.Now()
	if err := r.connectAll(ctx, wsURL, counts, cfg.Senders, senderCreds, creds); err != nil {
		return err
	}
	r.fillConnect(res, time.Since(start))
	fmt.Fprintf(cfg.Progress, "[%s] %d sockets connected in %.2fs; waiting for the rooms to settle\n", cfg.Label, res.Clients, res.ConnectS)
	settle := time.Now()
	if err := r.barrier(ctx, 60*time.Second); err != nil {
		return err
	}
	res.SettleS = time.Since(settle).Seconds()
	return nil
}

func (r *run) fillConnect(res *Result, took time.Duration) {
	res.ConnectS = took.Seconds()
	res.ConnectP50Ms, res.ConnectP99Ms, res.ConnectMaxMs = ms(r.connect.Quantile(0.5)), ms(r.connect.Quantile(0.99)), ms(r.connect.Max())
}

// window is what one measurement saw: the send window's length and fresh
// receipts, and the readings of the server, the generator and the machine
// from the first send to the end of the drain.
type window struct {
	elapsed    time.Duration
	deliveries int64
	loadAvg    float64
	server     [2]ProcStats
	self       time.Duration
	machine    [2]MachineCPU
}

// measure sends for the duration, then drains, and reads the counters
// around it.
func (r *run) measure(ctx context.Context) (window, error) {
	var w window
	before, err := r.stats()
	if err != nil {
		return w, err
	}
	selfBefore := SelfCPU()
	w.machine[0], w.loadAvg = ReadMachineCPU(), LoadAvg()
	r.measuring.Store(true)
	if r.cfg.OnMeasure != nil {
		end := r.cfg.OnMeasure()
		defer end()
	}
	t0 := time.Now()
	prog := r.progress(t0)
	defer prog()
	w.elapsed, w.deliveries = r.send(ctx, t0)
	if err := ctx.Err(); err != nil {
		return w, err
	}
	r.drain(ctx)
	r.measuring.Store(false)
	prog()
	after, err := r.stats()
	if err != nil {
		return w, err
	}
	w.server = [2]ProcStats{before, after}
	w.self = SelfCPU() - selfBefore
	w.machine[1] = ReadMachineCPU()
	return w, nil
}

// send runs every sender until the duration is up, and returns how long
// that was and the fresh receipts within it.
func (r *run) send(ctx context.Context, t0 time.Time) (time.Duration, int64) {
	cfg := r.cfg
	stop := make(chan struct{})
	var senders sync.WaitGroup
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	nSenders := cfg.Rooms * cfg.Senders
	k := 0
	for _, cs := range r.clients {
		for _, c := range cs[:cfg.Senders] {
			// Stagger paced senders across one interval, so 20 senders at
			// 10/s send every 5 ms rather than 20 at once every 100 ms.
			offset := interval * time.Duration(k) / time.Duration(nSenders)
			k++
			senders.Add(1)
			go func() {
				defer senders.Done()
				c.sendLoop(stop, t0, interval, offset)
			}()
		}
	}
	timer := time.NewTimer(cfg.Duration)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	close(stop)
	deliveries, elapsed := r.deliveries(), time.Since(t0)
	senders.Wait()
	return elapsed, deliveries
}

// drain waits up to Drain for the messages in flight; what is still
// missing then is counted as lost.
func (r *run) drain(ctx context.Context) {
	fmt.Fprintf(r.cfg.Progress, "[%s] sending stopped; draining %d in flight\n", r.cfg.Label, r.tracker.InFlight())
	end := time.Now().Add(r.cfg.Drain)
	for r.tracker.InFlight() > 0 && time.Now().Before(end) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	// A moment more, for any duplicate still on its way.
	time.Sleep(250 * time.Millisecond)
}

// fillLoad turns a measured window and the tally into the result's figures.
func (r *run) fillLoad(res *Result, w window) {
	res.LoadAvg = w.loadAvg
	res.GeneratorCPUS = w.self.Seconds()
	res.InterruptCPUS = (w.machine[1].Interrupts - w.machine[0].Interrupts).Seconds()
	tasks := (w.machine[1].Tasks - w.machine[0].Tasks).Seconds()
	res.KernelThreadCPUS = max(0, (w.machine[1].KernelThreads - w.machine[0].KernelThreads).Seconds())

	tally := r.tracker.Tally()
	res.DurationS = w.elapsed.Seconds()
	res.Sent = tally.Sent
	res.Deliveries = r.deliveries()
	res.DeliveriesPerS = float64(w.deliveries) / w.elapsed.Seconds()
	res.MessagesPerS = float64(tally.Sent) / w.elapsed.Seconds()
	lat := r.latencies()
	res.P50Ms, res.P99Ms, res.P999Ms = ms(lat.Quantile(0.5)), ms(lat.Quantile(0.99)), ms(lat.Quantile(0.999))
	res.MaxMs, res.MeanMs = ms(lat.Max()), ms(lat.Mean())
	if res.Deliveries > 0 {
		res.GeneratorCPUUsPerDelivery = res.GeneratorCPUS * 1e6 / float64(res.Deliveries)
	}
	res.Lost, res.MissingDeliveries, res.Duplicated, res.Rejected = tally.Lost, tally.MissingDeliveries, tally.Duplicated, tally.Rejected
	r.fillCounters(res)
	r.nodes.fill(res)
	if r.sampler == nil {
		return
	}
	res.ServerCPUS = (w.server[1].CPU - w.server[0].CPU).Seconds()
	res.OtherCPUS = max(0, tasks-res.KernelThreadCPUS-res.ServerCPUS-res.GeneratorCPUS)
	res.ServerRSSMB = mb(r.sampler.Peak())
	res.ServerRSSEndMB = mb(w.server[1].RSS)
	if res.Deliveries > 0 {
		res.ServerCPUUsPerDelivery = res.ServerCPUS * 1e6 / float64(res.Deliveries)
	}
	if writes := w.server[1].Writes - w.server[0].Writes; writes > 0 {
		res.DeliveriesPerWrite = float64(res.Deliveries) / float64(writes)
	}
}

// deliveries sums the clients' fresh receipts.
func (r *run) deliveries() int64 {
	var n int64
	for _, cs := range r.clients {
		for _, c := range cs {
			if c != nil {
				n += c.delivered.Load()
			}
		}
	}
	return n
}

// latencies merges the clients' latency histograms.
func (r *run) latencies() *Histogram {
	h := new(Histogram)
	for _, cs := range r.clients {
		for _, c := range cs {
			if c != nil && c.latency != nil {
				h.Merge(c.latency)
			}
		}
	}
	return h
}

func (r *run) fillCounters(res *Result) {
	res.Notices = r.c.notices.Load()
	res.Disconnects = r.c.disconnects.Load()
	res.Foreign = r.c.foreign.Load()
	res.Corrupt = r.c.corrupt.Load()
	res.DecodeErrors = r.c.decodeErrors.Load()
}

// stats reads the server, or returns zeros when there is no source.
func (r *run) stats() (ProcStats, error) {
	if r.sampler == nil {
		return ProcStats{}, nil
	}
	st, err := r.sampler.Now()
	if err != nil {
		return st, fmt.Errorf("server stats: %w", err)
	}
	return st, nil
}

// progress prints a line a second until the returned function is called.
func (r *run) progress(t0 time.Time) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastDel, lastSent int64
		var lastCPU time.Duration
		if st, err := r.stats(); err == nil {
			lastCPU = st.CPU
		}
		last := t0
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				del, sent := r.deliveries(), r.c.sent.Load()
				lat := r.latencies()
				dt := now.Sub(last).Seconds()
				line := fmt.Sprintf("[%s] %5.1fs sent %d (%.0f/s) deliveries %d (%.0f/s) p50 %.2fms p99 %.2fms max %.1fms in-flight %d dup %d",
					r.cfg.Label, now.Sub(t0).Seconds(), sent, float64(sent-lastSent)/dt, del, float64(del-lastDel)/dt,
					ms(lat.Quantile(0.5)), ms(lat.Quantile(0.99)), ms(lat.Max()),
					r.tracker.InFlight(), r.tracker.duplicates.Load())
				if st, err := r.stats(); err == nil && r.sampler != nil {
					line += fmt.Sprintf(" | server cpu %.0f%% rss %.0fMB", (st.CPU-lastCPU).Seconds()/dt*100, mb(st.RSS))
					lastCPU = st.CPU
				}
				if d := r.c.disconnects.Load(); d > 0 {
					line += fmt.Sprintf(" | %d sockets dropped", d)
				}
				fmt.Fprintln(r.cfg.Progress, line)
				lastDel, lastSent, last = del, sent, now
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}

// idleRooms spreads n sockets over rooms of at most size.
func idleRooms(n, size int) []int {
	counts := make([]int, (n+size-1)/size)
	for i := range n {
		counts[i%len(counts)]++
	}
	return counts
}

// idle is the idle test: the server's memory settled before and after n
// sockets connect and join their rooms.
func (r *run) idle(ctx context.Context, wsURL string) (*Result, error) {
	cfg := r.cfg
	if r.sampler == nil {
		return nil, errors.New("idle test: no way to read the server's memory (give the server's pid or a /metrics endpoint)")
	}
	counts := idleRooms(cfg.Idle, cfg.IdleRoomSize)
	nRooms := len(counts)
	r.tracker = NewTracker(nRooms, 0, 0, 0)
	r.probes = make([]atomic.Int32, nRooms)
	res := &Result{Label: cfg.Label, Rooms: nRooms, Clients: cfg.Idle, IdleConns: cfg.Idle}
	fmt.Fprintf(cfg.Progress, "[%s] idle test: signing up users\n", cfg.Label)
	_, creds, took, err := r.signUpAll(ctx, 0, cfg.Idle)
	if err != nil {
		return nil, err
	}
	res.SignupS, res.Users = took.Seconds(), len(creds)
	fmt.Fprintf(cfg.Progress, "[%s] waiting for the server's memory to settle before connecting\n", cfg.Label)
	before, err := waitStable(ctx, r.sampler, cfg.settleStep, cfg.Settle)
	if err != nil {
		return nil, err
	}
	res.LoadAvg = LoadAvg()
	start := time.Now()
	if err := r.connectAll(ctx, wsURL, counts, 0, nil, creds); err != nil {
		return nil, err
	}
	r.fillConnect(res, time.Since(start))
	fmt.Fprintf(cfg.Progress, "[%s] %d sockets in %d rooms connected in %.2fs; settling\n", cfg.Label, cfg.Idle, nRooms, res.ConnectS)
	settle := time.Now()
	if err := r.barrier(ctx, 120*time.Second); err != nil {
		return nil, err
	}
	after, err := waitStable(ctx, r.sampler, cfg.settleStep, cfg.Settle)
	if err != nil {
		return nil, err
	}
	res.SettleS = time.Since(settle).Seconds()
	if d := r.c.disconnects.Load(); d > 0 {
		return nil, fmt.Errorf("idle test: %d sockets dropped while idle: %v", d, r.errors())
	}
	r.fillIdle(res, before, after)
	if cfg.BeforeClose != nil {
		cfg.BeforeClose()
	}
	r.closeAll()
	res.Errors = r.errors()
	fmt.Fprintf(cfg.Progress, "[%s] idle: RSS %.1f MB before, %.1f MB with %d sockets: %.1f KB each\n",
		cfg.Label, res.RSSBeforeMB, res.RSSIdleMB, cfg.Idle, res.RSSPerConnKB)
	return res, nil
}

// fillIdle sets the idle test's memory and CPU figures from the settled
// readings before and after the sockets joined.
func (r *run) fillIdle(res *Result, before, after ProcStats) {
	res.RSSBeforeMB, res.RSSIdleMB = mb(before.RSS), mb(after.RSS)
	res.RSSPerConnKB = float64(after.RSS-before.RSS) / 1024 / float64(res.IdleConns)
	res.ServerRSSMB = mb(r.sampler.Peak())
	res.ServerRSSEndMB = mb(after.RSS)
	res.ServerCPUS = (after.CPU - before.CPU).Seconds()
	r.fillCounters(res)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(b int64) float64         { return float64(b) / (1 << 20) }

// lockedWriter serializes progress lines from the run and its ticker.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
