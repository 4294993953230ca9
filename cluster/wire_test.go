package cluster

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRoomToken(t *testing.T) {
	for _, tc := range []struct{ room, tok string }{
		{"room", "room"},
		{"a_b-C9", "a_b-C9"},
		{"team.general", "team%2Egeneral"},
		{"..", "%2E%2E"},
		{"a%2Eb", "a%252Eb"}, // not in the hub's alphabet, still one-to-one
		{"*", "%2A"},
		{">", "%3E"},
		{"a b", "a%20b"},
	} {
		got, err := roomToken(tc.room)
		if err != nil || got != tc.tok {
			t.Errorf("roomToken(%q) = %q, %v; want %q", tc.room, got, err, tc.tok)
		}
	}
	for _, bad := range []string{"", strings.Repeat("a", maxRoom+1)} {
		if _, err := roomToken(bad); !errors.Is(err, ErrRoom) {
			t.Errorf("roomToken(%d bytes) err = %v, want ErrRoom", len(bad), err)
		}
	}
}

// Every name of the hub's alphabet maps to its own single token.
func TestRoomTokenOneToOne(t *testing.T) {
	const alphabet = "ab.Z9_-"
	seen := make(map[string]string)
	var walk func(prefix string)
	walk = func(prefix string) {
		if prefix != "" {
			tok, err := roomToken(prefix)
			if err != nil {
				t.Fatalf("roomToken(%q): %v", prefix, err)
			}
			if !validToken(strings.ReplaceAll(tok, "%", "_")) || strings.ContainsAny(tok, ".*> ") {
				t.Fatalf("roomToken(%q) = %q is not one plain token", prefix, tok)
			}
			if other, dup := seen[tok]; dup {
				t.Fatalf("rooms %q and %q share token %q", prefix, other, tok)
			}
			seen[tok] = prefix
		}
		if len(prefix) == 4 {
			return
		}
		for i := range len(alphabet) {
			walk(prefix + alphabet[i:i+1])
		}
	}
	walk("")
	if len(seen) < 2800 {
		t.Fatalf("only %d names checked", len(seen))
	}
}

func TestRoomMsgRoundTrip(t *testing.T) {
	ev := Event{Seq: 1 << 40, Origin: "host-1-abc", Data: []byte{0, 1, 2, 'E'}}
	m, err := decodeRoomMsg(encodeEvent(ev))
	if err != nil || m.kind != wireEvent || m.seq != ev.Seq || m.origin != ev.Origin || !bytes.Equal(m.data, ev.Data) {
		t.Fatalf("event round trip: %+v, %v", m, err)
	}
	m, err = decodeRoomMsg(encodeTyping("n", "alice", []byte(`{"isTyping":true}`)))
	if err != nil || m.kind != wireTyping || m.origin != "n" || m.user != "alice" || string(m.data) != `{"isTyping":true}` {
		t.Fatalf("typing round trip: %+v, %v", m, err)
	}
	for _, bad := range [][]byte{nil, {'E'}, {'E', 0}, {'Q'}, {'T', 5, 'a'}, {'E', 1, 0x80}} {
		if _, err := decodeRoomMsg(bad); !errors.Is(err, ErrWire) {
			t.Errorf("decodeRoomMsg(%v) err = %v, want ErrWire", bad, err)
		}
	}
}

// FuzzRoomMsg: no input panics, and whatever decodes re-encodes to itself.
func FuzzRoomMsg(f *testing.F) {
	f.Add(encodeEvent(Event{Seq: 7, Origin: "a", Data: []byte("x")}))
	f.Add(encodeTyping("a", "u", []byte("{}")))
	f.Add([]byte{'E', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeRoomMsg(b)
		if err != nil {
			if !errors.Is(err, ErrWire) {
				t.Fatalf("error not ErrWire: %v", err)
			}
			return
		}
		var again []byte
		switch m.kind {
		case wireEvent:
			again = encodeEvent(Event{Seq: m.seq, Origin: m.origin, Data: m.data})
		case wireTyping:
			again = encodeTyping(m.origin, m.user, m.data)
		}
		m2, err := decodeRoomMsg(again)
		if err != nil || m2.seq != m.seq || m2.origin != m.origin || m2.user != m.user || !bytes.Equal(m2.data, m.data) {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", m, m2, err)
		}
	})
}
