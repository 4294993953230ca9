package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Test helpers that build LZ4 blocks and frames by hand, and a reference
// frame decoder written straight from wasm/ABI.md § Decoding order, step 4,
// that the production scan-then-decode path is compared with.

// seq is one LZ4 sequence: literals, then a match of mlen bytes at off back.
// mlen 0 makes it the final, literals-only sequence.
type seq struct {
	lit  []byte
	off  int
	mlen int
}

// lz4Len appends the extension bytes of a length above 15.
func lz4Len(b []byte, n int) []byte {
	for n -= 15; n >= 255; n -= 255 {
		b = append(b, 255)
	}
	return append(b, byte(n))
}

// block encodes sequences as an LZ4 block.
func block(seqs ...seq) []byte {
	var b []byte
	for _, s := range seqs {
		ln, mn := min(len(s.lit), 15), 0
		if s.mlen > 0 {
			mn = min(s.mlen-minMatch, 15)
		}
		b = append(b, byte(ln<<4|mn))
		if ln == 15 {
			b = lz4Len(b, len(s.lit))
		}
		b = append(b, s.lit...)
		if s.mlen > 0 {
			b = binary.LittleEndian.AppendUint16(b, uint16(s.off))
			if mn == 15 {
				b = lz4Len(b, s.mlen-minMatch)
			}
		}
	}
	return b
}

// frameOpts describes a hand-built frame.
type frameOpts struct {
	flg, bd     byte
	contentSize *uint64
	badHC       bool
}

// frameHead returns magic, descriptor and header checksum.
func frameHead(o frameOpts) []byte {
	b := []byte{0x04, 0x22, 0x4D, 0x18, o.flg, o.bd}
	if o.contentSize != nil {
		b = binary.LittleEndian.AppendUint64(b, *o.contentSize)
	}
	hc := byte(xxh32(b[4:], 0) >> 8)
	if o.badHC {
		hc++
	}
	return append(b, hc)
}

// blk returns a block: its size word (stored bit when stored), its data and,
// when sum is set, its xxh32.
func blk(data []byte, stored, sum bool) []byte {
	w := uint32(len(data))
	if stored {
		w |= blockStored
	}
	b := binary.LittleEndian.AppendUint32(nil, w)
	b = append(b, data...)
	if sum {
		b = binary.LittleEndian.AppendUint32(b, xxh32(data, 0))
	}
	return b
}

var endMark = []byte{0, 0, 0, 0}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func u64(v uint64) *uint64 { return &v }

// refDecode decodes a frame one byte at a time in the order ABI.md gives,
// writing output as it goes and checking both limits before each copy.
func refDecode(f []byte, maxPayload int) ([]byte, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrCompression}, a...)...)
	}
	if len(f) < 4 || f[0] != 0x04 || f[1] != 0x22 || f[2] != 0x4D || f[3] != 0x18 {
		return nil, bad("magic")
	}
	p := 4
	if p >= len(f) {
		return nil, bad("no FLG")
	}
	flg := f[p]
	if flg>>6 != 1 || flg&2 != 0 || flg&1 != 0 {
		return nil, bad("FLG %02x", flg)
	}
	p++
	if p >= len(f) {
		return nil, bad("no BD")
	}
	bd := f[p]
	if bd&0x8F != 0 || bd>>4 < 4 {
		return nil, bad("BD %02x", bd)
	}
	p++
	bmax := map[byte]int{4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20}[bd>>4]
	var csize uint64
	hasSize := flg&8 != 0
	if hasSize {
		if p+8 > len(f) {
			return nil, bad("no content size")
		}
		csize = binary.LittleEndian.Uint64(f[p:])
		p += 8
	}
	if p >= len(f) {
		return nil, bad("no HC")
	}
	if f[p] != byte(xxh32(f[4:p], 0)>>8) {
		return nil, bad("HC")
	}
	p++
	linked := flg&0x20 == 0
	var out []byte
	for {
		if p+4 > len(f) {
			return nil, bad("no block size")
		}
		w := binary.LittleEndian.Uint32(f[p:])
		p += 4
		if w == 0 {
			break
		}
		n := int(w & 0x7FFFFFFF)
		if n > bmax {
			return nil, bad("block size")
		}
		if p+n > len(f) {
			return nil, bad("block data")
		}
		data := f[p : p+n]
		p += n
		if flg&0x10 != 0 {
			if p+4 > len(f) {
				return nil, bad("no block checksum")
			}
			if binary.LittleEndian.Uint32(f[p:]) != xxh32(data, 0) {
				return nil, bad("block checksum")
			}
			p += 4
		}
		if w&0x80000000 != 0 {
			if len(out)+n > maxPayload {
				return nil, ErrTooLarge
			}
			out = append(out, data...)
			continue
		}
		start := len(out)
		floor := start
		if linked {
			floor = 0
		}
		emit := func(k int) error {
			if len(out)-start+k > bmax {
				return bad("block output")
			}
			if len(out)+k > maxPayload {
				return ErrTooLarge
			}
			return nil
		}
		// Sequence by sequence: structure first, then output, literals
		// before the match (ABI.md step 4.4).
		i := 0
		for {
			if i >= len(data) {
				return nil, bad("no final literals")
			}
			t := data[i]
			i++
			ll := int(t >> 4)
			if ll == 15 {
				for {
					if i >= len(data) {
						return nil, bad("literal length")
					}
					x := data[i]
					i++
					ll += int(x)
					if x != 255 {
						break
					}
				}
			}
			if i+ll > len(data) {
				return nil, bad("literals")
			}
			lits := data[i : i+ll]
			i += ll
			if i == len(data) {
				if t&15 != 0 {
					return nil, bad("final token wants a match")
				}
				if err := emit(ll); err != nil {
					return nil, err
				}
				out = append(out, lits...)
				break
			}
			if i+2 > len(data) {
				return nil, bad("offset")
			}
			off := int(data[i]) | int(data[i+1])<<8
			i += 2
			if off == 0 || len(out)+ll-off < floor {
				return nil, bad("offset %d", off)
			}
			ml := int(t&15) + 4
			if t&15 == 15 {
				for {
					if i >= len(data) {
						return nil, bad("match length")
					}
					x := data[i]
					i++
					ml += int(x)
					if x != 255 {
						break
					}
				}
			}
			if err := emit(ll); err != nil {
				return nil, err
			}
			out = append(out, lits...)
			if err := emit(ml); err != nil {
				return nil, err
			}
			for k := 0; k < ml; k++ {
				out = append(out, out[len(out)-off])
			}
		}
	}
	if hasSize && csize != uint64(len(out)) {
		return nil, bad("content size")
	}
	if flg&4 != 0 {
		if p+4 > len(f) {
			return nil, bad("no content checksum")
		}
		if binary.LittleEndian.Uint32(f[p:]) != xxh32(out, 0) {
			return nil, bad("content checksum")
		}
		p += 4
	}
	if p != len(f) {
		return nil, bad("trailing")
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// classOf names the class of a frame error for comparisons.
func classOf(err error) string {
	if err == nil {
		return "ok"
	}
	if errors.Is(err, ErrCodecFault) {
		return "fault"
	}
	return Class(err)
}
