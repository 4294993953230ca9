package d1import

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/d1import/d1fixture"
)

func TestMain(m *testing.M) {
	code := m.Run()
	d1fixture.Cleanup()
	os.Exit(code)
}

// TestMapFixture maps generated dumps of both schemas and checks every
// count of the report against what the generator wrote.
func TestMapFixture(t *testing.T) {
	for _, c := range []struct {
		schema string
		n      int
	}{{"final", 10000}, {"old", 300}} {
		t.Run(c.schema, func(t *testing.T) {
			f := d1fixture.Gen(t, c.schema, c.n)
			d, err := Load(context.Background(), f.Dump, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			p, err := d.Map(context.Background(), MapOptions{Sessions: true, Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			rep := p.Report
			users, dups := 0, 0
			for _, u := range f.Users {
				if u.Duplicate {
					dups++
				} else {
					users++
				}
			}
			if u := rep.Table(tableUser); u.Read != len(f.Users) || u.Imported != users || u.SkippedFor(ReasonDuplicateEmail) != dups {
				t.Errorf("user report %+v", u)
			}
			if len(p.Users) != users {
				t.Errorf("%d users planned, want %d", len(p.Users), users)
			}
			live := 0
			for _, s := range f.Sessions {
				if !s.Expired {
					live++
				}
			}
			if s := rep.Table(tableSession); s.Imported != live || s.SkippedFor(ReasonExpired) != len(f.Sessions)-live {
				t.Errorf("session report %+v", s)
			}
			if len(p.Messages) != len(f.Messages) {
				t.Fatalf("%d messages planned, want %d", len(p.Messages), len(f.Messages))
			}
			deleted := 0
			for i, want := range f.Messages {
				got := p.Messages[i]
				if got.ID != want.ID || got.RefID != want.Ref || got.UserID != want.SentBy || string(got.Payload) != want.Text ||
					got.CreatedAt.Unix() != want.Created || (got.DeletedAt != nil) != want.Deleted {
					t.Fatalf("message %d: got %+v, want %+v", i, got, want)
				}
				if want.Deleted {
					deleted++
				}
			}
			m := rep.Table(tableMessages)
			if m.NoteFor(ReasonDeleted) != deleted || m.Imported != len(f.Messages) || m.NoteFor(ReasonAuthorUnknown) != f.GhostAuthored || f.GhostAuthored == 0 {
				t.Errorf("messages report %+v, want %d deleted", m, deleted)
			}
			r := rep.Table(tableReactions)
			if r.Read != f.Reactions.Read || r.Imported != f.Reactions.Imported || r.SkippedFor(ReasonReactorUnknown) != f.Reactions.Unknown ||
				r.SkippedFor(ReasonReactionOnDeleted) != f.Reactions.OnDeleted ||
				r.NoteFor(ReasonBadJSON) != f.Reactions.BadJSON || r.NoteFor(ReasonCountMismatch) != f.Reactions.Mismatch {
				t.Errorf("reactions report %+v, want %+v", r, f.Reactions)
			}
			if c.schema == "old" {
				for _, col := range []string{"refrenceid", "reactionkind", "reactions"} {
					if !strings.Contains(reportText(rep), "column "+col+" absent") {
						t.Errorf("older schema: column %s not reported as defaulted", col)
					}
				}
			}
			for _, ign := range []string{"_cf_KV", "d1_migrations"} {
				if !strings.Contains(strings.Join(rep.Ignored, ","), ign) {
					t.Errorf("%s not reported as ignored: %v", ign, rep.Ignored)
				}
			}
		})
	}
}

func TestLoadProgress(t *testing.T) {
	f := d1fixture.Gen(t, "final", 10000)
	defer func(n int) { progressEvery = n }(progressEvery)
	progressEvery = 4000
	var log strings.Builder
	d, err := Load(context.Background(), f.Dump, &log)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "import: read 8000 statements") {
		t.Fatalf("progress lines %q", lines)
	}
}

func reportText(r *Report) string {
	var b strings.Builder
	r.Write(&b)
	return b.String()
}
