package host_test

// Tests of the host against the swapped-in modules of testdata/codecs, none
// of them built from the Rust crate (testdata/codecs/README.md): a complete C
// codec that must be accepted and conform, and broken modules that must be
// refused or contained. They use only the host's exported API, as a caller
// loading a third-party module would.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
	"github.com/wasmchannel/wasmchannel/host"
	"github.com/wasmchannel/wasmchannel/wasm"
)

const codecsDir = "../testdata/codecs/"

var goldenFiles = []string{"../testdata/golden/packets.jsonl", "../testdata/golden/malformed.jsonl"}

func modulePath(name string) string { return codecsDir + name + ".wasm" }

func readModule(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(modulePath(name))
	if err != nil {
		tb.Fatalf("read module: %v", err)
	}
	return b
}

var goldenOnce = sync.OnceValues(func() ([]corpus.Vector, error) {
	var all []corpus.Vector
	for _, f := range goldenFiles {
		vs, err := corpus.LoadFile(f)
		if err != nil {
			return nil, err
		}
		all = append(all, vs...)
	}
	return all, nil
})

func goldenVectors(tb testing.TB) []corpus.Vector {
	tb.Helper()
	vs, err := goldenOnce()
	if err != nil {
		tb.Fatalf("load golden vectors: %v", err)
	}
	return vs
}

// smallValid returns the valid golden vectors with payloads up to max bytes.
func smallValid(tb testing.TB, max int) []corpus.Vector {
	var out []corpus.Vector
	for _, v := range goldenVectors(tb) {
		if v.Valid() && len(v.Payload) <= max {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		tb.Fatal("no small valid golden vectors")
	}
	return out
}

// loadStoreonly loads storeonly.wasm the way `--codec` does: LoadFile, with
// its conformance run. The pool is closed when the test ends.
func loadStoreonly(tb testing.TB, cfg host.Config) *host.Pool {
	tb.Helper()
	p, err := host.LoadFile(context.Background(), modulePath("storeonly"), cfg)
	if err != nil {
		tb.Fatalf("LoadFile(storeonly.wasm): %v", err)
	}
	tb.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// newModulePool creates a pool of a test module without conformance checks.
func newModulePool(tb testing.TB, name string, cfg host.Config) *host.Pool {
	tb.Helper()
	p, err := host.NewPool(context.Background(), readModule(tb, name), cfg)
	if err != nil {
		tb.Fatalf("NewPool(%s.wasm): %v", name, err)
	}
	tb.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func leaseOf(tb testing.TB, p *host.Pool) *host.Lease {
	tb.Helper()
	l, err := p.Lease(context.Background())
	if err != nil {
		tb.Fatalf("Lease: %v", err)
	}
	tb.Cleanup(l.Release)
	return l
}

// TestModulesRefused: a module without wc_decode or with ABI version 2 is
// refused by NewPool and by LoadFile with ErrBadModule, and the message
// names what is wrong.
func TestModulesRefused(t *testing.T) {
	tests := []struct {
		module string
		want   string // in the error message
	}{
		{"missing_export", `"wc_decode"`},
		{"wrong_version", "version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			ctx := context.Background()
			loaders := map[string]func() (*host.Pool, error){
				"NewPool": func() (*host.Pool, error) {
					return host.NewPool(ctx, readModule(t, tt.module), host.Config{})
				},
				"LoadFile": func() (*host.Pool, error) {
					return host.LoadFile(ctx, modulePath(tt.module), host.Config{})
				},
			}
			for name, load := range loaders {
				p, err := load()
				if p != nil {
					_ = p.Close(ctx)
				}
				if !errors.Is(err, host.ErrBadModule) {
					t.Fatalf("%s: err = %v, want ErrBadModule", name, err)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s: error %q does not mention %q", name, err, tt.want)
				}
			}
		})
	}
}

// TestLoadFileRefusesNonconforming: lenient.wasm has the right exports and
// version, so NewPool takes it, but it accepts a wrong crc and trailing bytes
// like the upstream codec. LoadFile must refuse it and list exactly those
// vectors.
func TestLoadFileRefusesNonconforming(t *testing.T) {
	ctx := context.Background()
	newModulePool(t, "lenient", host.Config{}) // loads without conformance

	p, err := host.LoadFile(ctx, modulePath("lenient"), host.Config{})
	if p != nil {
		_ = p.Close(ctx)
		t.Fatal("LoadFile accepted lenient.wasm")
	}
	if !errors.Is(err, host.ErrBadModule) {
		t.Fatalf("err = %v, want ErrBadModule", err)
	}
	msg := err.Error()
	m := regexp.MustCompile(`failed (\d+) of (\d+) conformance vectors`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("error does not count failed conformance vectors: %q", msg)
	}
	lines := strings.Split(msg, "\n")[1:]
	if n, _ := strconv.Atoi(m[1]); n != len(lines) || n == 0 {
		t.Fatalf("error counts %s failures but lists %d:\n%s", m[1], len(lines), msg)
	}
	seen := map[string]int{}
	for _, l := range lines {
		name, _, _ := strings.Cut(strings.TrimSpace(l), ":")
		class, _, _ := strings.Cut(name, "-")
		seen[class]++
	}
	if len(seen) != 2 || seen["crc"] == 0 || seen["trailing"] == 0 {
		t.Errorf("failures by vector family %v, want only crc-* and trailing-*:\n%s", seen, msg)
	}
}

// TestStoreonlyLoadsAndEncodesStored: storeonly.wasm passes LoadFile, and
// its packets carry the payload in stored LZ4 blocks that the Go codec
// decodes.
func TestStoreonlyLoadsAndEncodesStored(t *testing.T) {
	l := leaseOf(t, loadStoreonly(t, host.Config{}))
	payload := bytes.Repeat([]byte("stored, not compressed. "), 6000) // 144000 bytes: 3 blocks
	in := codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str("m-1"), Payload: payload}
	pkt, err := l.Encode(in)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	env, err := codec.ParseEnvelope(pkt)
	if err != nil {
		t.Fatalf("ParseEnvelope: %v", err)
	}
	// magic, FLG 0x60, BD 0x40, HC, then blocks of at most 64 KB, each stored
	f := env.Frame
	if !bytes.HasPrefix(f, []byte{0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82}) {
		t.Fatalf("frame header % x", f[:min(7, len(f))])
	}
	pos, blocks := 7, 0
	for {
		w := binary.LittleEndian.Uint32(f[pos:])
		pos += 4
		if w == 0 {
			break
		}
		if w&0x80000000 == 0 || w&0x7FFFFFFF > 65536 {
			t.Fatalf("block %d: size word %08x, want a stored block of at most 64 KB", blocks, w)
		}
		pos += int(w & 0x7FFFFFFF)
		blocks++
	}
	if blocks != 3 || pos != len(f) {
		t.Errorf("%d blocks, frame ends at %d of %d; want 3 blocks filling the frame", blocks, pos, len(f))
	}
	for name, c := range map[string]codec.Codec{"storeonly": l, "go": codec.NewGo()} {
		got, err := c.Decode(pkt, len(payload))
		if err != nil {
			t.Fatalf("%s Decode: %v", name, err)
		}
		if d := corpus.Diff(got, in); d != "" {
			t.Errorf("%s Decode: %s", name, d)
		}
	}
}

// TestStoreonlyGolden is `wasmchannel codec check --codec
// testdata/codecs/storeonly.wasm` on the full golden corpus: every valid
// packet decodes to its fields and round-trips, every malformed one gets
// its class.
func TestStoreonlyGolden(t *testing.T) {
	l := leaseOf(t, loadStoreonly(t, host.Config{}))
	var out bytes.Buffer
	passed, failed, err := corpus.RunCheck(&out, l, goldenFiles, corpus.DefaultMaxPayload)
	if err != nil {
		t.Fatalf("RunCheck: %v", err)
	}
	if failed != 0 || passed != len(goldenVectors(t)) {
		t.Fatalf("%d passed, %d failed of %d:\n%s", passed, failed, len(goldenVectors(t)), out.String())
	}
	t.Logf("%s", strings.TrimSpace(out.String()))
}

// TestStoreonlyBoundsOutput: decoding the golden bombs with a limit keeps the
// instance's memory near limit + packet: storeonly never allocates past
// max_payload for output.
func TestStoreonlyBoundsOutput(t *testing.T) {
	var bombs []corpus.Vector
	for _, v := range goldenVectors(t) {
		if strings.HasPrefix(v.Name, "bomb-") {
			bombs = append(bombs, v)
		}
	}
	if len(bombs) == 0 {
		t.Fatal("no bomb-* vectors in the golden corpus")
	}
	p := loadStoreonly(t, host.Config{MinWarm: -1})
	for _, limit := range []int{64 << 10, 1 << 20} {
		for _, v := range bombs {
			t.Run(fmt.Sprintf("%s/limit-%d", v.Name, limit), func(t *testing.T) {
				l := leaseOf(t, p)
				_, err := l.Decode(v.Packet, limit)
				if !errors.Is(err, codec.ErrTooLarge) {
					t.Fatalf("Decode: %v, want too_large", err)
				}
				// memory: one initial page, the host's scratch copy of the
				// packet, the output (at most limit) and allocator slack
				bound := uint32(64<<10 + len(v.Packet) + limit + 128<<10)
				if got := l.MemoryBytes(); got > bound {
					t.Errorf("instance memory %d bytes after decode, want at most %d", got, bound)
				}
			})
		}
	}
}

// TestStoreonlyForeignFrames: storeonly decodes frames it never writes, from
// another LZ4 implementation (pierrec/lz4: compressed blocks, 64 KB to 4 MB
// blocks, block and content checksums, content size), and a limit one byte
// below the payload is too_large.
func TestStoreonlyForeignFrames(t *testing.T) {
	l := leaseOf(t, loadStoreonly(t, host.Config{}))
	rng := rand.New(rand.NewPCG(1, 2))
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog; "), 8000)
	random := make([]byte, 300_000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	type variant struct {
		name  string
		opts  []lz4.Option
		flags int // 1: block checksums, 2: content checksum, 4: content size
	}
	var variants []variant
	for _, bs := range []lz4.BlockSize{lz4.Block64Kb, lz4.Block256Kb, lz4.Block1Mb, lz4.Block4Mb} {
		for _, flags := range []int{0, 3, 4, 7} {
			opts := []lz4.Option{lz4.BlockSizeOption(bs), lz4.ConcurrencyOption(1),
				lz4.BlockChecksumOption(flags&1 != 0), lz4.ChecksumOption(flags&2 != 0)}
			variants = append(variants, variant{fmt.Sprintf("%v/flags-%d", bs, flags), opts, flags})
		}
	}
	for _, data := range []struct {
		name string
		b    []byte
	}{{"text", text}, {"random", random}} {
		for _, size := range []int{0, 1, 1000, 65537, 300_000} {
			payload := data.b[:size]
			for _, vr := range variants {
				opts := vr.opts
				if vr.flags&4 != 0 {
					opts = append(opts[:len(opts):len(opts)], lz4.SizeOption(uint64(size)))
				}
				t.Run(fmt.Sprintf("%s-%d/%s", data.name, size, vr.name), func(t *testing.T) {
					var buf bytes.Buffer
					w := lz4.NewWriter(&buf)
					if err := w.Apply(opts...); err != nil {
						t.Fatal(err)
					}
					if _, err := w.Write(payload); err != nil {
						t.Fatal(err)
					}
					if err := w.Close(); err != nil {
						t.Fatal(err)
					}
					// the frame has the features this variant claims to test
					// (pierrec writes no content size for an empty payload)
					want := vr.flags
					if size == 0 {
						want &^= 4
					}
					flg := buf.Bytes()[4]
					if got := flg&0x10>>4 | flg&0x04>>1 | flg&0x08>>1; int(got) != want {
						t.Fatalf("FLG %02x has features %d, want %d", flg, got, want)
					}
					pkt := wrapFrame(buf.Bytes())
					got, err := l.Decode(pkt, size)
					if err != nil {
						t.Fatalf("Decode: %v", err)
					}
					if !bytes.Equal(got.Payload, payload) {
						t.Fatalf("payload of %d bytes differs from the %d encoded", len(got.Payload), size)
					}
					if size > 0 {
						if _, err := l.Decode(pkt, size-1); !errors.Is(err, codec.ErrTooLarge) {
							t.Errorf("Decode with limit %d: %v, want too_large", size-1, err)
						}
					}
				})
			}
		}
	}
}

// TestStoreonlyLinkedBlocks: hand-built frames whose second block copies
// from the first. Linked blocks may refer back into earlier blocks;
// independent blocks may not; nothing may refer before the payload.
func TestStoreonlyLinkedBlocks(t *testing.T) {
	l := leaseOf(t, loadStoreonly(t, host.Config{}))
	first := []byte("0123456789abcdef")
	// block 2: a match of 8 bytes at offset off, then one literal "z"
	second := func(off uint16) []byte {
		return []byte{0x04, byte(off), byte(off >> 8), 0x10, 'z'}
	}
	tests := []struct {
		name    string
		flg     byte
		off     uint16
		want    string // payload, or "" for an error
		wantErr error
	}{
		{"linked", 0x40, 8, "0123456789abcdef89abcdefz", nil},
		{"linked, whole first block", 0x40, 16, "0123456789abcdef01234567z", nil},
		{"linked, before the payload", 0x40, 17, "", codec.ErrCompression},
		{"independent", 0x60, 8, "", codec.ErrCompression},
		{"linked with content checksum", 0x44, 8, "0123456789abcdef89abcdefz", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desc := []byte{tt.flg, 0x40}
			f := []byte{0x04, 0x22, 0x4D, 0x18}
			f = append(f, desc...)
			f = append(f, byte(xxh32(desc)>>8))
			f = binary.LittleEndian.AppendUint32(f, uint32(len(first))|0x80000000)
			f = append(f, first...)
			b2 := second(tt.off)
			f = binary.LittleEndian.AppendUint32(f, uint32(len(b2)))
			f = append(f, b2...)
			f = binary.LittleEndian.AppendUint32(f, 0)
			if tt.flg&0x04 != 0 {
				f = binary.LittleEndian.AppendUint32(f, xxh32([]byte(tt.want)))
			}
			pkt := wrapFrame(f)
			for name, c := range map[string]codec.Codec{"storeonly": l, "go": codec.NewGo()} {
				got, err := c.Decode(pkt, 1000)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Errorf("%s: Decode: %v, want %v", name, err, tt.wantErr)
					}
					continue
				}
				if err != nil || string(got.Payload) != tt.want {
					t.Errorf("%s: Decode = %q, %v; want %q", name, got.Payload, err, tt.want)
				}
			}
		})
	}
}

// TestStoreonlyFrameEdges: hand-built frames around one stored block of
// "hello", for the frame features and defects the golden corpus does not
// cover. storeonly and the Go codec must agree with the expected outcome.
func TestStoreonlyFrameEdges(t *testing.T) {
	l := leaseOf(t, loadStoreonly(t, host.Config{}))
	hello := []byte("hello")
	le32 := binary.LittleEndian.AppendUint32
	frame := func(flg byte, size []byte, blocks, trailer []byte) []byte {
		desc := append([]byte{flg, 0x40}, size...)
		f := append([]byte{0x04, 0x22, 0x4D, 0x18}, desc...)
		f = append(f, byte(xxh32(desc)>>8))
		f = append(f, blocks...)
		f = le32(f, 0) // EndMark
		return append(f, trailer...)
	}
	stored := le32(nil, 5|0x80000000)
	stored = append(stored, hello...)
	u64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	withSum := le32(append([]byte(nil), stored...), xxh32(hello))
	tests := []struct {
		name  string
		frame []byte
		limit int
		want  error // nil: decodes to hello (or empty for no blocks)
		empty bool
	}{
		{"plain", frame(0x60, nil, stored, nil), 100, nil, false},
		{"content size", frame(0x68, u64(5), stored, nil), 100, nil, false},
		{"content size 0, no blocks", frame(0x68, u64(0), nil, nil), 100, nil, true},
		{"content size wrong", frame(0x68, u64(6), stored, nil), 100, codec.ErrCompression, false},
		{"content size above limit", frame(0x68, u64(5), stored, nil), 4, codec.ErrTooLarge, false},
		{"content checksum", frame(0x64, nil, stored, le32(nil, xxh32(hello))), 100, nil, false},
		{"content checksum wrong", frame(0x64, nil, stored, le32(nil, xxh32(hello)+1)), 100, codec.ErrCompression, false},
		{"content checksum missing", frame(0x64, nil, stored, nil), 100, codec.ErrCompression, false},
		{"block checksum", frame(0x70, nil, withSum, nil), 100, nil, false},
		{"block checksum wrong", frame(0x70, nil, le32(append([]byte(nil), stored...), 1), nil), 100, codec.ErrCompression, false},
		{"block checksum wrong, block above limit", frame(0x70, nil, le32(append([]byte(nil), stored...), 1), nil), 4, codec.ErrCompression, false},
		{"stored block above limit", frame(0x60, nil, stored, nil), 4, codec.ErrTooLarge, false},
		{"stored empty block", frame(0x60, nil, le32(nil, 0x80000000), nil), 100, nil, true},
		{"block above block maximum", frame(0x60, nil, le32(nil, 65537|0x80000000), nil), 100, codec.ErrCompression, false},
		{"byte after the frame", frame(0x60, nil, stored, []byte{0}), 100, codec.ErrCompression, false},
		{"skippable frame", le32(le32(nil, 0x184D2A50), 0), 100, codec.ErrCompression, false},
		{"dictionary id", frame(0x61, le32(nil, 7), stored, nil), 100, codec.ErrCompression, false},
		{"version 0", frame(0x20, nil, stored, nil), 100, codec.ErrCompression, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := wrapFrame(tt.frame)
			want := hello
			if tt.empty {
				want = nil
			}
			for name, c := range map[string]codec.Codec{"storeonly": l, "go": codec.NewGo()} {
				got, err := c.Decode(pkt, tt.limit)
				if tt.want != nil {
					if !errors.Is(err, tt.want) {
						t.Errorf("%s: Decode: %v, want %v", name, err, tt.want)
					}
					continue
				}
				if err != nil || !bytes.Equal(got.Payload, want) {
					t.Errorf("%s: Decode = %q, %v; want %q", name, got.Payload, err, want)
				}
			}
		})
	}
}

// TestStoreonlyAgreesWithGoAndRust cross-checks the C decoder with the Go
// codec and the embedded Rust codec on mutated golden packets: all three
// must give the same class, or the same packet. Half the mutations hit the
// LZ4 frame and fix the crc up, so they reach the frame decoder instead of
// stopping at the checksum.
func TestStoreonlyAgreesWithGoAndRust(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 500
	}
	rust, err := host.NewPool(context.Background(), wasm.Module, host.Config{Name: "rust"})
	if err != nil {
		t.Fatalf("NewPool(embedded codec): %v", err)
	}
	t.Cleanup(func() { _ = rust.Close(context.Background()) })
	l := leaseOf(t, loadStoreonly(t, host.Config{}))
	others := []struct {
		name string
		c    codec.Codec
	}{{"go", codec.NewGo()}, {"rust", leaseOf(t, rust)}}

	seeds := smallValid(t, 3000)
	for _, v := range goldenVectors(t) {
		if !v.Valid() && len(v.Packet) < 4000 {
			seeds = append(seeds, v)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	classes := map[string]int{}
	for i := 0; i < n; i++ {
		v := seeds[rng.IntN(len(seeds))]
		pkt := bytes.Clone(v.Packet)
		if env, err := codec.ParseEnvelope(pkt); err == nil && rng.IntN(2) == 0 && len(env.Frame) > 7 {
			frame := bytes.Clone(env.Frame)
			mutate(rng, frame, 7)
			pkt = rewrap(pkt[:env.PrefixLen], frame)
		} else {
			mutate(rng, pkt, 0)
		}
		limit := rng.IntN(4000)
		got, gerr := l.Decode(pkt, limit)
		gc := codec.Class(gerr)
		classes[gc]++
		for _, o := range others {
			want, werr := o.c.Decode(pkt, limit)
			if wc := codec.Class(werr); gc != wc {
				t.Errorf("packet %x, limit %d: storeonly %q (%v), %s %q (%v)", pkt, limit, gc, gerr, o.name, wc, werr)
				continue
			}
			if gerr == nil {
				if d := corpus.Diff(got, want); d != "" {
					t.Errorf("packet %x: storeonly decodes differently from %s: %s", pkt, o.name, d)
				}
			}
		}
	}
	t.Logf("classes: %v", classes)
	if l.InstanceID() == 0 {
		t.Error("the lease lost its instance: a mutated packet faulted it")
	}
}

// faultCase is a broken module and how the host must contain it.
type faultCase struct {
	module  string
	cfg     host.Config
	want    error // sentinel beside codec.ErrCodecFault
	encode  bool  // wc_encode is broken too
	counter func(host.Stats) uint64
}

var loopForever = faultCase{module: "loop_forever", cfg: host.Config{CallTimeout: 200 * time.Millisecond},
	want: host.ErrTimeout, counter: func(s host.Stats) uint64 { return s.Timeouts }}

// TestBrokenModulesContained runs each broken module's pool beside a pool of
// storeonly.wasm in the same process. Every call into the broken module fails
// as a codec fault with the right sentinel, is counted, and discards its
// instance, so no later lease gets it back; meanwhile the storeonly leases,
// busy on other goroutines, decode and encode correctly throughout.
// loop_forever runs the same way in TestLoopForeverContained, in a child
// process, because a failure there can hang the whole process.
func TestBrokenModulesContained(t *testing.T) {
	tests := []faultCase{
		{module: "trap_decode", want: host.ErrTrap,
			counter: func(s host.Stats) uint64 { return s.Traps }},
		{module: "grow_memory", cfg: host.Config{MemoryLimitPages: 32, CallTimeout: 10 * time.Second}, want: host.ErrOutOfMemory,
			counter: func(s host.Stats) uint64 { return s.Faults }},
		{module: "bad_pointer", want: host.ErrBadResult, encode: true,
			counter: func(s host.Stats) uint64 { return s.Faults }},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) { runFaultCase(t, tt) })
	}
}

// loopChildEnv marks the child process of TestLoopForeverContained.
const loopChildEnv = "WASMCHANNEL_LOOP_FOREVER_CHILD"

// TestLoopForeverContained: a decode that never returns is stopped at its
// deadline with ErrTimeout, the caller's goroutine returns, and the lease
// works again on a fresh instance, all while other goroutines allocate and
// the garbage collector runs. A goroutine spinning in compiled wasm that
// never yields to the Go scheduler stalls every stop-the-world pause, and
// with it the whole process, timers included. So the check runs in a child
// process that the parent kills if it hangs, and a hang is a clear failure
// rather than a stuck test binary.
func TestLoopForeverContained(t *testing.T) {
	if os.Getenv(loopChildEnv) == "1" {
		stopGC := hammerGC()
		defer stopGC()
		runFaultCase(t, loopForever)
		leaseRecovers(t, loopForever.module, loopForever.cfg, loopForever.want)
		return
	}
	const bound = 60 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLoopForeverContained$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), loopChildEnv+"=1")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the process calling loop_forever.wasm hung and was killed after %v: the call deadline "+
			"did not stop the module while the garbage collector ran. Output:\n%s", bound, out)
	}
	if err != nil {
		t.Fatalf("child process: %v. Output:\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestLoopForeverContained")) {
		t.Fatalf("child process ran no test. Output:\n%s", out)
	}
}

// hammerGC runs the garbage collector every few milliseconds until stopped.
func hammerGC() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.GC()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// runFaultCase leases tt's module a few times beside a busy storeonly pool and
// checks that every call faults as expected and nothing else is disturbed.
func runFaultCase(t *testing.T, tt faultCase) {
	vectors := smallValid(t, 2048)
	good := loadStoreonly(t, host.Config{Name: "storeonly", MaxInstances: 4})
	cfg := tt.cfg
	cfg.Name, cfg.MaxInstances = tt.module, 2
	bad := newModulePool(t, tt.module, cfg)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	goodOps := make([]int, 3)
	goodErrs := make(chan error, len(goodOps))
	for g := range goodOps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			goodErrs <- serveGood(good, vectors, g, stop, &goodOps[g])
		}()
	}

	calls := 4
	if tt.want == host.ErrTimeout {
		calls = 2
	}
	ids := map[uint64]bool{}
	var faulted uint64
	for i := 0; i < calls; i++ {
		l, err := bad.Lease(context.Background())
		if err != nil {
			t.Fatalf("Lease: %v", err)
		}
		id := l.InstanceID()
		if id == 0 || ids[id] {
			t.Errorf("call %d got instance %d: a faulted instance came back (seen %v)", i, id, ids)
		}
		ids[id] = true
		checkFault(t, tt, l, vectors[i%len(vectors)])
		faulted++
		if tt.encode {
			if _, err := l.Encode(vectors[0].Fields()); !errors.Is(err, codec.ErrCodecFault) || !errors.Is(err, tt.want) {
				t.Errorf("Encode: %v, want a codec fault wrapping %v", err, tt.want)
			}
			faulted++
		}
		l.Release()
	}
	close(stop)
	wg.Wait()
	close(goodErrs)
	for err := range goodErrs {
		if err != nil {
			t.Error(err)
		}
	}

	s := bad.Stats()
	if s.Faults != faulted || s.Discarded != faulted || tt.counter(s) != faulted {
		t.Errorf("bad pool stats %+v, want %d faults, each discarded and counted", s, faulted)
	}
	if s.Instantiations < uint64(len(ids)) {
		t.Errorf("bad pool instantiated %d times for %d distinct instances", s.Instantiations, len(ids))
	}
	gs := good.Stats()
	if gs.Faults != 0 || gs.Discarded != 0 {
		t.Errorf("storeonly pool stats %+v, want no faults", gs)
	}
	for g, n := range goodOps {
		if n == 0 {
			t.Errorf("storeonly goroutine %d completed no packets while the broken module ran", g)
		}
	}
}

// checkFault makes one decode call into a broken module and checks how it
// failed, how long it took, and that the lease gave up the instance.
func checkFault(t *testing.T, tt faultCase, l *host.Lease, v corpus.Vector) {
	t.Helper()
	type result struct {
		err error
		d   time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		_, err := l.Decode(v.Packet, corpus.DefaultMaxPayload)
		done <- result{err, time.Since(start)}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("Decode into %s did not return", tt.module)
	}
	if !errors.Is(r.err, codec.ErrCodecFault) || !errors.Is(r.err, tt.want) {
		t.Errorf("Decode: %v, want a codec fault wrapping %v", r.err, tt.want)
	}
	if tt.want != host.ErrTimeout && errors.Is(r.err, host.ErrTimeout) {
		t.Errorf("Decode timed out (%v): the fault was not caught by its own bound", r.err)
	}
	if tt.want == host.ErrTimeout && r.d < tt.cfg.CallTimeout {
		t.Errorf("Decode timed out after %v, before its %v deadline", r.d, tt.cfg.CallTimeout)
	}
	if id := l.InstanceID(); id != 0 {
		t.Errorf("lease still holds instance %d after a fault", id)
	}
}

// serveGood is one room on the storeonly pool: it holds one lease and
// decodes and round-trips golden packets until stop closes.
func serveGood(p *host.Pool, vectors []corpus.Vector, g int, stop <-chan struct{}, ops *int) error {
	l, err := p.Acquire(context.Background())
	if err != nil {
		return fmt.Errorf("storeonly Acquire: %w", err)
	}
	defer l.Release()
	for i := g; ; i++ {
		select {
		case <-stop:
			if *ops > 0 { // else finish at least one packet
				return nil
			}
		default:
		}
		v := vectors[i%len(vectors)]
		got, err := l.Decode(v.Packet, corpus.DefaultMaxPayload)
		if err != nil {
			return fmt.Errorf("storeonly decode %s: %w", v.Name, err)
		}
		if d := corpus.Diff(got, v.Fields()); d != "" {
			return fmt.Errorf("storeonly decode %s: %s", v.Name, d)
		}
		enc, err := l.Encode(v.Fields())
		if err != nil {
			return fmt.Errorf("storeonly encode %s: %w", v.Name, err)
		}
		back, err := l.Decode(enc, corpus.DefaultMaxPayload)
		if err != nil {
			return fmt.Errorf("storeonly decode of own %s: %w", v.Name, err)
		}
		if d := corpus.Diff(back, v.Fields()); d != "" {
			return fmt.Errorf("storeonly decode of own %s: %s", v.Name, d)
		}
		*ops++
	}
}

// TestBrokenModuleLeaseRecovers: after a fault the lease is usable again;
// its next call runs on a fresh instance. trap_decode only breaks wc_decode,
// so the same lease's next Encode gets the module's ordinary answer
// (invalid_enum) instead of a fault. (loop_forever: TestLoopForeverContained.)
func TestBrokenModuleLeaseRecovers(t *testing.T) {
	leaseRecovers(t, "trap_decode", host.Config{}, host.ErrTrap)
}

func leaseRecovers(t *testing.T, module string, cfg host.Config, want error) {
	p := newModulePool(t, module, cfg)
	l := leaseOf(t, p)
	if _, err := l.Decode(smallValid(t, 100)[0].Packet, 1000); !errors.Is(err, want) {
		t.Fatalf("Decode: %v, want %v", err, want)
	}
	_, err := l.Encode(codec.Packet{Kind: codec.KindTyping})
	if !errors.Is(err, codec.ErrInvalidEnum) || errors.Is(err, codec.ErrCodecFault) {
		t.Fatalf("Encode after the fault: %v, want the module's invalid_enum", err)
	}
	if l.InstanceID() == 0 {
		t.Error("lease holds no instance after a successful call")
	}
	if s := p.Stats(); s.Faults != 1 {
		t.Errorf("stats %+v, want exactly one fault", s)
	}
}

// TestGrowMemoryBounded: grow_memory.wasm grows its memory a page at a time
// until memory.grow fails. The failure must come from MemoryLimitPages:
// without the limit wasm32 allows 65536 pages (4 GiB), so the Go heap the
// call allocates (wazero keeps linear memory there) stays near the limit,
// and the call ends as an out-of-memory fault, not at its deadline.
func TestGrowMemoryBounded(t *testing.T) {
	for _, pages := range []uint32{16, 64} {
		t.Run(fmt.Sprintf("%d-pages", pages), func(t *testing.T) {
			p := newModulePool(t, "grow_memory", host.Config{MemoryLimitPages: pages, CallTimeout: 2 * time.Second, MinWarm: -1})
			l := leaseOf(t, p)
			before := l.MemoryBytes()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			_, err := l.Decode([]byte{0}, 1000)
			runtime.ReadMemStats(&m1)
			if !errors.Is(err, host.ErrOutOfMemory) || !errors.Is(err, codec.ErrCodecFault) || errors.Is(err, host.ErrTimeout) {
				t.Fatalf("Decode: %v, want an out-of-memory codec fault", err)
			}
			limit := uint64(pages) * 65536
			if grew, bound := m1.TotalAlloc-m0.TotalAlloc, 4*limit+8<<20; grew > bound {
				t.Errorf("the call allocated %d bytes of Go heap, want at most %d for a %d-page limit", grew, bound, pages)
			}
			if before == 0 || uint64(before) > limit {
				t.Errorf("instance memory %d bytes before the call, want 1 to %d", before, limit)
			}
			if s := p.Stats(); s.Faults != 1 || s.Discarded != 1 {
				t.Errorf("stats %+v, want one fault and its instance discarded", s)
			}
		})
	}
}

// TestPoisonPacketSameLease: poison.wasm is storeonly that, on a packet
// starting with 0xFF, corrupts its CRC table and traps. The lease that met
// the packet rejects it as a trap, then decodes valid packets correctly on a
// fresh instance: a reused instance would fail them with checksum errors.
// Another lease of the same pool never notices.
func TestPoisonPacketSameLease(t *testing.T) {
	p := newModulePool(t, "poison", host.Config{MaxInstances: 2})
	l, other := leaseOf(t, p), leaseOf(t, p)
	vectors := smallValid(t, 2048)
	decodeAll := func(c codec.Codec, who string) {
		t.Helper()
		for _, v := range vectors {
			got, err := c.Decode(v.Packet, corpus.DefaultMaxPayload)
			if err != nil {
				t.Fatalf("%s: decode %s: %v", who, v.Name, err)
			}
			if d := corpus.Diff(got, v.Fields()); d != "" {
				t.Fatalf("%s: decode %s: %s", who, v.Name, d)
			}
		}
	}
	decodeAll(l, "before the poison")
	before, otherID := l.InstanceID(), other.InstanceID()

	poison := append([]byte{0xFF}, vectors[0].Packet[1:]...)
	_, err := l.Decode(poison, corpus.DefaultMaxPayload)
	if !errors.Is(err, host.ErrTrap) || !errors.Is(err, codec.ErrCodecFault) {
		t.Fatalf("poison Decode: %v, want a trap", err)
	}
	decodeAll(l, "after the poison")
	if after := l.InstanceID(); after == before || after == 0 {
		t.Errorf("instance %d before the trap, %d after: want a fresh one", before, after)
	}
	decodeAll(other, "the other lease")
	if other.InstanceID() != otherID {
		t.Errorf("the other lease's instance changed from %d to %d", otherID, other.InstanceID())
	}
	if s := p.Stats(); s.Traps != 1 || s.Discarded != 1 {
		t.Errorf("stats %+v, want one trap and one discarded instance", s)
	}
}

// wrapFrame builds a Message packet with no ids around an LZ4 frame.
func wrapFrame(frame []byte) []byte {
	return rewrap([]byte{0, 0, 0, 0}, frame)
}

// rewrap builds a packet from an envelope prefix (kind, ids, reaction) and a
// frame, with serialized = 1 and the frame's correct crc.
func rewrap(prefix, frame []byte) []byte {
	b := append([]byte(nil), prefix...)
	b = appendVarint(b, uint64(len(frame)))
	b = append(b, frame...)
	b = append(b, 1)
	return appendVarint(b, uint64(crc32.ChecksumIEEE(frame)))
}

func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 251:
		return append(b, byte(v))
	case v < 1<<16:
		return binary.LittleEndian.AppendUint16(append(b, 251), uint16(v))
	case v < 1<<32:
		return binary.LittleEndian.AppendUint32(append(b, 252), uint32(v))
	}
	return binary.LittleEndian.AppendUint64(append(b, 253), v)
}

// mutate changes one to three bytes of b at or after from.
func mutate(rng *rand.Rand, b []byte, from int) {
	if len(b) <= from {
		return
	}
	for j := rng.IntN(3); j >= 0; j-- {
		k := from + rng.IntN(len(b)-from)
		if rng.IntN(2) == 0 {
			b[k] = byte(rng.Uint32())
		} else {
			b[k] ^= 1 << rng.IntN(8)
		}
	}
}

// xxh32 is xxHash32 with seed 0, for hand-built frame descriptors and
// content checksums.
func xxh32(b []byte) uint32 {
	const p1, p2, p3, p4, p5 uint32 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
	round := func(acc, lane uint32) uint32 { return bits.RotateLeft32(acc+lane*p2, 13) * p1 }
	n := uint32(len(b))
	var h uint32
	if len(b) >= 16 {
		prime1 := p1 // a variable, so that the sums below wrap
		v1, v2, v3, v4 := prime1+p2, p2, uint32(0), 0-prime1
		for ; len(b) >= 16; b = b[16:] {
			v1 = round(v1, binary.LittleEndian.Uint32(b))
			v2 = round(v2, binary.LittleEndian.Uint32(b[4:]))
			v3 = round(v3, binary.LittleEndian.Uint32(b[8:]))
			v4 = round(v4, binary.LittleEndian.Uint32(b[12:]))
		}
		h = bits.RotateLeft32(v1, 1) + bits.RotateLeft32(v2, 7) + bits.RotateLeft32(v3, 12) + bits.RotateLeft32(v4, 18)
	} else {
		h = p5
	}
	h += n
	for ; len(b) >= 4; b = b[4:] {
		h = bits.RotateLeft32(h+binary.LittleEndian.Uint32(b)*p3, 17) * p4
	}
	for _, c := range b {
		h = bits.RotateLeft32(h+uint32(c)*p5, 11) * p1
	}
	h ^= h >> 15
	h *= p2
	h ^= h >> 13
	h *= p3
	h ^= h >> 16
	return h
}
