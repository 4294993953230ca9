package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBenchLoadRefusesBadPeerFlags(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--peer", "nginx"}, 2, "the one peer known is centrifugo"},
		{[]string{"--peer", "centrifugo", "--url", "http://127.0.0.1:1"}, 2, "cannot be combined with --url"},
		{[]string{"--baseline", "--url", "http://127.0.0.1:1"}, 2, "cannot be combined with --url"},
		{[]string{"--peer", "centrifugo", "--peer-bin", filepath.Join(t.TempDir(), "nope")}, 1, "make bench-peer"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, append([]string{"bench", "load"}, tt.args...)...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("bench load %v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

// The --db target reaches every started wasmchannel server verbatim, so a
// PostgreSQL URL can be passed once the server accepts one.
func TestBenchLoadPassesDBTarget(t *testing.T) {
	f, code := parseLoadFlags([]string{"--codec", "wasm,go", "--db", "postgres://127.0.0.1:5432/bench"}, &strings.Builder{})
	if code != -1 {
		t.Fatalf("parse: exit %d", code)
	}
	targets, err := loadTargets(f, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 2 {
		t.Fatalf("%d targets, want 2", len(targets))
	}
	args := f.serveArgs("127.0.0.1:1", f.db, "wasm", "", "")
	i := slices.Index(args, "--db")
	if i < 0 || args[i+1] != "postgres://127.0.0.1:5432/bench" {
		t.Errorf("serve args %v: want --db postgres://127.0.0.1:5432/bench", args)
	}
}

func TestBenchCentrifugoConfig(t *testing.T) {
	code, stdout, stderr := runCLI(t, "bench", "centrifugo-config", "--addr", "127.0.0.1:8123", "--secret", "abc")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var cfg map[string]map[string]any
	if err := json.Unmarshal([]byte(stdout), &cfg); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if cfg["http_server"]["port"] != 8123.0 || cfg["client"]["token"].(map[string]any)["hmac_secret_key"] != "abc" {
		t.Errorf("config %s", stdout)
	}
}
