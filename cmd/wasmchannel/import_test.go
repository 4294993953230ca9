package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/d1import/d1fixture"
	"github.com/wasmchannel/wasmchannel/db"
	"github.com/wasmchannel/wasmchannel/db/storetest"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

// importedServer serves the imported store on a loopback port, as `serve
// --db TARGET` does with no --secret: the secret is the one the import
// stored, upstream's.
func importedServer(t *testing.T, target string) string {
	t.Helper()
	a, err := app.New(context.Background(), app.Config{DBPath: target, Codec: "wasm",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return "http://" + ln.Addr().String()
}

// call sends a JSON request, with a Bearer token or a Cookie header, and
// decodes the reply into out.
func call(t *testing.T, method, u, bearer, cookie string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if cookie != "" {
		req.Header.Set("Cookie", "better-auth.session_token="+cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, u, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

type wireMessage struct {
	ID           string `json:"id"`
	RefID        string `json:"refrenceId"`
	Kind         int    `json:"kind"`
	ReactionKind *int   `json:"reactionKind"`
	Message      string `json:"message"`
	Reactions    []struct {
		Kind  int      `json:"kind"`
		Count int      `json:"count"`
		Users []string `json:"users"`
	} `json:"reactions"`
	SentBy    string  `json:"sentBy"`
	CreatedAt string  `json:"createdAt"`
	DeletedAt *string `json:"deletedAt"`
}

// targets are a fresh SQLite file and a fresh PostgreSQL database.
func targets(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "imported.db") },
		"postgres": func(t *testing.T) string { return pgtest.Database(t) },
	}
}

// TestImportD1EndToEnd imports a generated 10,000-message dump of
// upstream's final schema with the command into each store, serves it,
// signs every upstream user in with their original password, keeps
// upstream's signed cookies working, and reads the whole history with its
// reactions through both /api/messages and upstream's /rpc/messages/get.
func TestImportD1EndToEnd(t *testing.T) {
	f := d1fixture.Gen(t, "final", 10000)
	for name, target := range targets(t) {
		t.Run(name, func(t *testing.T) { endToEnd(t, f, target(t)) })
	}
}

// TestImportD1SameInBothStores imports one dump into SQLite and into
// PostgreSQL and compares every row the two hold.
func TestImportD1SameInBothStores(t *testing.T) {
	f := d1fixture.Gen(t, "final", 10000)
	var stores []chat.Store
	for _, name := range []string{"sqlite", "postgres"} {
		target := targets(t)[name](t)
		if code, out, errOut := runCLI(t, "import", "d1", "--db", target, "--sessions", "--secret", d1fixture.Secret, f.Dump); code != 0 {
			t.Fatalf("%s: import exited %d\n%s\n%s", name, code, out, errOut)
		}
		st, err := db.Open(context.Background(), target)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	storetest.Same(t, stores[0], stores[1])
}

func endToEnd(t *testing.T, f d1fixture.Fixture, target string) {
	code, out, errOut := runCLI(t, "import", "d1", "--db", target, "--sessions", "--secret", d1fixture.Secret, f.Dump)
	if code != 0 {
		t.Fatalf("import exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"messages      10000        10000", "reacting user not among the dump's users", "ignored tables"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "import: messages 10000/10000") {
		t.Errorf("no progress lines on stderr:\n%s", errOut)
	}
	base := importedServer(t, target)

	// Sign in with the original passwords; the duplicate email's second
	// password is not the account's.
	var token string
	for _, u := range f.Users {
		if u.Password == nil {
			continue
		}
		var res struct {
			Token string `json:"token"`
			User  struct{ ID, Email, Name string }
		}
		status := call(t, "POST", base+"/api/auth/sign-in/email", "", "", map[string]any{"email": u.Email, "password": *u.Password}, &res)
		switch {
		case u.Duplicate && status != http.StatusUnauthorized:
			t.Errorf("%s with the duplicate's password: %d, want 401", u.Email, status)
		case !u.Duplicate && (status != http.StatusOK || res.User.ID != u.ID || res.User.Name != u.Name):
			t.Errorf("%s: sign-in %d %+v", u.Email, status, res.User)
		}
		if token == "" && status == http.StatusOK {
			token = res.Token
		}
	}
	if token == "" {
		t.Fatal("nobody signed in")
	}

	// Upstream's cookies, signed by Better Auth with upstream's secret, as
	// browsers send them: percent-encoded, or not.
	for i, s := range f.Sessions {
		var res *struct {
			User struct{ ID string } `json:"user"`
		}
		cookie := s.Cookie
		if i%2 == 0 {
			cookie = url.QueryEscape(cookie)
		}
		status := call(t, "GET", base+"/api/auth/get-session", "", cookie, nil, &res)
		switch {
		case status != http.StatusOK:
			t.Errorf("get-session with upstream cookie: %d", status)
		case s.Expired && res != nil:
			t.Errorf("expired upstream session still signs in")
		case !s.Expired && (res == nil || res.User.ID != s.UserID):
			t.Errorf("upstream cookie of %s: %+v", s.UserID, res)
		}
	}

	// The live messages, newest first, as both routes must list them.
	var live []int
	for i := len(f.Messages) - 1; i >= 0; i-- {
		if !f.Messages[i].Deleted {
			live = append(live, i)
		}
	}
	pages := map[string]func(cursor string) []wireMessage{
		"/api/messages": func(cursor string) []wireMessage {
			var res struct{ Messages []wireMessage }
			q := url.Values{"room": {"room"}, "limit": {"100"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			if status := call(t, "GET", base+"/api/messages?"+q.Encode(), token, "", nil, &res); status != 200 {
				t.Fatalf("/api/messages: %d", status)
			}
			return res.Messages
		},
		"/rpc/messages/get": func(cursor string) []wireMessage {
			var res struct{ Messages []wireMessage }
			body := map[string]any{"limit": 100}
			if cursor != "" {
				body["cursor"] = cursor
			}
			if status := call(t, "POST", base+"/rpc/messages/get", token, "", body, &res); status != 200 {
				t.Fatalf("/rpc/messages/get: %d", status)
			}
			return res.Messages
		},
	}
	for route, page := range pages {
		var got []wireMessage
		for cursor := ""; ; {
			p := page(cursor)
			if len(p) == 0 {
				break
			}
			got = append(got, p...)
			cursor = p[len(p)-1].RefID
			if len(got) > len(f.Messages) {
				t.Fatalf("%s: paging does not end", route)
			}
		}
		if len(got) != len(live) {
			t.Fatalf("%s: %d live messages, want %d", route, len(got), len(live))
		}
		for k, i := range live {
			want, g := f.Messages[i], got[k]
			created := time.Unix(want.Created, 0).UTC().Format("2006-01-02T15:04:05.000Z")
			wantID := want.ID
			if route == "/rpc/messages/get" {
				wantID = want.Ref // one id per message (docs/PROTOCOL.md): upstream's route lists the reference id
			}
			if g.ID != wantID || g.RefID != want.Ref || g.SentBy != want.SentBy || g.Message != want.Text ||
				g.CreatedAt != created || g.DeletedAt != nil || deref(g.ReactionKind) != deref(want.ReactionKind) {
				t.Fatalf("%s message %d: got %+v (reactionKind %s), want %+v (reactionKind %s)",
					route, k, g, deref(g.ReactionKind), want, deref(want.ReactionKind))
			}
			if len(g.Reactions) != len(want.Reactions) {
				t.Fatalf("%s message %s: reactions %+v, want %+v", route, want.Ref, g.Reactions, want.Reactions)
			}
			for j, r := range want.Reactions {
				gr := g.Reactions[j]
				if gr.Kind != r.Kind || gr.Count != r.Count || strings.Join(gr.Users, ",") != strings.Join(r.Users, ",") {
					t.Fatalf("%s message %s reaction %d: %+v, want %+v", route, want.Ref, j, gr, r)
				}
			}
		}
	}
}

func deref(p *int) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

// TestImportD1Refusals checks the command's exit codes and that a refused
// import leaves the target as it was (or not created at all).
func TestImportD1Refusals(t *testing.T) {
	f := d1fixture.Gen(t, "final", 300)
	dir := t.TempDir()
	dump, err := os.ReadFile(f.Dump)
	if err != nil {
		t.Fatal(err)
	}
	// Cut inside the first user row, as an interrupted download would.
	cut := bytes.Index(dump, []byte(`INSERT INTO "user"`)) + 40
	truncated := writeTemp(t, "truncated.sql", string(dump[:cut]))
	foreign := writeTemp(t, "foreign.sql", "CREATE TABLE posts (id integer, body text);\nINSERT INTO posts VALUES(1,'x');\n")
	attach := writeTemp(t, "attach.sql", string(dump)+"ATTACH DATABASE 'elsewhere.db' AS x;\n")

	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"truncated", []string{truncated}, 1, "truncated file?"},
		{"foreign schema", []string{foreign}, 1, `no "user" table`},
		{"attach", []string{attach}, 1, "unexpected statement"},
		{"sessions without secret", []string{"--sessions", f.Dump}, 2, "--secret"},
		{"bad room", []string{"--room", "no spaces", f.Dump}, 2, "room names"},
		{"no dump", nil, 2, "exactly one dump"},
		{"missing file", []string{filepath.Join(dir, "nope.sql")}, 1, "no such file"},
		{"dry run", []string{"--dry-run", "--sessions", "--secret", d1fixture.Secret, f.Dump}, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "target.db")
			code, out, errOut := runCLI(t, append([]string{"import", "d1", "--db", target}, c.args...)...)
			if code != c.code || !strings.Contains(errOut, c.msg) {
				t.Fatalf("exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", code, c.code, c.msg, out, errOut)
			}
			if _, err := os.Stat(target); !os.IsNotExist(err) {
				t.Fatalf("the target was created: %v", err)
			}
			if c.code == 1 && !strings.Contains(errOut, "nothing was written") && c.name != "missing file" {
				t.Errorf("stderr does not say nothing was written:\n%s", errOut)
			}
			if c.name == "truncated" && !strings.Contains(errOut, "line ") {
				t.Errorf("truncation error names no line:\n%s", errOut)
			}
		})
	}

	t.Run("target with users, then --merge", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "target.db")
		if code, out, errOut := runCLI(t, "import", "d1", "--db", target, f.Dump); code != 0 {
			t.Fatalf("first import: %d\n%s\n%s", code, out, errOut)
		}
		st, err := db.Open(context.Background(), target)
		if err != nil {
			t.Fatal(err)
		}
		before, err := st.Counts(context.Background())
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runCLI(t, "import", "d1", "--db", target, f.Dump)
		if code != 1 || !strings.Contains(errOut, "--merge") {
			t.Fatalf("second import without --merge: exit %d\n%s", code, errOut)
		}
		code, out, errOut := runCLI(t, "import", "d1", "--db", target, "--merge", f.Dump)
		if code != 0 || !strings.Contains(out, "already in the target") {
			t.Fatalf("rerun with --merge: exit %d\n%s\n%s", code, out, errOut)
		}
		st, err = db.Open(context.Background(), target)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		after, err := st.Counts(context.Background())
		if err != nil || after != before {
			t.Fatalf("a rerun changed the counts: %+v -> %+v (%v)", before, after, err)
		}
	})
}
