package codec

import (
	"encoding/binary"
	"fmt"

	"github.com/pierrec/lz4/v4"
)

// LZ4 frame format constants (lz4_Frame_format.md; protocol.md § Payload).
const (
	frameMagic uint32 = 0x184D2204

	flgVersionMask     = 0xC0
	flgVersion01       = 0x40
	flgIndependent     = 0x20
	flgBlockChecksum   = 0x10
	flgContentSize     = 0x08
	flgContentChecksum = 0x04
	flgReserved        = 0x02
	flgDictID          = 0x01
	bdReservedMask     = 0x8F

	// blockStored marks a block size word whose data is stored uncompressed.
	blockStored uint32 = 0x80000000

	// encodeBlockSize is the block maximum our encoder declares (BD 0x40).
	encodeBlockSize = 64 << 10

	// maxOffset is the farthest a match can reach back (a 16-bit offset).
	maxOffset = 0xFFFF
	// minMatch is added to every match length nibble (lz4_Block_format.md).
	minMatch = 4
)

// frameHeader is the header every encoder here writes (ABI.md § Encode
// result): magic, FLG 0x60 (version 01, independent blocks, no checksums, no
// content size), BD 0x40 (64 KB blocks) and the header checksum 0x82.
var frameHeader = [7]byte{0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82}

// appendFrame appends payload to dst as one LZ4 frame of independent 64 KB
// blocks. A block that does not shrink is stored, as upstream does for
// random data; this bounds the frame at the payload size plus 4 bytes per
// block plus 11.
func (g *Go) appendFrame(dst, payload []byte) []byte {
	dst = append(dst, frameHeader[:]...)
	for len(payload) > 0 {
		chunk := payload[:min(len(payload), encodeBlockSize)]
		payload = payload[len(chunk):]

		start := len(dst)
		bound := lz4.CompressBlockBound(len(chunk))
		dst = grow(dst, 4+bound)[:start+4+bound]
		n, err := g.comp.CompressBlock(chunk, dst[start+4:])
		if err == nil && n > 0 && n < len(chunk) {
			binary.LittleEndian.PutUint32(dst[start:], uint32(n))
			dst = dst[:start+4+n]
			continue
		}
		binary.LittleEndian.PutUint32(dst[start:], uint32(len(chunk))|blockStored)
		dst = append(dst[:start+4], chunk...)
	}
	return append(dst, 0, 0, 0, 0) // EndMark
}

// grow makes room for n more bytes after len(b).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(2*cap(b), len(b)+n))
	copy(nb, b)
	return nb
}

// frameLayout is what scanFrame learned about a frame that passed every
// check that does not need the decoded bytes.
type frameLayout struct {
	blocks        int // offset of the first block size word
	linked        bool
	blockChecksum bool
	// contentSum is the offset of the content checksum, or -1.
	contentSum int
	// end is the offset just past the frame.
	end int
	// size is the exact decoded size.
	size int
}

// decodeFrame decompresses one LZ4 frame, classifying every defect as
// ErrCompression or ErrTooLarge in the order of ABI.md § Decoding order,
// step 4. It first validates the whole frame without writing output
// (scanFrame), then takes the exact decoded size from dst's capacity, or
// allocates it (never more than maxPayload) when dst is too small, and lets
// pierrec/lz4 decode the blocks into it.
func decodeFrame(dst, f []byte, maxPayload int) ([]byte, error) {
	if maxPayload < 0 {
		maxPayload = 0
	}
	l, err := scanFrame(f, maxPayload)
	if err != nil {
		return nil, err
	}
	var out []byte
	if cap(dst) >= l.size {
		out = dst[:l.size]
	} else {
		out = make([]byte, l.size)
	}
	if err := fillFrame(f, l, out); err != nil {
		return nil, err
	}
	if l.contentSum >= 0 {
		want := binary.LittleEndian.Uint32(f[l.contentSum:])
		if got := xxh32(out, 0); got != want {
			return nil, fmt.Errorf("%w: content checksum %08x, content hashes to %08x", ErrCompression, want, got)
		}
	}
	if extra := len(f) - l.end; extra > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the frame", ErrCompression, extra)
	}
	return out, nil
}

// scanFrame checks the frame's structure and every block's sequences,
// stopping at the first defect (ABI.md steps 4.1 to 4.5, less the content
// checksum's value, which needs the output). It allocates nothing.
func scanFrame(f []byte, maxPayload int) (frameLayout, error) {
	var l frameLayout
	if len(f) < 4 {
		return l, fmt.Errorf("%w: frame of %d bytes has no magic", ErrCompression, len(f))
	}
	if m := binary.LittleEndian.Uint32(f); m != frameMagic {
		return l, fmt.Errorf("%w: magic %08x", ErrCompression, m)
	}

	// Frame descriptor.
	if len(f) < 5 {
		return l, fmt.Errorf("%w: frame descriptor missing", ErrCompression)
	}
	flg := f[4]
	switch {
	case flg&flgVersionMask != flgVersion01:
		return l, fmt.Errorf("%w: frame version %d", ErrCompression, flg>>6)
	case flg&flgReserved != 0:
		return l, fmt.Errorf("%w: FLG reserved bit set", ErrCompression)
	case flg&flgDictID != 0:
		return l, fmt.Errorf("%w: frame needs a dictionary", ErrCompression)
	}
	if len(f) < 6 {
		return l, fmt.Errorf("%w: BD byte missing", ErrCompression)
	}
	bd := f[5]
	if bd&bdReservedMask != 0 {
		return l, fmt.Errorf("%w: BD reserved bits %02x", ErrCompression, bd&bdReservedMask)
	}
	id := int(bd>>4) & 7
	if id < 4 {
		return l, fmt.Errorf("%w: block size id %d", ErrCompression, id)
	}
	blockMax := 1 << (8 + 2*id) // 4: 64 KB, 5: 256 KB, 6: 1 MB, 7: 4 MB
	descEnd := 6
	hasSize := flg&flgContentSize != 0
	if hasSize {
		descEnd += 8
	}
	if len(f) < descEnd+1 {
		return l, fmt.Errorf("%w: frame descriptor cut short", ErrCompression)
	}
	if hc, want := f[descEnd], byte(xxh32(f[4:descEnd], 0)>>8); hc != want {
		return l, fmt.Errorf("%w: header checksum %02x, want %02x", ErrCompression, hc, want)
	}
	l.linked = flg&flgIndependent == 0
	l.blockChecksum = flg&flgBlockChecksum != 0
	l.blocks = descEnd + 1

	// Blocks, up to the EndMark.
	pos, total := l.blocks, 0
	for {
		if len(f)-pos < 4 {
			return l, fmt.Errorf("%w: block size missing at byte %d", ErrCompression, pos)
		}
		w := binary.LittleEndian.Uint32(f[pos:])
		pos += 4
		if w == 0 {
			break
		}
		size := int(w &^ blockStored)
		if size > blockMax {
			return l, fmt.Errorf("%w: block of %d bytes above the %d-byte maximum", ErrCompression, size, blockMax)
		}
		if len(f)-pos < size {
			return l, fmt.Errorf("%w: block of %d bytes, %d left", ErrCompression, size, len(f)-pos)
		}
		data := f[pos : pos+size]
		pos += size
		if l.blockChecksum {
			if len(f)-pos < 4 {
				return l, fmt.Errorf("%w: block checksum missing", ErrCompression)
			}
			want := binary.LittleEndian.Uint32(f[pos:])
			pos += 4
			if got := xxh32(data, 0); got != want {
				return l, fmt.Errorf("%w: block checksum %08x, block hashes to %08x", ErrCompression, want, got)
			}
		}
		var n int
		if w&blockStored != 0 {
			if size > maxPayload-total {
				return l, fmt.Errorf("%w: payload above %d bytes", ErrTooLarge, maxPayload)
			}
			n = size
		} else {
			reach := 0
			if l.linked {
				reach = total
			}
			var err error
			if n, err = scanBlock(data, blockMax, reach, total, maxPayload); err != nil {
				return l, err
			}
		}
		total += n
	}

	// After the EndMark.
	if hasSize {
		if cs := binary.LittleEndian.Uint64(f[6:]); cs != uint64(total) {
			return l, fmt.Errorf("%w: content size %d, frame holds %d", ErrCompression, cs, total)
		}
	}
	l.contentSum = -1
	if flg&flgContentChecksum != 0 {
		if len(f)-pos < 4 {
			return l, fmt.Errorf("%w: content checksum missing", ErrCompression)
		}
		l.contentSum = pos
		pos += 4
	}
	l.end = pos
	l.size = total
	return l, nil
}

// scanBlock walks the sequences of one compressed block (lz4_Block_format.md)
// without writing output and returns the block's decoded size. reach is how
// much earlier payload output a match may refer to (0 for independent
// blocks), produced the payload output before this block.
//
// Each sequence is checked as ABI.md step 4.4 lists it, the same order as
// the Rust decoder: first its structure (length bytes and literals inside
// the block, the offset present, non-zero and inside the window), then its
// output, literals before match, against the block maximum (compression)
// and then maxPayload (too_large). The block must end right after a
// literals-only sequence: a final token whose match nibble is not 0 lacks
// its offset, and a block that ends after a match lacks its final literals.
//
// It runs on every compressed block before it is decoded, so it is kept
// tight: one comparison against the lower of the two limits per copy, and
// errors built out of line.
func scanBlock(src []byte, blockMax, reach, produced, maxPayload int) (int, error) {
	limit := min(blockMax, maxPayload-produced)
	n, si := 0, 0
	for si < len(src) {
		t := src[si]
		si++

		lit := int(t >> 4)
		if lit == 15 {
			for {
				if si >= len(src) {
					return 0, errBlock("literal length runs past the block at byte %d", si)
				}
				x := src[si]
				si++
				lit += int(x)
				if x != 255 {
					break
				}
			}
		}
		if lit > len(src)-si {
			return 0, errBlock("%d literals at byte %d run past the %d-byte block", lit, si, len(src))
		}
		si += lit
		if si == len(src) {
			if t&15 != 0 {
				return 0, errBlock("final token %02x wants a match, but its offset is missing", t)
			}
			if lit > limit-n {
				return 0, outputError(n+lit, blockMax, produced, maxPayload)
			}
			return n + lit, nil
		}

		if si+1 >= len(src) {
			return 0, errBlock("match offset missing at byte %d", si)
		}
		off := int(src[si]) | int(src[si+1])<<8
		si += 2
		if off == 0 {
			return 0, errBlock("match offset 0 at byte %d", si-2)
		}
		if off > n+lit+reach {
			return 0, errBlock("match offset %d reaches before the start, %d bytes back", off, n+lit+reach)
		}
		ml := int(t&15) + minMatch
		if t&15 == 15 {
			for {
				if si >= len(src) {
					return 0, errBlock("match length runs past the block at byte %d", si)
				}
				x := src[si]
				si++
				ml += int(x)
				if x != 255 {
					break
				}
			}
		}
		if lit > limit-n {
			return 0, outputError(n+lit, blockMax, produced, maxPayload)
		}
		n += lit
		if ml > limit-n {
			return 0, outputError(n+ml, blockMax, produced, maxPayload)
		}
		n += ml
	}
	return 0, errBlock("block ends after a match, without final literals")
}

// errBlock is a compression error inside a block.
//
//go:noinline
func errBlock(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrCompression, fmt.Sprintf(format, a...))
}

// outputError names which output limit a block of n bytes passed: the block
// maximum first (compression), then maxPayload over the payload (too_large).
//
//go:noinline
func outputError(n, blockMax, produced, maxPayload int) error {
	if n > blockMax {
		return fmt.Errorf("%w: block output above its %d-byte maximum", ErrCompression, blockMax)
	}
	return fmt.Errorf("%w: payload above %d bytes (%d)", ErrTooLarge, maxPayload, produced+n)
}

// fillFrame decodes the blocks of a frame that scanFrame accepted into out,
// which has exactly the decoded size.
func fillFrame(f []byte, l frameLayout, out []byte) error {
	pos, o := l.blocks, 0
	for {
		w := binary.LittleEndian.Uint32(f[pos:])
		pos += 4
		if w == 0 {
			break
		}
		size := int(w &^ blockStored)
		data := f[pos : pos+size]
		pos += size
		if l.blockChecksum {
			pos += 4
		}
		if w&blockStored != 0 {
			o += copy(out[o:], data)
			continue
		}
		n, err := fillBlock(data, out, o, l.linked)
		if err != nil {
			return err
		}
		o += n
	}
	if o != len(out) {
		return fmt.Errorf("%w: lz4 decoded %d bytes where the scan found %d", ErrCodecFault, o, len(out))
	}
	return nil
}

// fillBlock decodes one compressed block, already validated by scanBlock,
// into out at o. For linked blocks the previous 64 KB of output is the
// dictionary. pierrec accepts every block the scan accepts (FuzzFrame
// checks it); a disagreement is a bug here, reported as a codec fault.
func fillBlock(data, out []byte, o int, linked bool) (int, error) {
	var dict []byte
	if linked {
		dict = out[max(0, o-maxOffset):o]
	}
	n, err := uncompress(data, out[o:], dict)
	if err != nil {
		return 0, fmt.Errorf("%w: lz4 rejected a block the scan accepted: %v", ErrCodecFault, err)
	}
	return n, nil
}

func uncompress(src, dst, dict []byte) (int, error) {
	if len(dict) > 0 {
		return lz4.UncompressBlockWithDict(src, dst, dict)
	}
	return lz4.UncompressBlock(src, dst)
}
