package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/loadgen"
)

func init() {
	register("bench load", "WebSocket load: deliveries/s, latency, loss, server CPU and RSS (vs a baseline hub)", runBenchLoad)
	register("bench baseline-server", "(internal) the minimal gorilla/websocket hub that bench load --baseline measures", runBaselineServer)
	register("bench centrifugo-config", "print the Centrifugo v6 configuration bench load --peer centrifugo runs with", runCentrifugoConfig)
}

// loadFlags are the options of `bench load` (issue 6, issue 17).
type loadFlags struct {
	url             string
	serverPid       int
	rooms           int
	clients         int
	senders         int
	rate            float64
	window          int
	payload         int
	duration        time.Duration
	drain           time.Duration
	codecs          []string
	asJSON          bool
	jsonFile        string
	baseline        bool
	peer            string
	peerBin         string
	db              string
	idle            int
	idleRoomSize    int
	serverRateLimit int
	connsPerUser    int
	scryptLogN      int
	timeout         time.Duration
	cpuProfile      string
	memProfile      string
	genProfile      string
	nodes           []int // bench_cluster.go
}

// defaultPeerBin is where `make bench-peer` installs Centrifugo.
const defaultPeerBin = "build/peer/centrifugo"

func runBenchLoad(args []string, stdout, stderr io.Writer) int {
	f, code := parseLoadFlags(args, stderr)
	if code >= 0 {
		return code
	}
	if err := raiseFileLimit(f.idle, stderr); err != nil {
		fmt.Fprintf(stderr, "wasmchannel bench load: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	var results []*loadgen.Result
	var baselineIdx int
	var err error
	if len(f.nodes) > 0 {
		results, err = runClusterLoad(ctx, f, stdout, stderr)
	} else {
		results, baselineIdx, err = runLoadTargets(ctx, f, stderr)
		if err == nil {
			err = writeLoadReport(f, results, baselineIdx, stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "wasmchannel bench load: %v\n", err)
		return 1
	}
	for _, r := range results {
		if r.Lost > 0 || r.Duplicated > 0 {
			fmt.Fprintf(stderr, "wasmchannel bench load: %s lost %d and duplicated %d messages\n", r.Label, r.Lost, r.Duplicated)
			return 1
		}
	}
	return 0
}

// parseLoadFlags reads and checks bench load's flags. code is -1 to go on,
// or the exit code.
func parseLoadFlags(args []string, stderr io.Writer) (f loadFlags, code int) {
	var codecs string
	fs := flag.NewFlagSet("bench load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.url, "url", "", "base URL of a running server on loopback (default: start one per run as a child process)")
	fs.IntVar(&f.serverPid, "server-pid", 0, "with --url: the server's pid, to read its CPU and RSS from /proc (default: its /metrics)")
	fs.IntVar(&f.rooms, "rooms", 1, "rooms")
	fs.IntVar(&f.clients, "clients", 100, "clients per room, senders included")
	fs.IntVar(&f.senders, "senders", 10, "clients per room that send")
	fs.Float64Var(&f.rate, "rate", 10, "messages per second per sender; 0 = as fast as the socket allows (saturation)")
	fs.IntVar(&f.window, "window", 16, "messages each sender may have in flight (sent, not yet received by the whole room)")
	fs.IntVar(&f.payload, "payload", 200, "payload bytes per message (text; the first ~45 carry the send time and sequence)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long senders send")
	fs.DurationVar(&f.drain, "drain", 10*time.Second, "how long to wait for the last messages before counting the missing as lost")
	fs.StringVar(&codecs, "codec", "wasm", "codec of the started server: go, wasm or PATH.wasm; a comma list runs one server per codec, back to back")
	fs.BoolVar(&f.asJSON, "json", false, "print one JSON object instead of the table")
	fs.StringVar(&f.jsonFile, "json-file", "", "also write the JSON object to this file (the table still prints)")
	fs.BoolVar(&f.baseline, "baseline", false, "first run the same load against a minimal gorilla/websocket hub, and report ratios to it")
	fs.StringVar(&f.peer, "peer", "", "also run the same load against another server and report ratios to it: centrifugo (built by make bench-peer)")
	fs.StringVar(&f.peerBin, "peer-bin", defaultPeerBin, "with --peer centrifugo: the Centrifugo v6 binary")
	fs.StringVar(&f.db, "db", "", "--db of every started wasmchannel server (default: a fresh SQLite file per server in a temporary folder)")
	fs.IntVar(&f.idle, "idle", 0, "instead of messages: open N idle authenticated sockets and report server RSS per socket")
	fs.IntVar(&f.idleRoomSize, "idle-room-size", 500, "with --idle: sockets per room")
	fs.IntVar(&f.serverRateLimit, "server-rate-limit", 0, "per-user rate limit of the started server, packets/s (0 = off)")
	fs.IntVar(&f.connsPerUser, "conns-per-user", 0, "sockets per signed-up user (default: 1000 on a started server, which has no per-user cap; 32 with --url)")
	fs.IntVar(&f.scryptLogN, "scrypt-log-n", 4, "password-hash cost of the started server, so signing up users is cheap")
	fs.StringVar(&f.cpuProfile, "server-cpuprofile", "", "write the started wasmchannel server's CPU profile here (FILE.CODEC with several codecs)")
	fs.StringVar(&f.memProfile, "server-memprofile", "", "write the started wasmchannel server's heap profile here, taken before the sockets close")
	fs.StringVar(&f.genProfile, "cpuprofile", "", "write the generator's own CPU profile over each measured window here (FILE.LABEL with several servers or --nodes counts)")
	nodes := fs.String("nodes", "", "start PostgreSQL, NATS and N cluster nodes and spread the clients over them; a comma list (1,3) runs each back to back (bench_cluster.go)")
	fs.DurationVar(&f.timeout, "timeout", 0, "give up after this long (default: 5m plus twice the duration and drain per server)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wasmchannel bench load [--baseline] [--peer centrifugo] [--codec wasm,go] [--rooms 1 --clients 100 --senders 10 --rate 10 --payload 200 --duration 10s] [--idle N] [--json]")
		fmt.Fprintln(stderr, "Everything runs on loopback. The generator raises its open-file limit to the hard limit; --idle N needs about N+100 descriptors in each process (see the README, Server load).")
		fs.PrintDefaults()
	}
	rest, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return f, 0
	}
	if err != nil {
		return f, 2
	}
	f.codecs = app.SplitList(codecs)
	if f.nodes, err = parseNodes(*nodes); err != nil {
		fmt.Fprintf(stderr, "wasmchannel bench load: %v\n", err)
		return f, 2
	}
	if msg := f.check(rest); msg != "" {
		fmt.Fprintf(stderr, "wasmchannel bench load: %s\n", msg)
		return f, 2
	}
	if f.timeout <= 0 {
		f.timeout = 5*time.Minute + time.Duration(f.servers())*2*(f.duration+f.drain)
	}
	return f, -1
}

// check returns what is wrong with the flags, or "".
func (f *loadFlags) check(rest []string) string {
	switch {
	case len(rest) > 0:
		return fmt.Sprintf("unexpected argument %q", rest[0])
	case f.url == "" && len(f.codecs) == 0:
		return "--codec is empty"
	case f.url != "" && (f.baseline || f.peer != ""):
		return "--baseline and --peer start their own servers; they cannot be combined with --url"
	case f.peer != "" && f.peer != "centrifugo":
		return fmt.Sprintf("--peer %q: the one peer known is centrifugo", f.peer)
	}
	return ""
}

// servers is how many servers one command measures.
func (f *loadFlags) servers() int {
	n := len(f.codecs)
	if f.baseline {
		n++
	}
	if f.peer != "" {
		n++
	}
	return max(n, 1)
}

// baseConfig is the load every server gets.
func (f *loadFlags) baseConfig(progress io.Writer) loadgen.Config {
	return loadgen.Config{
		Rooms: f.rooms, Clients: f.clients, Senders: f.senders, Rate: f.rate, Window: f.window,
		Payload: f.payload, Duration: f.duration, Drain: f.drain,
		Idle: f.idle, IdleRoomSize: f.idleRoomSize, ConnsPerUser: f.connsPerUser,
		Progress: progress,
	}
}

// writeLoadReport prints the table or the JSON object, and writes
// --json-file.
func writeLoadReport(f loadFlags, results []*loadgen.Result, baselineIdx int, stdout io.Writer) error {
	if f.asJSON || f.jsonFile != "" {
		obj, err := loadgen.JSONReport(results, baselineIdx)
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(obj, "", "  ")
		if err != nil {
			return err
		}
		if f.jsonFile != "" {
			if err := os.WriteFile(f.jsonFile, append(b, '\n'), 0o644); err != nil {
				return err
			}
		}
		if f.asJSON {
			fmt.Fprintf(stdout, "%s\n", b)
			return nil
		}
	}
	return loadgen.WriteTable(stdout, results, baselineIdx)
}

// runLoadTargets runs the load against each server in turn: the one at
// --url, or else the baseline (with --baseline), one wasmchannel server
// per codec and the peer (with --peer), each started as a child and
// stopped after its run. It returns the results in that order and the
// baseline's index (-1 without one).
func runLoadTargets(ctx context.Context, f loadFlags, progress io.Writer) ([]*loadgen.Result, int, error) {
	base := f.baseConfig(progress)
	if f.url != "" {
		base.OnMeasure = f.generatorProfile("server", 1, progress)
		r, err := runAgainstURL(ctx, f, base, progress)
		if err != nil {
			return nil, -1, err
		}
		return []*loadgen.Result{r}, -1, nil
	}
	dir, err := os.MkdirTemp("", "wasmchannel-bench-")
	if err != nil {
		return nil, -1, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	if base.ConnsPerUser == 0 {
		base.ConnsPerUser = 1000
	}
	targets, err := loadTargets(f, dir)
	if err != nil {
		return nil, -1, err
	}
	baselineIdx := -1
	if f.baseline {
		baselineIdx = 0
	}
	var results []*loadgen.Result
	for _, t := range targets {
		cfg := base
		cfg.OnMeasure = f.generatorProfile(t.label, len(targets), progress)
		r, err := runTarget(ctx, t, cfg, progress)
		if err != nil {
			return nil, -1, err
		}
		results = append(results, r)
	}
	return results, baselineIdx, nil
}

// runAgainstURL measures the server at --url, its CPU and RSS read from
// --server-pid or its /metrics.
func runAgainstURL(ctx context.Context, f loadFlags, cfg loadgen.Config, progress io.Writer) (*loadgen.Result, error) {
	cfg.URL, cfg.Label = f.url, "server"
	if cfg.ConnsPerUser == 0 {
		cfg.ConnsPerUser = app.DefaultConfig().MaxConnsPerUser
	}
	if f.serverPid > 0 {
		cfg.Stats = loadgen.ProcSource{Pid: f.serverPid}
	} else {
		cfg.Stats = loadgen.MetricsSource{URL: f.url + "/metrics"}
		if _, err := cfg.Stats.Read(); err != nil {
			fmt.Fprintf(progress, "bench load: no server CPU/RSS (%v); pass --server-pid\n", err)
			cfg.Stats = nil
		}
	}
	return loadgen.Run(ctx, cfg)
}

// loadTarget is one server to start and measure.
type loadTarget struct {
	label string
	start func(ctx context.Context) (*loadgen.Child, loadgen.Protocol, error)
	// heap: send SIGUSR1 before the sockets close, so serve --memprofile
	// writes its heap profile of the loaded server.
	heap bool
}

// loadTargets lists the servers of a command, in the order they run.
func loadTargets(f loadFlags, dir string) ([]loadTarget, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	own := func(args func(addr string) []string) func(ctx context.Context) (*loadgen.Child, loadgen.Protocol, error) {
		return func(ctx context.Context) (*loadgen.Child, loadgen.Protocol, error) {
			c, err := loadgen.StartChild(ctx, exe, func(addr string) ([]string, error) { return args(addr), nil }, 60*time.Second)
			return c, loadgen.Wasmchannel{}, err
		}
	}
	var targets []loadTarget
	if f.baseline {
		targets = append(targets, loadTarget{label: "baseline", start: own(func(addr string) []string {
			return []string{"bench", "baseline-server", "--addr", addr}
		})})
	}
	for i, c := range f.codecs {
		cpu, mem := f.profileName(f.cpuProfile, c), f.profileName(f.memProfile, c)
		db := f.db
		if db == "" {
			db = fmt.Sprintf("%s/bench-%d.db", dir, i)
		}
		targets = append(targets, loadTarget{label: "wasmchannel/" + codecLabel(c), heap: mem != "", start: own(func(addr string) []string {
			return f.serveArgs(addr, db, c, cpu, mem)
		})})
	}
	if f.peer == "centrifugo" {
		bin, err := findPeerBin(f.peerBin)
		if err != nil {
			return nil, err
		}
		targets = append(targets, loadTarget{label: "centrifugo", start: func(ctx context.Context) (*loadgen.Child, loadgen.Protocol, error) {
			return loadgen.StartCentrifugo(ctx, bin, dir, 60*time.Second)
		}})
	}
	return targets, nil
}

// serveArgs is the command line of a started wasmchannel server: serve,
// with --cpuprofile and --memprofile when a profile is asked for.
func (f *loadFlags) serveArgs(addr, db, codec, cpu, mem string) []string {
	args := []string{"serve"}
	if cpu != "" || mem != "" {
		args = append(args, "--cpuprofile", cpu, "--memprofile", mem)
	}
	return append(args, "--addr", addr, "--db", db, "--codec", codec,
		"--rate-limit", strconv.Itoa(f.serverRateLimit),
		"--max-payload", strconv.Itoa(max(app.DefaultConfig().MaxPayload, f.payload)),
		"--max-conns-per-user", "0", "--max-conns-per-ip", "0",
		// The load is one user on many sockets: no per-user limits.
		"--user-packet-rate", "0", "--user-byte-rate", "0", "--max-violations", "0", "--max-rooms-per-user", "0",
		// It signs up and connects thousands of clients from one address.
		"--upgrades-per-user", "0", "--upgrades-per-ip", "0", "--signups-per-ip", "0", "--sessions-per-user", "0",
		"--scrypt-log-n", strconv.Itoa(f.scryptLogN), "--log-level", "warn")
}

// profileName is the profile file of one codec's server: FILE, or
// FILE.CODEC when several codecs run.
func (f *loadFlags) profileName(path, codec string) string {
	if path == "" || len(f.codecs) == 1 {
		return path
	}
	return path + "." + codecLabel(codec)
}

// generatorProfile returns the hook that profiles this process, the
// generator, over one server's measured window into --cpuprofile (FILE, or
// FILE.LABEL when several servers run); nil without the flag.
func (f *loadFlags) generatorProfile(label string, servers int, progress io.Writer) func() func() {
	if f.genProfile == "" {
		return nil
	}
	path := f.genProfile
	if servers > 1 {
		path += "." + strings.NewReplacer("/", "-", "…", "").Replace(codecLabel(label))
	}
	return func() func() {
		stop, err := startCPUProfile(path)
		if err != nil {
			fmt.Fprintf(progress, "bench load: %v\n", err)
			return func() {}
		}
		return stop
	}
}

// findPeerBin checks that the Centrifugo binary is there, and says how to
// build it when it is not.
func findPeerBin(path string) (string, error) {
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		return path, nil
	}
	if p, err := exec.LookPath("centrifugo"); err == nil && path == defaultPeerBin {
		return p, nil
	}
	return "", fmt.Errorf("--peer centrifugo: no Centrifugo binary at %s (run `make bench-peer`, or pass --peer-bin)", path)
}

// runTarget starts one server, runs the load against it, and stops it.
func runTarget(ctx context.Context, t loadTarget, cfg loadgen.Config, progress io.Writer) (*loadgen.Result, error) {
	fmt.Fprintf(progress, "bench load: starting %s\n", t.label)
	child, proto, err := t.start(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.label, err)
	}
	cfg.URL, cfg.Label, cfg.Protocol, cfg.Stats = child.URL, t.label, proto, loadgen.ProcSource{Pid: child.Pid}
	if t.heap {
		cfg.BeforeClose = func() {
			_ = child.Signal(syscall.SIGUSR1)
			time.Sleep(2 * time.Second) // the heap profile forces a GC and writes a file
		}
	}
	r, err := loadgen.Run(ctx, cfg)
	stopErr := child.Stop(30 * time.Second)
	if err != nil {
		if child.Exited() {
			return nil, fmt.Errorf("%s: %w; server output:\n%s", t.label, err, child.Output())
		}
		return nil, fmt.Errorf("%s: %w", t.label, err)
	}
	if stopErr != nil {
		fmt.Fprintf(progress, "bench load: %s: %v\n", t.label, stopErr)
	}
	return r, nil
}

// codecLabel shortens a codec spec for column headers.
func codecLabel(spec string) string {
	if len(spec) > 24 {
		return "…" + spec[len(spec)-23:]
	}
	return spec
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit. Child
// servers inherit it. Go does this itself at start-up, but says nothing
// when the hard limit is too low for the sockets asked for; this does.
func raiseFileLimit(idle int, stderr io.Writer) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise open-file limit to %d: %w", lim.Max, err)
		}
	}
	if need := uint64(idle) + 256; idle > 0 && lim.Cur < need {
		return fmt.Errorf("--idle %d needs about %d open files per process, the hard limit is %d: raise it (ulimit -Hn, or LimitNOFILE in systemd) and retry", idle, need, lim.Cur)
	}
	return nil
}

// runCentrifugoConfig prints the configuration bench load gives Centrifugo,
// for running the peer by hand (make bench-peer writes it to a file).
func runCentrifugoConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench centrifugo-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8000", "listen address (loopback)")
	secret := fs.String("secret", "", "HS256 secret of connection tokens (default: random)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	host, portS, err := net.SplitHostPort(*addr)
	port, perr := strconv.Atoi(portS)
	if err != nil || perr != nil {
		fmt.Fprintf(stderr, "centrifugo-config: --addr %q: want HOST:PORT\n", *addr)
		return 2
	}
	if *secret == "" {
		*secret = randomSecret()
	}
	b, err := loadgen.CentrifugoConfig(host, port, *secret, randomSecret())
	if err != nil {
		fmt.Fprintf(stderr, "centrifugo-config: %v\n", err)
		return 1
	}
	_, _ = stdout.Write(b)
	return 0
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runBaselineServer serves the baseline hub on --addr until SIGTERM.
func runBaselineServer(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench baseline-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "baseline-server: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := loadgen.ServeBaseline(ctx, ln); err != nil {
		fmt.Fprintf(stderr, "baseline-server: %v\n", err)
		return 1
	}
	return 0
}
