// Package sqlite is the single-node chat.Store: the SQLite schema and its
// migrations, and the queries for users, sessions, settings and messages.
// It is the only package that imports go-sqlite3.
//
// A DB holds two connection pools on the same file: one connection for
// writes, whose transactions begin IMMEDIATE so they never fail half-way on
// a lock upgrade, and a query-only pool for reads, which WAL lets run beside
// the writer. Every query is parameterized.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/wasmchannel/wasmchannel/chat"
)

// Kind is what Kind returns, the name /health reports.
const Kind = "sqlite"

// DB is an open wasmchannel database. It is safe for concurrent use.
// It implements chat.Store.
type DB struct {
	wr   *sql.DB // one connection; write transactions BEGIN IMMEDIATE
	rd   *sql.DB // query-only pool
	now  func() time.Time
	path string
	// syncNormal: synchronous=NORMAL instead of FULL (WithSyncNormal).
	syncNormal bool

	heads headCache // rooms' newest event numbers, for write transactions

	openApplied []string // migrations Open applied
}

// Option configures Open.
type Option func(*DB)

// WithClock replaces time.Now for every time the package stamps itself:
// default created/updated times, deleted_at, migration records, and the
// expiry check of SessionByTokenHash. Tests use it to control time.
func WithClock(now func() time.Time) Option {
	return func(d *DB) { d.now = now }
}

// WithSyncNormal opens the file with synchronous=NORMAL instead of FULL:
// a commit no longer waits for the WAL's fsync, which is most of the CPU
// of a commit under light load (issue 17: one message per commit cost 72
// µs of CPU instead of 180). What it gives up: after a power loss or an
// OS crash the last commits before it may be missing, messages the server
// had already echoed; the file stays consistent. A crash of the process
// alone loses nothing.
func WithSyncNormal() Option {
	return func(d *DB) { d.syncNormal = true }
}

// Open opens (creating if needed) the SQLite file at path and applies every
// pending migration. path must be a file path; ":memory:" is refused because
// the two pools would each get their own empty database.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	return open(ctx, path, "", opts...)
}

// open is Open applying migrations only up to version upTo ("" for all),
// so tests can start from each older schema.
func open(ctx context.Context, path, upTo string, opts ...Option) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open db %q: %w: need a file path", path, chat.ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open db %q: %w", path, err)
	}
	d := &DB{now: time.Now, path: abs}
	for _, o := range opts {
		o(d)
	}

	d.wr, err = sql.Open("sqlite3", dsn(abs, true, d.syncNormal))
	if err != nil {
		return nil, fmt.Errorf("open db %q: %w", path, err)
	}
	// One writer connection: SQLite allows one writer at a time anyway, and
	// queueing in the pool is cheaper and fairer than spinning on the lock.
	d.wr.SetMaxOpenConns(1)
	d.wr.SetMaxIdleConns(1)
	d.wr.SetConnMaxLifetime(0)
	d.wr.SetConnMaxIdleTime(0)
	if err := d.wr.PingContext(ctx); err != nil {
		d.wr.Close()
		return nil, fmt.Errorf("open db %q: %w", path, err)
	}

	d.rd, err = sql.Open("sqlite3", dsn(abs, false, d.syncNormal))
	if err != nil {
		d.wr.Close()
		return nil, fmt.Errorf("open db %q: %w", path, err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	d.rd.SetMaxOpenConns(n)
	d.rd.SetMaxIdleConns(n)

	if d.openApplied, err = d.migrateTo(ctx, upTo); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// AppliedAtOpen returns the migrations that Open applied (none if the file
// was already up to date), for `wasmchannel migrate` to report.
func (d *DB) AppliedAtOpen() []string { return slices.Clone(d.openApplied) }

// dsn builds a go-sqlite3 URI for path. The pragmas live in the DSN so that
// every pooled connection gets them, including ones opened later.
func dsn(abs string, write, syncNormal bool) string {
	// SQLite decodes %HH in URI paths; escape what would end the path.
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "5000")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "FULL") // a commit is on disk before Writer calls done
	if syncNormal {
		q.Set("_synchronous", "NORMAL")
	}
	q.Set("_stmt_cache_size", "32")
	// A delete erases (issue 15, finding 7): FAST zeroes the freed bytes
	// of a rewritten cell when that costs no extra I/O, so a deleted
	// message's text does not linger in the page's free space.
	q.Set("_secure_delete", "FAST")
	if write {
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "on")
	}
	return "file:" + p + "?" + q.Encode()
}

// Kind returns "sqlite".
func (d *DB) Kind() string { return Kind }

// Path returns the absolute path of the database file.
func (d *DB) Path() string { return d.path }

// Close closes both pools. Close the Writer first so that it can flush.
func (d *DB) Close() error {
	var errs []error
	if d.rd != nil {
		if err := d.rd.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.wr != nil {
		if err := d.wr.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close db: %w", err)
	}
	return nil
}

// Ping checks that the file can still be read, for health checks. It uses
// the read pool so that it never waits behind a long write batch.
func (d *DB) Ping(ctx context.Context) error {
	var n int
	if err := d.rd.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("ping db: %w", err)
	}
	return nil
}

// IntegrityCheck runs PRAGMA integrity_check and PRAGMA foreign_key_check
// and returns an error describing the first problems found.
func (d *DB) IntegrityCheck(ctx context.Context) error {
	rows, err := d.rd.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	var msgs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("integrity check: %w", err)
		}
		msgs = append(msgs, s)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		return fmt.Errorf("integrity check: %s", strings.Join(msgs, "; "))
	}

	fk, err := d.rd.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer fk.Close()
	if fk.Next() {
		var table string
		var rowid sql.NullInt64
		var parent string
		var idx int
		if err := fk.Scan(&table, &rowid, &parent, &idx); err != nil {
			return fmt.Errorf("foreign key check: %w", err)
		}
		return fmt.Errorf("foreign key check: %s row %d references missing %s", table, rowid.Int64, parent)
	}
	if err := fk.Err(); err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	return nil
}

// writeTx runs fn in one IMMEDIATE transaction on the writer connection and
// commits it, rolling back if fn or the commit fails.
func (d *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.wr.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
}

// isForeignKey reports whether err is a FOREIGN KEY violation.
func isForeignKey(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintForeignKey
}

// isConstraint reports whether err is any constraint violation: one row's
// fault rather than the database's.
func isConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

// ms converts t to the stored unix-millisecond form.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts a stored unix-millisecond value to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nowMS is the injected clock truncated to the stored precision.
func (d *DB) nowMS() time.Time { return chat.Millis(d.now()) }
