package db

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestOpen_PicksStoreByTarget(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Kind() != "sqlite" {
		t.Fatalf("file path opened %q, want sqlite", s.Kind())
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, ":memory:"); err == nil {
		t.Fatal(":memory: accepted")
	}
}

// TestOpen_PostgresFailsClearly checks that each way a PostgreSQL target
// can be wrong fails at Open, in one line naming the server and the reason,
// without the password; and that a good one opens and migrates once.
func TestOpen_PostgresFailsClearly(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Shared(t)
	good := srv.Database(t)

	s, err := Open(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind() != "postgres" || len(s.AppliedAtOpen()) == 0 {
		t.Fatalf("kind %q, applied %v", s.Kind(), s.AppliedAtOpen())
	}
	s.Close()
	again, err := Open(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if n := again.AppliedAtOpen(); len(n) != 0 {
		t.Fatalf("second open applied %v, want nothing", n)
	}
	again.Close()

	if err := srv.Exec(`DO $$ BEGIN CREATE ROLE wc_pw LOGIN PASSWORD 'right-s3cret'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`); err != nil {
		t.Fatal(err)
	}
	dead := deadPort(t)
	cases := []struct {
		name, url string
		want      []string // all must appear
	}{
		{"refused password", fmt.Sprintf("postgres://wc_pw:wrong-s3cret@127.0.0.1:%d/postgres?sslmode=disable", srv.Port),
			[]string{fmt.Sprintf("127.0.0.1:%d", srv.Port), "password authentication failed"}},
		{"unreachable", fmt.Sprintf("postgres://wc_pw:wrong-s3cret@127.0.0.1:%d/postgres?sslmode=disable", dead),
			[]string{fmt.Sprintf("127.0.0.1:%d", dead), "refused"}},
		{"bad URL", "postgres://wc_pw:wrong-s3cret@127.0.0.1:notaport/x", []string{"invalid URL"}},
		{"unknown database", fmt.Sprintf("postgres://postgres:wrong-s3cret@127.0.0.1:%d/no_such_db?sslmode=disable", srv.Port),
			[]string{"no_such_db", "does not exist"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(ctx, c.url)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			msg := err.Error()
			if strings.Contains(msg, "s3cret") || strings.Contains(msg, "\n") {
				t.Fatalf("error shows the password or spans lines: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("error %q does not say %q", msg, w)
				}
			}
			t.Log(msg)
		})
	}
}

// deadPort returns a loopback port nothing listens on.
func deadPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestRedact(t *testing.T) {
	cases := []struct{ in, want string }{
		{"wasmchannel.db", "wasmchannel.db"},
		{"postgres://ann:s3cret@db.example:5432/chat", "postgres://ann:xxxxx@db.example:5432/chat"},
		{"postgresql://ann@db/chat?sslmode=disable", "postgresql://ann@db/chat?sslmode=disable"},
		{"postgres://db/chat?password=s3cret&sslmode=disable", "postgres://db/chat?password=xxxxx&sslmode=disable"},
		{"postgres://ann:s3cret@db:bad port/chat", "postgres://(malformed URL)"},
	}
	for _, c := range cases {
		got := Redact(c.in)
		if got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) kept the password: %q", c.in, got)
		}
	}
}

// TestOpenWith_SyncNormal: the SQLite-only option opens a file and is
// refused for PostgreSQL before any connection, without the password.
func TestOpenWith_SyncNormal(t *testing.T) {
	ctx := context.Background()
	s, err := OpenWith(ctx, filepath.Join(t.TempDir(), "n.db"), Options{SQLiteSyncNormal: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = OpenWith(ctx, "postgres://u:hunter2@127.0.0.1:1/x", Options{SQLiteSyncNormal: true})
	if !errors.Is(err, chat.ErrInvalid) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("postgres with synchronous=NORMAL: %v", err)
	}
}
