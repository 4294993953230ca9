package codec

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseWellFormed: whatever the straight path accepts, the field by
// field parser accepts with the same result; and what the field by field
// parser accepts in single-byte varints, the straight path accepts too, so
// ordinary packets do not fall back.
func FuzzParseWellFormed(f *testing.F) {
	g := NewGo()
	for _, p := range []Packet{
		{Kind: KindMessage, MessageID: Str("ab.0.1.2"), UserID: Str("u"), Payload: []byte("t=1 q=2 hello")},
		{Kind: KindReaction, MessageID: Str("m"), Reaction: ReactionPtr(ReactionStar)},
		{Kind: KindOnlineUsers, Payload: []byte(strings.Repeat("x", 300))},
		{Kind: KindTyping, UserID: Str("ü")},
	} {
		b, err := g.Encode(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := parseWellFormed(data)
		slow, err := parseEachField(data)
		if ok {
			if err != nil {
				t.Fatalf("straight path accepted what the field parser refuses: %v", err)
			}
			if !sameFields(fast, slow) {
				t.Fatalf("straight path %+v, field parser %+v", fast, slow)
			}
		}
		if !ok && err == nil && singleByteVarints(slow) {
			t.Fatalf("straight path refused a plain packet: %+v", slow)
		}
	})
}

func sameFields(a, b fields) bool {
	return a.kind == b.kind && a.mid == b.mid && a.uid == b.uid && a.hasReaction == b.hasReaction &&
		a.reaction == b.reaction && a.prefixLen == b.prefixLen && a.serialized == b.serialized && a.crc == b.crc &&
		len(a.frame) == len(b.frame) && (len(a.frame) == 0 || &a.frame[0] == &b.frame[0])
}

// singleByteVarints: a packet whose varints are all single bytes, the
// encoders' form for short packets (longer forms are accepted by both
// parsers but not required of the straight one here).
func singleByteVarints(f fields) bool {
	return len(f.frame) < varintU16 && f.crc < varintU16 &&
		(!f.mid.ok || f.mid.end-f.mid.start < varintU16) && (!f.uid.ok || f.uid.end-f.uid.start < varintU16)
}

// TestValidUTF8 agrees with utf8.Valid around the word boundaries, with a
// non-ASCII or invalid byte at every position.
func TestValidUTF8(t *testing.T) {
	for n := range 40 {
		ascii := []byte(strings.Repeat("a", n))
		if !validUTF8(ascii) {
			t.Fatalf("%d ASCII bytes refused", n)
		}
		for i := range n {
			for _, bad := range [][]byte{{0xff}, {0xc3, 0xa9}, {0xe2, 0x82}, {0x80}} {
				b := append(append(append([]byte(nil), ascii[:i]...), bad...), ascii[i:]...)
				if validUTF8(b) != utf8.Valid(b) {
					t.Fatalf("%q: validUTF8 %v, utf8.Valid %v", b, validUTF8(b), utf8.Valid(b))
				}
			}
		}
	}
}
