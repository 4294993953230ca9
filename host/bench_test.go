package host

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

// deadlineModes are the ways a pool can bound its calls: the default
// (instrumented module and watchdog), wazero's WithCloseOnContextDone with a
// context.WithTimeout per call, and no deadline at all (CallTimeout < 0).
var deadlineModes = []struct {
	name string
	cfg  Config
}{
	{"watchdog", Config{MinWarm: 1, MaxInstances: 1}},
	{"context", Config{MinWarm: 1, MaxInstances: 1, closeOnContextDone: true}},
	{"none", Config{MinWarm: 1, MaxInstances: 1, CallTimeout: -1}},
}

// BenchmarkEmptyCall is the cost of one call into the module
// (wc_abi_version) through a lease, under each deadline mechanism.
func BenchmarkEmptyCall(b *testing.B) {
	for _, m := range deadlineModes {
		b.Run(m.name, func(b *testing.B) {
			l := lease(b, newPool(b, m.cfg))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := l.ABIVersion(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDeadlineMechanism is a 2 KB text round trip (encode, then decode)
// of the embedded codec under each deadline mechanism: what bounding a call
// costs in a real codec call, loops included.
func BenchmarkDeadlineMechanism(b *testing.B) {
	pkt := benchPacket(2048, "text")
	for _, m := range deadlineModes {
		b.Run(m.name, func(b *testing.B) {
			l := lease(b, newPool(b, m.cfg))
			b.SetBytes(2048)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				enc, err := l.Encode(pkt)
				if err == nil {
					_, err = l.Decode(enc, 2048)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLeaseWarm is Acquire plus Release with an idle instance ready:
// no instantiation.
func BenchmarkLeaseWarm(b *testing.B) {
	p := newPool(b, Config{MinWarm: 1, MaxInstances: 1, IdleTrim: -1})
	before := p.Stats().Instantiations
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l, err := p.Acquire(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		l.Release()
	}
	b.StopTimer()
	if got := p.Stats().Instantiations; got != before {
		b.Fatalf("warm leases instantiated %d instances", got-before)
	}
}

// BenchmarkInstantiate is one fresh instance of the compiled module, closed
// again. It also reports the instance's linear memory.
func BenchmarkInstantiate(b *testing.B) {
	p := newPool(b, Config{MinWarm: 1, MaxInstances: 1, IdleTrim: -1})
	ctx := context.Background()
	var mem uint32
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		in, err := p.instantiate(ctx)
		if err != nil {
			b.Fatal(err)
		}
		mem = in.mem.Size()
		in.close(ctx)
	}
	b.ReportMetric(float64(mem), "linear-bytes")
}

// BenchmarkIdleInstanceMemory reports what one idle instance costs after it
// has served a room's traffic (a 1000-byte message encoded and decoded):
// its linear memory, and the Go heap the instance holds in total.
func BenchmarkIdleInstanceMemory(b *testing.B) {
	const n = 32
	p := newPool(b, Config{MinWarm: 1, MaxInstances: n + 1, IdleTrim: -1})
	msg := benchPacket(1000, "text")
	var linear, heap float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ls := make([]*Lease, n)
		var sum uint64
		for i := range ls {
			l, err := p.Lease(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			enc, err := l.Encode(msg)
			if err == nil {
				_, err = l.Decode(enc, 1000)
			}
			if err != nil {
				b.Fatal(err)
			}
			sum += uint64(l.MemoryBytes())
			ls[i] = l
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		linear = float64(sum) / n
		heap = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		for _, l := range ls {
			l.Release()
		}
		p.mu.Lock()
		idle := p.idle[1:]
		p.idle = p.idle[:1]
		p.total -= len(idle)
		p.mu.Unlock()
		for _, in := range idle {
			in.close(context.Background())
		}
	}
	b.ReportMetric(linear, "linear-bytes/instance")
	b.ReportMetric(heap, "heap-bytes/instance")
}

// BenchmarkCodec compares the Go codec with a leased WASM instance on the
// sizes and data of `wasmchannel bench codec`.
func BenchmarkCodec(b *testing.B) {
	p := newPool(b, Config{MinWarm: 1, MaxInstances: 1, IdleTrim: -1})
	codecs := []namedCodec{{"go", codec.NewGo()}, {"wasm", lease(b, p)}}
	for _, size := range []int{11, 2048, 10240, 65536} {
		for _, data := range []string{"random", "text"} {
			pkt := benchPacket(size, data)
			for _, op := range []string{"encode", "decode", "roundtrip"} {
				for _, nc := range codecs {
					name := fmt.Sprintf("%s/%s/%d/%s", op, data, size, nc.name)
					b.Run(name, func(b *testing.B) {
						enc, err := nc.c.Encode(pkt)
						if err != nil {
							b.Fatal(err)
						}
						b.SetBytes(int64(size))
						b.ReportAllocs()
						b.ResetTimer()
						for b.Loop() {
							switch op {
							case "encode":
								_, err = nc.c.Encode(pkt)
							case "decode":
								_, err = nc.c.Decode(enc, size)
							default:
								var e []byte
								if e, err = nc.c.Encode(pkt); err == nil {
									_, err = nc.c.Decode(e, size)
								}
							}
							if err != nil {
								b.Fatal(err)
							}
						}
					})
				}
			}
		}
	}
}

// benchPacket is corpus.BenchPacket, the recipe of `wasmchannel bench codec`.
func benchPacket(size int, data string) codec.Packet { return corpus.BenchPacket(size, data) }
