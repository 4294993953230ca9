// Package natstest runs a real nats-server as a child process for tests,
// so a test can stop, SIGKILL and restart it on the same port and watch
// clients ride through the outage. Nothing here is a fake: the server is
// the one built by `make nats-server` (build/nats/nats-server), found on
// the PATH, or named by $NATS_SERVER.
//
// When no binary can be found or built, tests skip with one line; under
// CI=true they fail instead, so CI cannot pass by skipping.
package natstest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the nats-server module version `make nats-server` builds.
const Version = "v2.15.2"

// Module is the Go module the server is built from.
const Module = "github.com/nats-io/nats-server/v2"

// startTimeout bounds how long a start waits for the port to accept.
const startTimeout = 15 * time.Second

// Server is one nats-server process on a loopback port. Its methods are
// safe to call from the test goroutine and cleanups; Stop and Kill are
// idempotent.
type Server struct {
	tb   testing.TB
	bin  string
	port int
	log  string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *os.File
	// exited is closed when the current process has been reaped.
	exited chan struct{}
}

var (
	findOnce sync.Once
	findBin  string
	findErr  error
)

// Binary returns the path of a nats-server binary: $NATS_SERVER, then
// build/nats/nats-server under the module root, then the PATH; failing
// those, it builds one into build/nats with `go install` (a few minutes
// the first time, from the module cache afterwards).
func Binary() (string, error) {
	findOnce.Do(func() { findBin, findErr = locate() })
	return findBin, findErr
}

func locate() (string, error) {
	if p := os.Getenv("NATS_SERVER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("natstest: $NATS_SERVER: %w", err)
		}
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	local := filepath.Join(root, "build", "nats", "nats-server")
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	gobin := filepath.Dir(local)
	cmd := exec.Command("go", "install", Module+"@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("natstest: build nats-server: %w: %s", err, bytes.TrimSpace(out))
	}
	return local, nil
}

// moduleRoot walks up from the working directory to the go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("natstest: getwd: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("natstest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Need returns the nats-server binary, or skips tb with one line (fails it
// under CI=true).
func Need(tb testing.TB) string {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("nats-server is required under CI: %v", err)
		}
		tb.Skipf("no nats-server (run `make nats-server`): %v", err)
	}
	return bin
}

// Start runs a nats-server on a free loopback port and stops it when the
// test ends. Core NATS only: no JetStream, no clustering.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := Need(tb)
	s := &Server{tb: tb, bin: bin, log: filepath.Join(tb.TempDir(), "nats-server.log")}
	tb.Cleanup(func() {
		s.Stop()
		if tb.Failed() {
			if b, err := os.ReadFile(s.log); err == nil && len(b) > 0 {
				tb.Logf("nats-server log:\n%s", tail(b, 4000))
			}
		}
	})
	var err error
	for try := 0; try < 3; try++ { // a free port can be taken before we bind it
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	tb.Fatalf("natstest: start nats-server: %v", err)
	return nil
}

// URL is the client URL, nats://127.0.0.1:PORT.
func (s *Server) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the server's TCP port; it stays the same across restarts.
func (s *Server) Port() int { return s.port }

// PID is the running process's id, or 0 when stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("natstest: already running")
	}
	out, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("natstest: open log: %w", err)
	}
	cmd := exec.Command(s.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-n", "natstest")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("natstest: exec %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.out, s.exited = cmd, out, exited
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", s.addr(), 200*time.Millisecond)
		if err == nil {
			// The server greets with INFO as soon as it serves clients.
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4)
			_, rerr := c.Read(buf)
			c.Close()
			if rerr == nil && string(buf) == "INFO" {
				return nil
			}
		}
		select {
		case <-exited:
			s.reapLocked()
			return fmt.Errorf("natstest: nats-server exited at start (port %d taken?)", s.port)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.signalLocked(syscall.SIGKILL)
			return fmt.Errorf("natstest: nats-server not serving on %s after %s", s.addr(), startTimeout)
		}
	}
}

func (s *Server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Stop ends the server gracefully (SIGTERM, then SIGKILL after 5 s) and
// waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		s.reapLocked()
	case <-time.After(5 * time.Second):
		s.signalLocked(syscall.SIGKILL)
	}
}

// Kill ends the server with SIGKILL, as a crash, and waits for it to exit.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.signalLocked(syscall.SIGKILL)
	}
}

// Restart starts the server again on the same port; it must be stopped.
func (s *Server) Restart() {
	s.tb.Helper()
	var err error
	for try := 0; try < 20; try++ { // the old socket may linger briefly
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.tb.Fatalf("natstest: restart on port %d: %v", s.port, err)
}

// signalLocked sends sig to the process by its PID and waits for it.
func (s *Server) signalLocked(sig syscall.Signal) {
	_ = s.cmd.Process.Signal(sig)
	<-s.exited
	s.reapLocked()
}

func (s *Server) reapLocked() {
	s.out.Close()
	s.cmd, s.out, s.exited = nil, nil, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("natstest: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
