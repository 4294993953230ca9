package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

// benchSubcommands dispatches `wasmchannel bench NAME`. Other files add
// their own from init (`bench load`).
var benchSubcommands = map[string]command{
	"codec": {summary: "Go vs WASM codec encode/decode/round-trip throughput", run: runBenchCodec},
}

func init() {
	register("bench", "benchmarks (codec|load)", runBench)
}

func runBench(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		benchUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub, ok := benchSubcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "wasmchannel bench: unknown benchmark %q\n\n", args[0])
		benchUsage(stderr)
		return 2
	}
	return sub.run(args[1:], stdout, stderr)
}

func benchUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: wasmchannel bench <benchmark> [flags]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(benchSubcommands))
	for n := range benchSubcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, benchSubcommands[n].summary)
	}
}

// benchResult is one measurement; its JSON keys are the documented output
// of --json.
type benchResult struct {
	Codec   string  `json:"codec"`
	Size    int     `json:"size"`
	Data    string  `json:"data"`
	Op      string  `json:"op"`
	NsPerOp float64 `json:"ns_per_op"`
	MBPerS  float64 `json:"mb_per_s"`
}

// benchRounds is how many interleaved slices each measurement is split into.
const benchRounds = 5

var (
	benchDataKinds = corpus.BenchData
	benchOps       = []string{"encode", "decode", "roundtrip"}
)

func runBenchCodec(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench codec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	codecsFlag := fs.String("codecs", "go,wasm", "comma-separated codecs, each "+codecSpecHelp+", optionally labelled NAME=SPEC; the label \""+originalLabel+"\" adds the ratio columns wasm ÷ "+originalLabel)
	sizesFlag := fs.String("sizes", "11,2048,10240,65536", "comma-separated payload sizes in bytes")
	duration := fs.Duration("duration", 2*time.Second, "how long to measure each codec, size, data kind and operation, in 5 interleaved slices (on the wall clock the fastest batch of about 200µs is reported, which the load of other processes rarely reaches)")
	clock := fs.String("clock", "wall", "what to time: wall (elapsed time) or cpu (the process's CPU time, user and system, which time-sharing with other processes does not inflate)")
	asJSON := fs.Bool("json", false, "print one JSON array of {codec, size, data, op, ns_per_op, mb_per_s} instead of the table")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wasmchannel bench codec [--codecs go,wasm,upstream=PATH.wasm] [--sizes 11,2048,10240,65536] [--duration 2s] [--clock wall|cpu] [--json]")
		fs.PrintDefaults()
	}
	rest, err := parseInterspersed(fs, args)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		return 2
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "wasmchannel bench codec: unexpected argument %q\n", rest[0])
		return 2
	}
	specs, paths, err := parseCodecLabels(*codecsFlag)
	if err != nil {
		fmt.Fprintf(stderr, "wasmchannel bench codec: --codecs: %v\n", err)
		return 2
	}
	sizes, err := parseSizes(*sizesFlag)
	if err != nil {
		fmt.Fprintf(stderr, "wasmchannel bench codec: --sizes: %v\n", err)
		return 2
	}
	now, ok := benchClocks[*clock]
	if !ok {
		fmt.Fprintf(stderr, "wasmchannel bench codec: --clock %q: want wall or cpu\n", *clock)
		return 2
	}
	if *duration <= 0 {
		fmt.Fprintf(stderr, "wasmchannel bench codec: --duration %v must be positive\n", *duration)
		return 2
	}

	ctx := context.Background()
	codecs := make([]codec.Instance, len(specs))
	for i, spec := range paths {
		inst, done, err := openCodec(ctx, spec)
		if err != nil {
			fmt.Fprintf(stderr, "wasmchannel bench codec: %v\n", err)
			return 2
		}
		defer done()
		codecs[i] = inst
	}

	// Each measurement is split into benchRounds slices, interleaved across
	// codecs, and the fastest slice is kept: on a busy machine, load that
	// comes and goes then skews neither one codec nor the ratios.
	total := len(specs) * len(sizes) * len(benchDataKinds) * len(benchOps)
	results := make([]benchResult, 0, total)
	slice := max(*duration/benchRounds, time.Millisecond)
	for _, size := range sizes {
		for _, data := range benchDataKinds {
			pkt := corpus.BenchPacket(size, data)
			encs := make([][]byte, len(codecs))
			for i, c := range codecs {
				enc, err := c.Encode(pkt)
				if err == nil {
					err = checkRoundTrip(c, pkt, enc)
				}
				if err != nil {
					fmt.Fprintf(stderr, "wasmchannel bench codec: %s at %d bytes %s: %v\n", specs[i], size, data, err)
					return 1
				}
				encs[i] = enc
			}
			for _, op := range benchOps {
				fmt.Fprintf(stderr, "bench codec: [%d/%d] %d %s %s: %s\n", len(results)+len(codecs), total,
					size, data, op, strings.Join(specs, ", "))
				best := make([]float64, len(codecs))
				for range benchRounds {
					for i, c := range codecs {
						ns, err := measure(now, *clock == "cpu", slice, benchOp(c, op, pkt, encs[i]))
						if err != nil {
							fmt.Fprintf(stderr, "wasmchannel bench codec: %s %s at %d bytes %s: %v\n", specs[i], op, size, data, err)
							return 1
						}
						if best[i] == 0 || ns < best[i] {
							best[i] = ns
						}
					}
				}
				for i := range codecs {
					results = append(results, benchResult{
						Codec: specs[i], Size: size, Data: data, Op: op,
						NsPerOp: best[i], MBPerS: float64(size) / best[i] * 1e3,
					})
				}
			}
		}
	}

	if *asJSON {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			fmt.Fprintf(stderr, "wasmchannel bench codec: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	}
	printBenchTable(stdout, results, specs, sizes)
	return 0
}

// benchOp returns the operation to time.
func benchOp(c codec.Codec, op string, pkt codec.Packet, enc []byte) func() error {
	maxPayload := max(len(pkt.Payload), corpus.DefaultMaxPayload)
	switch op {
	case "encode":
		return func() error { _, err := c.Encode(pkt); return err }
	case "decode":
		return func() error { _, err := c.Decode(enc, maxPayload); return err }
	}
	return func() error {
		b, err := c.Encode(pkt)
		if err != nil {
			return err
		}
		_, err = c.Decode(b, maxPayload)
		return err
	}
}

// benchClocks are the clocks --clock names. On a machine shared with other
// jobs, wall time includes the time other processes held the cores; the
// process's CPU time does not (it does include the garbage collector's
// work, which belongs to the codec that allocated).
var benchClocks = map[string]func() time.Duration{
	"wall": func() time.Duration { return time.Duration(time.Now().UnixNano()) },
	"cpu": func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			panic(err) // cannot fail for RUSAGE_SELF
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	},
}

// Batch sizes of measure. On the wall clock a batch grows until it takes
// shortBatch, and the fastest batch is kept: a batch that short is rarely
// interrupted, so the minimum is the codec's time and not the machine's
// load. The CPU clock is coarser (the kernel may account it per tick), so
// its batches grow to longBatch and their mean is kept.
const (
	shortBatch = 200 * time.Microsecond
	longBatch  = 10 * time.Millisecond
)

// measure runs fn in growing batches until d has passed on clock now and
// returns nanoseconds per call: the fastest full-size batch on the wall
// clock, the mean on the CPU clock (cpu). One untimed call warms caches
// first.
func measure(now func() time.Duration, cpu bool, d time.Duration, fn func() error) (float64, error) {
	if err := fn(); err != nil {
		return 0, err
	}
	grow := shortBatch
	if cpu {
		grow = longBatch
	}
	var elapsed time.Duration
	n, batch := 0, 1
	best := math.Inf(1)
	for elapsed < d {
		start := now()
		for range batch {
			if err := fn(); err != nil {
				return 0, err
			}
		}
		t := now() - start
		elapsed += t
		n += batch
		if t >= grow || batch >= 1<<24 {
			best = min(best, float64(t.Nanoseconds())/float64(batch))
		} else {
			batch *= 2
		}
	}
	if cpu || math.IsInf(best, 1) {
		return float64(elapsed.Nanoseconds()) / float64(n), nil
	}
	return best, nil
}

// checkRoundTrip makes sure a codec decodes its own encoding before it is
// timed, so the benchmark never measures a codec that is wrong.
func checkRoundTrip(c codec.Codec, pkt codec.Packet, enc []byte) error {
	got, err := c.Decode(enc, max(len(pkt.Payload), corpus.DefaultMaxPayload))
	if err != nil {
		return fmt.Errorf("decode of own encoding: %w", err)
	}
	if d := corpus.Diff(got, pkt); d != "" {
		return fmt.Errorf("decode of own encoding: %s", d)
	}
	return nil
}

// printBenchTable prints one row per codec, size and data kind, with each
// codec's time as a multiple of the Go codec's when "go" was measured.
func printBenchTable(w io.Writer, results []benchResult, specs []string, sizes []int) {
	type key struct {
		codec, data, op string
		size            int
	}
	byKey := make(map[key]benchResult, len(results))
	for _, r := range results {
		byKey[key{r.Codec, r.Data, r.Op, r.Size}] = r
	}
	_, haveGo := byKey[key{"go", benchDataKinds[0], benchOps[0], sizes[0]}]
	_, haveWasm := byKey[key{"wasm", benchDataKinds[0], benchOps[0], sizes[0]}]
	_, haveOrig := byKey[key{originalLabel, benchDataKinds[0], benchOps[0], sizes[0]}]
	compare := haveWasm && haveOrig
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "codec\tsize\tdata\tencode ns/op\tMB/s\tdecode ns/op\tMB/s\troundtrip ns/op\tMB/s\tencode ×go\tdecode ×go\troundtrip ×go\t"
	if compare {
		header += "encode wasm÷" + originalLabel + "\tdecode wasm÷" + originalLabel + "\troundtrip wasm÷" + originalLabel + "\t"
	}
	fmt.Fprintln(tw, header)
	for _, spec := range specs {
		for _, size := range sizes {
			for _, data := range benchDataKinds {
				row := []string{spec, strconv.Itoa(size), data}
				for _, op := range benchOps {
					r := byKey[key{spec, data, op, size}]
					row = append(row, fmt.Sprintf("%.0f", r.NsPerOp), fmt.Sprintf("%.1f", r.MBPerS))
				}
				for _, op := range benchOps {
					ratio := "-"
					if haveGo {
						g := byKey[key{"go", data, op, size}]
						ratio = fmt.Sprintf("%.2f", byKey[key{spec, data, op, size}].NsPerOp/g.NsPerOp)
					}
					row = append(row, ratio)
				}
				for _, op := range benchOps {
					if !compare {
						break
					}
					ratio := "-"
					if spec == "wasm" {
						o := byKey[key{originalLabel, data, op, size}]
						ratio = fmt.Sprintf("%.2f", byKey[key{spec, data, op, size}].NsPerOp/o.NsPerOp)
					}
					row = append(row, ratio)
				}
				fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
			}
		}
	}
	tw.Flush()
	if !haveGo {
		fmt.Fprintln(w, "(ratios need the go codec in --codecs)")
	}
}

// originalLabel names the original codec build in --codecs
// (upstream=PATH.wasm): the table then compares our module with it.
const originalLabel = "upstream"

// parseCodecLabels splits --codecs into labels and codec specs. An entry is
// a spec, labelled by itself, or LABEL=SPEC.
func parseCodecLabels(s string) (labels, specs []string, err error) {
	seen := map[string]bool{}
	for _, f := range splitList(s) {
		label, spec, ok := strings.Cut(f, "=")
		if !ok {
			spec = label
		}
		if label == "" || spec == "" {
			return nil, nil, fmt.Errorf("%q: want SPEC or LABEL=SPEC", f)
		}
		if seen[label] {
			return nil, nil, fmt.Errorf("codec %q given twice", label)
		}
		seen[label] = true
		labels, specs = append(labels, label), append(specs, spec)
	}
	if len(labels) == 0 {
		return nil, nil, fmt.Errorf("no codecs")
	}
	return labels, specs, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseSizes(s string) ([]int, error) {
	fields := splitList(s)
	if len(fields) == 0 {
		return nil, fmt.Errorf("no sizes")
	}
	sizes := make([]int, len(fields))
	for i, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad size %q: want a byte count", f)
		}
		sizes[i] = n
	}
	return sizes, nil
}
