package handlers

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

func TestMessageJSON(t *testing.T) {
	created := time.Date(2024, 10, 27, 12, 0, 0, 123_456_789, time.FixedZone("CET", 3600))
	like := 1
	deleted := created.Add(time.Hour)
	cases := []struct {
		name string
		m    WireMessage
		want string
	}{
		{
			name: "plain",
			m: WireMessage{ID: "srv1", Room: "r", RefID: "c1", UserID: "u1", Payload: []byte("hi"),
				CreatedAt: created, UpdatedAt: created},
			want: `{"id":"srv1","refrenceId":"c1","kind":0,"reactionKind":null,"message":"hi","reactions":[],` +
				`"sentBy":"u1","createdAt":"2024-10-27T11:00:00.123Z","updatedAt":"2024-10-27T11:00:00.123Z","deletedAt":null}`,
		},
		{
			name: "reacted, deleted, odd bytes",
			m: WireMessage{ID: "srv2", RefID: "c2", UserID: "u2", Kind: 3, ReactionKind: &like,
				Payload:   []byte{'a', 0xff, '"'},
				Reactions: []chat.Reaction{{Kind: 1, Count: 2, Users: []string{"u1", "u3"}}, {Kind: 4, Count: 0}},
				CreatedAt: created, UpdatedAt: deleted, DeletedAt: &deleted},
			want: `{"id":"srv2","refrenceId":"c2","kind":3,"reactionKind":1,"message":"a\ufffd\"",` +
				`"reactions":[{"kind":1,"count":2,"users":["u1","u3"]},{"kind":4,"count":0,"users":[]}],` +
				`"sentBy":"u2","createdAt":"2024-10-27T11:00:00.123Z","updatedAt":"2024-10-27T12:00:00.123Z",` +
				`"deletedAt":"2024-10-27T12:00:00.123Z"}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := json.Marshal(c.m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
			// Pointer and slice forms use the same shape.
			if p, _ := json.Marshal([]*WireMessage{&c.m}); string(p) != "["+c.want+"]" {
				t.Fatalf("as pointer: %s", p)
			}
			var back WireMessage
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			// Compare decoded values: an invalid byte comes back as a real
			// U+FFFD, which encodes unescaped.
			again, _ := json.Marshal(back)
			var a, w any
			json.Unmarshal(again, &a)
			json.Unmarshal([]byte(c.want), &w)
			if !reflect.DeepEqual(a, w) {
				t.Fatalf("round trip: %s", again)
			}
		})
	}
	t.Run("bad time", func(t *testing.T) {
		var m WireMessage
		if err := json.Unmarshal([]byte(`{"createdAt":"yesterday"}`), &m); err == nil {
			t.Fatal("accepted a bad time")
		}
	})
}
