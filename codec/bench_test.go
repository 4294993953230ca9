package codec_test

import (
	"strings"
	"testing"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

// benchVectors are golden vectors at the benchmark sizes: 11 B, 2 KB,
// 10 KB and 64 KB, with random (incompressible) and text payloads.
var benchVectors = []string{
	"v003-random-11", "v013-random-2048", "v014-random-10240", "v016-random-65536",
	"v022-text-11", "v032-text-2048", "v033-text-10240", "v035-text-65536",
}

// benchName is "<style>-<size>" from "vNNN-<style>-<size>".
func benchName(v string) string { return v[strings.IndexByte(v, '-')+1:] }

// eachBenchVector runs fn as one sub-benchmark per benchmark vector, its
// bytes per op the vector's payload.
func eachBenchVector(b *testing.B, fn func(b *testing.B, v corpus.Vector)) {
	for _, name := range benchVectors {
		v := vector(b, name)
		b.Run(benchName(name), func(b *testing.B) {
			b.SetBytes(int64(len(v.Payload)))
			b.ReportAllocs()
			fn(b, v)
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	eachBenchVector(b, func(b *testing.B, v corpus.Vector) {
		g, p := codec.NewGo(), v.Fields()
		for b.Loop() {
			if _, err := g.Encode(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	eachBenchVector(b, func(b *testing.B, v corpus.Vector) {
		g := codec.NewGo()
		for b.Loop() {
			if _, err := g.Decode(v.Packet, 1<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodeView(b *testing.B) {
	eachBenchVector(b, func(b *testing.B, v corpus.Vector) {
		g := codec.NewGo()
		var view codec.View
		for b.Loop() {
			if err := g.DecodeView(v.Packet, 1<<20, &view); err != nil {
				b.Fatal(err)
			}
		}
	})
}
