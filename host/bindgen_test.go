package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

// The original codec build lives beside the repository, read-only
// (../shared/upstream-codec/README.md); it is never committed here.
const (
	upstreamPath   = "../../shared/upstream-codec/wasmchannel_bg.wasm"
	upstreamSHA256 = "d96183b2577acfd8c999c62400167b4dfcb518554ce8025cb1e3e951ee6c65d0"
)

// upstream returns the original module. Outside CI a checkout without
// ../shared skips; under CI=true a missing module fails the test.
func upstream(tb testing.TB) []byte {
	tb.Helper()
	b, err := upstreamFile()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("the original codec build is required under CI: %v", err)
		}
		tb.Skipf("original codec build not found: %v", err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != upstreamSHA256 {
		tb.Fatalf("%s has sha256 %x, want %s", upstreamPath, sum, upstreamSHA256)
	}
	return b
}

func upstreamFile() ([]byte, error) { return os.ReadFile(upstreamPath) }

// upstreamBytes is the module for a fuzz process that upstream has already
// checked.
func upstreamBytes() []byte {
	b, _ := upstreamFile()
	return b
}

func upstreamPool(tb testing.TB, cfg Config) *Pool {
	tb.Helper()
	p, err := NewPool(context.Background(), upstream(tb), cfg)
	if err != nil {
		tb.Fatalf("NewPool(original): %v", err)
	}
	tb.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func testModule(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("../testdata/codecs/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestBindgenGolden: the original, inside the host's checks, passes every
// golden vector as our codecs do, and its encoding of every valid vector is
// byte for byte the golden packet it made upstream, which shows the adapter
// passes every field as the glue does.
func TestBindgenGolden(t *testing.T) {
	l := lease(t, upstreamPool(t, Config{MinWarm: 1, MaxInstances: 1}))
	vectors := golden(t)
	if len(vectors) != 704 {
		t.Fatalf("%d golden vectors, want 704", len(vectors))
	}
	for _, v := range vectors {
		if err := corpus.Check(l, v, corpus.DefaultMaxPayload); err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if !v.Valid() {
			continue
		}
		enc, err := l.Encode(v.Fields())
		if err != nil {
			t.Fatalf("%s: encode: %v", v.Name, err)
		}
		if !bytes.Equal(enc, v.Packet) {
			t.Errorf("%s: the original's encoding through the host differs from its golden packet", v.Name)
		}
	}
	if s := l.p.Stats(); s.Faults != 0 {
		t.Errorf("stats %+v, want no faults", s)
	}
}

// TestBindgenCrossCodec: what the Go codec and our module encode, the
// original decodes, and the other way round.
func TestBindgenCrossCodec(t *testing.T) {
	orig := lease(t, upstreamPool(t, Config{MinWarm: 1, MaxInstances: 1}))
	codecs := []namedCodec{{"go", codec.NewGo()}, {"wasm", lease(t, newPool(t, Config{MinWarm: 1, MaxInstances: 1}))}}
	for _, v := range golden(t) {
		if !v.Valid() {
			continue
		}
		want := v.Fields()
		for _, nc := range codecs {
			pkt, err := nc.c.Encode(want)
			if err != nil {
				t.Fatalf("%s: %s encode: %v", v.Name, nc.name, err)
			}
			got, err := orig.Decode(pkt, corpus.DefaultMaxPayload)
			if err != nil {
				t.Errorf("%s: original decoding %s's encoding: %v", v.Name, nc.name, err)
			} else if d := corpus.Diff(got, want); d != "" {
				t.Errorf("%s: original decoding %s's encoding: %s", v.Name, nc.name, d)
			}
			back, err := orig.Encode(want)
			if err != nil {
				t.Fatalf("%s: original encode: %v", v.Name, err)
			}
			if got, err := nc.c.Decode(back, corpus.DefaultMaxPayload); err != nil {
				t.Errorf("%s: %s decoding the original's encoding: %v", v.Name, nc.name, err)
			} else if d := corpus.Diff(got, want); d != "" {
				t.Errorf("%s: %s decoding the original's encoding: %s", v.Name, nc.name, d)
			}
		}
	}
}

// malformedLine is a malformed golden vector with the upstream fact that
// corpus.Vector leaves out.
type malformedLine struct {
	Name            string `json:"name"`
	Error           string `json:"error"`
	PacketHex       string `json:"packet_hex"`
	OriginalAccepts bool   `json:"original_accepts"`
}

// rawDeserialize calls the module's deserialize with none of the host's
// checks and reports whether it accepted the packet.
func rawDeserialize(t *testing.T, in *instance, data []byte) bool {
	t.Helper()
	in.bg.reset()
	defer in.bg.reset()
	in.stack[0] = in.bg.push(jsValue{kind: jsBytes, b: data})
	if err := in.bcall(bDeserialize); err != nil {
		t.Fatalf("deserialize: %v", err)
	}
	ptr, errIdx, isErr := uint32(in.stack[0]), uint32(in.stack[1]), in.stack[2]
	if isErr != 0 {
		if _, err := in.takeError(errIdx); err != nil {
			t.Fatal(err)
		}
		return false
	}
	in.stack[0], in.stack[1] = uint64(ptr), 0
	if err := in.bcall(bPacketFree); err != nil {
		t.Fatal(err)
	}
	return true
}

// TestBindgenStrictAroundLenient: the 123 malformed packets the original
// accepts on its own (a wrong crc, trailing bytes, a broken or huge frame)
// are still accepted by the bare module, and refused through the host with
// the class a strict decoder gives. The strictness is the host's.
func TestBindgenStrictAroundLenient(t *testing.T) {
	l := lease(t, upstreamPool(t, Config{MinWarm: 1, MaxInstances: 1}))
	f, err := os.ReadFile("../testdata/golden/malformed.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lenient, classes := 0, map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(f), []byte("\n")) {
		var m malformedLine
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		pkt, err := hex.DecodeString(m.PacketHex)
		if err != nil {
			t.Fatal(err)
		}
		if !m.OriginalAccepts {
			continue
		}
		lenient++
		if !rawDeserialize(t, l.inst, pkt) {
			t.Errorf("%s: the bare module refused it; the golden file says it accepts it", m.Name)
		}
		_, err = l.Decode(pkt, corpus.DefaultMaxPayload)
		if got := codec.Class(err); got != m.Error {
			t.Errorf("%s: class %q, want %q (%v)", m.Name, got, m.Error, err)
		}
		classes[m.Error]++
	}
	if lenient != 123 {
		t.Errorf("%d vectors the original accepts, want 123", lenient)
	}
	t.Logf("refused by the host's checks: %v", classes)
}

// TestBindgenBombs: a bomb under the caller's limit is refused before the
// module inflates anything; one the caller allows but the memory limit does
// not makes the module trap inside its cap, the instance is discarded, and
// the lease carries on with a fresh one.
func TestBindgenBombs(t *testing.T) {
	bombs := map[string][]byte{}
	var valid corpus.Vector
	for _, v := range golden(t) {
		if strings.HasPrefix(v.Name, "bomb-") {
			bombs[v.Name] = v.Packet
		}
		if v.Valid() && valid.Name == "" && len(v.Packet) > 100 {
			valid = v
		}
	}
	if len(bombs) != 3 {
		t.Fatalf("%d bombs, want 3", len(bombs))
	}
	// The original needs about 11.3 MiB of memory to inflate 2 MiB (its
	// frame decoder grows a Vec by doubling, then the payload is copied),
	// so 12 MiB holds the smallest bomb and not the 16 MiB one.
	const limitPages = 192
	p := upstreamPool(t, Config{MinWarm: 1, MaxInstances: 1, MemoryLimitPages: limitPages, IdleMemoryPages: limitPages})
	l := lease(t, p)
	before := l.MemoryBytes()
	for name, pkt := range bombs {
		_, err := l.Decode(pkt, corpus.DefaultMaxPayload)
		if !errors.Is(err, codec.ErrTooLarge) {
			t.Errorf("%s: %v, want too_large", name, err)
		}
	}
	if after := l.MemoryBytes(); after != before {
		t.Errorf("memory grew from %d to %d bytes on refused bombs", before, after)
	}
	if s := p.Stats(); s.Faults != 0 {
		t.Fatalf("stats %+v: a refused bomb is not a fault", s)
	}

	id := l.InstanceID()
	_, err := l.Decode(bombs["bomb-16MiB"], 1<<30)
	if !errors.Is(err, codec.ErrCodecFault) || !errors.Is(err, ErrTrap) {
		t.Fatalf("16 MiB bomb allowed by the caller, not by the memory limit: %v, want a contained trap", err)
	}
	if s := p.Stats(); s.Faults != 1 || s.Traps != 1 || s.Discarded != 1 {
		t.Errorf("stats %+v, want one trap, one discarded instance", s)
	}
	got, err := l.Decode(valid.Packet, corpus.DefaultMaxPayload)
	if err != nil {
		t.Fatalf("decode after the trap: %v", err)
	}
	if d := corpus.Diff(got, valid.Fields()); d != "" {
		t.Fatalf("decode after the trap: %s", d)
	}
	if l.InstanceID() == id {
		t.Error("the trapped instance was reused")
	}

	// The smallest bomb fits: the module inflates it, the host checks it.
	got, err = l.Decode(bombs["bomb-2MiB"], 1<<30)
	if err != nil {
		t.Fatalf("2 MiB bomb allowed by the caller and the memory limit: %v", err)
	}
	if len(got.Payload) != 2<<20 {
		t.Errorf("payload of %d bytes, want 2 MiB", len(got.Payload))
	}
	if m := l.MemoryBytes(); m > limitPages*pageSize {
		t.Errorf("memory %d bytes above the limit", m)
	}
}

// TestBindgenThrowContained: a throw from the real module (a null packet
// pointer, which wasm-bindgen's checks refuse with __wbindgen_throw) is a
// contained fault; the lease goes on with a fresh instance.
func TestBindgenThrowContained(t *testing.T) {
	p := upstreamPool(t, Config{MinWarm: 1, MaxInstances: 1})
	l := lease(t, p)
	in := l.inst
	in.bg.reset()
	in.stack[0] = 0
	err := in.bcall(bKind)
	if !errors.Is(err, ErrThrown) || !errors.Is(err, codec.ErrCodecFault) {
		t.Fatalf("wasmpacket_kind(null): %v, want a throw", err)
	}
	if !strings.Contains(err.Error(), "null pointer") {
		t.Errorf("error %q does not carry the module's message", err)
	}
	l.fault(in, err)
	v := golden(t)[0]
	if got, err := l.Decode(v.Packet, corpus.DefaultMaxPayload); err != nil || corpus.Diff(got, v.Fields()) != "" {
		t.Fatalf("decode after the throw: %v", err)
	}
	if s := p.Stats(); s.Faults != 1 || s.Discarded != 1 {
		t.Errorf("stats %+v, want one fault", s)
	}
}

// TestBindgenTestModuleFaults: with the WAT module shaped like the original,
// a throw and a loop are contained through the public API.
func TestBindgenTestModuleFaults(t *testing.T) {
	p, err := NewPool(context.Background(), testModule(t, "bindgen_throw.wasm"),
		Config{MinWarm: 1, MaxInstances: 1, CallTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	l := lease(t, p)
	pkt := golden(t)[0].Packet
	for i := range 2 {
		id := l.InstanceID()
		_, err := l.Decode(pkt, corpus.DefaultMaxPayload)
		if !errors.Is(err, ErrThrown) || !errors.Is(err, codec.ErrCodecFault) || !strings.Contains(err.Error(), "boom: a thrown error") {
			t.Fatalf("decode %d: %v, want the module's throw", i, err)
		}
		if i > 0 && id != 0 {
			t.Fatalf("decode %d reused instance %d", i, id)
		}
	}
	start := time.Now()
	_, err = l.Encode(golden(t)[0].Fields())
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("encode: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the loop ran %v", d)
	}
	if s := p.Stats(); s.Faults != 3 || s.Timeouts != 1 {
		t.Errorf("stats %+v, want 3 faults, 1 timeout", s)
	}
}

// TestBindgenRefusals: modules that look like the original but do not fit
// the glue are refused with a message naming what is wrong.
func TestBindgenRefusals(t *testing.T) {
	for _, c := range []struct{ module, want string }{
		{"bindgen_unknown_import.wasm", "__wbg_alert_0123456789abcdef, which the host does not provide"},
		{"bindgen_wrong_signature.wasm", "__wbindgen_throw has signature (i32) -> (), want (i32, i32) -> ()"},
		{"bindgen_missing_export.wasm", `lacks export "wasmpacket_payload"`},
	} {
		_, err := NewPool(context.Background(), testModule(t, c.module), Config{MinWarm: 1})
		if !errors.Is(err, ErrBadModule) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrBadModule naming %q", c.module, err, c.want)
		}
	}
	// The throwing module loads (NewPool runs no corpus) but LoadFile's
	// conformance run refuses it.
	_, err := LoadFile(context.Background(), "../testdata/codecs/bindgen_throw.wasm", Config{MinWarm: 1, CallTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrBadModule) || !strings.Contains(err.Error(), "conformance") {
		t.Errorf("LoadFile(bindgen_throw): %v, want a conformance refusal", err)
	}
}

// TestBindgenLoadFile: `serve --codec PATH` loads the original unchanged
// from disk, conformance corpus included.
func TestBindgenLoadFile(t *testing.T) {
	upstream(t)
	before, _ := os.ReadFile(upstreamPath)
	p, err := LoadFile(context.Background(), upstreamPath, Config{MinWarm: 1})
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	defer p.Close(context.Background())
	after, _ := os.ReadFile(upstreamPath)
	if !bytes.Equal(before, after) {
		t.Fatal("the module file changed")
	}
}

// TestBindgenNoLeaks: a thousand operations leave the handle table, the
// externref table and the memory where they were.
func TestBindgenNoLeaks(t *testing.T) {
	l := lease(t, upstreamPool(t, Config{MinWarm: 1, MaxInstances: 1}))
	in := l.inst
	tableSize := func() uint64 {
		in.stack[0] = 0
		if err := in.bcall(bTableGrow); err != nil {
			t.Fatal(err)
		}
		return in.stack[0]
	}
	vs := golden(t)
	run := func() {
		for _, v := range vs[:100] {
			if err := corpus.Check(l, v, corpus.DefaultMaxPayload); err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
		}
	}
	run()
	table, mem := tableSize(), l.MemoryBytes()
	for range 10 {
		run()
	}
	if l.inst != in {
		t.Fatal("instance replaced")
	}
	if got := tableSize(); got != table {
		t.Errorf("externref table grew from %d to %d slots", table, got)
	}
	if got := l.MemoryBytes(); got != mem {
		t.Errorf("memory grew from %d to %d bytes", mem, got)
	}
	if n := len(in.bg.vals); n != hDynamic-1 {
		t.Errorf("%d handles live between calls, want %d", n, hDynamic-1)
	}
}

// TestBindgenPoolConcurrent: many goroutines share a small pool of the
// original (run with -race).
func TestBindgenPoolConcurrent(t *testing.T) {
	p := upstreamPool(t, Config{MinWarm: 1, MaxInstances: 3})
	vs := golden(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				l, err := p.Lease(context.Background())
				if err != nil {
					errs <- err
					return
				}
				v := vs[(g*37+i*11)%len(vs)]
				err = corpus.Check(l, v, corpus.DefaultMaxPayload)
				l.Release()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := p.Stats(); s.Faults != 0 || s.Total > 3 {
		t.Errorf("stats %+v, want no faults and at most 3 instances", s)
	}
}

// BenchmarkDecodeRandom explains the one place the original decodes faster
// than our module: incompressible payloads, whose decode is the crc and
// copies. For the original the host checks the crc in Go (hash/crc32,
// hardware-assisted); our module checks it in WebAssembly. "wasm-badcrc"
// decodes a packet whose crc is wrong: our module computes the crc and
// stops, so it times the envelope and the crc alone.
func BenchmarkDecodeRandom(b *testing.B) {
	orig := lease(b, upstreamPool(b, Config{MinWarm: 1, MaxInstances: 1}))
	ours := lease(b, newPool(b, Config{MinWarm: 1, MaxInstances: 1}))
	gc := codec.NewGo()
	for _, size := range []int{2048, 10240, 65536} {
		pkt := benchPacket(size, "random")
		enc, err := gc.Encode(pkt)
		if err != nil {
			b.Fatal(err)
		}
		bad := append([]byte(nil), enc...)
		bad[len(bad)-1] ^= 1
		frame := pkt.Payload
		run := func(name string, fn func() error) {
			b.Run(fmt.Sprintf("%s/%d", name, size), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := fn(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		run("original", func() error { _, err := orig.Decode(enc, size); return err })
		run("wasm", func() error { _, err := ours.Decode(enc, size); return err })
		run("wasm-badcrc", func() error {
			if _, err := ours.Decode(bad, size); !errors.Is(err, codec.ErrChecksum) {
				return fmt.Errorf("bad crc: %v", err)
			}
			return nil
		})
		run("go-crc", func() error { codec.FrameCRC(frame); return nil })
	}
}

// TestGlueRefusals: a module that asks the glue for something a JavaScript
// engine would refuse, or that would reach outside its sandbox (write the
// caller's bytes, view past its memory, use a dead handle), gets a fault.
func TestGlueRefusals(t *testing.T) {
	l := lease(t, upstreamPool(t, Config{MinWarm: 1, MaxInstances: 1}))
	b := l.inst.bg
	ctx := l.inst.ctx
	caller := []byte("the caller's packet")
	for _, c := range []struct {
		name  string
		role  int
		stack func() []uint64
		want  string
	}{
		{"set on the caller's bytes", gSet, func() []uint64 {
			dst := b.push(jsValue{kind: jsBytes, b: caller, readOnly: true})
			src := b.push(jsValue{kind: jsBytes, b: []byte("x")})
			return []uint64{dst, src, 0}
		}, "the caller's bytes"},
		{"view past memory", gNewView, func() []uint64 {
			return []uint64{hBuffer, uint64(l.inst.mem.Size() - 4), 8}
		}, "outside memory"},
		{"dead handle", gLength, func() []uint64 { return []uint64{999} }, "not a live object"},
		{"null handle", gLength, func() []uint64 { return []uint64{0} }, "not a live object"},
		{"buffer of a string", gBuffer, func() []uint64 {
			return []uint64{b.push(jsValue{kind: jsString, s: "s"})}
		}, "not the memory"},
		{"string not UTF-8", gStringNew, func() []uint64 {
			l.inst.mem.Write(64, []byte{0xff, 0xfe})
			return []uint64{64, 2}
		}, "not UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b.reset()
			defer b.reset()
			stack := c.stack()
			func() {
				defer func() {
					if recover() == nil {
						t.Error("no fault")
					}
				}()
				glue(c.role)(ctx, l.inst.mod, stack)
			}()
			if !errors.Is(b.fault, ErrBadResult) || !strings.Contains(b.fault.Error(), c.want) {
				t.Errorf("fault %v, want %q", b.fault, c.want)
			}
		})
	}
	if string(caller) != "the caller's packet" {
		t.Errorf("caller's bytes changed to %q", caller)
	}
}
