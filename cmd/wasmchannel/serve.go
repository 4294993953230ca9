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
	"github.com/wasmchannel/wasmchannel/db"
)

func init() {
	register("serve", "run the chat server (SQLite file, embedded WASM codec, 127.0.0.1:8080)", runServe)
	register("migrate", "apply database migrations and exit", runMigrate)
}

// shutdownTimeout bounds the graceful stop: closing sockets and flushing
// pending writes.
const shutdownTimeout = 30 * time.Second

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// serveFlags are serve's options that are about the process, not the
// server (app.Config holds those).
type serveFlags struct {
	logLevel   string
	cpuProfile string
	memProfile string
}

func runServe(args []string, stdout, stderr io.Writer) int {
	cfg := app.DefaultConfig()
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	app.BindFlags(fs, &cfg)
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (stopped before the shutdown)")
	fs.StringVar(&f.memProfile, "memprofile", "", "write a heap profile to this file on each SIGUSR1, with FILE.memstats.txt")
	if err := app.ParseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "serve:", err)
		return 2
	}
	log, err := newLogger(stderr, f.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return 2
	}
	cfg.Version, cfg.Log = version, log
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return 2
	}
	stopCPU, err := startCPUProfile(f.cpuProfile)
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return 1
	}
	defer stopCPU()
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return 1
	}
	return serveUntilSignal(a, f, stopCPU, log)
}

// serveUntilSignal serves until the listener fails or SIGINT/SIGTERM, then
// stops gracefully; SIGUSR1 writes a heap profile when one was asked for.
func serveUntilSignal(a *app.App, f serveFlags, stopCPU func(), log *slog.Logger) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- a.ListenAndServe() }()
	for {
		select {
		case err := <-served:
			if err != nil {
				log.Error("serve", "err", err)
				_ = a.Shutdown(context.Background())
				return 1
			}
			return 0
		case s := <-sigs:
			if s == syscall.SIGUSR1 {
				if f.memProfile != "" {
					if err := writeHeapProfileTo(f.memProfile); err != nil {
						log.Error("heap profile", "err", err)
					}
				}
				continue
			}
			// The profile covers the run, not the shutdown.
			stopCPU()
			return shutdown(a, served, log)
		}
	}
}

// shutdown closes sockets with 1001, flushes every pending write and waits
// for the listener to return.
func shutdown(a *app.App, served <-chan error, log *slog.Logger) int {
	log.Info("shutting down: closing sockets and flushing writes")
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
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
	dbPath := fs.String("db", app.DefaultConfig().DBPath, "store: a SQLite file or a postgres:// URL")
	if err := app.ParseFlags(fs, args); err != nil {
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
