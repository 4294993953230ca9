package main

// bench_cluster.go: bench load --nodes N (issue 11 item 8). It starts a
// PostgreSQL (internal/pgtest), a nats-server and N wasmchannel nodes on
// loopback, spreads the clients over the nodes, and reports deliveries/s,
// latency (cross-node on its own), server CPU per delivery and RSS per
// node. On one machine this measures the cluster's overhead, not scaling.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wasmchannel/wasmchannel/internal/natstest"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
	"github.com/wasmchannel/wasmchannel/loadgen"
)

// parseNodes reads --nodes: a comma list of node counts, run back to back.
func parseNodes(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > 16 {
			return nil, fmt.Errorf("--nodes %q: want node counts from 1 to 16, comma-separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// runClusterLoad runs the load once per node count, each on a fresh
// database, NATS and nodes, and prints one table.
func runClusterLoad(ctx context.Context, f loadFlags, stdout, progress io.Writer) ([]*loadgen.Result, error) {
	if f.url != "" || f.baseline || f.peer != "" || f.idle > 0 {
		return nil, fmt.Errorf("--nodes starts its own cluster; it takes none of --url, --baseline, --peer, --idle")
	}
	pg, err := pgtest.Start()
	if err != nil {
		return nil, fmt.Errorf("--nodes: PostgreSQL: %w", err)
	}
	defer pg.Close()
	natsBin, err := natstest.Binary()
	if err != nil {
		return nil, fmt.Errorf("--nodes: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	base := f.baseConfig(progress)
	if base.ConnsPerUser == 0 {
		base.ConnsPerUser = 1000
	}
	var results []*loadgen.Result
	for _, n := range f.nodes {
		r, err := runCluster(ctx, f, base, n, pg, natsBin, exe, progress)
		if err != nil {
			return nil, fmt.Errorf("%d nodes: %w", n, err)
		}
		results = append(results, r)
	}
	writeClusterTable(stdout, results)
	return results, nil
}

func runCluster(ctx context.Context, f loadFlags, cfg loadgen.Config, n int, pg *pgtest.Server, natsBin, exe string, progress io.Writer) (*loadgen.Result, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	dbName := "bench_" + hex.EncodeToString(b[:])
	if err := pg.Exec("CREATE DATABASE " + dbName); err != nil {
		return nil, err
	}
	defer func() { _ = pg.Exec("DROP DATABASE IF EXISTS " + dbName + " WITH (FORCE)") }()
	dbURL := strings.Replace(pg.URL, "/postgres?", "/"+dbName+"?", 1)

	nats, natsURL, err := startNATS(natsBin)
	if err != nil {
		return nil, err
	}
	defer stopByPID(nats)

	codec := "wasm"
	if len(f.codecs) > 0 {
		codec = f.codecs[0]
	}
	var nodes []*loadgen.Child
	defer func() {
		for _, c := range nodes {
			_ = c.Stop(30 * time.Second)
		}
	}()
	var pids []int
	for i := 0; i < n; i++ { // one at a time: the first migrates the database
		id := fmt.Sprintf("bench-node-%d", i)
		c, err := loadgen.StartChild(ctx, exe, func(addr string) ([]string, error) {
			return append(f.serveArgs(addr, dbURL, codec, "", ""), "--nats", natsURL, "--node-id", id), nil
		}, 60*time.Second)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", id, err)
		}
		nodes = append(nodes, c)
		pids = append(pids, c.Pid)
		cfg.NodeURLs = append(cfg.NodeURLs, c.URL)
	}
	fmt.Fprintf(progress, "bench load: %d nodes up, NATS on %s\n", n, natsURL)
	time.Sleep(4 * time.Second) // a heartbeat, so every node knows its peers
	cfg.URL, cfg.Label, cfg.Stats = nodes[0].URL, fmt.Sprintf("%d node(s)", n), loadgen.MultiProc(pids)
	var rss []float64
	cfg.BeforeClose = func() {
		for _, pid := range pids {
			st, err := loadgen.ProcSource{Pid: pid}.Read()
			if err == nil {
				rss = append(rss, float64(st.RSS)/(1<<20))
			}
		}
	}
	cfg.OnMeasure = f.generatorProfile(fmt.Sprintf("nodes-%d", n), len(f.nodes), progress)
	r, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r.NodeRSSMB = rss
	return r, nil
}

// startNATS runs nats-server on a free loopback port and waits for its
// greeting.
func startNATS(bin string) (*exec.Cmd, string, error) {
	port, err := loadgen.FreeLoopbackPort()
	if err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start nats-server: %w", err)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4)
		_, rerr := c.Read(buf)
		c.Close()
		if rerr == nil && string(buf) == "INFO" {
			return cmd, "nats://" + addr, nil
		}
	}
	stopByPID(cmd)
	return nil, "", fmt.Errorf("nats-server not serving on %s", addr)
}

// stopByPID ends a child started here by its PID.
func stopByPID(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// writeClusterTable prints one column per node count.
func writeClusterTable(w io.Writer, rs []*loadgen.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, cell func(r *loadgen.Result) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, r := range rs {
			fmt.Fprintf(tw, "%s\t", cell(r))
		}
		fmt.Fprintln(tw)
	}
	f1 := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	row("", func(r *loadgen.Result) string { return r.Label })
	row("deliveries/s", func(r *loadgen.Result) string { return strconv.FormatFloat(r.DeliveriesPerS, 'f', 0, 64) })
	row("p50 ms (all)", func(r *loadgen.Result) string { return f1(r.P50Ms) })
	row("p99 ms (all)", func(r *loadgen.Result) string { return f1(r.P99Ms) })
	row("p50 / p99 ms, same node", func(r *loadgen.Result) string {
		return f1(r.Split.SameP50Ms) + " / " + f1(r.Split.SameP99Ms)
	})
	row("p50 / p99 ms, cross-node", func(r *loadgen.Result) string {
		if r.Split.CrossCount == 0 {
			return "—"
		}
		return f1(r.Split.CrossP50Ms) + " / " + f1(r.Split.CrossP99Ms)
	})
	row("server CPU µs/delivery (all nodes)", func(r *loadgen.Result) string { return f1(r.ServerCPUUsPerDelivery) })
	row("RSS MB per node", func(r *loadgen.Result) string {
		var s []string
		for _, v := range r.NodeRSSMB {
			s = append(s, strconv.FormatFloat(v, 'f', 0, 64))
		}
		return strings.Join(s, ", ")
	})
	row("lost / duplicated", func(r *loadgen.Result) string {
		return strconv.FormatInt(r.Lost, 10) + " / " + strconv.FormatInt(r.Duplicated, 10)
	})
	row("load average (1 min)", func(r *loadgen.Result) string { return f1(r.LoadAvg) })
	_ = tw.Flush()
}
