package main

// cluster_demo.go: `wasmchannel cluster-demo` (make cluster-demo) starts a
// local cluster, a throwaway PostgreSQL, a nats-server and three nodes on
// loopback, prints their URLs and stops everything on Ctrl-C.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wasmchannel/wasmchannel/internal/natstest"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
	"github.com/wasmchannel/wasmchannel/loadgen"
)

func init() {
	register("cluster-demo", "start PostgreSQL, nats-server and three nodes on loopback and print their URLs (Ctrl-C stops them)", runClusterDemo)
}

func runClusterDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cluster-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("nodes", 3, "nodes to start (1 to 16)")
	codec := fs.String("codec", "wasm", "codec of the nodes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *n < 1 || *n > 16 {
		fmt.Fprintln(stderr, "cluster-demo: --nodes must be 1 to 16")
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "cluster-demo: %v\n", err); return 1 }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	pg, err := pgtest.Start()
	if err != nil {
		return fail(fmt.Errorf("PostgreSQL: %w", err))
	}
	defer pg.Close()
	bin, err := natstest.Binary()
	if err != nil {
		return fail(err)
	}
	nats, natsURL, err := startNATS(bin)
	if err != nil {
		return fail(err)
	}
	defer stopByPID(nats)
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	var nodes []*loadgen.Child
	defer func() {
		for _, c := range nodes {
			_ = c.Stop(30 * time.Second)
		}
	}()
	for i := 0; i < *n; i++ {
		id := fmt.Sprintf("demo-%d", i+1)
		c, err := loadgen.StartChild(ctx, exe, func(addr string) ([]string, error) {
			return []string{"serve", "--addr", addr, "--db", pg.URL, "--nats", natsURL, "--node-id", id, "--codec", *codec}, nil
		}, 60*time.Second)
		if err != nil {
			return fail(fmt.Errorf("start %s: %w", id, err))
		}
		nodes = append(nodes, c)
	}
	fmt.Fprintf(stdout, "PostgreSQL  %s\nNATS        %s\n", pg.URL, natsURL)
	for i, c := range nodes {
		fmt.Fprintf(stdout, "node demo-%d %s   (health: %s/health, metrics: %s/metrics)\n", i+1, c.URL, c.URL, c.URL)
	}
	fmt.Fprintln(stdout, "Open two of the URLs in two browsers, sign up on one, sign in on the other: one conversation. Ctrl-C stops everything.")
	<-ctx.Done()
	return 0
}
