package app_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's systemd unit for a cluster node passes systemd-analyze
// verify, with ExecStart pointed at an executable that exists here.
func TestClusterSystemdUnitVerifies(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze here")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "<!-- systemd-unit -->\n```ini\n")
	end := strings.Index(text, "```\n<!-- /systemd-unit -->")
	if start < 0 || end < start {
		t.Fatal("README: no unit between <!-- systemd-unit --> markers")
	}
	unit := text[start+len("<!-- systemd-unit -->\n```ini\n") : end]
	if !strings.Contains(unit, "ExecStart=/usr/local/bin/wasmchannel serve") {
		t.Fatal("README unit: ExecStart is not wasmchannel serve")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit = strings.Replace(unit, "/usr/local/bin/wasmchannel", exe, 1)
	path := filepath.Join(t.TempDir(), "wasmchannel-node.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "wasmchannel-node.service:") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
