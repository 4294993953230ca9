package sqlite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/storetest"
)

func TestInsertMessages_Dedupe(t *testing.T) {
	d, clk := mustOpenClock(t)
	ctx := context.Background()

	first := []chat.Message{storetest.Msg("r", "a", "u1", "hello"), storetest.Msg("r", "b", "u1", "world")}
	if fresh := storetest.MustInsert(t, d, first...); !slices.Equal(fresh, []bool{true, true}) {
		t.Fatalf("fresh = %v", fresh)
	}
	if first[0].ID == "" || first[0].ID == first[1].ID || !first[0].CreatedAt.Equal(clk.Now()) {
		t.Fatalf("defaults not filled in place: %+v", first[0])
	}
	orig, err := d.MessageByRef(ctx, "r", "a")
	if err != nil {
		t.Fatal(err)
	}

	clk.Advance(time.Minute)
	resend := storetest.Msg("r", "a", "u2", "CHANGED")
	batch := []chat.Message{
		resend, // same (room, ref) as stored
		storetest.Msg("r", "c", "u1", "new"),
		storetest.Msg("r", "c", "u1", "again"),
		storetest.Msg("r2", "a", "u1", "other room, same ref"),
	}
	fresh := storetest.MustInsert(t, d, batch...)
	if want := []bool{false, true, false, true}; !slices.Equal(fresh, want) {
		t.Fatalf("fresh = %v, want %v", fresh, want)
	}
	got, err := d.MessageByRef(ctx, "r", "a")
	if err != nil {
		t.Fatal(err)
	}
	if !sameMessage(got, orig) {
		t.Fatalf("stored row changed by a duplicate:\n got %+v\nwant %+v", got, orig)
	}
	if c, _ := d.MessageByRef(ctx, "r", "c"); string(c.Payload) != "new" {
		t.Fatalf("repeat within a batch overwrote the first: %q", c.Payload)
	}

	t.Run("same message resubmitted with its id", func(t *testing.T) {
		again := first[1]
		fresh := storetest.MustInsert(t, d, again)
		if fresh[0] {
			t.Fatal("resubmitted message reported fresh")
		}
	})

	t.Run("id collision is an error and rolls back", func(t *testing.T) {
		clash := storetest.Msg("r", "z", "u1", "x")
		clash.ID = first[0].ID
		_, err := d.InsertMessages(ctx, []chat.Message{storetest.Msg("r", "y", "u1", "y"), clash})
		if !errors.Is(err, chat.ErrConflict) {
			t.Fatalf("err = %v, want chat.ErrConflict", err)
		}
		if _, err := d.MessageByRef(ctx, "r", "y"); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("the batch's other message was kept: %v", err)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		cases := []chat.Message{
			{RefID: "a", UserID: "u"},
			{Room: "r", UserID: "u"},
			{Room: "r", RefID: "a"},
			{Room: "r", RefID: "a", UserID: "u", Kind: -1},
		}
		for i, m := range cases {
			if _, err := d.InsertMessages(ctx, []chat.Message{m}); !errors.Is(err, chat.ErrInvalid) {
				t.Errorf("case %d: err = %v, want ErrInvalid", i, err)
			}
		}
	})

	t.Run("empty batch", func(t *testing.T) {
		fresh, err := d.InsertMessages(ctx, nil)
		if err != nil || len(fresh) != 0 {
			t.Fatalf("= %v, %v", fresh, err)
		}
	})
}

// sameMessage compares messages field by field, times by instant.
func sameMessage(a, b chat.Message) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb) && a.Room == b.Room && bytes.Equal(a.Payload, b.Payload)
}

func TestMessageByID(t *testing.T) {
	d := MustOpenDB(t)
	ms := []chat.Message{storetest.Msg("r", "a", "u", "x")}
	storetest.MustInsert(t, d, ms...)
	got, err := d.MessageByID(context.Background(), ms[0].ID)
	if err != nil || got.RefID != "a" || got.Room != "r" {
		t.Fatalf("= %+v, %v", got, err)
	}
	if _, err := d.MessageByID(context.Background(), "nope"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("unknown id: err = %v", err)
	}
	if _, err := d.MessageByRef(context.Background(), "other", "a"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("ref in another room: err = %v", err)
	}
}

func TestHistory(t *testing.T) {
	d, clk := mustOpenClock(t)
	ctx := context.Background()
	t0 := clk.Now()

	// Room "r": m00..m09 one second apart, then m10 and m11 in the same
	// millisecond as m09 (ties are broken by insertion order). Room "q"
	// interleaves so isolation is tested on a shared index.
	for i := range 10 {
		storetest.MustInsert(t, d, storetest.Msg("r", fmt.Sprintf("m%02d", i), "u", "r"), storetest.Msg("q", fmt.Sprintf("q%02d", i), "u", "q"))
		clk.Advance(time.Second)
	}
	clk.Advance(-time.Second)
	storetest.MustInsert(t, d, storetest.Msg("r", "m10", "u", "tie"))
	storetest.MustInsert(t, d, storetest.Msg("r", "m11", "u", "tie"))
	if _, err := d.DeleteMessage(ctx, "r", "m05", "u"); err != nil {
		t.Fatal(err)
	}

	all := []string{"m11", "m10", "m09", "m08", "m07", "m06", "m04", "m03", "m02", "m01", "m00"}
	cases := []struct {
		name    string
		room    string
		cursor  chat.Cursor
		limit   int
		want    []string
		wantErr error
	}{
		{"newest first", "r", chat.Cursor{}, 50, all, nil},
		{"limit", "r", chat.Cursor{}, 3, all[:3], nil},
		{"other room", "q", chat.Cursor{}, 2, []string{"q09", "q08"}, nil},
		{"unknown room", "nope", chat.Cursor{}, 10, []string{}, nil},
		{"before time", "r", chat.Cursor{Before: t0.Add(3 * time.Second)}, 50, []string{"m02", "m01", "m00"}, nil},
		{"before time inside a millisecond", "r", chat.Cursor{Before: t0.Add(2*time.Second + 500*time.Microsecond)}, 50,
			[]string{"m02", "m01", "m00"}, nil},
		{"before time with limit", "r", chat.Cursor{Before: t0.Add(8 * time.Second)}, 2, []string{"m07", "m06"}, nil},
		{"before the first", "r", chat.Cursor{Before: t0}, 50, []string{}, nil},
		{"before ref", "r", chat.Cursor{BeforeRef: "m08"}, 3, []string{"m07", "m06", "m04"}, nil},
		{"before ref among ties", "r", chat.Cursor{BeforeRef: "m11"}, 2, []string{"m10", "m09"}, nil},
		{"before deleted ref", "r", chat.Cursor{BeforeRef: "m05"}, 50, []string{"m04", "m03", "m02", "m01", "m00"}, nil},
		{"before oldest ref", "r", chat.Cursor{BeforeRef: "m00"}, 50, []string{}, nil},
		{"both cursors", "r", chat.Cursor{BeforeRef: "m08", Before: t0.Add(4 * time.Second)}, 50,
			[]string{"m03", "m02", "m01", "m00"}, nil},
		{"ref from another room", "r", chat.Cursor{BeforeRef: "q05"}, 50, nil, chat.ErrNotFound},
		{"unknown ref", "r", chat.Cursor{BeforeRef: "zz"}, 50, nil, chat.ErrNotFound},
		{"limit 0", "r", chat.Cursor{}, 0, nil, chat.ErrInvalid},
		{"limit too big", "r", chat.Cursor{}, chat.MaxHistoryLimit + 1, nil, chat.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := d.History(ctx, c.room, c.cursor, c.limit)
			if !errorsIs(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if c.wantErr != nil {
				return
			}
			if got == nil {
				t.Fatal("nil page")
			}
			if !slices.Equal(storetest.Refs(got), c.want) {
				t.Fatalf("got %v, want %v", storetest.Refs(got), c.want)
			}
			for _, m := range got {
				if m.Room != c.room || m.DeletedAt != nil {
					t.Fatalf("page holds %+v", m)
				}
			}
		})
	}

	t.Run("paging by ref visits every live message once", func(t *testing.T) {
		var seen []string
		c := chat.Cursor{}
		for {
			page, err := d.History(ctx, "r", c, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			seen = append(seen, storetest.Refs(page)...)
			c = chat.Cursor{BeforeRef: page[len(page)-1].RefID}
		}
		if !slices.Equal(seen, all) {
			t.Fatalf("paged %v, want %v", seen, all)
		}
	})

	t.Run("query uses the history index", func(t *testing.T) {
		for _, q := range []string{
			`SELECT ` + messageCols + ` FROM messages WHERE room_id = ? AND deleted_at IS NULL AND created_at < ? ORDER BY created_at DESC, seq DESC LIMIT ?`,
			`SELECT ` + messageCols + ` FROM messages WHERE room_id = ? AND deleted_at IS NULL AND (created_at, seq) < (?, ?) ORDER BY created_at DESC, seq DESC LIMIT ?`,
		} {
			rows, err := d.rd.Query(`EXPLAIN QUERY PLAN `+q, "r", 1, 2, 3)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				rows.Scan(&id, &parent, &notused, &detail)
				plan = append(plan, detail)
			}
			rows.Close()
			p := strings.Join(plan, "; ")
			if !strings.Contains(p, "messages_room_history") || strings.Contains(p, "TEMP B-TREE") {
				t.Fatalf("plan %q: want the history index and no sort", p)
			}
		}
	})
}

func TestToggleReaction(t *testing.T) {
	d, clk := mustOpenClock(t)
	ctx := context.Background()
	storetest.MustInsert(t, d, storetest.Msg("r", "a", "author", "hi"))

	const like, heart = 1, 3
	steps := []struct {
		user string
		kind int
		want string // the reactions JSON after the step
	}{
		{"u1", like, `[{"kind":1,"count":1,"users":["u1"]}]`},
		{"u2", like, `[{"kind":1,"count":2,"users":["u1","u2"]}]`},
		{"u1", heart, `[{"kind":1,"count":2,"users":["u1","u2"]},{"kind":3,"count":1,"users":["u1"]}]`},
		{"u1", like, `[{"kind":1,"count":1,"users":["u2"]},{"kind":3,"count":1,"users":["u1"]}]`},
		{"u2", like, `[{"kind":3,"count":1,"users":["u1"]}]`},
		{"u3", 0, `[{"kind":3,"count":1,"users":["u1"]},{"kind":0,"count":1,"users":["u3"]}]`},
		{"u3", 0, `[{"kind":3,"count":1,"users":["u1"]}]`},
		{"u1", heart, `[]`},
	}
	for i, s := range steps {
		t.Run(fmt.Sprintf("%d %s kind %d", i, s.user, s.kind), func(t *testing.T) {
			clk.Advance(time.Second)
			m, err := d.ToggleReaction(ctx, "r", "a", s.user, s.kind)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := encodeReactions(m.Reactions); got != s.want {
				t.Fatalf("returned %s, want %s", got, s.want)
			}
			if !m.UpdatedAt.Equal(clk.Now()) {
				t.Errorf("updatedAt %v, want %v", m.UpdatedAt, clk.Now())
			}
			var stored string
			d.rd.QueryRow(`SELECT reactions FROM messages WHERE ref_id = 'a'`).Scan(&stored)
			if stored != s.want {
				t.Fatalf("stored %s, want %s", stored, s.want)
			}
			h, err := d.History(ctx, "r", chat.Cursor{}, 1)
			if err != nil || len(h) != 1 {
				t.Fatal(h, err)
			}
			if got, _ := encodeReactions(h[0].Reactions); got != s.want {
				t.Fatalf("history has %s, want %s", got, s.want)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		storetest.MustInsert(t, d, storetest.Msg("r", "gone", "author", "x"))
		if _, err := d.DeleteMessage(ctx, "r", "gone", "author"); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			room, ref, user string
			kind            int
			want            error
		}{
			{"r", "missing", "u1", like, chat.ErrNotFound},
			{"other", "a", "u1", like, chat.ErrNotFound},
			{"r", "gone", "u1", like, chat.ErrNotFound},
			{"r", "a", "", like, chat.ErrInvalid},
			{"r", "a", "u1", -1, chat.ErrInvalid},
		}
		for _, c := range cases {
			if _, err := d.ToggleReaction(ctx, c.room, c.ref, c.user, c.kind); !errors.Is(err, c.want) {
				t.Errorf("%+v: err = %v, want %v", c, err, c.want)
			}
		}
	})

	t.Run("concurrent toggles are not lost", func(t *testing.T) {
		storetest.MustInsert(t, d, storetest.Msg("r", "busy", "author", "x"))
		const users = 16
		var wg sync.WaitGroup
		errs := make(chan error, users)
		for i := range users {
			wg.Go(func() {
				_, err := d.ToggleReaction(ctx, "r", "busy", fmt.Sprintf("c%02d", i), like)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		m, err := d.MessageByRef(ctx, "r", "busy")
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Reactions) != 1 || m.Reactions[0].Count != users || len(m.Reactions[0].Users) != users {
			t.Fatalf("reactions %+v, want %d users on one kind", m.Reactions, users)
		}
	})
}

func TestDeleteMessage(t *testing.T) {
	d, clk := mustOpenClock(t)
	ctx := context.Background()
	storetest.MustInsert(t, d, storetest.Msg("r", "a", "author", "hi"), storetest.Msg("r", "b", "author", "keep"))
	clk.Advance(time.Minute)

	cases := []struct {
		name, room, ref, user string
		want                  error
	}{
		{"other user", "r", "a", "intruder", chat.ErrForbidden},
		{"unknown", "r", "nope", "author", chat.ErrNotFound},
		{"wrong room", "x", "a", "author", chat.ErrNotFound},
		{"author", "r", "a", "author", nil},
		{"again", "r", "a", "author", chat.ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := d.DeleteMessage(ctx, c.room, c.ref, c.user)
			if !errorsIs(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if err == nil && (m.DeletedAt == nil || !m.DeletedAt.Equal(clk.Now()) || !m.UpdatedAt.Equal(clk.Now())) {
				t.Fatalf("returned %+v", m)
			}
		})
	}

	m, err := d.MessageByRef(ctx, "r", "a")
	if err != nil || m.DeletedAt == nil || !m.DeletedAt.Equal(clk.Now()) || len(m.Payload) != 0 || m.UserID != "author" {
		t.Fatalf("deleted row, want erased: %+v, %v", m, err)
	}
	h, _ := d.History(ctx, "r", chat.Cursor{}, 10)
	if !slices.Equal(storetest.Refs(h), []string{"b"}) {
		t.Fatalf("history %v, want [b]", storetest.Refs(h))
	}
}

func TestPayload_BytesKept(t *testing.T) {
	d := MustOpenDB(t)
	ctx := context.Background()
	cases := map[string][]byte{
		"empty":           {},
		"invalid utf8":    {0xff, 0xfe, 'a', 0x80, 0xc3},
		"nul bytes":       {0, 0, 'x', 0},
		"every byte":      allBytes(),
		"long":            bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096),
		"utf8 multi-byte": []byte("héllo 👋 мир"),
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			storetest.MustInsert(t, d, chat.Message{Room: "r", RefID: name, UserID: "u", Payload: p})
			got, err := d.MessageByRef(ctx, "r", name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Payload, p) || got.Payload == nil {
				t.Fatalf("payload %x, want %x", got.Payload, p)
			}
			// The text is stored once, as the exact bytes.
			var stored []byte
			if err := d.rd.QueryRow(`SELECT payload FROM messages WHERE ref_id = ?`, name).Scan(&stored); err != nil || !bytes.Equal(stored, p) {
				t.Fatalf("stored payload %x, %v; want %x", stored, err, p)
			}
		})
	}
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// metachars are strings that break naive SQL string building.
var metachars = []string{
	`'`, `''`, `"`, `\`, `%`, `_`, `?`, `?1`, `$1`, `:name`, `@p`, `;`, `--`, `/*`, "\x00", "\n\r\t",
	`'); DROP TABLE messages; --`,
	`" OR 1=1 --`,
	`Robert'); DELETE FROM users WHERE ('1'='1`,
	`%' OR ref_id LIKE '%`,
	"ünïcödé 🚀",
}

func TestSQLMetacharacters(t *testing.T) {
	d := MustOpenDB(t)
	ctx := context.Background()
	for i, s := range metachars {
		t.Run(fmt.Sprintf("%d %q", i, s), func(t *testing.T) {
			id := fmt.Sprintf("id-%d-%s", i, s)
			img := "img" + s
			u := chat.User{ID: id, Name: "name" + s, Email: fmt.Sprintf("e%d%s@example.com", i, s), Image: &img}
			if err := d.CreateUser(ctx, u, "hash"+s); err != nil {
				t.Fatal(err)
			}
			gu, hash, err := d.UserByEmail(ctx, u.Email)
			if err != nil || gu.ID != u.ID || gu.Name != u.Name || gu.Email != u.Email || *gu.Image != img || hash != "hash"+s {
				t.Fatalf("user %+v hash %q err %v", gu, hash, err)
			}
			sess := chat.Session{ID: id, TokenHash: "th" + s, UserID: id, ExpiresAt: time.Now().Add(time.Hour),
				IPAddress: "ip" + s, UserAgent: "ua" + s}
			if err := d.CreateSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
			gs, _, err := d.SessionByTokenHash(ctx, sess.TokenHash)
			if err != nil || gs.ID != sess.ID || gs.IPAddress != sess.IPAddress || gs.UserAgent != sess.UserAgent {
				t.Fatalf("session %+v err %v", gs, err)
			}
			if err := d.PutSetting(ctx, "key"+s, "val"+s); err != nil {
				t.Fatal(err)
			}
			if v, err := d.Setting(ctx, "key"+s); err != nil || v != "val"+s {
				t.Fatalf("setting %q err %v", v, err)
			}
			m := chat.Message{ID: id, Room: "room" + s, RefID: "ref" + s, UserID: "user" + s, Payload: []byte("text" + s)}
			storetest.MustInsert(t, d, m)
			if _, err := d.ToggleReaction(ctx, m.Room, m.RefID, "reactor"+s, 1); err != nil {
				t.Fatal(err)
			}
			gm, err := d.MessageByRef(ctx, m.Room, m.RefID)
			if err != nil {
				t.Fatal(err)
			}
			if gm.ID != m.ID || gm.Room != m.Room || gm.RefID != m.RefID || gm.UserID != m.UserID ||
				string(gm.Payload) != "text"+s || gm.Reactions[0].Users[0] != "reactor"+s {
				t.Fatalf("message %+v", gm)
			}
			h, err := d.History(ctx, m.Room, chat.Cursor{BeforeRef: m.RefID}, 10)
			if err != nil || len(h) != 0 {
				t.Fatalf("history before the only message: %v %v", storetest.Refs(h), err)
			}
			if _, err := d.DeleteMessage(ctx, m.Room, m.RefID, m.UserID); err != nil {
				t.Fatal(err)
			}
		})
	}
	var n int
	if err := d.rd.QueryRow(`SELECT count(*) FROM messages`).Scan(&n); err != nil || n != len(metachars) {
		t.Fatalf("messages table has %d rows (%v), want %d", n, err, len(metachars))
	}
}
