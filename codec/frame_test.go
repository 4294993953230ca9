package codec

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
)

var update = flag.Bool("update", false, "rewrite testdata/frames with the lz4 command-line tool")

// fixtureText is deterministic, compressible text of n bytes: chat-like
// lines from a few templates. With noise, a run of 70000 random bytes sits
// from the 64 KB boundary nearest the middle, so compressors write stored
// blocks too.
func fixtureText(n int, noise bool) []byte {
	r := rand.New(rand.NewPCG(7, 11))
	lines := []string{
		"user-%d joined room %d\n",
		"{\"isTyping\":true,\"timestamp\":17300000%05d} in room %d\n",
		"message %d: hello from the room, reaction %d\n",
		"user-%d left; online users: %d\n",
	}
	var b bytes.Buffer
	i := 0
	for b.Len() < n {
		if start := n / 2 &^ 0xFFFF; noise && b.Len() >= start && b.Len() < start+70000 {
			for range 70000 {
				b.WriteByte(byte(r.Uint32()))
			}
			continue
		}
		// Mostly a cycle of 96 lines, so matches run long; one line in 40
		// random, so they do not run forever.
		i++
		k, x, y := i%len(lines), i/4%8, i%3
		if r.IntN(40) == 0 {
			k, x, y = r.IntN(len(lines)), r.IntN(100000), r.IntN(10)
		}
		fmt.Fprintf(&b, lines[k], x, y)
	}
	return b.Bytes()[:n]
}

// refFrames are frames written by the reference lz4 command-line tool (see
// TestRefFrames -update): every frame feature a decoder must accept.
var refFrames = []struct {
	file  string
	args  []string
	size  int
	noise bool
	// flg and bd are the descriptor the fixture must have, so it keeps
	// covering the feature it is named for.
	flg, bd byte
}{
	{"b4-linked.lz4", []string{"-B4", "-BD"}, 200_000, false, 0x44, 0x40},
	{"b4-linked-bx-size.lz4", []string{"-B4", "-BD", "-BX", "--content-size"}, 200_000, false, 0x5C, 0x40},
	{"b4-stored-nocrc.lz4", []string{"-B4", "--no-frame-crc"}, 200_000, true, 0x60, 0x40},
	{"b5-bx.lz4", []string{"-B5", "-BX"}, 300_000, false, 0x74, 0x50},
	{"b6-size-nocrc.lz4", []string{"-B6", "--content-size", "--no-frame-crc"}, 300_000, false, 0x68, 0x60},
	{"b7-linked-hc.lz4", []string{"-B7", "-BD", "-9"}, 4_500_000, false, 0x44, 0x70},
	{"empty.lz4", []string{"-B4"}, 0, false, 0x64, 0x40},
}

// blockKinds counts a well-formed frame's compressed and stored blocks.
func blockKinds(t *testing.T, f []byte) (compressed, stored int) {
	t.Helper()
	l, err := scanFrame(f, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	for pos := l.blocks; ; {
		w := binary.LittleEndian.Uint32(f[pos:])
		if w == 0 {
			return compressed, stored
		}
		if w&blockStored != 0 {
			stored++
		} else {
			compressed++
		}
		pos += 4 + int(w&^blockStored)
		if l.blockChecksum {
			pos += 4
		}
	}
}

func TestRefFrames(t *testing.T) {
	for _, rf := range refFrames {
		t.Run(rf.file, func(t *testing.T) {
			path := filepath.Join("testdata", "frames", rf.file)
			want := fixtureText(rf.size, rf.noise)
			if *update {
				// From a file, not stdin: the tool writes a content size only
				// when it knows the input's size.
				in := filepath.Join(t.TempDir(), "in")
				if err := os.WriteFile(in, want, 0o644); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command("lz4", append(append([]string{"-q", "-z", "-c"}, rf.args...), in)...).Output()
				if err != nil {
					t.Fatalf("lz4 %v: %v", rf.args, err)
				}
				if err := os.WriteFile(path, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			frame, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if frame[4] != rf.flg || frame[5] != rf.bd {
				t.Fatalf("descriptor %02x %02x, want %02x %02x", frame[4], frame[5], rf.flg, rf.bd)
			}
			compressed, stored := blockKinds(t, frame)
			if rf.noise && stored == 0 {
				t.Fatal("no stored block")
			}
			if rf.size > 0 && compressed == 0 {
				t.Fatal("no compressed block")
			}
			got, err := decodeFrame(nil, frame, rf.size)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("decoded %d bytes, not the %d-byte fixture text", len(got), len(want))
			}
			if rf.size > 0 {
				if _, err := decodeFrame(nil, frame, rf.size-1); Class(err) != "too_large" {
					t.Fatalf("limit %d: got %v, want too_large", rf.size-1, err)
				}
			}
			// The byte-at-a-time reference is slow under -race: large
			// frames are left to the production path above.
			if rf.size <= 300_000 {
				if ref, err := refDecode(frame, rf.size); err != nil || !bytes.Equal(ref, want) {
					t.Fatalf("reference decoder: %v", err)
				}
			}
		})
	}
}

// TestLinkedFramesNeedTheirHistory flips a linked frame to independent: its
// matches across blocks must then be rejected, proving the fixture exercises
// cross-block references and that independent blocks cannot reach back.
func TestLinkedFramesNeedTheirHistory(t *testing.T) {
	for _, name := range []string{"b4-linked.lz4", "b7-linked-hc.lz4"} {
		t.Run(name, func(t *testing.T) {
			frame, err := os.ReadFile(filepath.Join("testdata", "frames", name))
			if err != nil {
				t.Fatal(err)
			}
			if frame[4]&flgIndependent != 0 {
				t.Fatal("fixture is not linked")
			}
			flipped := bytes.Clone(frame)
			flipped[4] |= flgIndependent
			flipped[6] = byte(xxh32(flipped[4:6], 0) >> 8)
			_, err = decodeFrame(nil, flipped, 8<<20)
			if Class(err) != "compression" || !strings.Contains(err.Error(), "before the start") {
				t.Fatalf("got %v, want an offset before the block start", err)
			}
		})
	}
}

func TestPierrecFrames(t *testing.T) {
	payload := fixtureText(300_000, true) // above 256 KB: one block of the 1 MB and 4 MB sizes
	cases := []struct {
		name string
		opts []lz4.Option
	}{
		{"64KB", []lz4.Option{lz4.BlockSizeOption(lz4.Block64Kb)}},
		{"256KB checksums", []lz4.Option{lz4.BlockSizeOption(lz4.Block256Kb), lz4.BlockChecksumOption(true), lz4.ChecksumOption(true)}},
		{"1MB size", []lz4.Option{lz4.BlockSizeOption(lz4.Block1Mb), lz4.SizeOption(uint64(len(payload)))}},
		{"4MB no checksum", []lz4.Option{lz4.BlockSizeOption(lz4.Block4Mb), lz4.ChecksumOption(false)}},
		{"high compression", []lz4.Option{lz4.CompressionLevelOption(lz4.Level9)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := lz4.NewWriter(&buf)
			if err := w.Apply(c.opts...); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(payload); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := decodeFrame(nil, buf.Bytes(), len(payload))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatal("payload differs")
			}
		})
	}
}

// TestEncodeFrameReadable checks the encoder's frames with pierrec's frame
// reader, an independent LZ4 frame decoder.
func TestEncodeFrameReadable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	text := fixtureText(300_000, false)
	g := NewGo()
	for _, n := range []int{0, 1, 15, 16, 64, 65535, 65536, 65537, 131072, 200000} {
		for style, payload := range map[string][]byte{"random": random(n), "text": text[:n]} {
			frame := g.appendFrame(nil, payload)
			if !bytes.HasPrefix(frame, frameHeader[:]) {
				t.Fatalf("%s-%d: header %x", style, n, frame[:7])
			}
			got, err := io.ReadAll(lz4.NewReader(bytes.NewReader(frame)))
			if err != nil {
				t.Fatalf("%s-%d: pierrec reader: %v", style, n, err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("%s-%d: pierrec reader got %d bytes", style, n, len(got))
			}
			if limit := len(frame) - 11 - 4*((n+encodeBlockSize-1)/encodeBlockSize); limit > n {
				t.Fatalf("%s-%d: frame of %d bytes grew more than the block headers", style, n, len(frame))
			}
		}
	}
}

func TestHeaderChecksum(t *testing.T) {
	if hc := byte(xxh32(frameHeader[4:6], 0) >> 8); hc != frameHeader[6] {
		t.Fatalf("HC of 60 40 is %02x, header says %02x", hc, frameHeader[6])
	}
}

// frameCase is a hand-built frame, the limit to decode it with, and the
// expected class ("ok" or a class name) and output.
type frameCase struct {
	name  string
	frame []byte
	max   int
	want  string
	out   []byte
}

// frameCases cover ABI.md step 4 defect by defect, and the order between
// compression and too_large. They also seed FuzzFrame.
func frameCases() []frameCase {
	std := frameHead(frameOpts{flg: 0x60, bd: 0x40})
	abc := []byte("abcdefgh")
	// hello: "abcdefgh" then a 12-byte match at offset 8, then "!" (21 bytes).
	hello := block(seq{abc, 8, 12}, seq{lit: []byte("!")})
	helloOut := []byte("abcdefghabcdefghabcd!")
	big := block(seq{[]byte("x"), 1, 70000}, seq{lit: []byte("y")}) // 70002 bytes > 64 KB
	sized := func(n uint64, flg byte) []byte {
		return frameHead(frameOpts{flg: flg, bd: 0x40, contentSize: u64(n)})
	}
	linked := frameHead(frameOpts{flg: 0x40, bd: 0x40})

	return []frameCase{
		{"empty frame", cat(std, endMark), 0, "ok", []byte{}},
		{"stored block", cat(std, blk(abc, true, false), endMark), 100, "ok", abc},
		{"empty stored block", cat(std, blk(nil, true, false), blk(abc, true, false), endMark), 100, "ok", abc},
		{"compressed block", cat(std, blk(hello, false, false), endMark), 100, "ok", helloOut},
		{"zero-output block", cat(std, blk([]byte{0}, false, false), endMark), 0, "ok", []byte{}},
		{"exactly at the limit", cat(std, blk(hello, false, false), endMark), len(helloOut), "ok", helloOut},
		{"one above the limit", cat(std, blk(hello, false, false), endMark), len(helloOut) - 1, "too_large", nil},
		{"stored above the limit", cat(std, blk(abc, true, false), endMark), 7, "too_large", nil},
		{"limit spans blocks", cat(std, blk(abc, true, false), blk(hello, false, false), endMark), 28, "too_large", nil},
		{"final token with a match nibble", cat(std, blk([]byte{0x3F, 'x', 'y', 'z'}, false, false), endMark), 10, "compression", nil},
		{"final match nibble after a match", cat(std, blk(append(block(seq{abc, 8, 8}), 0x25, 'x', 'y'), false, false), endMark), 100, "compression", nil},
		{"final match nibble before too_large", cat(std, blk([]byte{0x31, 'x', 'y', 'z'}, false, false), endMark), 2, "compression", nil},
		{"negative limit", cat(std, blk(abc, true, false), endMark), -5, "too_large", nil},

		{"short magic", []byte{0x04, 0x22, 0x4D}, 100, "compression", nil},
		{"wrong magic", cat([]byte{0x05}, std[1:], endMark), 100, "compression", nil},
		{"skippable frame", cat([]byte{0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0}), 100, "compression", nil},
		{"no descriptor", std[:4], 100, "compression", nil},
		{"no BD", std[:5], 100, "compression", nil},
		{"no HC", std[:6], 100, "compression", nil},
		{"version 0", cat(frameHead(frameOpts{flg: 0x20, bd: 0x40}), endMark), 100, "compression", nil},
		{"version 2", cat(frameHead(frameOpts{flg: 0xA0, bd: 0x40}), endMark), 100, "compression", nil},
		{"FLG reserved bit", cat(frameHead(frameOpts{flg: 0x62, bd: 0x40}), endMark), 100, "compression", nil},
		{"dictionary id", cat(frameHead(frameOpts{flg: 0x61, bd: 0x40}), []byte{1, 2, 3, 4}, endMark), 100, "compression", nil},
		{"BD high bit", cat(frameHead(frameOpts{flg: 0x60, bd: 0xC0}), endMark), 100, "compression", nil},
		{"BD low bits", cat(frameHead(frameOpts{flg: 0x60, bd: 0x41}), endMark), 100, "compression", nil},
		{"block size id 3", cat(frameHead(frameOpts{flg: 0x60, bd: 0x30}), endMark), 100, "compression", nil},
		{"block size id 0", cat(frameHead(frameOpts{flg: 0x60, bd: 0x00}), endMark), 100, "compression", nil},
		{"bad header checksum", cat(frameHead(frameOpts{flg: 0x60, bd: 0x40, badHC: true}), endMark), 100, "compression", nil},
		{"content size cut short", sized(0, 0x68)[:10], 100, "compression", nil},

		{"no EndMark", cat(std, blk(abc, true, false)), 100, "compression", nil},
		{"half an EndMark", cat(std, blk(abc, true, false), endMark[:2]), 100, "compression", nil},
		{"block above 64 KB", cat(std, binary.LittleEndian.AppendUint32(nil, 65537|blockStored), make([]byte, 65537), endMark), 1 << 20, "compression", nil},
		{"block data cut short", cat(std, blk(abc, true, false)[:8]), 100, "compression", nil},
		{"block checksum ok", cat(frameHead(frameOpts{flg: 0x70, bd: 0x40}), blk(hello, false, true), endMark), 100, "ok", helloOut},
		{"block checksum wrong", cat(frameHead(frameOpts{flg: 0x70, bd: 0x40}), blk(hello, false, true)[:len(hello)+4], []byte{1, 2, 3, 4}, endMark), 100, "compression", nil},
		{"block checksum missing", cat(frameHead(frameOpts{flg: 0x70, bd: 0x40}), blk(hello, false, false)), 100, "compression", nil},
		{"bad block checksum before too_large", cat(frameHead(frameOpts{flg: 0x70, bd: 0x40}), blk(hello, false, false), []byte{1, 2, 3, 4}, endMark), 1, "compression", nil},

		{"literals past the block", cat(std, blk([]byte{0x50, 'a', 'b'}, false, false), endMark), 100, "compression", nil},
		{"literal length past the block", cat(std, blk([]byte{0xF0, 255}, false, false), endMark), 100, "compression", nil},
		{"missing offset", cat(std, blk([]byte{0x10, 'a', 0x01}, false, false), endMark), 100, "compression", nil},
		{"offset 0", cat(std, blk([]byte{0x10, 'a', 0, 0, 0x10, 'b'}, false, false), endMark), 100, "compression", nil},
		{"offset before the block", cat(std, blk([]byte{0x10, 'a', 2, 0, 0x10, 'b'}, false, false), endMark), 100, "compression", nil},
		{"offset into the previous independent block", cat(std, blk(abc, true, false), blk([]byte{0x00, 4, 0, 0x10, 'z'}, false, false), endMark), 100, "compression", nil},
		{"offset into the previous linked block", cat(linked, blk(abc, true, false), blk([]byte{0x00, 4, 0, 0x10, 'z'}, false, false), endMark), 100, "ok", []byte("abcdefghefghz")},
		{"linked offset before the payload", cat(linked, blk(abc, true, false), blk([]byte{0x00, 9, 0, 0x10, 'z'}, false, false), endMark), 100, "compression", nil},
		{"linked match into history", cat(linked, blk(abc, true, false), blk([]byte{0x01, 8, 0, 0x10, 'z'}, false, false), endMark), 100, "ok", []byte("abcdefghabcdez")},
		{"linked match from literals and history", cat(linked, blk(abc, true, false), blk([]byte{0x22, 'x', 'y', 4, 0, 0x10, 'z'}, false, false), endMark), 100, "ok", []byte("abcdefghxyghxyghz")},
		{"match length past the block", cat(std, blk([]byte{0x1F, 'a', 1, 0, 255}, false, false), endMark), 1 << 20, "compression", nil},
		{"block ends after a match", cat(std, blk(block(seq{abc, 8, 8}), false, false), endMark), 100, "compression", nil},
		{"block output above the block max", cat(std, blk(big, false, false), endMark), 1 << 20, "compression", nil},
		{"block max wins over too_large", cat(std, blk(big, false, false), endMark), 10, "compression", nil},
		{"block max 256 KB allows it", cat(frameHead(frameOpts{flg: 0x60, bd: 0x50}), blk(big, false, false), endMark), 1 << 20, "ok", nil},
		{"too_large before a later bad offset", cat(std, blk(cat([]byte{0x10, 'a', 1, 0}, []byte{0x0F, 1, 0, 200}, []byte{0x00, 0, 0}), false, false), endMark), 100, "too_large", nil},
		{"bad offset before too_large", cat(std, blk(cat([]byte{0x10, 'a', 2, 0}, []byte{0x0F, 1, 0, 200}), false, false), endMark), 100, "compression", nil},
		{"missing offset before the literals' too_large", cat(std, blk([]byte{0x50, 'a', 'b', 'c', 'd', 'e', 1}, false, false), endMark), 3, "compression", nil},
		{"bad offset before the literals' too_large", cat(std, blk([]byte{0x50, 'a', 'b', 'c', 'd', 'e', 9, 0, 0x00}, false, false), endMark), 3, "compression", nil},
		{"match length bytes before the literals' too_large", cat(std, blk([]byte{0x5F, 'a', 'b', 'c', 'd', 'e', 1, 0, 255}, false, false), endMark), 3, "compression", nil},
		{"literals' too_large before the match's block max", cat(std, blk(cat([]byte{0x5F, 'a', 'b', 'c', 'd', 'e', 1, 0}, lz4Len(nil, 70000), []byte{0x00}), false, false), endMark), 3, "too_large", nil},
		{"too_large before a missing EndMark", cat(std, blk(abc, true, false)), 4, "too_large", nil},
		{"too_large before a later bad block", cat(std, blk(abc, true, false), blk([]byte{0x50}, false, false), endMark), 4, "too_large", nil},

		{"content size matches", cat(sized(21, 0x68), blk(hello, false, false), endMark), 100, "ok", helloOut},
		{"content size differs", cat(sized(20, 0x68), blk(hello, false, false), endMark), 100, "compression", nil},
		{"content size above limit is checked at the end", cat(sized(1<<40, 0x68), blk(abc, true, false), endMark), 100, "compression", nil},
		{"content checksum ok", cat(frameHead(frameOpts{flg: 0x64, bd: 0x40}), blk(hello, false, false), endMark, binary.LittleEndian.AppendUint32(nil, xxh32(helloOut, 0))), 100, "ok", helloOut},
		{"content checksum wrong", cat(frameHead(frameOpts{flg: 0x64, bd: 0x40}), blk(hello, false, false), endMark, []byte{1, 2, 3, 4}), 100, "compression", nil},
		{"content checksum missing", cat(frameHead(frameOpts{flg: 0x64, bd: 0x40}), blk(hello, false, false), endMark, []byte{1, 2}), 100, "compression", nil},
		{"byte after the frame", cat(std, blk(abc, true, false), endMark, []byte{0}), 100, "compression", nil},
		{"second frame after the frame", cat(std, endMark, std, endMark), 100, "compression", nil},
	}
}

func TestFrameDefects(t *testing.T) {
	for _, c := range frameCases() {
		t.Run(c.name, func(t *testing.T) {
			got, err := decodeFrame(nil, c.frame, c.max)
			if cl := classOf(err); cl != c.want {
				t.Fatalf("got %s (%v), want %s", cl, err, c.want)
			}
			ref, rerr := refDecode(c.frame, max(c.max, 0))
			if classOf(rerr) != c.want {
				t.Fatalf("reference decoder got %s (%v), want %s", classOf(rerr), rerr, c.want)
			}
			if err == nil {
				if c.out != nil && !bytes.Equal(got, c.out) {
					t.Fatalf("decoded %q, want %q", got, c.out)
				}
				if !bytes.Equal(got, ref) {
					t.Fatal("decoded bytes differ from the reference decoder's")
				}
			}
		})
	}
}

// FuzzFrame compares the scan-then-pierrec decoder with the byte-at-a-time
// reference decoder: same class, same bytes, on any frame and limit.
func FuzzFrame(f *testing.F) {
	for _, c := range frameCases() {
		f.Add(c.frame, uint32(max(c.max, 0)))
	}
	g := NewGo()
	for _, n := range []int{0, 100, 70000} {
		f.Add(g.appendFrame(nil, fixtureText(n, false)), uint32(n))
	}
	f.Fuzz(func(t *testing.T, frame []byte, limit uint32) {
		maxPayload := int(limit % (4 << 20))
		got, err := decodeFrame(nil, frame, maxPayload)
		ref, rerr := refDecode(frame, maxPayload)
		if classOf(err) != classOf(rerr) {
			t.Fatalf("decoder: %v; reference: %v", err, rerr)
		}
		if err == nil && !bytes.Equal(got, ref) {
			t.Fatalf("decoded %d bytes, reference %d, contents differ", len(got), len(ref))
		}
	})
}
