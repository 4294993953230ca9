// Package d1fixture runs testdata/d1/gen.mjs, the generator of upstream D1
// dumps, for the tests of d1import and of the import command. It is test
// support: nothing else imports it.
package d1fixture

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
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
		Read, Imported, Unknown, OnDeleted, BadJSON, Mismatch int
	} `json:"reactions"`
	// GhostAuthored counts messages by users no longer in the dump.
	GhostAuthored int `json:"ghostAuthored"`
}

// Secret is the BETTER_AUTH_SECRET the generator signs cookies with.
const Secret = "upstream-better-auth-secret-0123456789abcdef"

var (
	mu    sync.Mutex
	dir   string                 // holds every fixture of this test process
	cache = map[string]Fixture{} // by schema and size
)

// Gen runs the generator under Node for a dump of schema ("final" or "old")
// with n messages. A process makes each schema and size once (hashing with
// Better Auth's real scrypt cost takes seconds); tests only read the files.
// Better Auth must be installed in testdata/betterauth (`npm ci --prefix
// testdata/betterauth`); without Node 20 or that install the test is
// skipped, saying why. Call Cleanup from TestMain.
func Gen(t testing.TB, schema string, n int) Fixture {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	key := schema + "/" + strconv.Itoa(n)
	if f, ok := cache[key]; ok {
		return f
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: the D1 fixture generator needs Node 20+")
	}
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "testdata/betterauth/node_modules/better-auth/package.json")); err != nil {
		t.Skip("better-auth not installed: run npm ci --prefix testdata/betterauth --no-audit --no-fund")
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "wasmchannel-d1fixture-"); err != nil {
			t.Fatal(err)
		}
	}
	f := Fixture{Dump: filepath.Join(dir, schema+"-"+strconv.Itoa(n)+".sql")}
	expect := filepath.Join(dir, schema+"-"+strconv.Itoa(n)+".json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "testdata/d1/gen.mjs"),
		"--schema", schema, "--messages", strconv.Itoa(n), "--dump", f.Dump, "--expect", expect,
		"--secret", Secret, "--now", strconv.FormatInt(time.Now().UnixMilli(), 10))
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
	cache[key] = f
	return f
}

// Cleanup removes the fixtures Gen wrote.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir, cache = "", map[string]Fixture{}
	}
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
