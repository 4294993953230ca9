package codec

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/pierrec/lz4/v4"
)

// TestXXH32Vectors checks published xxHash32 values, covering the short
// path (< 16 bytes) and the four-lane path.
func TestXXH32Vectors(t *testing.T) {
	cases := []struct {
		in   string
		seed uint32
		want uint32
	}{
		{"", 0, 0x02CC5D05},
		{"a", 0, 0x550D7456},
		{"abc", 0, 0x32D153FF},
		{"Nobody inspects the spammish repetition", 0, 0xE2293B2F},
	}
	for _, c := range cases {
		if got := xxh32([]byte(c.in), c.seed); got != c.want {
			t.Errorf("xxh32(%q, %d) = %08x, want %08x", c.in, c.seed, got, c.want)
		}
	}
}

// TestXXH32MatchesPierrec compares content checksums that pierrec's frame
// writer computes with its own xxHash32, for every length from 0 to 100
// (each tail and lane case) and a few large ones.
func TestXXH32MatchesPierrec(t *testing.T) {
	data := fixtureText(70_000, false)
	lengths := []int{1000, 4097, 65536, 70_000}
	for n := range 101 {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if err := w.Apply(lz4.ChecksumOption(true), lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, bytes.NewReader(data[:n])); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f := buf.Bytes()
		want := binary.LittleEndian.Uint32(f[len(f)-4:])
		if got := xxh32(data[:n], 0); got != want {
			t.Fatalf("length %d: xxh32 %08x, pierrec %08x", n, got, want)
		}
	}
}
