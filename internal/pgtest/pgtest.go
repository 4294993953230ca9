// Package pgtest gives tests a real, throwaway PostgreSQL: one cluster per
// test binary (initdb and pg_ctl in a temporary directory, on a free
// loopback port) and a fresh database per test, dropped when the test ends.
//
// PostgreSQL refuses to run as root, so when the tests run as root the
// cluster runs as the "postgres" OS user (runuser), owning its directory.
// WASMCHANNEL_TEST_POSTGRES=postgres://… uses an existing server instead;
// its role needs CREATEDB. Where no server can be had, Database skips the
// test with one line saying why, except under CI=true, where it fails, so
// CI always runs the PostgreSQL tests.
//
// Call Main from TestMain so the cluster is stopped when the binary ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names an existing server to use instead of starting one.
const EnvURL = "WASMCHANNEL_TEST_POSTGRES"

// binDirs are where Debian puts PostgreSQL's server programs, newest
// supported first.
var binDirs = []string{"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"}

// Server is a running PostgreSQL that tests may use.
type Server struct {
	// URL connects as the superuser to the "postgres" database.
	URL string
	// Host and Port are where it listens (loopback).
	Host string
	Port int

	dir    string // cluster directory; "" for an external server
	bin    string
	asUser string // OS user running the cluster; "" for the current one
	log    string
}

var (
	shared    *Server
	sharedErr error
	sharedMu  sync.Mutex
)

// Main runs the tests and then stops the shared cluster, if one was started.
// Use it as os.Exit(pgtest.Main(m)) in TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// Shared returns the binary's one server, starting it on first use. It
// skips tb (or fails it under CI=true) when no server can be had.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		if u := os.Getenv(EnvURL); u != "" {
			shared, sharedErr = external(u)
		} else {
			shared, sharedErr = Start()
		}
	}
	if sharedErr != nil {
		unavailable(tb, sharedErr)
	}
	return shared
}

// Own returns a server for tb alone, stopped and removed when tb ends, for
// test binaries without a TestMain to call Main. It honours EnvURL and
// skips (or fails under CI=true) like Shared.
func Own(tb testing.TB) *Server {
	tb.Helper()
	var s *Server
	var err error
	if u := os.Getenv(EnvURL); u != "" {
		s, err = external(u)
	} else {
		s, err = Start()
	}
	if err != nil {
		unavailable(tb, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return s
}

// unavailable skips tb with the reason, or fails it under CI=true.
func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("PostgreSQL unavailable (CI=true, so this fails): %v", err)
		return
	}
	tb.Skipf("PostgreSQL unavailable: %v", err)
}

// Database creates a fresh, empty database on the shared server and
// returns its URL; the database is dropped when tb ends.
func Database(tb testing.TB) string {
	tb.Helper()
	return Shared(tb).Database(tb)
}

// Database creates a fresh database on s, dropped when tb ends.
func (s *Server) Database(tb testing.TB) string {
	tb.Helper()
	name := "wc_" + strings.ToLower(rand.Text()[:16])
	if err := s.admin(fmt.Sprintf(`CREATE DATABASE %s`, name)); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		// FORCE ends connections a failed test may have left open.
		if err := s.admin(fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.urlFor(name)
}

// urlFor is the server's URL with the database replaced by name.
func (s *Server) urlFor(name string) string {
	u, err := url.Parse(s.URL)
	if err != nil {
		return s.URL
	}
	u.Path = "/" + name
	return u.String()
}

// Exec runs one statement as the superuser on the "postgres" database, for
// tests that set up roles and the like.
func (s *Server) Exec(sql string) error { return s.admin(sql) }

// admin runs one statement on the maintenance database.
func (s *Server) admin(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}

// external wraps an existing server named by rawURL.
func external(rawURL string) (*Server, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	port, _ := strconv.Atoi(u.Port())
	s := &Server{URL: rawURL, Host: u.Hostname(), Port: port}
	if err := s.admin(`SELECT 1`); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	return s, nil
}

// Start initialises and starts a new cluster in a temporary directory on a
// free loopback port. Close stops it and removes the directory.
func Start() (*Server, error) {
	bin := ""
	for _, d := range binDirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			bin = d
			break
		}
	}
	if bin == "" {
		return nil, fmt.Errorf("no initdb in %s (apt-get install postgresql)", strings.Join(binDirs, ", "))
	}
	s := &Server{Host: "127.0.0.1", bin: bin}
	root, err := os.MkdirTemp("", "wasmchannel-pg-")
	if err != nil {
		return nil, err
	}
	s.dir = filepath.Join(root, "data")
	s.log = filepath.Join(root, "server.log")
	if os.Geteuid() == 0 {
		// PostgreSQL will not run as root: hand the directory to postgres.
		pu, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(root)
			return nil, fmt.Errorf("running as root and no postgres OS user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(pu.Uid)
		gid, _ := strconv.Atoi(pu.Gid)
		if err := os.Chown(root, uid, gid); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
		s.asUser = "postgres"
	}
	fail := func(err error) (*Server, error) {
		s.removeDir()
		return nil, err
	}
	if out, err := s.run("initdb", "-D", s.dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		return fail(fmt.Errorf("initdb: %v: %s", err, lastLines(out)))
	}
	// Superuser by trust, everyone else by password, so tests can check a
	// refused password.
	hba := "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := s.writeFile(filepath.Join(s.dir, "pg_hba.conf"), hba); err != nil {
		return fail(err)
	}
	if s.Port, err = freePort(); err != nil {
		return fail(err)
	}
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	if err := s.StartServer(); err != nil {
		return fail(err)
	}
	return s, nil
}

// StartServer starts the cluster's server (again, after StopServer) and
// waits until it accepts connections.
func (s *Server) StartServer() error {
	if s.dir == "" {
		return errors.New("pgtest: an external server cannot be started")
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", s.Port, s.dir)
	if out, err := s.run("pg_ctl", "start", "-w", "-t", "60", "-D", s.dir, "-l", s.log, "-o", opts); err != nil {
		log, _ := os.ReadFile(s.log)
		return fmt.Errorf("pg_ctl start: %v: %s %s", err, lastLines(out), lastLines(log))
	}
	return nil
}

// StopServer stops the cluster's server, keeping its data, so tests can
// see how clients behave while PostgreSQL is away.
func (s *Server) StopServer() error {
	if s.dir == "" {
		return errors.New("pgtest: an external server cannot be stopped")
	}
	if out, err := s.run("pg_ctl", "stop", "-w", "-m", "fast", "-D", s.dir); err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, lastLines(out))
	}
	return nil
}

// CanRestart reports whether StopServer and StartServer work (false for an
// external server).
func (s *Server) CanRestart() bool { return s.dir != "" }

// Close stops a started cluster and removes its directory; an external
// server is left alone.
func (s *Server) Close() error {
	if s.dir == "" {
		return nil
	}
	err := s.stopIfRunning()
	s.removeDir()
	return err
}

// stopIfRunning stops the server if its postmaster.pid names a live process;
// should pg_ctl fail, the postmaster is sent SIGQUIT by its PID.
func (s *Server) stopIfRunning() error {
	pid := s.pid()
	if pid <= 0 {
		return nil
	}
	if err := s.StopServer(); err != nil {
		if p, ferr := os.FindProcess(pid); ferr == nil {
			_ = p.Signal(syscall.SIGQUIT)
		}
		return err
	}
	return nil
}

// pid reads the postmaster's PID from its pid file (0 if none).
func (s *Server) pid() int {
	b, err := os.ReadFile(filepath.Join(s.dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	n, _ := strconv.Atoi(strings.TrimSpace(first))
	return n
}

func (s *Server) removeDir() {
	if s.dir != "" {
		os.RemoveAll(filepath.Dir(s.dir))
	}
}

// run runs one of the cluster's programs as the cluster's OS user.
func (s *Server) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, prog)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = os.TempDir()
	return cmd.CombinedOutput()
}

// writeFile writes a file the cluster's OS user owns.
func (s *Server) writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	if s.asUser == "" {
		return nil
	}
	pu, err := user.Lookup(s.asUser)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(pu.Uid)
	gid, _ := strconv.Atoi(pu.Gid)
	return os.Chown(path, uid, gid)
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lastLines keeps the end of a program's output for an error message.
func lastLines(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return s
}
