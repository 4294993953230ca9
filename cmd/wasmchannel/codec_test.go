package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

const (
	goldenPackets   = "../../testdata/golden/packets.jsonl"
	goldenMalformed = "../../testdata/golden/malformed.jsonl"
	codecsDir       = "../../testdata/codecs/"
)

// runCLI runs the command in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCodecCheck(t *testing.T) {
	wrongClass := writeTemp(t, "wrong.jsonl",
		`{"name":"says-checksum","error":"checksum","packet_hex":"0500010ec3bc6ec3af2d34"}`+"\n")
	notJSON := writeTemp(t, "bad.jsonl", "{not json\n")
	tests := []struct {
		name     string
		args     []string
		code     int
		last     string // last stdout line
		stdout   string // substring of stdout
		stderr   string // substring of stderr
		notEmpty bool
	}{
		{name: "go", args: []string{"--codec", "go", goldenPackets, goldenMalformed}, last: "704 passed, 0 failed"},
		{name: "wasm", args: []string{"--codec", "wasm", goldenPackets, goldenMalformed}, last: "704 passed, 0 failed"},
		{name: "default codec", args: []string{goldenMalformed}, last: "464 passed, 0 failed"},
		{name: "storeonly module", args: []string{"--codec", codecsDir + "storeonly.wasm", goldenPackets, goldenMalformed}, last: "704 passed, 0 failed"},
		{name: "flags after files", args: []string{goldenPackets, "--codec=go"}, last: "240 passed, 0 failed"},
		{name: "failing vector", args: []string{"--codec", "go", wrongClass}, code: 1, last: "0 passed, 1 failed",
			stdout: `says-checksum: decode class "truncated", want "checksum"`},
		{name: "small max payload", args: []string{"--codec", "wasm", "--max-payload", "1000", goldenPackets}, code: 1,
			stdout: "v013-random-2048: decode: codec: payload too large"},
		{name: "missing file", args: []string{"--codec", "go", "nope.jsonl"}, code: 2, stderr: "nope.jsonl"},
		{name: "unparsable file", args: []string{"--codec", "go", notJSON}, code: 2, stderr: "bad.jsonl"},
		{name: "no files", args: []string{"--codec", "go"}, code: 2, stderr: "no vector files"},
		{name: "unknown codec", args: []string{"--codec", "zip", goldenPackets}, code: 2, stderr: `unknown codec "zip"`},
		{name: "module file missing", args: []string{"--codec", "missing.wasm", goldenPackets}, code: 2, stderr: "missing.wasm"},
		{name: "module lacks export", args: []string{"--codec", codecsDir + "missing_export.wasm", goldenPackets}, code: 2,
			stderr: `host: module lacks export "wc_decode"`},
		{name: "lenient module", args: []string{"--codec", codecsDir + "lenient.wasm", goldenPackets}, code: 2,
			stderr: "crc-244: decode accepted it, want checksum"},
		{name: "negative max payload", args: []string{"--max-payload", "-1", goldenPackets}, code: 2, stderr: "negative"},
		{name: "bad flag", args: []string{"--frobnicate", goldenPackets}, code: 2, stderr: "frobnicate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"codec", "check"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %.2000s\nstderr: %.2000s", code, tc.code, stdout, stderr)
			}
			if tc.last != "" && lastLine(stdout) != tc.last {
				t.Errorf("last line %q, want %q", lastLine(stdout), tc.last)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%.2000s", tc.stdout, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%.2000s", tc.stderr, stderr)
			}
			if tc.code == 2 && stdout != "" {
				t.Errorf("exit 2 printed a report: %q", stdout)
			}
		})
	}
}

func TestCodecEncode(t *testing.T) {
	// Input: the golden valid vectors without their packet_hex.
	vs, err := corpus.LoadFile(goldenPackets)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(goldenPackets)
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		i := strings.Index(line, `,"packet_hex"`)
		in.WriteString(line[:i] + "}\n")
	}
	for _, spec := range []string{"go", "wasm", codecsDir + "storeonly.wasm"} {
		t.Run(filepath.Base(spec), func(t *testing.T) {
			stdin = strings.NewReader(in.String())
			defer func() { stdin = os.Stdin }()
			code, stdout, stderr := runCLI(t, "codec", "encode", "--codec", spec)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			out, err := corpus.Parse(strings.NewReader(stdout))
			if err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			if len(out) != len(vs) {
				t.Fatalf("%d output lines, want %d", len(out), len(vs))
			}
			g := codec.NewGo()
			for i, v := range out {
				if v.Name != vs[i].Name {
					t.Fatalf("line %d is %s, want %s", i+1, v.Name, vs[i].Name)
				}
				// The written packet_hex decodes to the line's fields.
				if err := corpus.Check(g, v, corpus.DefaultMaxPayload); err != nil {
					t.Errorf("%s: %v", v.Name, err)
				}
			}
		})
	}
	t.Run("bad line", func(t *testing.T) {
		stdin = strings.NewReader(`{"kind":9,"payload_hex":""}` + "\n")
		defer func() { stdin = os.Stdin }()
		code, _, stderr := runCLI(t, "codec", "encode", "--codec", "wasm")
		if code != 1 || !strings.Contains(stderr, "line 1") {
			t.Errorf("exit %d, stderr %q; want 1 naming line 1", code, stderr)
		}
	})
	t.Run("positional argument", func(t *testing.T) {
		code, _, stderr := runCLI(t, "codec", "encode", "in.jsonl")
		if code != 2 || !strings.Contains(stderr, "stdin") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

func TestCodecUsage(t *testing.T) {
	if code, _, _ := runCLI(t, "codec"); code != 2 {
		t.Errorf("no subcommand: exit %d", code)
	}
	if code, _, stderr := runCLI(t, "codec", "frob"); code != 2 || !strings.Contains(stderr, `unknown subcommand "frob"`) {
		t.Errorf("unknown subcommand: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "codec", "check", "-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}
