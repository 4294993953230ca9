package codec

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
)

// BenchmarkBlock compares, on one 64 KB block of text, the validating scan
// that runs before every decode with pierrec's decode itself: the scan's
// cost is the price of exact allocation and ABI-ordered errors.
func BenchmarkBlock(b *testing.B) {
	text := wordText(encodeBlockSize)
	var c lz4.Compressor
	buf := make([]byte, lz4.CompressBlockBound(len(text)))
	n, err := c.CompressBlock(text, buf)
	if err != nil || n == 0 {
		b.Fatal("text does not compress", err)
	}
	blockData := buf[:n]
	out := make([]byte, len(text))
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := scanBlock(blockData, encodeBlockSize, 0, 0, 1<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pierrec", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := lz4.UncompressBlock(blockData, out); err != nil {
				b.Fatal(err)
			}
		}
	})
	frame := binary.LittleEndian.AppendUint32(append(frameHeader[:0:0], frameHeader[:]...), uint32(len(blockData)))
	frame = append(append(frame, blockData...), endMark...)
	b.Run("frame", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := decodeFrame(nil, frame, 1<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// wordText is n bytes of words drawn at random from a small vocabulary:
// it compresses about as well as the golden text payloads (2 to 1).
func wordText(n int) []byte {
	r := rand.New(rand.NewPCG(3, 5))
	words := strings.Fields("room message typing joined reaction like heart star user the a of to " +
		"packet frame block codec wasm sqlite history cursor session websocket hello world")
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}
