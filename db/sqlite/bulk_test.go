package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

// TestBulk_CopyRoundTrip fills one database through the normal API, walks it
// with the Each methods into a second through the Load methods, and checks
// that the copy holds the same rows, in the same history order, with the
// same counts; a second load of the same rows adds nothing.
func TestBulk_CopyRoundTrip(t *testing.T) {
	ctx := context.Background()
	src, clk := mustOpenClock(t)
	dst := MustOpenDB(t, WithClock(clk.Now))

	img := "https://example.com/a.png"
	for i, u := range []chat.User{
		{ID: "u1", Name: "Ann", Email: "ann@example.com", Image: &img, EmailVerified: true},
		{ID: "u2", Name: "Bob '; DROP TABLE users; --", Email: "bob@example.com"},
	} {
		if err := src.CreateUser(ctx, u, fmt.Sprintf("scrypt$hash-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, u := range []string{"u1", "u2", "u1"} {
		s := chat.Session{ID: fmt.Sprint("s", i), TokenHash: chat.HashToken(fmt.Sprint("tok", i)), UserID: u,
			ExpiresAt: clk.Now().Add(time.Hour), IPAddress: "127.0.0.1", UserAgent: "test"}
		if err := src.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Equal times, so history order rests on insertion order alone.
	for i := range 25 {
		mustInsert(t, src, msg("r", fmt.Sprint("m", i), []string{"u1", "u2"}[i%2], fmt.Sprint("text ", i)))
	}
	mustInsert(t, src, chat.Message{Room: "other", RefID: "bin", UserID: "u1", Payload: []byte{0, 0xff, 'x'}})
	for _, tg := range []struct{ ref, user string }{{"m3", "u1"}, {"m3", "u2"}, {"m4", "u1"}} {
		if _, err := src.ToggleReaction(ctx, "r", tg.ref, tg.user, 2); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.DeleteMessage(ctx, "r", "m5", "u2"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.SettingOrInit(ctx, "auth_secret", func() (string, error) { return "00ff", nil }); err != nil {
		t.Fatal(err)
	}

	copyAll := func(batch int) (added int) {
		t.Helper()
		add := func(n int, err error) error { added += n; return err }
		if err := src.EachUser(ctx, batch, func(us []chat.BulkUser) error { return add(dst.LoadUsers(ctx, us)) }); err != nil {
			t.Fatal(err)
		}
		if err := src.EachSession(ctx, batch, func(ss []chat.Session) error { return add(dst.LoadSessions(ctx, ss)) }); err != nil {
			t.Fatal(err)
		}
		if err := src.EachMessage(ctx, batch, func(ms []chat.Message) error { return add(dst.LoadMessages(ctx, ms)) }); err != nil {
			t.Fatal(err)
		}
		settings, err := src.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := add(dst.LoadSettings(ctx, settings)); err != nil {
			t.Fatal(err)
		}
		return added
	}
	if n := copyAll(4); n != 2+3+26+1 {
		t.Fatalf("first copy added %d rows, want %d", n, 2+3+26+1)
	}
	if n := copyAll(0); n != 0 {
		t.Fatalf("second copy added %d rows, want 0", n)
	}

	want := chat.Counts{Users: 2, Sessions: 3, Messages: 26, Deleted: 1, Reactions: 3, Settings: 1}
	for name, d := range map[string]*DB{"source": src, "copy": dst} {
		got, err := d.Counts(ctx)
		if err != nil || got != want {
			t.Fatalf("%s counts = %+v, %v; want %+v", name, got, err, want)
		}
	}

	// Old passwords and sessions keep working on the copy.
	u, hash, err := dst.UserByEmail(ctx, "BOB@example.com")
	if err != nil || hash != "scrypt$hash-1" || u.Name != "Bob '; DROP TABLE users; --" {
		t.Fatalf("copied user = %+v, %q, %v", u, hash, err)
	}
	if s, su, err := dst.SessionByTokenHash(ctx, chat.HashToken("tok2")); err != nil || s.ID != "s2" || su.ID != "u1" {
		t.Fatalf("copied session = %+v, %+v, %v", s, su, err)
	}
	if v, err := dst.Setting(ctx, "auth_secret"); err != nil || v != "00ff" {
		t.Fatalf("copied secret = %q, %v", v, err)
	}
	for _, room := range []string{"r", "other"} {
		a, err := src.History(ctx, room, chat.Cursor{}, chat.MaxHistoryLimit)
		if err != nil {
			t.Fatal(err)
		}
		b, err := dst.History(ctx, room, chat.Cursor{}, chat.MaxHistoryLimit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(a, b, sameMessage) {
			t.Fatalf("room %q history differs:\n src %v\ncopy %v", room, refs(a), refs(b))
		}
	}
	if m, err := dst.MessageByRef(ctx, "r", "m5"); err != nil || m.DeletedAt == nil {
		t.Fatalf("deleted message on the copy = %+v, %v", m, err)
	}
}

func TestBulk_Refusals(t *testing.T) {
	ctx := context.Background()
	d := MustOpenDB(t)
	if _, err := d.LoadSessions(ctx, []chat.Session{{ID: "s", TokenHash: "h", UserID: "nobody",
		ExpiresAt: time.Now()}}); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("session of unknown user: err = %v, want ErrNotFound", err)
	}
	ok := chat.Message{ID: "id1", Room: "r", RefID: "a", UserID: "u", CreatedAt: time.Now()}
	bad := chat.Message{ID: "id2", Room: "r", RefID: "b", UserID: "u"} // no time
	if _, err := d.LoadMessages(ctx, []chat.Message{ok, bad}); !errors.Is(err, chat.ErrInvalid) {
		t.Fatalf("message without time: err = %v, want ErrInvalid", err)
	}
	// One transaction: the good row went nowhere either.
	if c, err := d.Counts(ctx); err != nil || !c.Empty() {
		t.Fatalf("after a refused load: %+v, %v; want empty", c, err)
	}
}
