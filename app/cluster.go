package app

// cluster.go: cluster mode (issue 11, docs/CLUSTER.md). With --nats the
// node joins the others through NATS; PostgreSQL, shared by all, is the
// truth, and every committed event is published after its commit with the
// room's sequence number.

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/cluster"
	"github.com/wasmchannel/wasmchannel/db"
	"github.com/wasmchannel/wasmchannel/handlers"
)

// errClusterSQLite refuses --nats on a SQLite file, before anything listens.
var errClusterSQLite = errors.New("--nats needs a PostgreSQL store (--db postgres://…): every node must read the same history and sessions; a SQLite file belongs to one node")

func bindClusterFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.NATS, "nats", cfg.NATS, "join a cluster through these NATS servers (comma-separated nats://host:4222); needs --db postgres://…")
	fs.StringVar(&cfg.NodeID, "node-id", cfg.NodeID, "this node's name in logs, /health and /metrics (default hostname-pid-random, unique per process)")
}

func (c Config) validateCluster() error {
	if c.NATS == "" {
		return nil
	}
	if !db.IsPostgres(c.DBPath) {
		return errClusterSQLite
	}
	if len(c.NodeID) > 128 {
		return errors.New("--node-id must be at most 128 bytes")
	}
	return nil
}

// withNodeID gives a cluster node its id before anything logs, and puts
// the id on every log line.
func withNodeID(cfg Config) Config {
	if cfg.NATS == "" {
		return cfg
	}
	if cfg.NodeID == "" {
		cfg.NodeID = cluster.DefaultNodeID()
	}
	cfg.Log = cfg.Log.With("node", cfg.NodeID)
	return cfg
}

// clusterConfig is the Broker's config for cfg: the cluster's defaults
// with the flags applied.
func clusterConfig(cfg Config) cluster.Config {
	cc := cluster.DefaultConfig()
	cc.URLs = cfg.NATS
	if cfg.NodeID != "" {
		cc.NodeID = cfg.NodeID
	}
	cc.Log = cfg.Log
	return cc
}

// openCluster joins the hub to the cluster: the Broker reads gaps from the
// store's event log and hands events to the hub; /metrics reads its Stats.
// An unreachable NATS is not an error: the node starts degraded.
func (a *App) openCluster(cfg Config) error {
	events, ok := a.DB.(chat.EventLog)
	if !ok {
		return fmt.Errorf("cluster: the %s store has no event log", a.DB.Kind())
	}
	cc := clusterConfig(cfg)
	b, err := cluster.Open(cc, a.Hub.GapSource(events), a.Hub.ClusterHandler(a.sessionHolds))
	if err != nil {
		return fmt.Errorf("join cluster: %w", err)
	}
	a.Cluster = b
	a.Hub.SetCluster(b)
	a.log.Info("cluster node", "node", cc.NodeID, "nats", b.Connected())
	a.clusterMetrics(b)
	return nil
}

// sessionHolds is the session check after a NATS reconnect, beside the
// sweep: a session the store cannot check now is kept (the sweep's rules
// close it later).
func (a *App) sessionHolds(ctx context.Context, key string) bool {
	return !errors.Is(a.Auth.CheckSession(ctx, key), auth.ErrSessionGone)
}

// clusterHealth is /health's cluster part.
func (a *App) clusterHealth() *handlers.ClusterHealth {
	st := a.Cluster.Stats()
	h := &handlers.ClusterHealth{NodeID: st.NodeID, NATS: "degraded", Server: st.Server, Peers: st.Peers, Rooms: st.Rooms}
	if st.Connected {
		h.NATS = "connected"
	}
	return h
}

func (a *App) clusterMetrics(b *cluster.Broker) {
	m := a.Metrics
	m.Info("wasmchannel_cluster_node_info", "This node's cluster id.", map[string]string{"node_id": b.NodeID()})
	gauge := func(name, help string, fn func(cluster.Stats) float64) {
		m.GaugeFunc("wasmchannel_cluster_"+name, help, func() float64 { return fn(b.Stats()) })
	}
	counter := func(name, help string, fn func(cluster.Stats) uint64) {
		m.CounterFunc("wasmchannel_cluster_"+name+"_total", help, func() float64 { return float64(fn(b.Stats())) })
	}
	gauge("nats_connected", "1 while NATS is reachable; 0 is degraded (the node stores and serves, and polls the store for other nodes' events).", func(s cluster.Stats) float64 {
		if s.Connected {
			return 1
		}
		return 0
	})
	gauge("peers", "Other nodes live now.", func(s cluster.Stats) float64 { return float64(s.Peers) })
	gauge("peers_seen", "Other nodes ever heard from.", func(s cluster.Stats) float64 { return float64(s.PeersSeen) })
	gauge("rooms", "Rooms this node is subscribed to.", func(s cluster.Stats) float64 { return float64(s.Rooms) })
	counter("published", "Committed events published to NATS.", func(s cluster.Stats) uint64 { return s.Published })
	counter("publish_dropped", "Events not published (NATS down); peers fill them from the store.", func(s cluster.Stats) uint64 { return s.PublishDropped })
	counter("received", "Events received from NATS.", func(s cluster.Stats) uint64 { return s.Received })
	counter("delivered", "Events handed to the rooms, in order, from any source.", func(s cluster.Stats) uint64 { return s.Delivered })
	counter("duplicates", "Events dropped as already delivered.", func(s cluster.Stats) uint64 { return s.Duplicates })
	counter("gap_fills", "Store reads that filled a gap.", func(s cluster.Stats) uint64 { return s.GapFills })
	counter("gap_events", "Events the gap fills returned.", func(s cluster.Stats) uint64 { return s.GapEvents })
	counter("gap_fill_errors", "Gap reads that failed (retried).", func(s cluster.Stats) uint64 { return s.FillErrors })
	counter("skipped", "Sequence numbers given up on (a store anomaly; should stay 0).", func(s cluster.Stats) uint64 { return s.Skipped })
	counter("reconnects", "NATS reconnections.", func(s cluster.Stats) uint64 { return s.Reconnects })
	counter("slow_consumer", "Times NATS dropped messages for this node.", func(s cluster.Stats) uint64 { return s.SlowConsumer })
}

// endingStore is the store auth writes sessions through. When a session is
// deleted (sign-out, revocation, a password change ending the others) its
// sockets close at once, on this node and, in a cluster, on every node
// (Hub.SessionEnded), instead of at the next session sweep.
type endingStore struct {
	auth.Store
	a *App
}

func (s endingStore) ended(hashes ...string) {
	if s.a.Hub == nil {
		return
	}
	for _, h := range hashes {
		s.a.Hub.SessionEnded(h)
	}
}

// others lists userID's session hashes but keep, before they are deleted.
func (s endingStore) others(ctx context.Context, userID, keep string) []string {
	ss, err := s.Store.SessionsByUser(ctx, userID)
	if err != nil {
		return nil // the sweep still closes them
	}
	var out []string
	for _, x := range ss {
		if x.TokenHash != keep {
			out = append(out, x.TokenHash)
		}
	}
	return out
}

func (s endingStore) DeleteSession(ctx context.Context, tokenHash string) error {
	err := s.Store.DeleteSession(ctx, tokenHash)
	if err == nil {
		s.ended(tokenHash)
	}
	return err
}

func (s endingStore) DeleteUserSessions(ctx context.Context, userID string) error {
	hs := s.others(ctx, userID, "")
	err := s.Store.DeleteUserSessions(ctx, userID)
	if err == nil {
		s.ended(hs...)
	}
	return err
}

func (s endingStore) DeleteOtherSessions(ctx context.Context, userID, keep string) error {
	hs := s.others(ctx, userID, keep)
	err := s.Store.DeleteOtherSessions(ctx, userID, keep)
	if err == nil {
		s.ended(hs...)
	}
	return err
}
