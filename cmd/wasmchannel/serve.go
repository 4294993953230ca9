package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/db"
)

func init() {
	register("serve", "run the chat server (SQLite file, embedded WASM codec, 127.0.0.1:8080)", runServe)
	register("migrate", "apply database migrations and exit", runMigrate)
}

// envFlags gives every flag an environment variable WASMCHANNEL_<NAME>
// (dashes become underscores) used when the flag is not on the command line.
func envFlags(fs *flag.FlagSet, args []string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		key := "WASMCHANNEL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", key, v, err))
			}
			f.DefValue = v
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return fs.Parse(args)
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dbPath := fs.String("db", db.DefaultTarget, "store: a SQLite file (created and migrated on start) or a postgres:// URL")
	codecSpec := fs.String("codec", "wasm", "codec: go, wasm (embedded) or PATH.wasm (checked against the conformance corpus)")
	secret := fs.String("secret", "", "session-signing secret, at least 32 bytes (default: generated once and kept in the database)")
	origins := fs.String("trusted-origins", "", "comma-separated extra trusted origins for the CSRF and WebSocket Origin checks")
	rate := fs.Int("rate-limit", 5, "packets per second per user per room (0 = off)")
	maxPayload := fs.Int("max-payload", 999, "largest decompressed payload accepted, in bytes")
	cache := fs.Int("history-cache", 100, "newest messages per room kept in memory")
	perUser := fs.Int("max-conns-per-user", 32, "open WebSockets per user (0 = unlimited)")
	perIP := fs.Int("max-conns-per-ip", 0, "open WebSockets per client IP (0 = unlimited)")
	grace := fs.Duration("idle-grace", 30*time.Second, "how long an empty room keeps its codec instance")
	secure := fs.Bool("secure-cookies", false, "mark cookies Secure (set when served over HTTPS)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logN := fs.Uint("scrypt-log-n", 14, "password hash cost, scrypt N=2^n (14 as Better Auth; lower it only for load tests that sign up thousands of users)")
	if err := envFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "serve:", err)
		return 2
	}
	if *logN < 1 || *logN > 20 {
		fmt.Fprintln(stderr, "serve: --scrypt-log-n must be 1 to 20")
		return 2
	}
	scryptParams := auth.ScryptParams{LogN: uint8(*logN), R: 16, P: 1}
	log, err := newLogger(stderr, *level)
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, app.Config{
		Addr: *addr, DBPath: *dbPath, Codec: *codecSpec, Secret: *secret,
		TrustedOrigins: app.SplitList(*origins), RateLimit: *rate, MaxPayload: *maxPayload,
		HistoryCache: *cache, MaxConnsPerUser: *perUser, MaxConnsPerIP: *perIP,
		IdleGrace: *grace, SecureCookies: *secure, Version: version, Log: log,
		AuthScrypt: &scryptParams,
	})
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return 1
	}
	served := make(chan error, 1)
	go func() { served <- a.ListenAndServe() }()
	select {
	case err := <-served:
		if err != nil {
			log.Error("serve", "err", err)
			_ = a.Shutdown(context.Background())
			return 1
		}
		return 0
	case <-ctx.Done():
	}
	log.Info("shutting down: closing sockets and flushing writes")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	<-served
	log.Info("stopped cleanly")
	return 0
}

func runMigrate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbPath := fs.String("db", db.DefaultTarget, "store: a SQLite file or a postgres:// URL")
	if err := envFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "migrate:", err)
		return 2
	}
	applied, err := app.Migrate(context.Background(), *dbPath)
	if err != nil {
		fmt.Fprintln(stderr, "migrate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s is migrated: %s\n", db.Redact(*dbPath), strings.Join(applied, ", "))
	return 0
}
