package d1import

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fixture is a dump written by testdata/d1/gen.mjs and what importing it
// must give (the generator's --expect file).
type Fixture struct {
	Dump   string
	Schema string `json:"schema"`
	Users  []struct {
		ID, Name, Email string
		Password        *string
		Image           *string
		Created         int64
		Duplicate       bool
	} `json:"users"`
	Sessions []struct {
		Token, Cookie, UserID string
		Expired               bool
	} `json:"sessions"`
	Messages []struct {
		ID, Ref, SentBy, Text string
		Created               int64
		Deleted               bool
		ReactionKind          *int
		Reactions             []struct {
			Kind, Count int
			Users       []string
		}
	} `json:"messages"`
	Reactions struct {
		Read, Imported, Unknown, BadJSON, Mismatch int
	} `json:"reactions"`
}

// FixtureSecret is the BETTER_AUTH_SECRET the generator signs cookies with.
const FixtureSecret = "upstream-better-auth-secret-0123456789abcdef"

// GenFixture runs the generator under Node for a dump of schema ("final"
// or "old") with n messages. Better Auth must be installed in
// testdata/betterauth (`npm ci --prefix testdata/betterauth`); without
// Node 20 or that install the test is skipped, saying why.
func GenFixture(t testing.TB, schema string, n int) Fixture {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: the D1 fixture generator needs Node 20+")
	}
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "testdata/betterauth/node_modules/better-auth/package.json")); err != nil {
		t.Skip("better-auth not installed: run npm ci --prefix testdata/betterauth --no-audit --no-fund")
	}
	dir := t.TempDir()
	f := Fixture{Dump: filepath.Join(dir, "dump.sql")}
	expect := filepath.Join(dir, "expect.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "testdata/d1/gen.mjs"),
		"--schema", schema, "--messages", strconv.Itoa(n), "--dump", f.Dump, "--expect", expect,
		"--secret", FixtureSecret, "--now", strconv.FormatInt(time.Now().UnixMilli(), 10))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen.mjs: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(expect)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// TestMapFixture maps generated dumps of both schemas and checks every
// count of the report against what the generator wrote.
func TestMapFixture(t *testing.T) {
	for _, c := range []struct {
		schema string
		n      int
	}{{"final", 10000}, {"old", 500}} {
		t.Run(c.schema, func(t *testing.T) {
			f := GenFixture(t, c.schema, c.n)
			d, err := Load(context.Background(), f.Dump)
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
			if m.NoteFor(ReasonDeleted) != deleted || m.Imported != len(f.Messages) {
				t.Errorf("messages report %+v, want %d deleted", m, deleted)
			}
			r := rep.Table(tableReactions)
			if r.Read != f.Reactions.Read || r.Imported != f.Reactions.Imported || r.SkippedFor(ReasonReactorUnknown) != f.Reactions.Unknown ||
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

func reportText(r *Report) string {
	var b strings.Builder
	r.Write(&b)
	return b.String()
}
