package db

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

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
	_, err = Open(ctx, "postgres://ann:s3cret@127.0.0.1:1/chat")
	if !errors.Is(err, ErrUnsupported) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("postgres URL: err = %v, want ErrUnsupported without the password", err)
	}
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
