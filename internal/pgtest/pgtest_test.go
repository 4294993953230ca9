package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestDatabase_FreshAndDropped(t *testing.T) {
	ctx := context.Background()
	var name string
	t.Run("use", func(t *testing.T) {
		u := Database(t)
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var tables int
		if err := c.QueryRow(ctx, `SELECT current_database(), (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')`).Scan(&name, &tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Fatalf("fresh database has %d tables", tables)
		}
	})
	s := Shared(t)
	c, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database %q still there after its test (%d, %v)", name, n, err)
	}
}

func TestStopAndStart(t *testing.T) {
	s := Shared(t)
	if !s.CanRestart() {
		t.Skip("external server: cannot stop it")
	}
	u := s.Database(t)
	ctx := context.Background()
	if err := s.StopServer(); err != nil {
		t.Fatal(err)
	}
	if c, err := pgx.Connect(ctx, u); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	if err := s.StartServer(); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	c.Close(ctx)
}

// recorder is a testing.TB that records how it was stopped.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestUnavailable_SkipsOrFailsUnderCI(t *testing.T) {
	saved := binDirs
	binDirs = []string{t.TempDir()}
	defer func() { binDirs = saved }()
	_, err := Start()
	if err == nil || !strings.Contains(err.Error(), "no initdb") {
		t.Fatalf("Start without PostgreSQL: %v", err)
	}
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	unavailable(r, err)
	if r.failed != "" || !strings.Contains(r.skipped, "PostgreSQL unavailable: no initdb") || strings.Contains(r.skipped, "\n") {
		t.Fatalf("outside CI: skipped %q, failed %q", r.skipped, r.failed)
	}
	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	unavailable(r, err)
	if r.skipped != "" || !strings.Contains(r.failed, "CI=true") {
		t.Fatalf("under CI: skipped %q, failed %q", r.skipped, r.failed)
	}
}
