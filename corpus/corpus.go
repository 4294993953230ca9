// Package corpus loads golden-format packet vectors and checks a codec
// against them. The tests, `wasmchannel codec check` and the host's
// load-time vetting of swapped-in modules all use it, so they agree on what
// "conforming" means (shared/golden/README.md).
package corpus

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/wasmchannel/wasmchannel/codec"
)

//go:generate go run ./internal/gen -out conformance.jsonl ../testdata/golden/packets.jsonl ../testdata/golden/malformed.jsonl

// DefaultMaxPayload is the payload limit to check the golden files with: it
// is above every valid payload (at most 200000 bytes) and below the smallest
// bomb (2 MiB), which must then be rejected as too_large.
const DefaultMaxPayload = 1 << 20

// Vector is one golden-format line: a valid packet with its fields, or a
// malformed one with the class a strict decoder must report.
type Vector struct {
	Name      string
	Kind      codec.Kind
	MessageID *string
	UserID    *string
	Reaction  *codec.Reaction
	Payload   []byte
	// Packet is the wire bytes (packet_hex).
	Packet []byte
	// Error is the expected class for a malformed vector, "" for a valid one.
	Error string
}

// Valid reports whether v is a valid packet rather than a malformed one.
func (v Vector) Valid() bool { return v.Error == "" }

// Fields returns the packet fields of a valid vector.
func (v Vector) Fields() codec.Packet {
	return codec.Packet{
		Kind:      v.Kind,
		MessageID: v.MessageID,
		UserID:    v.UserID,
		Reaction:  v.Reaction,
		Payload:   v.Payload,
	}
}

// jsonVector is the golden JSONL schema. Pointers tell a missing field from
// a zero one; fields not listed (original_accepts) are ignored.
type jsonVector struct {
	Name         *string `json:"name"`
	Kind         *uint32 `json:"kind"`
	MessageID    *string `json:"message_id"`
	UserID       *string `json:"user_id"`
	ReactionKind *uint32 `json:"reaction_kind"`
	PayloadHex   *string `json:"payload_hex"`
	PacketHex    *string `json:"packet_hex"`
	Error        *string `json:"error"`
}

// Parse reads golden-format JSONL: one vector a line, blank lines skipped.
// Errors name the line.
func Parse(r io.Reader) ([]Vector, error) {
	var out []Vector
	err := eachLine(r, func(n int, line []byte) error {
		v, err := parseVector(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// LoadFile reads a golden-format file; errors name the file and line.
func LoadFile(path string) ([]Vector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vs, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vs, nil
}

// eachLine calls fn with each non-blank line and its 1-based number. Lines
// may be long (a 200000-byte payload is 400 KB of hex), so it does not use
// bufio.Scanner's fixed limit.
func eachLine(r io.Reader, fn func(n int, line []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if ferr := fn(n, bytes.TrimSpace(line)); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
}

func parseVector(line []byte) (Vector, error) {
	var j jsonVector
	if err := json.Unmarshal(line, &j); err != nil {
		return Vector{}, fmt.Errorf("bad JSON: %w", err)
	}
	var v Vector
	if j.Name == nil || *j.Name == "" {
		return v, errors.New("missing name")
	}
	v.Name = *j.Name
	if j.PacketHex == nil {
		return v, fmt.Errorf("%s: missing packet_hex", v.Name)
	}
	var err error
	if v.Packet, err = hex.DecodeString(*j.PacketHex); err != nil {
		return v, fmt.Errorf("%s: bad packet_hex: %w", v.Name, err)
	}
	if j.Error != nil {
		if codec.ErrorForClass(*j.Error) == nil {
			return v, fmt.Errorf("%s: unknown error class %q", v.Name, *j.Error)
		}
		v.Error = *j.Error
		return v, nil
	}
	if j.Kind == nil {
		return v, fmt.Errorf("%s: missing kind", v.Name)
	}
	if j.PayloadHex == nil {
		return v, fmt.Errorf("%s: missing payload_hex", v.Name)
	}
	v.Kind = codec.Kind(*j.Kind)
	v.MessageID, v.UserID = j.MessageID, j.UserID
	if j.ReactionKind != nil {
		v.Reaction = codec.ReactionPtr(codec.Reaction(*j.ReactionKind))
	}
	if v.Payload, err = hex.DecodeString(*j.PayloadHex); err != nil {
		return v, fmt.Errorf("%s: bad payload_hex: %w", v.Name, err)
	}
	return v, nil
}

// frameHeader is the LZ4 frame header ABI.md § Encode result requires of
// every encoder: magic, FLG 0x60, BD 0x40, header checksum.
var frameHeader = []byte{0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82}

// Check runs one vector through c. A valid vector must decode to exactly its
// fields; its fields must encode to a packet that c decodes back to them,
// whose frame header is the required one and whose envelope (kind, ids,
// reaction, serialized flag) equals upstream's byte for byte. A malformed
// vector must fail to decode with its class. The error says what differed.
func Check(c codec.Codec, v Vector, maxPayload int) error {
	if !v.Valid() {
		_, err := c.Decode(v.Packet, maxPayload)
		if err == nil {
			return fmt.Errorf("decode accepted it, want %s", v.Error)
		}
		if got := codec.Class(err); got != v.Error {
			return fmt.Errorf("decode class %q, want %q (%v)", got, v.Error, err)
		}
		return nil
	}

	want := v.Fields()
	got, err := c.Decode(v.Packet, maxPayload)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if d := Diff(got, want); d != "" {
		return fmt.Errorf("decode: %s", d)
	}

	enc, err := c.Encode(want)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	back, err := c.Decode(enc, maxPayload)
	if err != nil {
		return fmt.Errorf("decode of own encoding: %w", err)
	}
	if d := Diff(back, want); d != "" {
		return fmt.Errorf("decode of own encoding: %s", d)
	}

	ue, err := codec.ParseEnvelope(v.Packet)
	if err != nil {
		return fmt.Errorf("upstream envelope: %w", err)
	}
	ee, err := codec.ParseEnvelope(enc)
	if err != nil {
		return fmt.Errorf("own envelope: %w", err)
	}
	if !bytes.Equal(enc[:ee.PrefixLen], v.Packet[:ue.PrefixLen]) {
		return fmt.Errorf("encode: envelope before the payload is %x, upstream %x", enc[:ee.PrefixLen], v.Packet[:ue.PrefixLen])
	}
	if ee.Serialized != ue.Serialized {
		return fmt.Errorf("encode: serialized flag %d, upstream %d", ee.Serialized, ue.Serialized)
	}
	// The original codec (lz4_flex, block size chosen by the first write)
	// declares 256 KB blocks (BD 0x50) for payloads above 64 KB; its own
	// header for the same payload is accepted too.
	if !bytes.HasPrefix(ee.Frame, frameHeader) &&
		!(len(ee.Frame) >= len(frameHeader) && len(ue.Frame) >= len(frameHeader) && bytes.Equal(ee.Frame[:len(frameHeader)], ue.Frame[:len(frameHeader)])) {
		return fmt.Errorf("encode: frame header %x, want %x", ee.Frame[:min(len(ee.Frame), len(frameHeader))], frameHeader)
	}
	return nil
}

// Diff describes how got differs from want, or returns "".
func Diff(got, want codec.Packet) string {
	switch {
	case got.Kind != want.Kind:
		return fmt.Sprintf("kind %d, want %d", got.Kind, want.Kind)
	case !sameString(got.MessageID, want.MessageID):
		return fmt.Sprintf("message_id %s, want %s", showString(got.MessageID), showString(want.MessageID))
	case !sameString(got.UserID, want.UserID):
		return fmt.Sprintf("user_id %s, want %s", showString(got.UserID), showString(want.UserID))
	case !sameReaction(got.Reaction, want.Reaction):
		return fmt.Sprintf("reaction_kind %s, want %s", showReaction(got.Reaction), showReaction(want.Reaction))
	case !bytes.Equal(got.Payload, want.Payload):
		if len(got.Payload) != len(want.Payload) {
			return fmt.Sprintf("payload of %d bytes, want %d", len(got.Payload), len(want.Payload))
		}
		i := 0
		for got.Payload[i] == want.Payload[i] {
			i++
		}
		return fmt.Sprintf("payload differs at byte %d of %d", i, len(want.Payload))
	}
	return ""
}

func sameString(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func sameReaction(a, b *codec.Reaction) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func showString(s *string) string {
	if s == nil {
		return "absent"
	}
	return fmt.Sprintf("%q", *s)
}

func showReaction(r *codec.Reaction) string {
	if r == nil {
		return "absent"
	}
	return fmt.Sprint(uint32(*r))
}

//go:embed conformance.jsonl
var conformanceJSONL []byte

var conformance = sync.OnceValue(func() []Vector {
	vs, err := Parse(bytes.NewReader(conformanceJSONL))
	if err != nil {
		panic(fmt.Sprintf("corpus: embedded conformance.jsonl: %v", err))
	}
	return vs
})

// Conformance returns the embedded subset of the golden vectors that the
// host runs through a swapped-in module at load time: every size edge up to
// 65537 bytes, a mix of kinds, ids and reactions, and a few malformed
// packets of each class including the 2 MiB bomb. Check it with
// DefaultMaxPayload. The slice is the caller's; the byte slices are shared
// and must not be modified.
func Conformance() []Vector {
	vs := conformance()
	return append([]Vector(nil), vs...)
}
