// Package testenv runs a real wasmchannel server for tests: app.New on a
// loopback port over a real store, started from app.DefaultConfig so a
// test runs the server users run. The helpers any package's tests may use
// (a clock, golden files) are in testenv/fixture.
package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

// Secret is the session-signing secret of test servers.
const Secret = "a-testenv-secret-of-32-bytes-or-more"

// StoreEnv names the store a suite that calls UseStoreFromEnv runs on:
// "postgres" for PostgreSQL (internal/pgtest), else SQLite.
const StoreEnv = "WASMCHANNEL_TEST_STORE"

// StoreTarget names the store of a test server: by default a fresh SQLite
// file in tb.TempDir(). PostgresTarget gives each test a fresh PostgreSQL
// database instead.
var StoreTarget = SQLiteTarget

// SQLiteTarget is a fresh SQLite file in tb.TempDir().
func SQLiteTarget(tb testing.TB) string {
	return filepath.Join(tb.TempDir(), "test.db")
}

// PostgresTarget is a fresh database on the binary's PostgreSQL cluster
// (internal/pgtest: skipped where none can be had, failed under CI=true).
func PostgresTarget(tb testing.TB) string { return pgtest.Database(tb) }

// UseStoreFromEnv runs a suite's TestMain on the store StoreEnv names and
// returns the exit code: WASMCHANNEL_TEST_STORE=postgres go test ./app runs
// the end-to-end suite on PostgreSQL.
// Any other value than postgres, sqlite or none is refused, so a misspelt
// store never passes silently on SQLite.
func UseStoreFromEnv(m *testing.M) int {
	switch v := os.Getenv(StoreEnv); v {
	case "postgres":
		StoreTarget = PostgresTarget
		return pgtest.Main(m)
	case "", "sqlite":
		return m.Run()
	default:
		fmt.Fprintf(os.Stderr, "testenv: %s=%q: want postgres or sqlite\n", StoreEnv, v)
		return 2
	}
}

// Config is app.DefaultConfig with what a test needs instead: a fresh
// store (StoreTarget), a fixed secret, a cheap password hash and no logs.
// Everything else (rate limit, socket caps, payload limit) is the default;
// a test that needs otherwise says so by changing the returned value.
func Config(tb testing.TB) app.Config {
	cfg := app.DefaultConfig()
	cfg.DBPath = StoreTarget(tb)
	cfg.Secret = Secret
	scrypt := auth.TestScrypt
	cfg.AuthScrypt = &scrypt
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

// Server is a running test server.
type Server struct {
	App    *app.App
	Config app.Config
	// URL is http://127.0.0.1:PORT; WS is ws://127.0.0.1:PORT.
	URL, WS string

	tb   testing.TB
	done chan error
}

// Start serves cfg (usually from Config) on a free loopback port until the
// test ends or Stop.
func Start(tb testing.TB, cfg app.Config) *Server {
	tb.Helper()
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("start server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = a.Shutdown(context.Background())
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	s := &Server{App: a, Config: cfg, URL: "http://" + addr, WS: "ws://" + addr, tb: tb, done: make(chan error, 1)}
	go func() { s.done <- a.Serve(ln) }()
	tb.Cleanup(s.Stop)
	return s
}

// Stop shuts the server down gracefully (sockets closed with 1001, every
// pending write flushed) and fails the test if that fails. Later calls do
// nothing.
func (s *Server) Stop() {
	if s.App == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.App.Shutdown(ctx); err != nil {
		s.tb.Errorf("shutdown: %v", err)
	}
	if err := <-s.done; err != nil {
		s.tb.Errorf("serve: %v", err)
	}
	s.App = nil
}
