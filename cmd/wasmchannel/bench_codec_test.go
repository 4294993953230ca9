package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

func TestBenchCodecJSON(t *testing.T) {
	code, stdout, stderr := runCLI(t, "bench", "codec", "--codecs", "go,wasm", "--sizes", "11,2048",
		"--duration", "5ms", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("stdout is not one JSON array: %v\n%s", err, stdout)
	}
	if len(rows) != 2*2*2*3 {
		t.Fatalf("%d rows, want 24", len(rows))
	}
	seen := map[string]bool{}
	for _, r := range rows {
		keys := make([]string, 0, len(r))
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if got := strings.Join(keys, ","); got != "codec,data,mb_per_s,ns_per_op,op,size" {
			t.Fatalf("keys %s", got)
		}
		c, _ := r["codec"].(string)
		d, _ := r["data"].(string)
		op, _ := r["op"].(string)
		size, _ := r["size"].(float64)
		ns, _ := r["ns_per_op"].(float64)
		mbs, _ := r["mb_per_s"].(float64)
		if (c != "go" && c != "wasm") || (d != "random" && d != "text") ||
			(op != "encode" && op != "decode" && op != "roundtrip") || (size != 11 && size != 2048) {
			t.Errorf("row %v", r)
		}
		if ns <= 0 || mbs <= 0 {
			t.Errorf("row %v: non-positive measurement", r)
		}
		key := fmt.Sprint(c, d, op, size)
		if seen[key] {
			t.Errorf("row %v appears twice", r)
		}
		seen[key] = true
	}
	if !strings.Contains(stderr, "[24/24] 2048 text roundtrip: go, wasm") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
}

func TestBenchCodecTable(t *testing.T) {
	code, stdout, stderr := runCLI(t, "bench", "codec", "--codecs", "go,wasm", "--sizes", "64", "--duration", "2ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != 1+2*2 {
		t.Fatalf("%d lines, want a header and 4 rows:\n%s", len(lines), stdout)
	}
	if f := strings.Fields(lines[0]); f[0] != "codec" || f[len(f)-1] != "×go" {
		t.Errorf("header %q", lines[0])
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 12 {
			t.Errorf("row %q has %d columns, want 12", l, len(f))
			continue
		}
		if f[0] == "go" && (f[9] != "1.00" || f[10] != "1.00" || f[11] != "1.00") {
			t.Errorf("go row ratios %v, want 1.00", f[9:])
		}
	}
}

func TestBenchErrors(t *testing.T) {
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"bench"}, "usage: wasmchannel bench"},
		{[]string{"bench", "nope"}, `unknown benchmark "nope"`},
		{[]string{"bench", "codec", "--sizes", "1,x"}, `bad size "x"`},
		{[]string{"bench", "codec", "--codecs", "go,zip"}, `unknown codec "zip"`},
		{[]string{"bench", "codec", "--duration", "0s"}, "must be positive"},
		{[]string{"bench", "codec", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.stderr) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tc.stderr)
			}
		})
	}
}

// TestBenchCodecThreeWay: with the original labelled "upstream", each wasm
// row gains its time as a multiple of the original's; other rows show "-".
func TestBenchCodecThreeWay(t *testing.T) {
	module := upstreamModule(t)
	code, stdout, stderr := runCLI(t, "bench", "codec", "--codecs", "go,wasm,upstream="+module, "--sizes", "64", "--duration", "2ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != 1+3*2 {
		t.Fatalf("%d lines, want a header and 6 rows:\n%s", len(lines), stdout)
	}
	if !strings.HasSuffix(strings.TrimSpace(lines[0]), "roundtrip wasm÷upstream") {
		t.Errorf("header %q", lines[0])
	}
	rows := map[string]int{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 15 {
			t.Fatalf("row %q has %d columns, want 15", l, len(f))
		}
		rows[f[0]]++
		if got := strings.Join(f[12:], " "); (f[0] == "wasm") == (got == "- - -") {
			t.Errorf("%s row ratios to the original: %s", f[0], got)
		}
	}
	if rows["go"] != 2 || rows["wasm"] != 2 || rows["upstream"] != 2 {
		t.Errorf("rows by codec %v", rows)
	}
}

func TestBenchCodecLabels(t *testing.T) {
	for _, c := range []struct{ flag, want string }{
		{"go,go", `codec "go" given twice`},
		{"x=", `"x=": want SPEC or LABEL=SPEC`},
		{",", "no codecs"},
	} {
		code, _, stderr := runCLI(t, "bench", "codec", "--codecs", c.flag, "--duration", "1ms")
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("--codecs %q: exit %d, %q, want 2 and %q", c.flag, code, stderr, c.want)
		}
	}
	if code, _, stderr := runCLI(t, "bench", "codec", "--clock", "tsc"); code != 2 || !strings.Contains(stderr, "want wall or cpu") {
		t.Errorf("--clock tsc: exit %d, %q", code, stderr)
	}
}

// TestBenchCodecCPUClock: --clock cpu measures, and a codec's time per op
// is positive.
func TestBenchCodecCPUClock(t *testing.T) {
	code, stdout, stderr := runCLI(t, "bench", "codec", "--codecs", "go", "--sizes", "2048", "--duration", "20ms", "--clock", "cpu", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rows []struct {
		NsPerOp float64 `json:"ns_per_op"`
	}
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || len(rows) != 6 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	for _, r := range rows {
		if r.NsPerOp <= 0 {
			t.Errorf("ns_per_op %v", r.NsPerOp)
		}
	}
}
