package loadgen

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestJSONReportKeys(t *testing.T) {
	base := &Result{Label: "baseline", Clients: 10, DeliveriesPerS: 1000, P99Ms: 2, ServerCPUS: 1}
	wasm := &Result{Label: "wasmchannel/wasm", Clients: 10, DeliveriesPerS: 600, P99Ms: 5, ServerCPUS: 1.5}
	goc := &Result{Label: "wasmchannel/go", Clients: 10, DeliveriesPerS: 500, P99Ms: 4, ServerCPUS: 1.2}
	tests := []struct {
		name      string
		results   []*Result
		baseline  int
		primary   string
		ratioKeys []string
	}{
		{"single", []*Result{wasm}, -1, "wasmchannel/wasm", nil},
		{"with baseline", []*Result{base, wasm}, 0, "wasmchannel/wasm", []string{"wasm/baseline"}},
		{"baseline and two codecs", []*Result{base, wasm, goc}, 0, "wasmchannel/wasm", []string{"wasm/baseline", "go/baseline", "wasm/go"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := JSONReport(tt.results, tt.baseline)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]any
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			// The keys issue 6's checks parse, as numbers.
			for _, k := range []string{"deliveries_per_s", "p50_ms", "p99_ms", "p999_ms", "lost", "duplicated", "clients", "server_rss_mb", "server_cpu_s"} {
				if _, ok := back[k].(float64); !ok {
					t.Errorf("key %q missing or not a number: %v", k, back[k])
				}
			}
			if back["label"] != tt.primary {
				t.Errorf("top-level figures are %v's, want %s's", back["label"], tt.primary)
			}
			ratios, _ := back["ratios"].(map[string]any)
			if len(ratios) != len(tt.ratioKeys) {
				t.Errorf("ratios %v, want keys %v", ratios, tt.ratioKeys)
			}
			for _, k := range tt.ratioKeys {
				if _, ok := ratios[k]; !ok {
					t.Errorf("no ratio %q in %v", k, ratios)
				}
			}
		})
	}
	obj, _ := JSONReport([]*Result{base, wasm}, 0)
	got := obj["ratios"].(map[string]map[string]float64)["wasm/baseline"]["deliveries_per_s"]
	if got != 0.6 {
		t.Errorf("wasm/baseline deliveries ratio = %v, want 0.6", got)
	}
}

func TestWriteTable(t *testing.T) {
	base := &Result{Label: "baseline", Clients: 10, DeliveriesPerS: 1000}
	wasm := &Result{Label: "wasmchannel/wasm", Clients: 10, DeliveriesPerS: 600, Errors: []string{"socket ended early"}}
	var b strings.Builder
	if err := WriteTable(&b, []*Result{base, wasm}, 0); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"deliveries/s", "wasm/baseline", "0.60×", "wasmchannel/wasm: socket ended early"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "RSS per socket") {
		t.Errorf("a load table shows idle rows:\n%s", out)
	}
}
