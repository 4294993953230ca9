package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/handlers"
)

// SQL safety (issue 7, item 6). The db package's own TestSQLMetacharacters
// covers its methods; this sends the same kind of strings through the HTTP
// and WebSocket routes of the assembled server, and
// TestSQLOnlyParameterized (sql_static_test.go) checks the source.

// sqlMeta are strings that would break, or rewrite, a query built by
// pasting text into SQL.
var sqlMeta = []string{
	`'`, `"`, `;`, `--`, `/*`, `*/`, `%`, `_`, `\`, "\x00",
	`' OR 1=1 --`,
	`'); DROP TABLE messages; --`,
	`" OR ""="`,
	`%' OR ref_id LIKE '%`,
	`\'; DELETE FROM users; --`,
	`' UNION SELECT token_hash FROM sessions --`,
	"ünïcödé 🚀 \u202e",
}

// Room names allow only [A-Za-z0-9_.-]; these are the metacharacters among
// them (LIKE's _ and SQL's -- comment).
var sqlRooms = []string{"__", "a--b", "-_.", "%room", "r';--"}

// Email local parts allow ' _ + - and dots between runs.
var sqlEmailLocals = []string{"o'neil--x", "a'--_+b", "x'_'_'z", "q.'-'.z"}

// TestSQLMetacharactersRoundTrip sends SQL metacharacters through every text
// field a client controls (name, email, password, message text and id over
// both the socket and HTTP, reaction and delete targets, history cursors,
// room names) and checks that each comes back verbatim, that lookups match
// exactly (a LIKE wildcard matches nothing else), and that nothing else in
// the database changed.
func TestSQLMetacharactersRoundTrip(t *testing.T) {
	s := start(t, func(c *app.Config) { c.Codec = "go" })
	ctx := context.Background()
	type sent struct{ room, ref, text, user string }
	var all []sent
	for i, meta := range sqlMeta {
		room := sqlRooms[i%3] // the valid ones
		t.Run(fmt.Sprintf("%d %q", i, meta), func(t *testing.T) {
			s := bind(t, s)
			name := "n" + meta
			email := fmt.Sprintf("%s%d@example.com", sqlEmailLocals[i%len(sqlEmailLocals)], userSeq.Add(1))
			password := "pw-" + meta + "-long-enough"
			var up struct {
				Token string
				User  struct{ ID, Name, Email string }
			}
			if st := s.do("POST", "/api/auth/sign-up/email", "", map[string]any{"name": name, "email": email, "password": password}, &up); st != 200 {
				t.Fatalf("sign-up: %d", st)
			}
			if up.User.Name != name || up.User.Email != email {
				t.Fatalf("sign-up returned %q %q, want %q %q", up.User.Name, up.User.Email, name, email)
			}
			var in struct{ Token string }
			if st := s.do("POST", "/api/auth/sign-in/email", "", map[string]any{"email": email, "password": password}, &in); st != 200 {
				t.Fatalf("sign-in with the same password: %d", st)
			}
			if st := s.do("POST", "/api/auth/sign-in/email", "", map[string]any{"email": email, "password": "pw-' OR 1=1 --"}, nil); st != http.StatusUnauthorized {
				t.Fatalf("sign-in with an injected password: %d", st)
			}
			var gs struct {
				User struct{ ID, Name, Email string }
			}
			s.do("GET", "/api/auth/get-session", in.Token, nil, &gs)
			if gs.User.ID != up.User.ID || gs.User.Name != name || gs.User.Email != email {
				t.Fatalf("get-session: %+v", gs.User)
			}
			u := user{ID: up.User.ID, Name: name, Token: in.Token}
			var prof struct{ ID, Name string }
			if st := s.do("GET", "/api/users/"+u.ID, u.Token, nil, &prof); st != 200 || prof.Name != name {
				t.Fatalf("profile: %d %+v", st, prof)
			}
			var e struct{ Code string }
			if st := s.do("GET", "/api/users/"+url.PathEscape(u.ID+meta), u.Token, nil, &e); st != 404 || e.Code != "USER_NOT_FOUND" {
				t.Fatalf("profile of an injected id: %d %+v", st, e)
			}

			// A socket message, its reaction, and an HTTP message.
			c := s.dial(u, room)
			wsRef, wsText := "ws"+meta, "text"+meta
			c.send(text(wsRef, wsText))
			if p := c.next(withID(wsRef)); string(p.Payload) != wsText || *p.UserID != u.ID {
				t.Fatalf("echo %+v %q", p, p.Payload)
			}
			c.send(codec.Packet{Kind: codec.KindReaction, MessageID: codec.Str(wsRef), Reaction: codec.ReactionPtr(codec.ReactionStar)})
			if p := c.next(kind(codec.KindReaction)); *p.MessageID != wsRef {
				t.Fatalf("reaction broadcast for %q", *p.MessageID)
			}
			httpRef, httpText := "http"+meta, meta+"text"
			var m handlers.WireMessage
			if st := s.do("POST", "/api/messages", u.Token, map[string]any{"room": room, "messageId": httpRef, "text": httpText}, &m); st != 201 || m.RefID != httpRef || string(m.Payload) != httpText {
				t.Fatalf("HTTP post: %d %+v", st, m)
			}
			target := "/api/messages/" + url.PathEscape(httpRef)
			if st := s.do("PUT", target+"/react?room="+url.QueryEscape(room), u.Token, map[string]any{"kind": 2}, &m); st != 200 || m.RefID != httpRef || len(m.Reactions) != 1 || m.Reactions[0].Users[0] != u.ID {
				t.Fatalf("HTTP react on %q: %d %+v", httpRef, st, m)
			}

			// The HTTP message as a cursor: exactly the messages before it.
			var h history
			if st := s.do("GET", "/api/messages?room="+url.QueryEscape(room)+"&limit=100&cursor="+url.QueryEscape(httpRef), u.Token, nil, &h); st != 200 {
				t.Fatalf("history by cursor %q: %d", httpRef, st)
			}
			if len(h.Messages) == 0 || h.Messages[0].RefID != wsRef {
				t.Fatalf("history before %q starts with %v", httpRef, refs(h.Messages))
			}
			for _, hm := range h.Messages {
				if hm.RefID == httpRef {
					t.Fatalf("history before %q holds it", httpRef)
				}
			}
			// An injected cursor matches nothing.
			if st := s.do("GET", "/api/messages?room="+url.QueryEscape(room)+"&cursor="+url.QueryEscape("x' OR 1=1 --"), u.Token, nil, &e); st != 400 || e.Code != "INVALID_CURSOR" {
				t.Fatalf("injected cursor: %d %+v", st, e)
			}
			// Delete the socket message by its id, then check both rows.
			if st := s.do("DELETE", "/api/messages/"+url.PathEscape(wsRef)+"?room="+url.QueryEscape(room), u.Token, nil, &m); st != 200 || m.RefID != wsRef {
				t.Fatalf("delete %q: %d %+v", wsRef, st, m)
			}
			// The deleted one is kept erased: no text, no reactions.
			for _, w := range []struct {
				ref, text string
				reactions int
			}{{wsRef, "", 0}, {httpRef, httpText, 1}} {
				got, err := s.app.DB.MessageByRef(ctx, room, w.ref)
				if err != nil || got.RefID != w.ref || string(got.Payload) != w.text || got.UserID != u.ID || len(got.Reactions) != w.reactions {
					t.Fatalf("stored %q: %+v %v", w.ref, got, err)
				}
			}
			all = append(all, sent{room, wsRef, "", u.ID}, sent{room, httpRef, httpText, u.ID})
		})
	}

	t.Run("room names", func(t *testing.T) {
		s := bind(t, s)
		u := s.signUp("rooms")
		for _, room := range sqlRooms {
			valid := !strings.ContainsAny(room, "%';")
			var e struct{ Code string }
			st := s.do("POST", "/api/messages", u.Token, map[string]any{"room": room, "messageId": "r-1", "text": "in " + room}, &e)
			if valid && st != 201 || !valid && (st != 400 || e.Code != "INVALID_ROOM") {
				t.Fatalf("room %q: %d %+v", room, st, e)
			}
			_, resp, err := s.tryDial(u.Token, url.PathEscape(room), nil)
			if !valid {
				wantRefused(t, "socket to room "+room, resp, err, 400, "INVALID_ROOM")
			} else if err != nil {
				t.Fatalf("socket to room %q: %v", room, err)
			}
		}
	})

	// Nothing else changed: every message is where it was sent, each room
	// holds exactly what was sent to it (deleted ones left out), the
	// invalid rooms hold nothing, and the file is sound.
	perRoom := map[string]map[string]bool{}
	for _, m := range all {
		got, err := s.app.DB.MessageByRef(ctx, m.room, m.ref)
		if err != nil || string(got.Payload) != m.text || got.UserID != m.user {
			t.Errorf("%q in %q at the end: %+v %v", m.ref, m.room, got, err)
		}
		if perRoom[m.room] == nil {
			perRoom[m.room] = map[string]bool{}
		}
		if strings.HasPrefix(m.ref, "http") {
			perRoom[m.room][m.ref] = true
		}
	}
	for _, room := range sqlRooms {
		msgs, err := s.app.DB.History(ctx, room, chat.Cursor{}, chat.MaxHistoryLimit)
		if err != nil {
			t.Fatalf("history of %q: %v", room, err)
		}
		want := perRoom[room]
		extra := 0
		if !strings.ContainsAny(room, "%';") {
			extra = 1 // r-1
		}
		if len(msgs) != len(want)+extra {
			t.Errorf("room %q holds %d live messages, want %d: %v", room, len(msgs), len(want)+extra, refsOf(msgs))
		}
		for _, m := range msgs {
			if !want[m.RefID] && m.RefID != "r-1" {
				t.Errorf("room %q holds unexpected %q", room, m.RefID)
			}
		}
	}
	if err := integrityCheck(ctx, s.app.DB); err != nil {
		t.Fatal(err)
	}
}

func refsOf(ms []chat.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.RefID
	}
	return out
}

// integrityCheck runs the store's own consistency check where it has one
// (SQLite's integrity_check and foreign_key_check).
func integrityCheck(ctx context.Context, s chat.Store) error {
	if c, ok := s.(interface{ IntegrityCheck(context.Context) error }); ok {
		return c.IntegrityCheck(ctx)
	}
	return nil
}
