package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Child is a server the generator started as its own process, so that the
// server's CPU time and memory are measured apart from the generator's.
type Child struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string
	Pid int

	cmd    *exec.Cmd
	out    *tailBuffer
	exited chan struct{}
	waitMu sync.Mutex
	err    error
}

// FreeLoopbackPort asks the kernel for a free port on 127.0.0.1. The port
// is released before the child binds it; another process could take it in
// between, in which case the child fails to start and says so.
func FreeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// StartChild runs exe with the arguments args(addr) on a free loopback port
// and waits until GET /health answers 200 (or ready elapses). The child is
// killed if the generator dies (Pdeathsig), and Stop ends it otherwise.
func StartChild(ctx context.Context, exe string, args func(addr string) ([]string, error), ready time.Duration) (*Child, error) {
	port, err := FreeLoopbackPort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	argv, err := args(addr)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, argv...)
	out := &tailBuffer{max: 256 << 10}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	c := &Child{URL: "http://" + addr, Pid: cmd.Process.Pid, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		c.waitMu.Lock()
		c.err = err
		c.waitMu.Unlock()
		close(c.exited)
	}()
	if err := c.waitReady(ctx, ready); err != nil {
		c.Stop(5 * time.Second)
		return nil, err
	}
	return c, nil
}

func (c *Child) waitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/health", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("server exited before it was ready (%v); its output:\n%s", c.waitErr(), c.Output())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready on %s after %v; its output:\n%s", c.URL, timeout, c.Output())
		}
	}
}

func (c *Child) waitErr() error {
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	return c.err
}

// Exited reports whether the child has ended.
func (c *Child) Exited() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// Signal sends sig to the child.
func (c *Child) Signal(sig syscall.Signal) error {
	if c.Exited() {
		return errors.New("server has exited")
	}
	return c.cmd.Process.Signal(sig)
}

// Output is the last 256 KiB the child wrote to stdout and stderr.
func (c *Child) Output() string { return c.out.String() }

// Stop sends SIGTERM, waits up to grace for a clean exit, then kills. It
// returns the exit error of a child that did not stop cleanly.
func (c *Child) Stop(grace time.Duration) error {
	if c.Exited() {
		return c.exitError()
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return c.exitError()
	case <-time.After(grace):
	}
	// A Go server dumps its goroutines on SIGQUIT: the output then says
	// where it was stuck.
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.exited:
	case <-time.After(2 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	return fmt.Errorf("server did not stop within %v after SIGTERM: stopped with SIGQUIT; its output:\n%s", grace, c.Output())
}

func (c *Child) exitError() error {
	err := c.waitErr()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("server exited: %w; its output:\n%s", err, c.Output())
	}
	return err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
