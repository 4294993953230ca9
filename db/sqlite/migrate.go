package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// migrationFS holds the schema changes, applied in file-name order. Never
// edit a file once released; add a new one.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one embedded SQL file; version is its name without ".sql".
type migration struct {
	version string
	sql     string
}

// migrations lists the embedded files in order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]migration, 0, len(names))
	for _, n := range names {
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		v := strings.TrimSuffix(strings.TrimPrefix(n, "migrations/"), ".sql")
		out = append(out, migration{version: v, sql: string(b)})
	}
	return out, nil
}

// Versions returns the versions of the embedded migrations, in order.
func Versions() []string {
	ms, err := migrations()
	if err != nil {
		return nil
	}
	vs := make([]string, len(ms))
	for i, m := range ms {
		vs[i] = m.version
	}
	return vs
}

// Migrate applies every embedded migration not yet recorded in
// schema_migrations, each in its own IMMEDIATE transaction together with its
// record, and returns the versions it applied (none when up to date). Two
// processes migrating at once are safe: the second sees the first's record
// inside its own transaction. A database holding a version this binary does
// not know is refused, since an older binary could misread a newer schema.
func (d *DB) Migrate(ctx context.Context) (applied []string, err error) {
	return d.migrateTo(ctx, "")
}

// migrateTo is Migrate stopping after version upTo ("" for all).
func (d *DB) migrateTo(ctx context.Context, upTo string) (applied []string, err error) {
	list, err := migrations()
	if err != nil {
		return nil, fmt.Errorf("migrate: read embedded migrations: %w", err)
	}
	if _, err := d.wr.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    TEXT    PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	if err := d.checkUnknownVersions(ctx, list); err != nil {
		return nil, err
	}
	for _, m := range list {
		done := false
		err := d.writeTx(ctx, func(tx *sql.Tx) error {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations WHERE version = ?`, m.version).Scan(&one)
			if err == nil {
				done = true
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.version, ms(d.now()))
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", m.version, err)
		}
		if !done {
			applied = append(applied, m.version)
		}
		if m.version == upTo {
			break
		}
	}
	return applied, nil
}

// checkUnknownVersions fails if the database records a migration that is
// not embedded in this binary.
func (d *DB) checkUnknownVersions(ctx context.Context, list []migration) error {
	known := make(map[string]bool, len(list))
	for _, m := range list {
		known[m.version] = true
	}
	rows, err := d.wr.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		if !known[v] {
			return fmt.Errorf("migrate: database has migration %q unknown to this binary (newer schema?)", v)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	return nil
}

// AppliedMigrations returns the recorded versions, in order.
func (d *DB) AppliedMigrations(ctx context.Context) ([]string, error) {
	rows, err := d.rd.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("applied migrations: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("applied migrations: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("applied migrations: %w", err)
	}
	return out, nil
}
