package codec

import (
	"context"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/pierrec/lz4/v4"
)

// Go is the pure-Go codec: the fallback when no WASM codec is wanted, and the
// reference the WASM decoders are fuzzed against. It keeps a compressor and
// a scratch frame buffer between calls, so one Go must not be used by two
// goroutines at once; take one per caller from a GoSource.
type Go struct {
	comp  lz4.Compressor
	frame []byte    // scratch for the frame being encoded
	view  []byte    // DecodeView's payload buffer, reused between calls
	src   *GoSource // the pool to return to, while leased
}

// Interface checks.
var (
	_ Instance = (*Go)(nil)
	_ Source   = (*GoSource)(nil)
)

// NewGo returns a Go codec that belongs to no pool; its Release does nothing.
func NewGo() *Go { return new(Go) }

// Encode returns the wire bytes of p: a 64 KB-block LZ4 frame of the payload
// inside the bincode envelope, serialized = 1 and the frame's CRC-32. It
// fails with ErrInvalidEnum for a kind or reaction out of range and with
// ErrInvalidUTF8 for an id that is not UTF-8.
func (g *Go) Encode(p Packet) ([]byte, error) {
	if err := validateFields(p); err != nil {
		return nil, err
	}
	g.frame = g.appendFrame(g.frame[:0], p.Payload)
	crc := crc32.ChecksumIEEE(g.frame)
	out := make([]byte, 0, envelopeSize(p, len(g.frame)))
	return appendEnvelope(out, p, g.frame, crc), nil
}

// Decode parses one whole packet strictly, reporting the first defect in the
// order of wasm/ABI.md § Decoding order: envelope, trailing bytes, crc, then
// the LZ4 frame. It allocates at most maxPayload bytes for the payload, and
// only after the whole frame has been validated. The result owns its memory.
func (g *Go) Decode(data []byte, maxPayload int) (Packet, error) {
	f, err := parseFields(data)
	if err != nil {
		return Packet{}, err
	}
	payload, err := f.inflate(nil, maxPayload)
	if err != nil {
		return Packet{}, err
	}
	e := f.envelope(data)
	return Packet{
		Kind:      e.Kind,
		MessageID: e.MessageID,
		UserID:    e.UserID,
		Reaction:  e.Reaction,
		Payload:   payload,
	}, nil
}

// retainLimit is the largest scratch buffer a released Go keeps, so one huge
// packet does not pin memory in the pool.
const retainLimit = 256 << 10

// Release returns g to the GoSource it was acquired from. It does nothing
// for a Go made by NewGo. g must not be used afterwards.
func (g *Go) Release() {
	s := g.src
	if s == nil {
		return
	}
	g.src = nil
	if cap(g.frame) > retainLimit {
		g.frame = nil
	}
	if cap(g.view) > retainLimit {
		g.view = nil
	}
	s.pool.Put(g)
}

// GoSource hands out Go codecs from a sync.Pool. Acquire never blocks: a Go
// is cheap to make, and idle ones are dropped by the garbage collector.
type GoSource struct {
	pool sync.Pool
}

// NewGoSource returns an empty pool of Go codecs.
func NewGoSource() *GoSource {
	s := &GoSource{}
	s.pool.New = func() any { return NewGo() }
	return s
}

// Name is "go", as health output and metrics show it.
func (s *GoSource) Name() string { return "go" }

// Acquire leases a Go codec; it fails only when ctx has already ended.
func (s *GoSource) Acquire(ctx context.Context) (Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("acquire go codec: %w", err)
	}
	g := s.pool.Get().(*Go)
	g.src = s
	return g, nil
}
