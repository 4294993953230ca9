package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

func init() {
	register("bench codec", "Go vs WASM codec encode/decode/round-trip throughput", runBenchCodec)
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
	benchDataKinds = []string{"random", "text"}
	benchOps       = []string{"encode", "decode", "roundtrip"}
)

func runBenchCodec(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench codec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	codecsFlag := fs.String("codecs", "go,wasm", "comma-separated codecs, each "+codecSpecHelp)
	sizesFlag := fs.String("sizes", "11,2048,10240,65536", "comma-separated payload sizes in bytes")
	duration := fs.Duration("duration", 2*time.Second, "how long to measure each codec, size, data kind and operation (the fastest of 5 interleaved slices is reported)")
	asJSON := fs.Bool("json", false, "print one JSON array of {codec, size, data, op, ns_per_op, mb_per_s} instead of the table")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wasmchannel bench codec [--codecs go,wasm,PATH.wasm] [--sizes 11,2048,10240,65536] [--duration 2s] [--json]")
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
	specs := app.SplitList(*codecsFlag)
	if len(specs) == 0 {
		fmt.Fprintln(stderr, "wasmchannel bench codec: --codecs is empty")
		return 2
	}
	sizes, err := parseSizes(*sizesFlag)
	if err != nil {
		fmt.Fprintf(stderr, "wasmchannel bench codec: --sizes: %v\n", err)
		return 2
	}
	if *duration <= 0 {
		fmt.Fprintf(stderr, "wasmchannel bench codec: --duration %v must be positive\n", *duration)
		return 2
	}

	ctx := context.Background()
	codecs := make([]codec.Instance, len(specs))
	for i, spec := range specs {
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
			pkt := benchPacket(size, data)
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
						ns, err := measure(slice, benchOp(c, op, pkt, encs[i]))
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

// measure runs fn in growing batches until d has passed and returns the mean
// nanoseconds per call. One untimed call warms caches first.
func measure(d time.Duration, fn func() error) (float64, error) {
	if err := fn(); err != nil {
		return 0, err
	}
	var elapsed time.Duration
	n, batch := 0, 1
	for elapsed < d {
		start := time.Now()
		for range batch {
			if err := fn(); err != nil {
				return 0, err
			}
		}
		t := time.Since(start)
		elapsed += t
		n += batch
		if t < 10*time.Millisecond && batch < 1<<24 {
			batch *= 2
		}
	}
	return float64(elapsed.Nanoseconds()) / float64(n), nil
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

// benchPacket is a chat message with a payload of size bytes: "random" is
// incompressible, "text" is English-like chat text.
func benchPacket(size int, data string) codec.Packet {
	rng := rand.New(rand.NewPCG(uint64(size), 0x5eed))
	payload := make([]byte, size)
	if data == "random" {
		for i := range payload {
			payload[i] = byte(rng.Uint32())
		}
	} else {
		fillText(payload, rng)
	}
	return codec.Packet{
		Kind:      codec.KindMessage,
		MessageID: codec.Str("m_0123456789"),
		UserID:    codec.Str("user-2f9c1b"),
		Payload:   payload,
	}
}

// benchWords is the vocabulary of the text payloads.
var benchWords = strings.Fields(`the a to and of is it you that in for on this with
was are be have not what but can just at so from like get all about one out my up
your will when there do if we they how would time more now only know think some
message room chat send read reply here today tomorrow meeting deploy server codec
packet hello thanks sure great maybe later please yes no ok good morning night`)

// fillText fills b with words, spaces and the odd sentence end.
func fillText(b []byte, rng *rand.Rand) {
	i := 0
	for i < len(b) {
		w := benchWords[rng.IntN(len(benchWords))]
		i += copy(b[i:], w)
		if i < len(b) {
			sep := byte(' ')
			if rng.IntN(12) == 0 {
				sep = '.'
			}
			b[i] = sep
			i++
		}
	}
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
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "codec\tsize\tdata\tencode ns/op\tMB/s\tdecode ns/op\tMB/s\troundtrip ns/op\tMB/s\tencode ×go\tdecode ×go\troundtrip ×go\t")
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
				fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
			}
		}
	}
	tw.Flush()
	if !haveGo {
		fmt.Fprintln(w, "(ratios need the go codec in --codecs)")
	}
}

func parseSizes(s string) ([]int, error) {
	fields := app.SplitList(s)
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
