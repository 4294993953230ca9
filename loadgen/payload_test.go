package loadgen

import (
	"testing"
	"unicode/utf8"
)

func TestMessageIDRoundTrip(t *testing.T) {
	tests := []struct {
		room, sender int
		seq          int64
	}{{0, 0, 0}, {3, 19, 123456}, {999, 0, MaxSeq - 1}}
	for _, tt := range tests {
		id := MessageID("ab12cd34", tt.room, tt.sender, tt.seq)
		room, sender, seq, probe, err := ParseMessageID("ab12cd34", []byte(id))
		if err != nil || probe || room != tt.room || sender != tt.sender || seq != tt.seq {
			t.Errorf("%q parsed as %d %d %d probe=%v err=%v", id, room, sender, seq, probe, err)
		}
	}
	room, _, _, probe, err := ParseMessageID("ab12cd34", []byte(ProbeID("ab12cd34", 7, 3)))
	if err != nil || !probe || room != 7 {
		t.Errorf("probe id parsed as room %d probe=%v err=%v", room, probe, err)
	}
}

func TestParseMessageIDRejectsForeign(t *testing.T) {
	for _, id := range []string{
		"", "other.0.0.1", "ab12cd34", "ab12cd34.", "ab12cd34.x.0.1", "ab12cd34.0.0",
		"ab12cd34.0.-1.2", "ab12cd34.0.1.-2", "ab12cd34.0.1.2x", "ab12cd34x.0.1.2", "ab12cd34.0.p", "ab12cd34.0.px",
		// Signs, leading zeros, empty or oversized numbers, extra parts:
		// nothing MessageID or ProbeID writes.
		"ab12cd34.+0.1.2", "ab12cd34.0.+1.2", "ab12cd34.0.1.+2", "ab12cd34.00.1.2", "ab12cd34.0.01.2", "ab12cd34.0.1.02",
		"ab12cd34..1.2", "ab12cd34.0..2", "ab12cd34.0.1.", "ab12cd34.0.1.2.3", "ab12cd34.0.p1x", "ab12cd34.0.p01",
		"ab12cd34.1234567890.1.2", "ab12cd34.0.1.1234567890123456789", "ab12cd34.0.1.99999999999999999999999",
		"ab12cd34.0.1.2 ", " ab12cd34.0.1.2", "ab12cd34.0.1.２",
	} {
		if _, _, _, _, err := ParseMessageID("ab12cd34", []byte(id)); err == nil {
			t.Errorf("ParseMessageID accepted %q", id)
		}
	}
}

// TestParseMessageIDAllocatesNothing: every receipt parses an id.
func TestParseMessageIDAllocatesNothing(t *testing.T) {
	id := []byte(MessageID("ab12cd34", 3, 19, 123456))
	if n := testing.AllocsPerRun(100, func() {
		if _, _, _, _, err := ParseMessageID("ab12cd34", id); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per ParseMessageID", n)
	}
}

func TestPayload(t *testing.T) {
	for _, size := range []int{0, 10, HeaderLen, 200, 999} {
		filler := Filler(max(size, HeaderLen), 9)
		for _, seq := range []int64{0, 7, MaxSeq - 1} {
			const sent = int64(1761234567890123456)
			p := AppendPayload(nil, sent, seq, filler, size)
			if want := max(size, len(p)); len(p) != want || (size >= HeaderLen && len(p) != size) {
				t.Errorf("size %d seq %d: payload of %d bytes", size, seq, len(p))
			}
			if len(p) > max(size, HeaderLen) {
				t.Errorf("size %d: payload %d bytes exceeds max(size, HeaderLen)", size, len(p))
			}
			if !utf8.Valid(p) {
				t.Errorf("size %d: payload is not text", size)
			}
			gotSent, gotSeq, err := ParsePayload(p)
			if err != nil || gotSent != sent || gotSeq != seq {
				t.Errorf("size %d seq %d: parsed %d %d %v", size, seq, gotSent, gotSeq, err)
			}
		}
	}
	for _, bad := range []string{"", "t=", "t=12", "t=12 q=", "t=12 q=3", "x=12 q=3 ", "Rate limit exceeded: 5 messages per second"} {
		if _, _, err := ParsePayload([]byte(bad)); err == nil {
			t.Errorf("ParsePayload accepted %q", bad)
		}
	}
}
