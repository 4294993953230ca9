package hub

import (
	"strings"
	"testing"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
)

func TestCheckClient(t *testing.T) {
	const maxID = 8
	long := strings.Repeat("x", maxID+1)
	like := codec.ReactionPtr(codec.ReactionLike)
	none := codec.ReactionPtr(codec.ReactionNone)
	for _, tc := range []struct {
		name    string
		p       codec.Packet
		ref     string
		refused string // a substring of the refusal; "" when allowed
	}{
		{"message", codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str("m1"), Payload: []byte("hi")}, "m1", ""},
		{"message id at the bound", codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str(long[:maxID]), Payload: []byte("hi")}, long[:maxID], ""},
		{"message without id", codec.Packet{Kind: codec.KindMessage, Payload: []byte("hi")}, "", "a Message needs a message_id of 1 to 8 bytes"},
		{"message with empty id", codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str(""), Payload: []byte("hi")}, "", "message_id of 1 to 8"},
		{"message id too long", codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str(long), Payload: []byte("hi")}, "", "message_id of 1 to 8"},
		{"message without payload", codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str("m1")}, "", "non-empty payload"},
		{"reaction", codec.Packet{Kind: codec.KindReaction, MessageID: codec.Str("m1"), Reaction: like}, "m1", ""},
		{"reaction, id in payload", codec.Packet{Kind: codec.KindReaction, Payload: []byte("m2"), Reaction: like}, "m2", ""},
		{"reaction without kind", codec.Packet{Kind: codec.KindReaction, MessageID: codec.Str("m1")}, "", "reaction_kind from 1 to 4"},
		{"reaction of kind none", codec.Packet{Kind: codec.KindReaction, MessageID: codec.Str("m1"), Reaction: none}, "", "reaction_kind from 1 to 4"},
		{"reaction without id", codec.Packet{Kind: codec.KindReaction, Reaction: like}, "", "a Reaction needs a message_id of 1 to 8"},
		{"reaction id too long", codec.Packet{Kind: codec.KindReaction, MessageID: codec.Str(long), Reaction: like}, "", "message_id of 1 to 8"},
		{"typing", codec.Packet{Kind: codec.KindTyping, Payload: []byte(`{"typing":true}`)}, "", ""},
		{"typing with id", codec.Packet{Kind: codec.KindTyping, MessageID: codec.Str("m1"), Payload: []byte(`{}`)}, "", "Typing packet has no message_id"},
		{"typing, not JSON", codec.Packet{Kind: codec.KindTyping, Payload: []byte(`{`)}, "", "a JSON payload"},
		{"online users from a client", codec.Packet{Kind: codec.KindOnlineUsers, Payload: []byte("3")}, "", "only Message, Reaction and Typing, not online_users"},
		{"delete from a client", codec.Packet{Kind: codec.KindDelete, MessageID: codec.Str("m1")}, "", "not delete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, refusal := checkClient(tc.p, maxID)
			if tc.refused == "" {
				if refusal != "" || ref != tc.ref {
					t.Fatalf("got ref %q, refusal %q; want ref %q, allowed", ref, refusal, tc.ref)
				}
				return
			}
			if !strings.Contains(refusal, tc.refused) || !strings.HasPrefix(refusal, "Invalid packet (rule): ") || ref != "" {
				t.Fatalf("got ref %q, refusal %q; want a rule refusal with %q", ref, refusal, tc.refused)
			}
		})
	}
}

// TestRejectTextPerClass checks every codec class gets codec's own reason,
// and the size limit is named for too_large.
func TestRejectTextPerClass(t *testing.T) {
	for _, class := range codec.ClassNames() {
		got := rejectText(class, 999)
		want := "Invalid packet (" + class + "): " + codec.ClassReason(class)
		if class == "too_large" {
			want = "Invalid packet (too_large): payload too large (max 999 bytes)"
		}
		if got != want || codec.ClassReason(class) == "" {
			t.Errorf("%s: %q, want %q", class, got, want)
		}
	}
	if got := rejectText(classCodecFault, 999); got != "Invalid packet (codec_fault): the codec failed on it; it was dropped" {
		t.Errorf("codec fault: %q", got)
	}
}

func TestServerShapedIDsAreReservedForTheServer(t *testing.T) {
	for i := 0; i < 100; i++ {
		if id := chat.NewMessageID(); !ServerShapedID(id) {
			t.Fatalf("server id %q not recognized", id)
		}
	}
	for _, id := range []string{"", "m-1", "01HZY3K4ZQ8Q5W0V9N3J2T6R7", "01HZY3K4ZQ8Q5W0V9N3J2T6R7XY", "01hzy3k4zq8q5w0v9n3j2t6r7x", "01HZY3K4ZQ8Q5W0V9N3J2T6RIX", "01HZY3K4ZQ8Q5W0V9N3J2T6R-X"} {
		if ServerShapedID(id) {
			t.Fatalf("%q taken for a server id", id)
		}
	}
	p := codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str(chat.NewMessageID()), Payload: []byte("hi")}
	if _, refusal := checkClient(p, 128); !strings.Contains(refusal, "reserved for server ids") {
		t.Fatalf("a client Message with a server-shaped id: refusal %q", refusal)
	}
	p = codec.Packet{Kind: codec.KindReaction, MessageID: p.MessageID, Reaction: codec.ReactionPtr(codec.ReactionLike)}
	if ref, refusal := checkClient(p, 128); refusal != "" || ref != *p.MessageID {
		t.Fatalf("a Reaction naming a server id: %q %q", ref, refusal)
	}
}
