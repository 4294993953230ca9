package cluster

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOpenRefusesBadConfig(t *testing.T) {
	good := testConfig("nats://127.0.0.1:1", "n")
	for name, change := range map[string]func(*Config){
		"no url":          func(c *Config) { c.URLs = "" },
		"no node id":      func(c *Config) { c.NodeID = "" },
		"dotted prefix":   func(c *Config) { c.Prefix = "a.b" },
		"wildcard prefix": func(c *Config) { c.Prefix = "*" },
		"ttl <= beat":     func(c *Config) { c.PeerTTL = c.Heartbeat },
		"zero hold":       func(c *Config) { c.Hold = 0 },
		"zero batch":      func(c *Config) { c.FillBatch = 0 },
		"negative poll":   func(c *Config) { c.DegradedPoll = -time.Second },
	} {
		cfg := good
		change(&cfg)
		if _, err := Open(cfg, newMemStore(), newRecorder()); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Open err = %v, want ErrConfig", name, err)
		}
	}
	if _, err := Open(good, nil, newRecorder()); !errors.Is(err, ErrConfig) {
		t.Errorf("nil gap source: %v, want ErrConfig", err)
	}
}

func TestDefaultNodeID(t *testing.T) {
	a, b := DefaultNodeID(), DefaultNodeID()
	if a == b {
		t.Fatalf("two ids in one process are equal: %s", a)
	}
	host, _ := os.Hostname()
	if want := host + "-" + strconv.Itoa(os.Getpid()) + "-"; !strings.HasPrefix(a, want) {
		t.Fatalf("id %q does not start with %q", a, want)
	}
	if err := DefaultConfig().validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "URL") {
		t.Fatalf("defaults without a URL: %v", err)
	}
	c := DefaultConfig()
	c.URLs = "nats://127.0.0.1:4222"
	if err := c.validate(); err != nil {
		t.Fatalf("defaults with a URL: %v", err)
	}
}
