package codec

import (
	"encoding/binary"
	"fmt"
)

// FrameCheck is what CheckFrame learned about a payload frame: enough to
// verify the output of another decoder that inflated it.
type FrameCheck struct {
	frame []byte
	l     frameLayout
}

// CheckFrame validates an LZ4 payload frame without decompressing it: every
// check of Decode's frame step except the content checksum's value, which
// needs the output (CheckOutput does it). It allocates nothing, so a host
// can refuse a bomb with ErrTooLarge, or a broken frame with ErrCompression,
// before handing the frame to a codec that would inflate it whole.
func CheckFrame(frame []byte, maxPayload int) (FrameCheck, error) {
	if maxPayload < 0 {
		maxPayload = 0
	}
	l, err := scanFrame(frame, maxPayload)
	if err != nil {
		return FrameCheck{}, err
	}
	if extra := len(frame) - l.end; extra > 0 {
		return FrameCheck{}, fmt.Errorf("%w: %d bytes after the frame", ErrCompression, extra)
	}
	return FrameCheck{frame: frame, l: l}, nil
}

// Size is the exact decompressed size of the frame.
func (c FrameCheck) Size() int { return c.l.size }

// CheckOutput verifies that out is what the frame decompresses to, as far
// as the frame says: its length, and its content checksum when the frame
// carries one (ErrCompression on a mismatch, as Decode reports it).
func (c FrameCheck) CheckOutput(out []byte) error {
	if len(out) != c.l.size {
		return fmt.Errorf("output of %d bytes, the frame holds %d", len(out), c.l.size)
	}
	if c.l.contentSum >= 0 {
		want := binary.LittleEndian.Uint32(c.frame[c.l.contentSum:])
		if got := xxh32(out, 0); got != want {
			return fmt.Errorf("%w: content checksum %08x, content hashes to %08x", ErrCompression, want, got)
		}
	}
	return nil
}
