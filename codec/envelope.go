package codec

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"unicode/utf8"
)

// Varint markers of bincode 2's standard configuration (protocol.md § Packet):
// a first byte below 251 is the value itself; 251, 252 and 253 introduce a
// little-endian u16, u32 and u64. 254 (u128) and 255 are never valid here.
const (
	varintU16 = 251
	varintU32 = 252
	varintU64 = 253
)

// Envelope is a packet as it sits on the wire, before its payload frame is
// checked or decompressed. ParseEnvelope fills it; the Go codec's Decode
// uses it, and so do the corpus checks that compare envelopes byte for byte.
type Envelope struct {
	Kind      Kind
	MessageID *string
	UserID    *string
	Reaction  *Reaction
	// Frame is the payload field's bytes (an LZ4 frame); it aliases the
	// parsed buffer.
	Frame []byte
	// Serialized is the serialized flag as read: 0 or 1.
	Serialized byte
	// CRC is the crc field as read. A value above 2^32-1 never matches.
	CRC uint64
	// PrefixLen is the length of the fields before the payload field (kind,
	// ids, reaction): the bytes every encoder must write identically.
	PrefixLen int
}

// ParseEnvelope parses the envelope of one whole packet in wire order
// (wasm/ABI.md § Decoding order, steps 1 and 2): it reports the first
// defect met, then trailing bytes. It checks neither the crc nor the frame;
// Decode does both.
func ParseEnvelope(data []byte) (Envelope, error) {
	f, err := parseFields(data)
	if err != nil {
		return Envelope{}, err
	}
	return f.envelope(data), nil
}

// envelope is f as an Envelope of data, its ids copied out.
func (f fields) envelope(data []byte) Envelope {
	e := Envelope{Kind: f.kind, Frame: f.frame, Serialized: f.serialized, CRC: f.crc, PrefixLen: f.prefixLen}
	e.setOptionals(data, f.mid, f.uid, f.hasReaction, f.reaction)
	return e
}

// inflate checks f's crc, then decodes its LZ4 frame into dst (or a new
// buffer when dst is too small): steps 3 and 4 of ABI.md § Decoding order,
// shared by Decode and DecodeView.
func (f fields) inflate(dst []byte, maxPayload int) ([]byte, error) {
	if got := crc32.ChecksumIEEE(f.frame); uint64(got) != f.crc {
		return nil, fmt.Errorf("%w: crc field %08x, frame has %08x", ErrChecksum, f.crc, got)
	}
	return decodeFrame(dst, f.frame, maxPayload)
}

// fields is an envelope as parseFields finds it: the ids as spans of the
// packet, so that parsing allocates nothing.
type fields struct {
	kind        Kind
	mid, uid    span
	hasReaction bool
	reaction    Reaction
	prefixLen   int
	frame       []byte
	serialized  byte
	crc         uint64
}

// parseFields does ParseEnvelope's checks, in its order, without
// allocating. Well-formed packets take a straight path; anything it does
// not accept is parsed again field by field, which names the defect.
func parseFields(data []byte) (fields, error) {
	if f, ok := parseWellFormed(data); ok {
		return f, nil
	}
	return parseEachField(data)
}

// parseWellFormed accepts a subset of what parseEachField accepts, with
// the same result, and reports no errors: it is the path every packet of
// a busy server or load generator takes (FuzzParseWellFormed checks the
// two agree).
func parseWellFormed(data []byte) (f fields, ok bool) {
	off := 0
	k, n := peekVarint(data, off)
	if n == 0 || k > uint64(MaxKind) {
		return f, false
	}
	f.kind, off = Kind(k), off+n
	if f.mid, off, ok = peekOptString(data, off); !ok {
		return f, false
	}
	if f.uid, off, ok = peekOptString(data, off); !ok {
		return f, false
	}
	if off >= len(data) || data[off] > 1 {
		return f, false
	}
	f.hasReaction, off = data[off] == 1, off+1
	if f.hasReaction {
		r, n := peekVarint(data, off)
		if n == 0 || r > uint64(MaxReaction) {
			return f, false
		}
		f.reaction, off = Reaction(r), off+n
	}
	f.prefixLen = off
	size, n := peekVarint(data, off)
	if n == 0 || size > uint64(len(data)-off-n) {
		return f, false
	}
	off += n
	f.frame, off = data[off:off+int(size)], off+int(size)
	if off >= len(data) || data[off] > 1 {
		return f, false
	}
	f.serialized, off = data[off], off+1
	if f.crc, n = peekVarint(data, off); n == 0 || off+n != len(data) {
		return f, false
	}
	return f, true
}

// peekVarint reads the varint at off; n is its length, 0 when it is
// missing, cut short or has an invalid marker.
func peekVarint(b []byte, off int) (v uint64, n int) {
	if off >= len(b) {
		return 0, 0
	}
	switch first := b[off]; {
	case first < varintU16:
		return uint64(first), 1
	case first == varintU16 && len(b)-off > 2:
		return uint64(binary.LittleEndian.Uint16(b[off+1:])), 3
	case first == varintU32 && len(b)-off > 4:
		return uint64(binary.LittleEndian.Uint32(b[off+1:])), 5
	case first == varintU64 && len(b)-off > 8:
		return binary.LittleEndian.Uint64(b[off+1:]), 9
	}
	return 0, 0
}

// peekOptString reads an optional UTF-8 id at off.
func peekOptString(b []byte, off int) (s span, next int, ok bool) {
	if off >= len(b) || b[off] > 1 {
		return s, off, false
	}
	if b[off] == 0 {
		return s, off + 1, true
	}
	size, n := peekVarint(b, off+1)
	start := off + 1 + n
	if n == 0 || size > uint64(len(b)-start) {
		return s, off, false
	}
	end := start + int(size)
	if !validUTF8(b[start:end]) {
		return s, off, false
	}
	return span{start, end, true}, end, true
}

// validUTF8 is utf8.Valid with a quicker answer for the ids seen in
// practice: ASCII of 8 bytes or more is checked a word at a time, the last
// word overlapping the one before.
func validUTF8(b []byte) bool {
	if len(b) >= 8 {
		var acc uint64
		for i := 0; i+8 <= len(b); i += 8 {
			acc |= binary.LittleEndian.Uint64(b[i:])
		}
		acc |= binary.LittleEndian.Uint64(b[len(b)-8:])
		if acc&0x8080808080808080 == 0 {
			return true
		}
	}
	return utf8.Valid(b)
}

// parseEachField parses field by field, reporting the first defect.
func parseEachField(data []byte) (fields, error) {
	var f fields
	r := wireReader{b: data}

	k, err := r.varint("kind")
	if err != nil {
		return f, err
	}
	if k > uint64(MaxKind) {
		return f, fmt.Errorf("%w: kind %d", ErrInvalidEnum, k)
	}
	f.kind = Kind(k)

	if f.mid, err = r.optString("message_id"); err != nil {
		return f, err
	}
	if f.uid, err = r.optString("user_id"); err != nil {
		return f, err
	}

	if f.hasReaction, err = r.optTag("reaction_kind"); err != nil {
		return f, err
	}
	if f.hasReaction {
		reaction, err := r.varint("reaction_kind")
		if err != nil {
			return f, err
		}
		if reaction > uint64(MaxReaction) {
			return f, fmt.Errorf("%w: reaction_kind %d", ErrInvalidEnum, reaction)
		}
		f.reaction = Reaction(reaction)
	}
	f.prefixLen = r.off

	if f.frame, err = r.bytes("payload"); err != nil {
		return f, err
	}

	s, err := r.byte("serialized")
	if err != nil {
		return f, err
	}
	if s > 1 {
		return f, fmt.Errorf("%w: serialized flag %d", ErrInvalidEnum, s)
	}
	f.serialized = s

	if f.crc, err = r.varint("crc"); err != nil {
		return f, err
	}
	if extra := len(data) - r.off; extra > 0 {
		return f, fmt.Errorf("%w: %d bytes after the crc", ErrTrailingBytes, extra)
	}
	return f, nil
}

// optionals holds a decoded packet's optional fields, so that they cost
// one allocation, plus one for the bytes of both ids.
type optionals struct {
	mid, uid string
	reaction Reaction
}

// setOptionals fills the optional fields once the whole envelope is valid.
func (e *Envelope) setOptionals(data []byte, mid, uid span, hasReaction bool, reaction Reaction) {
	if !mid.ok && !uid.ok && !hasReaction {
		return
	}
	o := new(optionals)
	switch {
	case mid.ok && uid.ok:
		// One string covering both ids and the few bytes between them.
		all := string(data[mid.start:uid.end])
		o.mid = all[:mid.end-mid.start]
		o.uid = all[uid.start-mid.start:]
	case mid.ok:
		o.mid = string(data[mid.start:mid.end])
	case uid.ok:
		o.uid = string(data[uid.start:uid.end])
	}
	if mid.ok {
		e.MessageID = &o.mid
	}
	if uid.ok {
		e.UserID = &o.uid
	}
	if hasReaction {
		o.reaction = reaction
		e.Reaction = &o.reaction
	}
}

// span locates a present id in the packet.
type span struct {
	start, end int
	ok         bool
}

// wireReader reads envelope fields front to back, classifying each failure.
type wireReader struct {
	b   []byte
	off int
}

func (r *wireReader) byte(field string) (byte, error) {
	if r.off >= len(r.b) {
		return 0, fmt.Errorf("%w: %s missing at byte %d", ErrTruncated, field, r.off)
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// varint reads a bincode 2 standard varint. Non-minimal forms are accepted
// (ABI.md § Decoding order); 254 and 255 are invalid_enum.
func (r *wireReader) varint(field string) (uint64, error) {
	first, err := r.byte(field)
	if err != nil {
		return 0, err
	}
	var n int
	switch {
	case first < varintU16:
		return uint64(first), nil
	case first == varintU16:
		n = 2
	case first == varintU32:
		n = 4
	case first == varintU64:
		n = 8
	default:
		return 0, fmt.Errorf("%w: %s varint marker %d", ErrInvalidEnum, field, first)
	}
	if len(r.b)-r.off < n {
		return 0, fmt.Errorf("%w: %s varint needs %d bytes, %d left", ErrTruncated, field, n, len(r.b)-r.off)
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	switch n {
	case 2:
		return uint64(binary.LittleEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(p)), nil
	default:
		return binary.LittleEndian.Uint64(p), nil
	}
}

// optTag reads an Option tag: 0 absent, 1 present.
func (r *wireReader) optTag(field string) (bool, error) {
	t, err := r.byte(field)
	if err != nil {
		return false, err
	}
	if t > 1 {
		return false, fmt.Errorf("%w: %s option tag %d", ErrInvalidEnum, field, t)
	}
	return t == 1, nil
}

// bytes reads a varint length and that many bytes, aliasing the input.
func (r *wireReader) bytes(field string) ([]byte, error) {
	n, err := r.varint(field)
	if err != nil {
		return nil, err
	}
	if left := uint64(len(r.b) - r.off); n > left {
		return nil, fmt.Errorf("%w: %s length %d, %d bytes left", ErrTruncated, field, n, left)
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p, nil
}

// optString reads an optional id and checks that it is UTF-8.
func (r *wireReader) optString(field string) (span, error) {
	present, err := r.optTag(field)
	if err != nil || !present {
		return span{}, err
	}
	p, err := r.bytes(field)
	if err != nil {
		return span{}, err
	}
	if !validUTF8(p) {
		return span{}, fmt.Errorf("%w: %s", ErrInvalidUTF8, field)
	}
	return span{r.off - len(p), r.off, true}, nil
}

// validateFields applies the encode-side checks of ABI.md § Encode result.
func validateFields(p Packet) error {
	if p.Kind > MaxKind {
		return fmt.Errorf("%w: kind %d", ErrInvalidEnum, p.Kind)
	}
	if p.Reaction != nil && *p.Reaction > MaxReaction {
		return fmt.Errorf("%w: reaction_kind %d", ErrInvalidEnum, *p.Reaction)
	}
	if p.MessageID != nil && !utf8.ValidString(*p.MessageID) {
		return fmt.Errorf("%w: message_id", ErrInvalidUTF8)
	}
	if p.UserID != nil && !utf8.ValidString(*p.UserID) {
		return fmt.Errorf("%w: user_id", ErrInvalidUTF8)
	}
	return nil
}

// AppendEnvelope appends the packet made of p's kind, ids and reaction, the
// already-compressed frame as its payload, serialized = 1 and the frame's
// CRC-32. It lets a server re-stamp a packet (a new user_id) and reuse the
// frame it received without recompressing it; pass the frame's crc when it
// is known (it is the one just checked by Decode), or use Encode instead.
// p.Payload is ignored.
func AppendEnvelope(dst []byte, p Packet, frame []byte, crc uint32) ([]byte, error) {
	if err := validateFields(p); err != nil {
		return dst, err
	}
	return appendEnvelope(dst, p, frame, crc), nil
}

// FrameCRC is the crc field value for a payload frame (protocol.md § Packet,
// field 7): CRC-32/IEEE of the compressed bytes.
func FrameCRC(frame []byte) uint32 { return crc32.ChecksumIEEE(frame) }

// envelopeSize is the exact length appendEnvelope will add.
func envelopeSize(p Packet, frameLen int) int {
	n := varintLen(uint64(p.Kind)) + 1 + 1 + 1
	if p.MessageID != nil {
		n += varintLen(uint64(len(*p.MessageID))) + len(*p.MessageID)
	}
	if p.UserID != nil {
		n += varintLen(uint64(len(*p.UserID))) + len(*p.UserID)
	}
	if p.Reaction != nil {
		n += varintLen(uint64(*p.Reaction))
	}
	n += varintLen(uint64(frameLen)) + frameLen
	n += 1 + 5 // serialized, crc (at most 5 bytes for a u32)
	return n
}

// appendEnvelope writes the packet fields in wire order, minimal varints.
func appendEnvelope(dst []byte, p Packet, frame []byte, crc uint32) []byte {
	dst = appendVarint(dst, uint64(p.Kind))
	dst = appendOptString(dst, p.MessageID)
	dst = appendOptString(dst, p.UserID)
	if p.Reaction == nil {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1)
		dst = appendVarint(dst, uint64(*p.Reaction))
	}
	dst = appendVarint(dst, uint64(len(frame)))
	dst = append(dst, frame...)
	dst = append(dst, 1) // serialized: encoders write 1 (protocol.md § Packet)
	return appendVarint(dst, uint64(crc))
}

func appendOptString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = appendVarint(dst, uint64(len(*s)))
	return append(dst, *s...)
}

// appendVarint writes v in its minimal bincode 2 standard form.
func appendVarint(dst []byte, v uint64) []byte {
	switch {
	case v < varintU16:
		return append(dst, byte(v))
	case v <= 0xFFFF:
		return binary.LittleEndian.AppendUint16(append(dst, varintU16), uint16(v))
	case v <= 0xFFFFFFFF:
		return binary.LittleEndian.AppendUint32(append(dst, varintU32), uint32(v))
	default:
		return binary.LittleEndian.AppendUint64(append(dst, varintU64), v)
	}
}

func varintLen(v uint64) int {
	switch {
	case v < varintU16:
		return 1
	case v <= 0xFFFF:
		return 3
	case v <= 0xFFFFFFFF:
		return 5
	default:
		return 9
	}
}
