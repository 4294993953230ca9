package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func TestVarint(t *testing.T) {
	cases := []struct {
		v    uint64
		wire string
	}{
		{0, "00"},
		{250, "fa"},
		{251, "fbfb00"},
		{252, "fbfc00"},
		{65535, "fbffff"},
		{65536, "fc00000100"},
		{1<<32 - 1, "fcffffffff"},
		{1 << 32, "fd0000000001000000"},
		{1<<64 - 1, "fdffffffffffffffff"},
	}
	for _, c := range cases {
		got := hex.EncodeToString(appendVarint(nil, c.v))
		if got != c.wire {
			t.Errorf("appendVarint(%d) = %s, want %s", c.v, got, c.wire)
		}
		if n := varintLen(c.v); n != len(c.wire)/2 {
			t.Errorf("varintLen(%d) = %d, want %d", c.v, n, len(c.wire)/2)
		}
		b, _ := hex.DecodeString(c.wire)
		r := wireReader{b: b}
		v, err := r.varint("v")
		if err != nil || v != c.v || r.off != len(b) {
			t.Errorf("varint(%s) = %d, %v after %d bytes", c.wire, v, err, r.off)
		}
	}
}

// emptyFrame is the 11-byte frame of an empty payload (protocol.md § Payload).
var emptyFrame = cat(frameHeader[:], endMark)

// crcField is the minimal crc varint of a frame.
func crcField(frame []byte) []byte { return appendVarint(nil, uint64(crc32.ChecksumIEEE(frame))) }

// pkt assembles a packet: prefix (kind, ids, reaction), the payload field,
// serialized and a crc field.
func pkt(prefix, frame []byte, ser byte, crc []byte) []byte {
	b := append(bytes.Clone(prefix), appendVarint(nil, uint64(len(frame)))...)
	b = append(b, frame...)
	b = append(b, ser)
	return append(b, crc...)
}

func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeEnvelope(t *testing.T) {
	helloFrame := cat(frameHeader[:], blk([]byte("hello"), true, false), endMark)
	ok := func(prefix []byte) []byte { return pkt(prefix, emptyFrame, 1, crcField(emptyFrame)) }
	// prefix of the protocol.md worked example: Reaction, user "user-xxxx", Like.
	example := h("03 00 01 09 757365722d78787878 01 01")
	id := func(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }
	withID := func(n int) []byte {
		return cat([]byte{0, 1}, appendVarint(nil, uint64(n)), id(n, 'm'), []byte{0, 0})
	}

	cases := []struct {
		name string
		data []byte
		want string // "ok" or a class
		kind Kind
	}{
		{"worked example", h("03000109757365722d7878787801010b04224d186040820000000001fc367abd5f"), "ok", KindReaction},
		{"all absent", ok([]byte{0, 0, 0, 0}), "ok", KindMessage},
		{"kind fb form", ok(h("fb0300 00 00 00")), "ok", KindReaction},
		{"kind fc form", ok(h("fc03000000 00 00 00")), "ok", KindReaction},
		{"kind fd form", ok(h("fd0500000000000000 00 00 00")), "ok", KindTyping},
		{"kind 6", ok(h("06 00 00 00")), "invalid_enum", 0},
		{"kind 6 in fb form", ok(h("fb0600 00 00 00")), "invalid_enum", 0},
		{"kind 2^64-1", ok(h("fdffffffffffffffff 00 00 00")), "invalid_enum", 0},
		{"kind marker 254", ok(h("fe 00 00 00")), "invalid_enum", 0},
		{"kind marker 255", ok(h("ff 00 00 00")), "invalid_enum", 0},
		{"kind fb form cut short", h("fb03"), "truncated", 0},
		{"kind marker 254 at the end", h("fe"), "invalid_enum", 0},
		{"empty input", nil, "truncated", 0},
		{"message_id tag 2", ok(h("00 02 00 00")), "invalid_enum", 0},
		{"message_id of 250 bytes", ok(withID(250)), "ok", 0},
		{"message_id of 251 bytes", ok(withID(251)), "ok", 0},
		{"message_id of 252 bytes", ok(withID(252)), "ok", 0},
		{"message_id of 65536 bytes", ok(withID(65536)), "ok", 0},
		{"message_id length marker 254", ok(h("00 01 fe 00 00")), "invalid_enum", 0},
		{"message_id past the end", h("00 01 05 616263"), "truncated", 0},
		{"message_id past the end, not UTF-8", h("00 01 05 ffffff"), "truncated", 0},
		{"message_id not UTF-8", ok(h("00 01 01 ff 00 00")), "invalid_utf8", 0},
		{"message_id surrogate", ok(h("00 01 03 eda080 00 00")), "invalid_utf8", 0},
		{"not UTF-8 before a bad tag", ok(h("00 01 01 ff 07 00")), "invalid_utf8", 0},
		{"empty message_id", ok(h("00 01 00 00 00")), "ok", 0},
		{"user_id tag 3", ok(h("00 00 03 00")), "invalid_enum", 0},
		{"user_id not UTF-8", ok(h("00 00 01 02 c328 00")), "invalid_utf8", 0},
		{"user_id cut short", h("00 00 01"), "truncated", 0},
		{"reaction tag 2", ok(h("00 00 00 02")), "invalid_enum", 0},
		{"reaction 5", ok(h("00 00 00 01 05")), "invalid_enum", 0},
		{"reaction 4 in fb form", ok(h("00 00 00 01 fb0400")), "ok", 0},
		{"reaction missing", h("00 00 00 01"), "truncated", 0},
		{"payload length past the end", h("00 00 00 00 0b 04224d18"), "truncated", 0},
		{"payload length marker 255", h("00 00 00 00 ff"), "invalid_enum", 0},
		{"serialized 0", pkt(example, emptyFrame, 0, crcField(emptyFrame)), "ok", KindReaction},
		{"serialized 2", pkt(example, emptyFrame, 2, crcField(emptyFrame)), "invalid_enum", 0},
		{"serialized missing", pkt(example, emptyFrame, 1, nil)[:len(example)+12], "truncated", 0},
		{"crc missing", pkt(example, emptyFrame, 1, nil), "truncated", 0},
		{"crc cut short", pkt(example, emptyFrame, 1, crcField(emptyFrame)[:3]), "truncated", 0},
		{"crc marker 254", pkt(example, emptyFrame, 1, h("fe")), "invalid_enum", 0},
		{"crc in fd form", pkt(example, emptyFrame, 1, appendVarintU64(uint64(crc32.ChecksumIEEE(emptyFrame)))), "ok", KindReaction},
		{"crc above 32 bits", pkt(example, emptyFrame, 1, appendVarintU64(1<<32|uint64(crc32.ChecksumIEEE(emptyFrame)))), "checksum", 0},
		{"crc wrong", pkt(example, emptyFrame, 1, h("00")), "checksum", 0},
		{"trailing byte", append(pkt(example, emptyFrame, 1, crcField(emptyFrame)), 0), "trailing_bytes", 0},
		{"trailing byte before a wrong crc", append(pkt(example, emptyFrame, 1, h("00")), 0), "trailing_bytes", 0},
		{"wrong crc before a bad frame", pkt(example, []byte("nope"), 1, h("00")), "checksum", 0},
		{"bad frame", pkt(example, []byte("nope"), 1, crcField([]byte("nope"))), "compression", 0},
		{"stored payload", pkt(example, helloFrame, 1, crcField(helloFrame)), "ok", KindReaction},
		{"payload above the limit", pkt(example, cat(frameHeader[:], blk(make([]byte, 2000), true, false), endMark), 1, crcField(cat(frameHeader[:], blk(make([]byte, 2000), true, false), endMark))), "too_large", 0},
	}
	g := NewGo()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := g.Decode(c.data, 1000)
			if got := classOf(err); got != c.want {
				t.Fatalf("got %s (%v), want %s", got, err, c.want)
			}
			if err == nil && p.Kind != c.kind {
				t.Fatalf("kind %d, want %d", p.Kind, c.kind)
			}
		})
	}
}

func appendVarintU64(v uint64) []byte {
	return append([]byte{varintU64}, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
}

// TestPrefixesAreTruncated cuts a valid packet at every length: each cut
// misses a field, so each is truncated.
func TestPrefixesAreTruncated(t *testing.T) {
	g := NewGo()
	full, err := g.Encode(Packet{
		Kind: KindReaction, MessageID: Str(strings.Repeat("m", 300)), UserID: Str("user-1"),
		Reaction: ReactionPtr(ReactionStar), Payload: bytes.Repeat([]byte("payload "), 100),
	})
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(full) {
		if _, err := g.Decode(full[:n], 1<<20); Class(err) != "truncated" {
			t.Fatalf("cut at %d of %d: %v, want truncated", n, len(full), err)
		}
	}
	if _, err := g.Decode(full, 1<<20); err != nil {
		t.Fatalf("whole packet: %v", err)
	}
}

func TestEncode(t *testing.T) {
	g := NewGo()
	// The worked example of protocol.md: an empty payload is deterministic,
	// so the whole packet must match upstream byte for byte.
	got, err := g.Encode(Packet{Kind: KindReaction, UserID: Str("user-xxxx"), Reaction: ReactionPtr(ReactionLike)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "03000109757365722d7878787801010b04224d186040820000000001fc367abd5f"; hex.EncodeToString(got) != want {
		t.Fatalf("worked example: %x, want %s", got, want)
	}

	for _, n := range []int{250, 251, 252, 65535, 65536} {
		id := strings.Repeat("é", n/2) + strings.Repeat("x", n%2)
		p := Packet{Kind: KindMessage, MessageID: Str(id), Payload: bytes.Repeat([]byte{7}, n)}
		b, err := g.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		wantPrefix := cat([]byte{0, 1}, appendVarint(nil, uint64(n)), []byte(id), []byte{0, 0})
		if !bytes.HasPrefix(b, wantPrefix) {
			t.Fatalf("id of %d bytes: prefix %x", n, b[:8])
		}
		back, err := g.Decode(b, 1<<20)
		if err != nil || *back.MessageID != id || !bytes.Equal(back.Payload, p.Payload) {
			t.Fatalf("id of %d bytes: round trip: %v", n, err)
		}
		if len(b) > cap(b) || cap(b) > len(b)+4 {
			t.Fatalf("id of %d bytes: %d bytes in a buffer of %d", n, len(b), cap(b))
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	bad := string([]byte{'a', 0xff})
	cases := []struct {
		name string
		p    Packet
		want error
	}{
		{"kind 6", Packet{Kind: 6}, ErrInvalidEnum},
		{"kind max uint32", Packet{Kind: 1<<32 - 1}, ErrInvalidEnum},
		{"reaction 5", Packet{Reaction: ReactionPtr(5)}, ErrInvalidEnum},
		{"message_id not UTF-8", Packet{MessageID: &bad}, ErrInvalidUTF8},
		{"user_id not UTF-8", Packet{UserID: &bad}, ErrInvalidUTF8},
	}
	g := NewGo()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := g.Encode(c.p); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if _, err := AppendEnvelope(nil, c.p, emptyFrame, 0); !errors.Is(err, c.want) {
				t.Fatalf("AppendEnvelope: got %v, want %v", err, c.want)
			}
		})
	}
}

// TestAppendEnvelope re-stamps a decoded packet's frame without
// recompressing it, as a server forwarding a message does.
func TestAppendEnvelope(t *testing.T) {
	g := NewGo()
	orig, err := g.Encode(Packet{Kind: KindMessage, MessageID: Str("m1"), Payload: []byte("hi there, hi there")})
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseEnvelope(orig)
	if err != nil {
		t.Fatal(err)
	}
	p := Packet{Kind: e.Kind, MessageID: e.MessageID, UserID: Str("user-9")}
	out, err := AppendEnvelope(nil, p, e.Frame, FrameCRC(e.Frame))
	if err != nil {
		t.Fatal(err)
	}
	back, err := g.Decode(out, 100)
	if err != nil || *back.UserID != "user-9" || string(back.Payload) != "hi there, hi there" {
		t.Fatalf("re-stamped packet: %+v, %v", back, err)
	}
	stale, err := AppendEnvelope(nil, p, e.Frame, FrameCRC(e.Frame)+1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Decode(stale, 100); !errors.Is(err, ErrChecksum) {
		t.Fatalf("wrong crc: %v, want checksum", err)
	}
}
