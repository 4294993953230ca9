package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// row is one line of the results table: a label, how to read the figure
// from a result, its format, and whether it is shown for the message load,
// the idle test, or both.
type row struct {
	name   string
	get    func(*Result) float64
	format string
	load   bool
	idle   bool
	// ratio: show ratio columns for this row.
	ratio bool
}

var rows = []row{
	{"clients", func(r *Result) float64 { return float64(r.Clients) }, "%.0f", true, true, false},
	{"messages sent", func(r *Result) float64 { return float64(r.Sent) }, "%.0f", true, false, false},
	{"deliveries/s", func(r *Result) float64 { return r.DeliveriesPerS }, "%.0f", true, false, true},
	{"latency p50 ms", func(r *Result) float64 { return r.P50Ms }, "%.2f", true, false, true},
	{"latency p99 ms", func(r *Result) float64 { return r.P99Ms }, "%.2f", true, false, true},
	{"latency p99.9 ms", func(r *Result) float64 { return r.P999Ms }, "%.2f", true, false, true},
	{"latency max ms", func(r *Result) float64 { return r.MaxMs }, "%.2f", true, false, true},
	{"lost", func(r *Result) float64 { return float64(r.Lost) }, "%.0f", true, false, false},
	{"duplicated", func(r *Result) float64 { return float64(r.Duplicated) }, "%.0f", true, false, false},
	{"rejected by server", func(r *Result) float64 { return float64(r.Rejected) }, "%.0f", true, false, false},
	{"connect all s", func(r *Result) float64 { return r.ConnectS }, "%.2f", true, true, true},
	{"connect p99 ms", func(r *Result) float64 { return r.ConnectP99Ms }, "%.2f", true, true, true},
	{"server CPU s", func(r *Result) float64 { return r.ServerCPUS }, "%.2f", true, true, true},
	{"server CPU µs/delivery", func(r *Result) float64 { return r.ServerCPUUsPerDelivery }, "%.3f", true, false, true},
	{"deliveries per server write", func(r *Result) float64 { return r.DeliveriesPerWrite }, "%.2f", true, false, true},
	{"server peak RSS MB", func(r *Result) float64 { return r.ServerRSSMB }, "%.1f", true, true, true},
	{"machine load avg 1m", func(r *Result) float64 { return r.LoadAvg }, "%.2f", true, true, false},
	{"kernel irq+softirq CPU s", func(r *Result) float64 { return r.InterruptCPUS }, "%.2f", true, false, false},
	{"kernel threads CPU s", func(r *Result) float64 { return r.KernelThreadCPUS }, "%.2f", true, false, false},
	{"other processes CPU s", func(r *Result) float64 { return r.OtherCPUS }, "%.2f", true, false, false},
	{"generator CPU s", func(r *Result) float64 { return r.GeneratorCPUS }, "%.2f", true, false, false},
	{"generator CPU µs/delivery", func(r *Result) float64 { return r.GeneratorCPUUsPerDelivery }, "%.3f", true, false, true},
	{"RSS before MB", func(r *Result) float64 { return r.RSSBeforeMB }, "%.1f", false, true, true},
	{"RSS idle MB", func(r *Result) float64 { return r.RSSIdleMB }, "%.1f", false, true, true},
	{"RSS per socket KB", func(r *Result) float64 { return r.RSSPerConnKB }, "%.1f", false, true, true},
}

// ratioPair is one ratio column: results[num] / results[den].
type ratioPair struct {
	num, den int
	name     string
}

// ratioPairs are the ratio columns: every server against the baseline
// (when there is one), and the first wasmchannel server against each other.
func ratioPairs(results []*Result, baseline int) []ratioPair {
	var out []ratioPair
	if baseline >= 0 {
		for i, r := range results {
			if i != baseline {
				out = append(out, ratioPair{i, baseline, short(r.Label) + "/" + short(results[baseline].Label)})
			}
		}
	}
	first := -1
	for i, r := range results {
		if i == baseline {
			continue
		}
		if first < 0 {
			first = i
			continue
		}
		out = append(out, ratioPair{first, i, short(results[first].Label) + "/" + short(r.Label)})
	}
	return out
}

// short drops the "wasmchannel/" of a label, for ratio names.
func short(label string) string { return strings.TrimPrefix(label, "wasmchannel/") }

// WriteTable prints one column per result and one per ratio. baseline is
// the index of the baseline's result, or -1.
func WriteTable(w io.Writer, results []*Result, baseline int) error {
	idle := len(results) > 0 && results[0].IdleConns > 0
	pairs := ratioPairs(results, baseline)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"measure"}
	for _, r := range results {
		head = append(head, r.Label)
	}
	for _, p := range pairs {
		head = append(head, p.name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, rw := range rows {
		if (idle && !rw.idle) || (!idle && !rw.load) {
			continue
		}
		line := []string{rw.name}
		for _, r := range results {
			line = append(line, fmt.Sprintf(rw.format, rw.get(r)))
		}
		for _, p := range pairs {
			cell := ""
			if rw.ratio {
				cell = ratioText(rw.get(results[p.num]), rw.get(results[p.den]))
			}
			line = append(line, cell)
		}
		fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		for _, e := range r.Errors {
			fmt.Fprintf(w, "%s: %s\n", r.Label, e)
		}
	}
	return nil
}

func ratioText(num, den float64) string {
	if den == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", num/den)
}

// ratio is num/den, or 0 when den is 0.
func ratio(num, den float64) float64 {
	if den == 0 {
		return 0
	}
	return num / den
}

// JSONReport is the one object --json prints: the primary result's fields
// at the top level (the first result that is not the baseline), all
// results under "runs", the baseline under "baseline", and the ratios.
func JSONReport(results []*Result, baseline int) (map[string]any, error) {
	primary := -1
	for i := range results {
		if i != baseline {
			primary = i
			break
		}
	}
	if primary < 0 {
		primary = 0
	}
	b, err := json.Marshal(results[primary])
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	out["runs"] = results
	if baseline >= 0 {
		out["baseline"] = results[baseline]
	}
	ratios := map[string]map[string]float64{}
	idle := results[primary].IdleConns > 0
	for _, p := range ratioPairs(results, baseline) {
		m := map[string]float64{}
		for _, rw := range rows {
			if !rw.ratio || (idle && !rw.idle) || (!idle && !rw.load) {
				continue
			}
			m[jsonKey(rw.name)] = ratio(rw.get(results[p.num]), rw.get(results[p.den]))
		}
		ratios[p.name] = m
	}
	if len(ratios) > 0 {
		out["ratios"] = ratios
	}
	return out, nil
}

// jsonKey turns a row name into a snake_case key.
func jsonKey(name string) string {
	r := strings.NewReplacer("/", "_per_", "µs", "us", ".", "", " ", "_")
	return strings.ToLower(r.Replace(name))
}
