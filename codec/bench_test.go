package codec_test

import (
	"strings"
	"testing"

	"github.com/wasmchannel/wasmchannel/codec"
)

// benchVectors are golden vectors at the benchmark sizes: 11 B, 2 KB,
// 10 KB and 64 KB, with random (incompressible) and text payloads.
var benchVectors = []string{
	"v003-random-11", "v013-random-2048", "v014-random-10240", "v016-random-65536",
	"v022-text-11", "v032-text-2048", "v033-text-10240", "v035-text-65536",
}

// benchName is "<style>-<size>" from "vNNN-<style>-<size>".
func benchName(v string) string { return v[strings.IndexByte(v, '-')+1:] }

func BenchmarkEncode(b *testing.B) {
	for _, name := range benchVectors {
		v := vector(b, name)
		p := v.Fields()
		b.Run(benchName(name), func(b *testing.B) {
			g := codec.NewGo()
			b.SetBytes(int64(len(p.Payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := g.Encode(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range benchVectors {
		v := vector(b, name)
		b.Run(benchName(name), func(b *testing.B) {
			g := codec.NewGo()
			b.SetBytes(int64(len(v.Payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := g.Decode(v.Packet, 1<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
