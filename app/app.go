// Package app assembles the server from its parts (database, writer, codec
// source, auth, hub, routes, metrics) so that `wasmchannel serve`, the load
// generator and the end-to-end tests all run the same thing.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/cluster"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/db"
	"github.com/wasmchannel/wasmchannel/db/batch"
	"github.com/wasmchannel/wasmchannel/handlers"
	"github.com/wasmchannel/wasmchannel/host"
	"github.com/wasmchannel/wasmchannel/hub"
	"github.com/wasmchannel/wasmchannel/metrics"
	"github.com/wasmchannel/wasmchannel/wasm"
	"github.com/wasmchannel/wasmchannel/web"
)

// App is a running server.
type App struct {
	cfg     Config
	DB      chat.Store
	Writer  *batch.Writer
	Source  codec.Source
	Hub     *hub.Hub
	Auth    *auth.Service
	Metrics *metrics.Metrics
	HTTP    *http.Server
	// Cluster is the node's link to the others (--nats); nil on one node.
	Cluster *cluster.Broker
	log     *slog.Logger

	sessions    *sessionCheck
	closeSource func(context.Context) error
	stopSweep   context.CancelFunc
	sweepDone   chan struct{}
}

// New opens the database (migrating it), the codec and everything above
// them. Nothing listens until Serve.
func New(ctx context.Context, cfg Config) (*App, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = withNodeID(cfg)
	log := cfg.Log
	public, _ := cfg.publicURL() // checked by Validate
	proxies, _ := cfg.trustedProxies()
	a := &App{cfg: cfg, log: log, Metrics: metrics.New()}
	d, err := db.OpenWith(ctx, cfg.DBPath, db.Options{SQLiteSyncNormal: cfg.SQLiteSync == "normal"})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	a.DB = d
	src, closeSrc, err := OpenSource(ctx, cfg.Codec, cfg.Pool)
	if err != nil {
		d.Close()
		return nil, err
	}
	a.closeSource = closeSrc
	a.Source = a.Metrics.TimedSource(src)
	if p, ok := src.(*host.Pool); ok {
		a.poolMetrics(p)
	}
	secret, err := auth.SecretFromStore(ctx, d, cfg.Secret)
	if err != nil {
		a.closeEarly()
		return nil, fmt.Errorf("auth secret: %w", err)
	}
	acfg := auth.Config{
		Secret: secret, TrustedOrigins: cfg.TrustedOrigins, Scrypt: *cfg.AuthScrypt,
		Secure: cfg.SecureCookies, CookieDomain: cfg.CookieDomain, SameSite: cfg.CookieSameSite,
		HashMemory: cfg.HashMemory, HashQueue: cfg.HashQueue, Limits: cfg.authLimits(),
	}
	if err := acfg.Validate(); err != nil {
		a.closeEarly()
		return nil, err
	}
	a.Auth = auth.New(endingStore{Store: d, a: a}, acfg, log)
	a.Writer = batch.NewWriter(d, batch.Config{OnBatch: a.Metrics.Batch})
	if cfg.NATS != "" {
		// Remote events carry packets, not messages: a cache could not
		// follow them (docs/CLUSTER.md, hub item 3).
		cfg.HistoryCache = -1
	}
	a.Metrics.GaugeFunc("wasmchannel_persist_queue_depth", "Messages waiting for their group commit.", func() float64 { return float64(a.Writer.Depth()) })
	a.Hub = hub.New(hub.Config{
		RateLimit:       cfg.RateLimit,
		MaxPayload:      cfg.MaxPayload,
		HistoryCache:    cfg.HistoryCache,
		IdleGrace:       cfg.IdleGrace,
		SendQueueBytes:  cfg.SendQueueBytes,
		CodecWait:       cfg.CodecWait,
		MaxRoomsPerUser: cfg.MaxRoomsPerUser,
		UserPacketRate:  cfg.UserPacketRate,
		UserByteRate:    cfg.UserByteRate,
		MaxViolations:   cfg.MaxViolations,
		ViolationWindow: cfg.ViolationWindow,
	}, a.Source, d, a.Writer, log, a.Metrics)
	var clusterHealth func() *handlers.ClusterHealth
	if cfg.NATS != "" {
		if err := a.openCluster(cfg); err != nil {
			a.closeEarly()
			return nil, err
		}
		clusterHealth = a.clusterHealth
	}
	e := handlers.New(handlers.Config{
		MaxBodyBytes:    cfg.MaxBodyBytes,
		MaxFrameBytes:   cfg.MaxFrameBytes,
		MaxConnsPerUser: cfg.MaxConnsPerUser,
		MaxConnsPerIP:   cfg.MaxConnsPerIP,
		UpgradesPerUser: cfg.UpgradesPerUser,
		UpgradesPerIP:   cfg.UpgradesPerIP,
		Version:         cfg.Version,
		TrustedProxies:  proxies,
		PublicURL:       public,
	}, handlers.Deps{
		DB: d, Auth: a.Auth, Hub: a.Hub, Codec: a.Source, Log: log,
		Metrics: a.Metrics.Handler(),
		Extra:   func(e *echo.Echo) { web.Register(e, wasm.Module) },
		Cluster: clusterHealth,
	})
	a.HTTP = handlers.HTTPServer(cfg.Addr, e, handlers.Timeouts{
		ReadHeader: cfg.ReadHeaderTimeout, Read: cfg.ReadTimeout, Idle: cfg.IdleTimeout,
	})
	a.sessions = newSessionCheck(a.Auth, cfg.SessionSweep, log)
	return a, nil
}

func (a *App) poolMetrics(p *host.Pool) {
	m := a.Metrics
	m.GaugeFunc("wasmchannel_pool_instances", "WASM codec instances alive (idle and leased).", func() float64 { return float64(p.Stats().Total) })
	m.GaugeFunc("wasmchannel_pool_instances_idle", "WASM codec instances idle in the pool.", func() float64 { return float64(p.Stats().Idle) })
	m.CounterFunc("wasmchannel_pool_leases_total", "Leases handed out by the WASM pool.", func() float64 { return float64(p.Stats().Leases) })
	m.CounterFunc("wasmchannel_pool_instantiations_total", "WASM instances created.", func() float64 { return float64(p.Stats().Instantiations) })
	m.CounterFunc("wasmchannel_pool_traps_total", "WASM calls that trapped (instance discarded).", func() float64 { return float64(p.Stats().Traps) })
	m.CounterFunc("wasmchannel_pool_timeouts_total", "WASM calls stopped by their deadline (instance discarded).", func() float64 { return float64(p.Stats().Timeouts) })
}

// Serve accepts on ln until Shutdown. It also runs the session sweeper.
func (a *App) Serve(ln net.Listener) error {
	ctx, cancel := context.WithCancel(context.Background())
	a.stopSweep = cancel
	a.sweepDone = make(chan struct{})
	go a.sweep(ctx)
	err := a.HTTP.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ListenAndServe listens on the configured address.
func (a *App) ListenAndServe() error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", a.cfg.Addr, err)
	}
	a.log.Info("listening", "addr", ln.Addr().String(), "codec", a.Source.Name(),
		"store", a.DB.Kind(), "db", db.Redact(a.cfg.DBPath))
	return a.Serve(ln)
}

// sweep closes the sockets of sessions that ended, so a signed-out or
// expired session stops receiving within SessionSweep, and purges expired
// session rows hourly.
func (a *App) sweep(ctx context.Context) {
	defer close(a.sweepDone)
	t := time.NewTicker(a.cfg.SessionSweep)
	defer t.Stop()
	purge := time.NewTicker(time.Hour)
	defer purge.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.Hub.SweepSessions(ctx, a.sessions.live)
			a.sessions.endSweep()
		case <-purge.C:
			if n, err := a.DB.DeleteExpiredSessions(ctx, time.Now()); err != nil {
				a.log.Warn("purge expired sessions", "err", err)
			} else if n > 0 {
				a.log.Info("purged expired sessions", "count", n)
			}
		}
	}
}

// Shutdown stops accepting, closes sockets with 1001, flushes every pending
// write to the store, and closes the database: nothing acknowledged is lost.
func (a *App) Shutdown(ctx context.Context) error {
	var errs []error
	if a.stopSweep != nil {
		a.stopSweep()
		<-a.sweepDone
	}
	if err := a.HTTP.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if err := a.Hub.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.Writer.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("flush writer: %w", err))
	}
	if a.Cluster != nil { // after the last commits were published; says goodbye
		if err := a.Cluster.Close(); err != nil {
			errs = append(errs, fmt.Errorf("leave cluster: %w", err))
		}
	}
	a.closeEarly()
	return errors.Join(errs...)
}

func (a *App) closeEarly() {
	if a.Cluster != nil {
		_ = a.Cluster.Close() // a second Close is a no-op
	}
	if a.closeSource != nil {
		if err := a.closeSource(context.Background()); err != nil {
			a.log.Warn("close codec", "err", err)
		}
	}
	if err := a.DB.Close(); err != nil {
		a.log.Warn("close database", "err", err)
	}
}

// Migrate opens the store named by target (a file path or postgres:// URL),
// which applies any pending migration, and returns every migration version
// now recorded in it.
func Migrate(ctx context.Context, target string) ([]string, error) {
	d, err := db.Open(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	defer d.Close()
	vs, err := d.AppliedMigrations(ctx)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	return vs, nil
}
