package d1import_test

import (
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/d1import"
	"github.com/wasmchannel/wasmchannel/d1import/d1fixture"
	"github.com/wasmchannel/wasmchannel/db"
)

// plan loads and maps a generated dump.
func plan(t *testing.T, f d1fixture.Fixture, sessions bool) *d1import.Plan {
	t.Helper()
	d, err := d1import.Load(context.Background(), f.Dump, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	p, err := d.Map(context.Background(), d1import.MapOptions{Sessions: sessions, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// openStore opens a fresh SQLite target the way serve does.
func openStore(t *testing.T) chat.Store {
	t.Helper()
	st, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "target.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func counts(t *testing.T, st chat.Store) chat.Counts {
	t.Helper()
	c, err := st.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expected returns what a full import of f into an empty target stores.
func expected(f d1fixture.Fixture, sessions bool) chat.Counts {
	var c chat.Counts
	for _, u := range f.Users {
		if !u.Duplicate {
			c.Users++
		}
	}
	for _, s := range f.Sessions {
		if sessions && !s.Expired {
			c.Sessions++
		}
	}
	for _, m := range f.Messages {
		c.Messages++
		if m.Deleted {
			c.Deleted++
		}
		for _, r := range m.Reactions {
			c.Reactions += int64(len(r.Users))
		}
	}
	if sessions {
		c.Settings = 1 // the session secret
	}
	return c
}

func TestWriteFixture(t *testing.T) {
	f := d1fixture.Gen(t, "final", 10000)
	st := openStore(t)
	p := plan(t, f, true)
	if err := d1import.Write(context.Background(), p, st, d1import.Options{Secret: d1fixture.Secret}); err != nil {
		t.Fatal(err)
	}
	got, want := counts(t, st), expected(f, true)
	if got != want {
		t.Fatalf("target counts %+v, want %+v", got, want)
	}
	sec, err := st.Setting(context.Background(), auth.SecretSetting)
	if err != nil || sec != hex.EncodeToString([]byte(d1fixture.Secret)) {
		t.Fatalf("stored secret %q, %v", sec, err)
	}
	// Every account keeps the hash Better Auth made, and it verifies with
	// the original password.
	for _, u := range f.Users {
		if u.Duplicate {
			continue
		}
		stored, hash, err := st.UserByEmail(context.Background(), u.Email)
		if err != nil {
			t.Fatalf("%s: %v", u.Email, err)
		}
		if stored.ID != u.ID || stored.Name != u.Name || stored.CreatedAt.Unix() != u.Created {
			t.Errorf("%s: stored %+v", u.Email, stored)
		}
		if u.Password == nil {
			if hash != "" {
				t.Errorf("%s: GitHub-only user got a password hash", u.Email)
			}
			continue
		}
		ok, err := auth.VerifyPassword(hash, *u.Password)
		if err != nil || !ok {
			t.Errorf("%s: original password does not verify: %v", u.Email, err)
		}
	}
	// Every message is stored as upstream had it, reactions included.
	for i, want := range f.Messages {
		if i%37 != 0 && len(want.Reactions) == 0 && !want.Deleted {
			continue // a sample of plain messages, and every special one
		}
		m, err := st.MessageByRef(context.Background(), d1import.DefaultRoom, want.Ref)
		if err != nil {
			t.Fatalf("message %s: %v", want.Ref, err)
		}
		wantText := want.Text
		if want.Deleted {
			wantText = "" // a delete erases the text, in the store as on the server
		}
		if m.ID != want.ID || m.UserID != want.SentBy || string(m.Payload) != wantText ||
			m.CreatedAt.Unix() != want.Created || (m.DeletedAt != nil) != want.Deleted {
			t.Fatalf("message %d: stored %+v, want %+v", i, m, want)
		}
		if len(m.Reactions) != len(want.Reactions) {
			t.Fatalf("message %d reactions %+v, want %+v", i, m.Reactions, want.Reactions)
		}
		for j, r := range want.Reactions {
			g := m.Reactions[j]
			if g.Kind != r.Kind || g.Count != r.Count || strings.Join(g.Users, ",") != strings.Join(r.Users, ",") {
				t.Fatalf("message %d reaction %d: %+v, want %+v", i, j, g, r)
			}
		}
	}
}

func TestWriteOlderSchema(t *testing.T) {
	f := d1fixture.Gen(t, "old", 300)
	st := openStore(t)
	if err := d1import.Write(context.Background(), plan(t, f, false), st, d1import.Options{Room: "general"}); err != nil {
		t.Fatal(err)
	}
	if got, want := counts(t, st), expected(f, false); got != want {
		t.Fatalf("target counts %+v, want %+v", got, want)
	}
	m, err := st.MessageByRef(context.Background(), "general", f.Messages[5].ID)
	if err != nil {
		t.Fatalf("older schema: message found by its id as reference id: %v", err)
	}
	if m.DeletedAt == nil || len(m.Reactions) != 0 {
		t.Fatalf("older schema message 5: %+v", m)
	}
}

func TestWriteRefusals(t *testing.T) {
	f := d1fixture.Gen(t, "final", 300)
	ctx := context.Background()

	t.Run("target with users", func(t *testing.T) {
		st := openStore(t)
		if err := st.CreateUser(ctx, chat.User{ID: "existing", Name: "E", Email: "e@example.com"}, "x"); err != nil {
			t.Fatal(err)
		}
		before := counts(t, st)
		err := d1import.Write(ctx, plan(t, f, false), st, d1import.Options{})
		if !errors.Is(err, d1import.ErrTargetHasUsers) {
			t.Fatalf("got %v, want ErrTargetHasUsers", err)
		}
		if after := counts(t, st); after != before {
			t.Fatalf("a refused import changed the target: %+v -> %+v", before, after)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		st := openStore(t)
		p := plan(t, f, true)
		if err := d1import.Write(ctx, p, st, d1import.Options{DryRun: true, Secret: d1fixture.Secret}); err != nil {
			t.Fatal(err)
		}
		if c := counts(t, st); !c.Empty() {
			t.Fatalf("dry run wrote %+v", c)
		}
		if p.Report.Table("messages").Imported != len(f.Messages) {
			t.Fatalf("dry run report: %+v", p.Report.Table("messages"))
		}
	})
	t.Run("sessions without the secret", func(t *testing.T) {
		st := openStore(t)
		err := d1import.Write(ctx, plan(t, f, true), st, d1import.Options{Secret: "short"})
		if !errors.Is(err, d1import.ErrNeedSecret) {
			t.Fatalf("got %v, want ErrNeedSecret", err)
		}
		if c := counts(t, st); !c.Empty() {
			t.Fatalf("refused import wrote %+v", c)
		}
	})
}

func TestWriteMerge(t *testing.T) {
	f := d1fixture.Gen(t, "final", 300)
	ctx := context.Background()
	st := openStore(t)
	// The target already has Ada (same email, another id) and a message of
	// its own in the room.
	ada := f.Users[0]
	if err := st.CreateUser(ctx, chat.User{ID: "target-ada", Name: "Ada here", Email: strings.ToUpper(ada.Email)}, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.InsertMessages(ctx, []chat.Message{{Room: "room", RefID: "target-own", UserID: "target-ada", Payload: []byte("mine")}}); err != nil {
		t.Fatal(err)
	}
	before := counts(t, st)
	p := plan(t, f, true)
	if err := d1import.Write(ctx, p, st, d1import.Options{Merge: true, Secret: d1fixture.Secret}); err != nil {
		t.Fatal(err)
	}
	want := expected(f, true)
	adaSessions := 0
	for _, s := range f.Sessions {
		if s.UserID == ada.ID && !s.Expired {
			adaSessions++
		}
	}
	after := counts(t, st)
	if after.Users-before.Users != want.Users-1 || after.Messages-before.Messages != want.Messages ||
		after.Sessions-before.Sessions != want.Sessions-int64(adaSessions) {
		t.Fatalf("merge: %+v -> %+v, want %+v less Ada and her sessions", before, after, want)
	}
	if n := p.Report.Table("user").SkippedFor(d1import.ReasonMergedAccount); n != 1 {
		t.Fatalf("merged account not reported: %d", n)
	}
	u, hash, err := st.UserByEmail(ctx, ada.Email)
	if err != nil || u.ID != "target-ada" || hash != "x" {
		t.Fatalf("existing account not kept: %+v %q %v", u, hash, err)
	}
	for _, want := range f.Messages {
		if want.SentBy != ada.ID {
			continue
		}
		m, err := st.MessageByRef(ctx, "room", want.Ref)
		if err != nil || m.UserID != "target-ada" {
			t.Fatalf("Ada's upstream message %s: %+v %v, want it attributed to the existing account", want.Ref, m, err)
		}
		break
	}
	if _, err := st.MessageByRef(ctx, "room", "target-own"); err != nil {
		t.Fatalf("the target's own message is gone: %v", err)
	}
}

// failing fails a load the way a crash or a full disk would, over a real
// store: every sessions load, or messages after their first batch.
type failing struct {
	chat.Store
	sessions bool
	batches  int
}

var errDiskFull = errors.New("disk full (injected)")

func (f *failing) LoadSessions(ctx context.Context, ss []chat.Session) (int, error) {
	if f.sessions {
		return 0, errDiskFull
	}
	return f.Store.LoadSessions(ctx, ss)
}

func (f *failing) LoadMessages(ctx context.Context, msgs []chat.Message) (int, error) {
	if f.batches++; f.batches > 1 {
		return 0, errDiskFull
	}
	return f.Store.LoadMessages(ctx, msgs)
}

// dropping silently loses the last message of each batch while saying it
// stored them all: the kind of loss only counting the target finds.
type dropping struct{ chat.Store }

func (d dropping) LoadMessages(ctx context.Context, msgs []chat.Message) (int, error) {
	n, err := d.Store.LoadMessages(ctx, msgs[:len(msgs)-1])
	return n + 1, err
}

func TestWriteInterruptedThenRerun(t *testing.T) {
	f := d1fixture.Gen(t, "final", 10000)
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		sessions bool
		messages int64 // stored when the failure stops the import
	}{{"at sessions", true, 0}, {"at the second batch of messages", false, 1000}} {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			err := d1import.Write(ctx, plan(t, f, true), &failing{Store: st, sessions: c.sessions}, d1import.Options{Secret: d1fixture.Secret, Batch: 1000})
			if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "--merge") {
				t.Fatalf("got %v, want the injected failure and how to finish", err)
			}
			if got := counts(t, st); got.Messages != c.messages {
				t.Fatalf("after the failure %d messages are stored, want %d", got.Messages, c.messages)
			}
			// The secret is stored before any session, so a session never
			// sits in the target without the secret that verifies it.
			if _, err := st.Setting(ctx, auth.SecretSetting); err != nil {
				t.Fatalf("secret not stored before the sessions: %v", err)
			}
			p := plan(t, f, true)
			if err := d1import.Write(ctx, p, st, d1import.Options{Merge: true, Secret: d1fixture.Secret, Batch: 1000}); err != nil {
				t.Fatal(err)
			}
			if got, want := counts(t, st), expected(f, true); got != want {
				t.Fatalf("after the rerun %+v, want %+v", got, want)
			}
			if n := p.Report.Table("messages").SkippedFor(d1import.ReasonRefTaken); int64(n) != c.messages {
				t.Fatalf("rerun skipped %d stored messages, want %d", n, c.messages)
			}
		})
	}
}

func TestWriteFindsUnreportedLoss(t *testing.T) {
	f := d1fixture.Gen(t, "final", 300)
	st := openStore(t)
	err := d1import.Write(context.Background(), plan(t, f, false), dropping{st}, d1import.Options{Batch: 100})
	if !errors.Is(err, d1import.ErrIncomplete) || !strings.Contains(err.Error(), "messages: target gained 297, want 300") {
		t.Fatalf("got %v, want ErrIncomplete naming the 3 lost messages", err)
	}
}

// TestWriteSecondRoom imports one dump twice, into two rooms: the second
// copy's server ids are taken, so its messages get fresh ones, and nothing
// is lost or doubled but the history itself.
func TestWriteSecondRoom(t *testing.T) {
	f := d1fixture.Gen(t, "final", 300)
	ctx := context.Background()
	st := openStore(t)
	if err := d1import.Write(ctx, plan(t, f, false), st, d1import.Options{}); err != nil {
		t.Fatal(err)
	}
	first := counts(t, st)
	p := plan(t, f, false)
	if err := d1import.Write(ctx, p, st, d1import.Options{Room: "archive", Merge: true}); err != nil {
		t.Fatal(err)
	}
	after := counts(t, st)
	if after.Users != first.Users || after.Messages != 2*first.Messages || after.Reactions != 2*first.Reactions {
		t.Fatalf("second room: %+v, then %+v", first, after)
	}
	if n := p.Report.Table("messages").NoteFor(d1import.ReasonMessageIDTaken); n != len(f.Messages) {
		t.Fatalf("%d messages given new ids, want %d", n, len(f.Messages))
	}
	m, err := st.MessageByRef(ctx, "archive", f.Messages[0].Ref)
	if err != nil || m.ID == f.Messages[0].ID || string(m.Payload) != f.Messages[0].Text {
		t.Fatalf("archive copy of the first message: %+v %v", m, err)
	}
}
