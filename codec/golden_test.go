package codec_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

var goldenFiles = []string{
	filepath.Join("..", "testdata", "golden", "packets.jsonl"),
	filepath.Join("..", "testdata", "golden", "malformed.jsonl"),
}

// golden loads both golden files once for every test and benchmark here.
var golden = sync.OnceValues(func() (map[string]corpus.Vector, error) {
	out := map[string]corpus.Vector{}
	for _, f := range goldenFiles {
		vs, err := corpus.LoadFile(f)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			out[v.Name] = v
		}
	}
	return out, nil
})

func vector(tb testing.TB, name string) corpus.Vector {
	tb.Helper()
	vs, err := golden()
	if err != nil {
		tb.Fatal(err)
	}
	v, ok := vs[name]
	if !ok {
		tb.Fatalf("no golden vector %q", name)
	}
	return v
}

// TestGolden runs every golden vector through the Go codec.
func TestGolden(t *testing.T) {
	var out bytes.Buffer
	passed, failed, err := corpus.RunCheck(&out, codec.NewGo(), goldenFiles, corpus.DefaultMaxPayload)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 0 || passed != 704 {
		t.Fatalf("%d passed, %d failed, want 704 and 0:\n%s", passed, failed, out.String())
	}
	if got := out.String(); got != "704 passed, 0 failed\n" {
		t.Fatalf("report %q", got)
	}
}

// TestConformance runs the embedded subset the host vets modules with.
func TestConformance(t *testing.T) {
	g := codec.NewGo()
	for _, v := range corpus.Conformance() {
		if err := corpus.Check(g, v, corpus.DefaultMaxPayload); err != nil {
			t.Errorf("%s: %v", v.Name, err)
		}
	}
}

// TestBombs decodes the bomb vectors under limits around their size and
// checks that a rejected bomb costs almost no memory, and an accepted one
// no more than its payload.
func TestBombs(t *testing.T) {
	const slack = 64 << 10 // envelope strings, error values, test overhead
	cases := []struct {
		name  string
		size  int
		limit int
		want  string
	}{
		{"bomb-2MiB", 2 << 20, corpus.DefaultMaxPayload, "too_large"},
		{"bomb-2MiB", 2 << 20, 2<<20 - 1, "too_large"},
		{"bomb-2MiB", 2 << 20, 2 << 20, ""},
		{"bomb-16MiB", 16 << 20, corpus.DefaultMaxPayload, "too_large"},
		{"bomb-16MiB", 16 << 20, 16<<20 - 1, "too_large"},
		{"bomb-64MiB", 64 << 20, corpus.DefaultMaxPayload, "too_large"},
		{"bomb-64MiB", 64 << 20, 64<<20 - 1, "too_large"},
	}
	g := codec.NewGo()
	for _, c := range cases {
		v := vector(t, c.name)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p, err := g.Decode(v.Packet, c.limit)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		if got := codec.Class(err); got != c.want {
			t.Fatalf("%s limit %d: class %q (%v), want %q", c.name, c.limit, got, err, c.want)
		}
		budget := uint64(slack)
		if c.want == "" {
			budget += uint64(c.size)
			if len(p.Payload) != c.size {
				t.Fatalf("%s: %d bytes, want %d", c.name, len(p.Payload), c.size)
			}
		}
		if alloc > budget {
			t.Fatalf("%s limit %d: allocated %d bytes, budget %d", c.name, c.limit, alloc, budget)
		}
		t.Logf("%s limit %d: %s, allocated %d bytes", c.name, c.limit, codec.Class(err), alloc)
	}
}

func TestGoSource(t *testing.T) {
	s := codec.NewGoSource()
	if s.Name() != "go" {
		t.Fatalf("name %q", s.Name())
	}
	in, err := s.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v := vector(t, "v037-text-200000")
	if err := corpus.Check(in, v, corpus.DefaultMaxPayload); err != nil {
		t.Fatal(err)
	}
	in.Release()
	in.Release() // a second release is harmless

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire with a cancelled context: %v", err)
	}

	// Leased instances used concurrently, one per goroutine (run with -race).
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, err := s.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			defer in.Release()
			p := codec.Packet{Kind: codec.KindMessage, Payload: []byte(strings.Repeat("hello ", 100+i))}
			b, err := in.Encode(p)
			if err != nil {
				t.Error(err)
				return
			}
			back, err := in.Decode(b, 1<<20)
			if err != nil || !bytes.Equal(back.Payload, p.Payload) {
				t.Errorf("round trip: %v", err)
			}
		}()
	}
	wg.Wait()
}

// TestCompressionRatio compares the Go encoder's packet sizes with
// upstream's over the text and repeat vectors (sum of packet bytes, as
// the corpus sizes are measured). Upstream is lz4_flex; pierrec's fast
// compressor should be within a few percent of it.
func TestCompressionRatio(t *testing.T) {
	vs, err := golden()
	if err != nil {
		t.Fatal(err)
	}
	g := codec.NewGo()
	for _, style := range []string{"-text-", "-repeat-", "-random-"} {
		var ours, upstream, payload int
		for _, v := range vs {
			if !v.Valid() || !strings.Contains(v.Name, style) {
				continue
			}
			b, err := g.Encode(v.Fields())
			if err != nil {
				t.Fatal(err)
			}
			ours += len(b)
			upstream += len(v.Packet)
			payload += len(v.Payload)
		}
		ratio := float64(ours) / float64(upstream)
		t.Logf("%-8s payload %8d B  upstream %8d B  go %8d B  go/upstream %.3f", strings.Trim(style, "-"), payload, upstream, ours, ratio)
		if ratio > 1.10 {
			t.Errorf("%s: Go packets are %.1f%% larger than upstream's", style, 100*(ratio-1))
		}
	}
}

// addGoldenSeeds seeds a fuzz target with the golden packets up to 64 KB.
func addGoldenSeeds(f *testing.F) {
	vs, err := golden()
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range vs {
		if len(v.Packet) <= 1<<16 {
			f.Add(v.Packet)
		}
	}
}

// FuzzGoDecode feeds arbitrary bytes to the Go decoder: it must not panic,
// every error must be one of the packet classes, and whatever decodes must
// encode and decode back to the same fields.
func FuzzGoDecode(f *testing.F) {
	addGoldenSeeds(f)
	g := codec.NewGo()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := g.Decode(data, 1<<20)
		if err != nil {
			if c := codec.Class(err); c == "" || c == "codec_fault" {
				t.Fatalf("error outside the packet classes: %v", err)
			}
			return
		}
		enc, err := g.Encode(p)
		if err != nil {
			t.Fatalf("encode of a decoded packet: %v", err)
		}
		back, err := g.Decode(enc, 1<<20)
		if err != nil {
			t.Fatalf("decode of re-encoded packet: %v", err)
		}
		if d := corpus.Diff(back, p); d != "" {
			t.Fatalf("round trip: %s", d)
		}
	})
}
