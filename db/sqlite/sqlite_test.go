package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/wasmchannel/wasmchannel/db/storetest"
)

// newClock starts the suite's clock (storetest.NewClock).
func newClock() *storetest.Clock { return storetest.NewClock() }

// MustOpenDB opens a fresh database in a temporary file and closes it when
// the test ends, after checking its integrity.
func MustOpenDB(tb testing.TB, opts ...Option) *DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "test.db")
	d, err := Open(context.Background(), path, opts...)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := d.IntegrityCheck(context.Background()); err != nil {
			tb.Errorf("IntegrityCheck: %v", err)
		}
		if err := d.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return d
}

// mustOpenClock opens a test database on a fresh clock.
func mustOpenClock(tb testing.TB) (*DB, *storetest.Clock) {
	tb.Helper()
	clk := newClock()
	return MustOpenDB(tb, WithClock(clk.Now)), clk
}

func TestMigrate_IdempotentAndRecorded(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "m.db")

	d, err := Open(ctx, path, WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	want := Versions()
	if len(want) == 0 || want[0] != "0001_init" {
		t.Fatalf("Versions() = %v, want to start with 0001_init", want)
	}
	got, err := d.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("recorded %v, want %v", got, want)
	}
	var appliedAt int64
	if err := d.rd.QueryRowContext(ctx, `SELECT applied_at FROM schema_migrations WHERE version = '0001_init'`).Scan(&appliedAt); err != nil {
		t.Fatal(err)
	}
	if appliedAt != clk.Now().UnixMilli() {
		t.Errorf("applied_at = %d, want the clock's %d", appliedAt, clk.Now().UnixMilli())
	}

	if got := d.AppliedAtOpen(); !slices.Equal(got, want) {
		t.Fatalf("AppliedAtOpen() = %v, want %v", got, want)
	}

	t.Run("again on the same handle", func(t *testing.T) {
		applied, err := d.Migrate(ctx)
		if err != nil || len(applied) != 0 {
			t.Fatalf("Migrate = %v, %v; want nothing applied", applied, err)
		}
	})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("after reopening", func(t *testing.T) {
		d, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if got := d.AppliedAtOpen(); len(got) != 0 {
			t.Fatalf("AppliedAtOpen() = %v on an up-to-date file", got)
		}
		applied, err := d.Migrate(ctx)
		if err != nil || len(applied) != 0 {
			t.Fatalf("Migrate = %v, %v; want nothing applied", applied, err)
		}
		var n int
		if err := d.rd.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(want) {
			t.Fatalf("%d records, want %d", n, len(want))
		}
	})

	t.Run("concurrent openers", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "race.db")
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				d, err := Open(ctx, path)
				if err == nil {
					err = d.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("opener %d: %v", i, err)
			}
		}
	})
}

func TestMigrate_RefusesUnknownVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "newer.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.wr.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ('9999_future', 0)`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if d, err := Open(ctx, path); err == nil {
		d.Close()
		t.Fatal("Open accepted a database with an unknown migration")
	}
}

func TestOpen_Pragmas(t *testing.T) {
	d := MustOpenDB(t)
	ctx := context.Background()
	cases := []struct {
		pragma string
		write  string // expected on the writer connection
		read   string // expected on the read pool
	}{
		{"journal_mode", "wal", "wal"},
		{"foreign_keys", "1", "1"},
		{"synchronous", "2", "2"}, // FULL
		{"busy_timeout", "5000", "5000"},
		{"query_only", "0", "1"},
	}
	for _, c := range cases {
		t.Run(c.pragma, func(t *testing.T) {
			for _, p := range []struct {
				name string
				db   *sql.DB
				want string
			}{{"writer", d.wr, c.write}, {"reader", d.rd, c.read}} {
				var got string
				if err := p.db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != p.want {
					t.Errorf("%s: PRAGMA %s = %q, want %q", p.name, c.pragma, got, p.want)
				}
			}
		})
	}
	t.Run("reader cannot write", func(t *testing.T) {
		if _, err := d.rd.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('k', 'v')`); err == nil {
			t.Fatal("write through the read pool succeeded")
		}
	})
}

func TestOpen_Paths(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Run("refused", func(t *testing.T) {
		for _, p := range []string{"", ":memory:", "file:x.db?mode=memory", filepath.Join(dir, "missing", "x.db")} {
			if d, err := Open(ctx, p); err == nil {
				d.Close()
				t.Errorf("Open(%q) succeeded", p)
			}
		}
	})
	t.Run("URI characters in the name", func(t *testing.T) {
		name := "a?b#c%20d&_journal_mode=DELETE.db"
		d, err := Open(ctx, filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if err := d.PutSetting(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("database not created under its literal name: %v", err)
		}
		var mode string
		if err := d.wr.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v; the name leaked into the DSN", mode, err)
		}
	})
}

func TestPingAndIntegrity(t *testing.T) {
	d := MustOpenDB(t)
	ctx := context.Background()
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := d.IntegrityCheck(ctx); err != nil {
		t.Fatalf("IntegrityCheck: %v", err)
	}
	t.Run("foreign key violation is reported", func(t *testing.T) {
		// Write an orphan session on a connection without FK enforcement.
		conn, err := d.wr.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, q := range []string{
			`PRAGMA foreign_keys = off`,
			`INSERT INTO sessions (id, token_hash, user_id, expires_at, created_at, updated_at) VALUES ('s', 'h', 'nobody', 0, 0, 0)`,
			`PRAGMA foreign_keys = on`,
		} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.IntegrityCheck(ctx); err == nil {
			t.Fatal("IntegrityCheck missed an orphan row")
		}
		if _, err := conn.ExecContext(ctx, `DELETE FROM sessions WHERE id = 's'`); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		d2, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"))
		if err != nil {
			t.Fatal(err)
		}
		d2.Close()
		if err := d2.Ping(ctx); err == nil {
			t.Fatal("Ping on a closed DB succeeded")
		}
	})
}

// errorsIs is a table helper: want nil means no error.
func errorsIs(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

// TestOpen_SyncNormal: WithSyncNormal sets synchronous=NORMAL on both
// pools, stores and reads as usual, and a later Open without it is back
// to FULL (the setting belongs to the connection, not the file).
func TestOpen_SyncNormal(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "normal.db")
	sync := func(d *DB) (w, r string) {
		t.Helper()
		if err := d.wr.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&w); err != nil {
			t.Fatal(err)
		}
		if err := d.rd.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&r); err != nil {
			t.Fatal(err)
		}
		return w, r
	}
	d, err := Open(ctx, path, WithSyncNormal())
	if err != nil {
		t.Fatal(err)
	}
	if w, r := sync(d); w != "1" || r != "1" {
		t.Fatalf("WithSyncNormal: synchronous %s (writer), %s (reader), want 1 (NORMAL)", w, r)
	}
	storeOne(t, d, "r", "a")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if w, r := sync(d); w != "2" || r != "2" {
		t.Fatalf("default: synchronous %s (writer), %s (reader), want 2 (FULL)", w, r)
	}
	if m, err := d.MessageByRef(ctx, "r", "a"); err != nil || m.Seq != 1 {
		t.Fatalf("message stored under NORMAL: %+v, %v", m, err)
	}
}
