package natstest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// ping speaks the NATS protocol by hand: INFO, then CONNECT/PING → PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("greeting %q, want INFO", line)
	}
	if _, err := c.Write([]byte("CONNECT {\"verbose\":false}\r\nPING\r\n")); err != nil {
		return err
	}
	if line, err = r.ReadString('\n'); err != nil {
		return err
	}
	if line != "PONG\r\n" {
		return fmt.Errorf("answer %q, want PONG", line)
	}
	return nil
}

func TestStopKillRestart(t *testing.T) {
	s := Start(t)
	addr := strings.TrimPrefix(s.URL(), "nats://")
	if err := ping(addr); err != nil {
		t.Fatalf("fresh server: %v", err)
	}
	pid := s.PID()
	if pid == 0 {
		t.Fatal("no PID for a running server")
	}
	s.Kill()
	if s.PID() != 0 {
		t.Fatal("PID still set after Kill")
	}
	if err := ping(addr); err == nil {
		t.Fatal("server still answers after SIGKILL")
	}
	s.Restart()
	if s.PID() == pid || s.PID() == 0 {
		t.Fatalf("restart PID %d (was %d)", s.PID(), pid)
	}
	if got := strings.TrimPrefix(s.URL(), "nats://"); got != addr {
		t.Fatalf("restart moved from %s to %s", addr, got)
	}
	if err := ping(addr); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
	s.Stop()
	s.Stop() // idempotent
	if err := ping(addr); err == nil {
		t.Fatal("server still answers after Stop")
	}
}
