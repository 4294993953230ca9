package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmchannel/wasmchannel/db/sqlite"
	"github.com/wasmchannel/wasmchannel/db/storetest"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

// TestDBCopyCommand runs `db copy` from a SQLite file to a real PostgreSQL
// database, then again to see the non-empty target refused.
func TestDBCopyCommand(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "single.db")
	src, err := sqlite.Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	want := storetest.Fill(t, src, storetest.NewClock().Now(), 50)
	src.Close()
	target := pgtest.Own(t).Database(t)

	var out, errb bytes.Buffer
	if code := run([]string{"db", "copy", "--from", file, "--to", target}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	line := fmt.Sprintf("done: %d users, %d sessions, %d messages (%d deleted), %d reactions, %d settings; row counts match",
		want.Users, want.Sessions, want.Messages, want.Deleted, want.Reactions, want.Settings)
	if !strings.Contains(out.String(), line) {
		t.Fatalf("output: %s", out.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"db", "copy", "--from", file, "--to", target}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "target is not empty") {
		t.Fatalf("second copy: exit %d: %s%s", code, out.String(), errb.String())
	}
}
