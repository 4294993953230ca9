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
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
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

// Config is everything `serve` can set. Zero values take the defaults.
type Config struct {
	Addr string // 127.0.0.1:8080
	// DBPath is the store: a SQLite file path (db.DefaultTarget) or a
	// postgres:// URL (db.Open).
	DBPath         string
	Codec          string // go | wasm | PATH.wasm (wasm)
	Secret         string // generated and kept in the database when empty
	TrustedOrigins []string
	RateLimit      int // packets/s per user; 0 turns it off
	MaxPayload     int // 999
	HistoryCache   int // 100
	// MaxConnsPerUser and MaxConnsPerIP cap sockets (0 = unlimited).
	MaxConnsPerUser int
	MaxConnsPerIP   int
	// SendQueueBytes bounds each socket's unsent bytes (1 MiB).
	SendQueueBytes int
	// IdleGrace is how long an empty room keeps its codec instance.
	IdleGrace time.Duration
	// SecureCookies marks cookies Secure, for a server behind HTTPS.
	SecureCookies bool
	// SessionSweep is how often sockets are checked against their sessions
	// and closed when the session has ended (5s).
	SessionSweep time.Duration
	Pool         host.Config
	Version      string
	Log          *slog.Logger
	// AuthScrypt overrides the password-hash cost (tests use a cheap one).
	AuthScrypt *auth.ScryptParams
	// AuthLimits overrides the sign-in brute-force limits.
	AuthLimits *auth.Limits
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout override the HTTP
	// server's timeouts (handlers.HTTPServer: 5s, 30s, 90s), which drop
	// slowloris clients and idle keep-alives; tests shorten them.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
}

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
	log     *slog.Logger

	closeSource func(context.Context) error
	stopSweep   context.CancelFunc
	sweepDone   chan struct{}
}

// New opens the database (migrating it), the codec and everything above
// them. Nothing listens until Serve.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.DBPath == "" {
		cfg.DBPath = db.DefaultTarget
	}
	if cfg.Codec == "" {
		cfg.Codec = "wasm"
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 999
	}
	if cfg.SessionSweep <= 0 {
		cfg.SessionSweep = 5 * time.Second
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	a := &App{cfg: cfg, log: log, Metrics: metrics.New()}
	d, err := db.Open(ctx, cfg.DBPath)
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
	acfg := auth.Config{Secret: secret, TrustedOrigins: cfg.TrustedOrigins, Secure: cfg.SecureCookies}
	if cfg.AuthScrypt != nil {
		acfg.Scrypt = *cfg.AuthScrypt
	}
	if cfg.AuthLimits != nil {
		acfg.Limits = *cfg.AuthLimits
	}
	a.Auth = auth.New(d, acfg, log)
	a.Writer = batch.NewWriter(d, batch.Config{OnBatch: a.Metrics.Batch})
	a.Metrics.GaugeFunc("wasmchannel_persist_queue_depth", "Messages waiting for their group commit.", func() float64 { return float64(a.Writer.Depth()) })
	a.Hub = hub.New(hub.Config{
		RateLimit:      cfg.RateLimit,
		MaxPayload:     cfg.MaxPayload,
		HistoryCache:   cfg.HistoryCache,
		IdleGrace:      cfg.IdleGrace,
		SendQueueBytes: cfg.SendQueueBytes,
	}, a.Source, d, a.Writer, log, a.Metrics)
	e := handlers.New(handlers.Config{
		MaxConnsPerUser: cfg.MaxConnsPerUser,
		MaxConnsPerIP:   cfg.MaxConnsPerIP,
		Version:         cfg.Version,
	}, handlers.Deps{
		DB: d, Auth: a.Auth, Hub: a.Hub, Codec: a.Source, Log: log,
		Metrics: a.Metrics.Handler(),
		Extra:   func(e *echo.Echo) { web.Register(e, wasm.Module) },
	})
	a.HTTP = handlers.HTTPServer(cfg.Addr, e)
	if cfg.ReadHeaderTimeout > 0 {
		a.HTTP.ReadHeaderTimeout = cfg.ReadHeaderTimeout
	}
	if cfg.ReadTimeout > 0 {
		a.HTTP.ReadTimeout = cfg.ReadTimeout
	}
	if cfg.IdleTimeout > 0 {
		a.HTTP.IdleTimeout = cfg.IdleTimeout
	}
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
			a.Hub.SweepSessions(ctx, a.sessionLive)
		case <-purge.C:
			if n, err := a.DB.DeleteExpiredSessions(ctx, time.Now()); err != nil {
				a.log.Warn("purge expired sessions", "err", err)
			} else if n > 0 {
				a.log.Info("purged expired sessions", "count", n)
			}
		}
	}
}

// sessionLive reports whether the session with this token hash still
// exists and has not expired. A database error counts as live: a transient
// failure must not disconnect everyone.
func (a *App) sessionLive(ctx context.Context, tokenHash string) bool {
	s, _, err := a.DB.SessionByTokenHash(ctx, tokenHash)
	if errors.Is(err, chat.ErrNotFound) {
		return false
	}
	return err != nil || time.Now().Before(s.ExpiresAt)
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
	a.closeEarly()
	return errors.Join(errs...)
}

func (a *App) closeEarly() {
	if a.closeSource != nil {
		if err := a.closeSource(context.Background()); err != nil {
			a.log.Warn("close codec", "err", err)
		}
	}
	if err := a.DB.Close(); err != nil {
		a.log.Warn("close database", "err", err)
	}
}

// SplitList splits a comma-separated flag value, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
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
